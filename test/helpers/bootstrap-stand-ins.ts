/**
 * Try `helmgate bootstrap` without AWS or GitHub: starts the loopback Secrets Manager and Lambda
 * stand-ins (both check Signature V4 with test credentials) and the GitHub stand-in with one App, and
 * prints the environment to point the CLI at them. Stop with Ctrl-C.
 *
 *   npx tsx test/helpers/bootstrap-stand-ins.ts [--stage demo] [--not-deployed] > .tmp/stand-ins.env &
 *   set -a; . .tmp/stand-ins.env; set +a
 *   npx helmgate bootstrap --stage demo
 */
import { generateKeyPairSync } from 'node:crypto';
import { GithubApiStandIn } from '../stand-ins/github-api';
import { LambdaApiStandIn } from '../stand-ins/lambda-api';
import { SecretsManagerStandIn } from '../stand-ins/secrets-manager';

const args = process.argv.slice(2);
const stage = args.includes('--stage') ? (args[args.indexOf('--stage') + 1] ?? 'demo') : 'demo';
const region = 'eu-west-1';
const credentials = { accessKeyId: 'AKIDLOCALSTANDIN01', secretAccessKey: 'local-stand-in-secret-key' };
const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });

async function main(): Promise<void> {
  const sm = await new SecretsManagerStandIn(
    {
      // what `helmgate setup github` stores, and what `osls deploy` creates
      'helmgate/github-app': JSON.stringify({
        appId: 4242,
        privateKey: privateKey.export({ type: 'pkcs1', format: 'pem' }).toString(),
        installationId: 99,
      }),
      ...(args.includes('--not-deployed') ? {} : { 'helmgate/digest-key': 'd'.repeat(64) }),
    },
    { credentials, region },
  ).start();
  const lambda = await new LambdaApiStandIn({ credentials, region }).start();
  if (!args.includes('--not-deployed')) {
    lambda.functions.set(`helmgate-${stage}-webhook`, {
      HELMGATE_PUBLIC_URL: 'https://abc123.execute-api.eu-west-1.amazonaws.com',
      HELMGATE_REPOSITORIES: 'IDR/deployment',
    });
    lambda.functions.set(`helmgate-${stage}-deployRunner`, {
      HELMGATE_SLACK_SECRET_ID: 'helmgate/slack-bot',
    });
  }
  const github = await new GithubApiStandIn({
    app: {
      id: 4242,
      publicKey: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      installationId: 99,
      slug: 'helmgate-idr',
      hook: { url: 'https://example.org/old-webhook', content_type: 'form' },
    },
  }).start();
  const env = {
    AWS_REGION: region,
    AWS_ACCESS_KEY_ID: credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
    HELMGATE_SECRETS_ENDPOINT: sm.url,
    HELMGATE_LAMBDA_ENDPOINT: lambda.url,
    HELMGATE_GITHUB_API_URL: github.url,
  };
  process.stdout.write(
    `${Object.entries(env)
      .map(([k, v]) => `${k}=${v}`)
      .join('\n')}\n`,
  );
  // what was written, by name only, as it happens
  let seen = 0;
  let hooks = 0;
  setInterval(() => {
    for (const w of sm.writes.slice(seen))
      process.stderr.write(`[stand-in] secretsmanager ${w.op} ${w.name}\n`);
    seen = sm.writes.length;
    for (const w of github.appHookWrites.slice(hooks))
      process.stderr.write(`[stand-in] github PATCH /app/hook/config ${w.fields.join(',')}\n`);
    hooks = github.appHookWrites.length;
  }, 200);
  const stop = async () => {
    await Promise.all([sm.close(), lambda.close(), github.close()]);
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

void main();
