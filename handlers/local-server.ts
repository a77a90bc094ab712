/**
 * `npm start`: the whole of helmgate on this machine, no AWS account needed. The same handlers as
 * in AWS behind a local HTTP adapter, dynalite in-process (data under .helmgate/), secrets from a
 * local JSON file, the deploy runner in-process, Slack and GitHub replaced by the console.
 */
import { userInfo } from 'node:os';
import path from 'node:path';
import { AppConfig } from '../lib/config/env';
import { keepAliveOnUnhandledRejection } from '../lib/local/crash-guard';
import { addLocalPlaceholders, ensureSecretsFile } from '../lib/local/local-secrets';
import { startLocalStack } from './local/local-stack';

async function main(): Promise<void> {
  keepAliveOnUnhandledRejection(process, (line) => process.stderr.write(`${line}\n`));
  const repoDir = path.resolve(process.env.HELMGATE_REPO_DIR ?? process.cwd());
  const secretsFile = path.resolve(
    process.env.HELMGATE_SECRETS_FILE ?? path.join(repoDir, '.helmgate', 'secrets.json'),
  );
  const created = ensureSecretsFile(secretsFile);
  const placeholders = process.env.KUBECONFIG ? [] : await addLocalPlaceholders(secretsFile, repoDir);
  const port = Number(process.env.PORT ?? 3000);
  const repositories = process.env.HELMGATE_REPOSITORIES?.split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const stack = await startLocalStack({
    port,
    repoDir,
    dataDir: path.join(repoDir, '.helmgate', 'dynamodb'),
    stateFile: path.join(repoDir, '.helmgate', 'stack.json'),
    secretsFile,
    ...(repositories?.length ? { repositories } : {}),
    logLevel: (process.env.HELMGATE_LOG_LEVEL as 'info' | undefined) ?? 'info',
    // who may approve comes from the operator policy: HELMGATE_POLICY, else this checkout's
    // deploy.yaml as it is now (read once); HELMGATE_APPROVERS is still accepted and merged into it
    ...(process.env.HELMGATE_PUBLIC_URL ? { publicUrl: process.env.HELMGATE_PUBLIC_URL } : {}),
    // the same rules as in AWS (lib/config/env.ts): a bad value stops the start with its name
    sessionTtlMs:
      AppConfig.shape.HELMGATE_SESSION_TTL_MINUTES.parse(process.env.HELMGATE_SESSION_TTL_MINUTES) * 60_000,
    slackTeamIds: AppConfig.shape.HELMGATE_SLACK_TEAM_IDS.parse(process.env.HELMGATE_SLACK_TEAM_IDS),
    runner: process.env.KUBECONFIG ? { kubeconfig: process.env.KUBECONFIG } : {},
    env: process.env,
    // the dashboard without a GitHub OAuth app: one single-use link, as the OS user (HELMGATE_LOCAL_LOGIN)
    oneTimeLogin: { login: process.env.HELMGATE_LOCAL_LOGIN ?? userInfo().username },
  });
  const say = (s: string) => process.stderr.write(`${s}\n`);
  if (created) say(`helmgate: created ${secretsFile} (mode 0600) with random local secrets`);
  if (placeholders.length > 0)
    say(
      `helmgate: render-only, so ${secretsFile} got random placeholders for the secrets deploy.yaml references: ${placeholders.join(', ')}`,
    );
  say(`helmgate: listening on ${stack.url}  (repositories: ${stack.repositories.join(', ')})`);
  say(`helmgate: policy ${stack.policy.digest.slice(0, 12)} from ${stack.policy.source} (docs/policy.md)`);
  say(
    process.env.KUBECONFIG
      ? `helmgate: KUBECONFIG is set: deployments go to that cluster for real`
      : `helmgate: no KUBECONFIG: deployments are rendered with helm template into .helmgate/rendered/, never deployed`,
  );
  say(`helmgate: send a signed push of this checkout's HEAD with:  npm run push`);
  say(
    `helmgate: then watch:  curl -s -H "Authorization: Bearer $(jq -r '."helmgate/api-tokens"' ${secretsFile})" ${stack.url}/deployments`,
  );
  if (stack.loginUrl) say(`helmgate: dashboard (one-time login link, works once):  ${stack.loginUrl}`);
  const stop = async () => {
    await stack.close();
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((e) => {
  process.stderr.write(`helmgate: failed to start: ${(e as Error).message}\n`);
  process.exit(1);
});
