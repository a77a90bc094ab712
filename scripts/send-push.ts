/**
 * `npm run push [rev]`: sends a correctly signed GitHub push event for this checkout's HEAD (or rev)
 * to the local stack, then shows the deployments it created. Like GitHub, the stack deploys a push
 * only while its commit is the head of its branch: a rev behind the branch is answered `stale` (use
 * `npx helmgate redeploy <rev> <environment>`), and pushing the same head twice is a `duplicate`.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createProcessRunner } from '../lib/exec/command-runner';
import { gitOver } from '../lib/exec/git';
import { originRepository } from '../lib/github/origin-repository';
import { localApiToken } from '../lib/local/local-secrets';
import { headCommit, pushPayload, signedWebhook } from '../lib/local/push-payload';
import { parseSecretList } from '../lib/secrets/secrets-provider';

async function main(): Promise<void> {
  const repoDir = path.resolve(process.env.HELMGATE_REPO_DIR ?? process.cwd());
  const secretsFile = path.resolve(
    process.env.HELMGATE_SECRETS_FILE ?? path.join(repoDir, '.helmgate', 'secrets.json'),
  );
  const url = `http://127.0.0.1:${process.env.PORT ?? 3000}`;
  const secrets = JSON.parse(readFileSync(secretsFile, 'utf8')) as Record<string, unknown>;
  // reads need credentials: the API token the stack created in the secrets file
  const apiToken = localApiToken(secretsFile);
  const readHeaders: Record<string, string> = apiToken ? { authorization: `Bearer ${apiToken}` } : {};
  const raw = secrets['helmgate/github-webhook'];
  const [secret] = parseSecretList(typeof raw === 'string' ? raw : JSON.stringify(raw));
  if (!secret)
    throw new Error(`no helmgate/github-webhook secret in ${secretsFile}; start the stack first (npm start)`);
  const git = gitOver(createProcessRunner(), process.env);
  const repository =
    process.env.HELMGATE_REPOSITORIES?.split(',')[0]?.trim() || (await originRepository(git, repoDir));
  const commit = await headCommit(git, repoDir, process.argv[2] ?? 'HEAD');
  const req = await signedWebhook(secret, 'push', pushPayload(repository, commit));
  const res = await fetch(`${url}/webhook`, { method: 'POST', headers: req.headers, body: req.body });
  console.log(`POST ${url}/webhook (${commit.sha.slice(0, 7)} on ${commit.branch}) -> ${res.status}`);
  console.log(JSON.stringify(await res.json(), null, 2));
  for (let i = 0; i < 10; i++) {
    await new Promise((r) => setTimeout(r, 1000));
    const list = (await (await fetch(`${url}/deployments?limit=20`, { headers: readHeaders })).json()) as {
      deployments: Array<{ id: string; environment: string; sha: string; status: string; reason?: string }>;
    };
    const mine = list.deployments.filter((d) => d.sha === commit.sha);
    console.log(
      mine
        .map((d) => `  ${d.environment.padEnd(12)} ${d.status.padEnd(18)} ${d.id} ${d.reason ?? ''}`)
        .join('\n'),
    );
    if (mine.every((d) => !['queued', 'running'].includes(d.status))) break;
    console.log('  ...');
  }
}

main().catch((e) => {
  console.error(`push failed: ${(e as Error).message}`);
  process.exit(1);
});
