// GitLab CI → AWS without static keys (issue 15 item 5). The job's OIDC `id_tokens` entry puts a
// signed JWT in AWS_ID_TOKEN; this writes it, 0600, where the AWS SDKs' web-identity provider reads it
// (AWS_WEB_IDENTITY_TOKEN_FILE, with AWS_ROLE_ARN naming the deploy role). Every AWS client in the job
// — osls, the ECR credential helper — then assumes the role with AssumeRoleWithWebIdentity.
//
// `--ecr`: also writes the containers auth file (REGISTRY_AUTH_FILE) that makes buildah ask the ECR
// credential helper (docker-credential-ecr-login) for the registry of ECR_REPOSITORY.
//
// Nothing is printed: no token, no variable (the pipeline's leak check refuses echo/printf of one).
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

function fail(message) {
  process.stderr.write(`ci-aws-oidc: ${message}\n`);
  process.exit(1);
}

const token = process.env.AWS_ID_TOKEN;
const file = process.env.AWS_WEB_IDENTITY_TOKEN_FILE;
if (!token)
  fail('AWS_ID_TOKEN is empty: give the job `id_tokens: { AWS_ID_TOKEN: { aud: sts.amazonaws.com } }`');
if (!file) fail('AWS_WEB_IDENTITY_TOKEN_FILE is not set');
if (!process.env.AWS_ROLE_ARN) fail('AWS_ROLE_ARN is not set (the deploy role, a CI/CD variable)');
if (token.split('.').length !== 3) fail('AWS_ID_TOKEN is not a JWT');
mkdirSync(path.dirname(file), { recursive: true });
writeFileSync(file, token, { mode: 0o600 });

if (process.argv.includes('--ecr')) {
  const repository = process.env.ECR_REPOSITORY ?? '';
  const registry = repository.split('/')[0];
  if (!/^\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$/.test(registry ?? ''))
    fail('ECR_REPOSITORY must be <account>.dkr.ecr.<region>.amazonaws.com/<name>');
  const authFile = process.env.REGISTRY_AUTH_FILE;
  if (!authFile) fail('REGISTRY_AUTH_FILE is not set');
  mkdirSync(path.dirname(authFile), { recursive: true });
  writeFileSync(authFile, JSON.stringify({ credHelpers: { [registry]: 'ecr-login' } }), { mode: 0o600 });
}
