import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { type LocalStack, startLocalStack } from '../../../handlers/local/local-stack';
import { ApproversConfig } from '../../../lib/approval/approval-port';
import { runCli } from '../../../lib/cli/main';
import type { Deployment } from '../../../lib/deploy/deployment';
import { retryIdOf } from '../../../lib/lifecycle/retry';
import { makeGitRepo } from '../../helpers/git-repo';

/**
 * `helmgate override` and `helmgate retry` against a real local stack (dynalite, the render-only runner):
 * the CLI principal overrides as the GitHub login `cliToGithub` maps it to, under the four-eyes rule, with a
 * reason; `show` lists the overrides; a second retry of the same deployment names the first.
 */

const DEPLOY_YAML = `apiVersion: helmgate/v1
environments:
  staging:
    approval: none
    cluster: { secret: local/staging/cluster }
    releases:
      - name: hello
        namespace: hello-staging
        chart: ./charts/hello
  production:
    approval: required
    cluster: { secret: local/production/cluster }
    releases:
      - name: hello
        namespace: hello-production
        chart: ./charts/hello
`;
const FILES = {
  'deploy.yaml': DEPLOY_YAML,
  'charts/hello/Chart.yaml': 'apiVersion: v2\nname: hello\nversion: 0.1.0\n',
  'charts/hello/templates/configmap.yaml':
    'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  greeting: hi\n',
};
const mapped = { dora: 'dora', erin: 'erin', paul: 'paul' };
const APPROVERS = {
  staging: { github: ['dora', 'erin', 'paul'], cliToGithub: mapped },
  production: { github: ['dora', 'erin', 'paul'], cliToGithub: mapped, required: 2 },
};
const REPOSITORY = 'idr/deployment';

let stack: LocalStack;
let repo: ReturnType<typeof makeGitRepo>;

async function cli(args: string[], as: string): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, {
    stdout: (s) => {
      stdout += s;
    },
    stderr: (s) => {
      stderr += s;
    },
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      HELMGATE_APPROVERS: JSON.stringify(APPROVERS),
      HELMGATE_CLI_PRINCIPAL: as,
    },
    cwd: repo.dir,
    isTTY: false,
    sleep: () => stack.idle(),
  });
  return { code, stdout, stderr };
}

beforeAll(async () => {
  repo = makeGitRepo(FILES, { origin: `git@github.com:${REPOSITORY}.git` });
  const secretsFile = path.join(repo.dir, '.helmgate', 'secrets.json');
  mkdirSync(path.dirname(secretsFile), { recursive: true });
  writeFileSync(
    secretsFile,
    JSON.stringify({
      'helmgate/approval-signing-key': 'k'.repeat(64),
      'helmgate/digest-key': 'd'.repeat(64),
    }),
    { mode: 0o600 },
  );
  stack = await startLocalStack({
    port: 0,
    repoDir: repo.dir,
    secretsFile,
    stateFile: path.join(repo.dir, '.helmgate', 'stack.json'),
    logWrite: () => {},
    approvers: ApproversConfig.parse(APPROVERS),
    sweepIntervalMs: 0,
  });
});

afterAll(async () => {
  await stack?.close();
});

function base(over: Partial<Deployment>): Deployment {
  const now = new Date().toISOString();
  return {
    id: 'x',
    repository: REPOSITORY,
    environment: 'production',
    sha: repo.head(),
    ref: 'refs/heads/main',
    status: 'queued',
    approval: 'required',
    pusher: 'paul',
    involved: ['paul'],
    createdAt: now,
    updatedAt: now,
    ...over,
  };
}

test('override: the pusher is refused, a reason is required, two approvers start it; show lists who and why', async () => {
  const until = new Date(Date.now() + 4 * 3600_000).toISOString();
  const d = base({ id: 'frozen-cli-1', frozenUntil: until, reason: `frozen until ${until}` });
  await stack.store.createDeployment(d);

  const own = await cli(['override', d.id, '--reason', 'my change is fine'], 'paul');
  expect(own.code).toBe(1);
  expect(own.stderr).toContain('paul pushed, merged or wrote this change');
  expect((await cli(['override', d.id], 'erin')).code).toBe(2);
  expect((await cli(['override', d.id, '--reason', '  '], 'erin')).stderr).toContain(
    'an override needs a written reason',
  );

  const first = await cli(['override', d.id, '--reason', 'hotfix for the login outage'], 'erin');
  expect(first.code).toBe(0);
  expect(first.stdout).toContain(
    `recorded your override of the freeze of ${d.id} (until ${until}): 1 of 2 needed`,
  );
  const shown = await cli(['show', d.id], 'dora');
  expect(shown.stdout).toContain(`frozen       until ${until}`);
  expect(shown.stdout).toMatch(/override by erin \(cli\) via cli at .*: hotfix for the login outage/);
  expect((await stack.store.getDeployment(d.id))?.status).toBe('queued');

  const second = await cli(['override', d.id, '--reason', 'agreed', '--json'], 'dora');
  expect(second.code).toBe(0);
  expect(JSON.parse(second.stdout).outcome).toMatchObject({ kind: 'overridden', dispatched: true });
  await stack.idle();
  const done = await cli(['show', d.id], 'dora');
  expect(done.stdout).toContain(`freeze override: the freeze until ${until} was overridden`);
  expect(done.stdout).toMatch(/^ {2}erin \(cli\) via cli at .*: hotfix for the login outage$/m);
  expect(done.stdout).toMatch(/^ {2}dora \(cli\) via cli at .*: agreed$/m);
  // the render-only runner took it at once, inside the freeze
  expect((await stack.store.getDeployment(d.id))?.status).toBe('rendered');
});

test('retry: a second retry of the same failed deployment exits 1 and names the first', async () => {
  const now = new Date().toISOString();
  const d = base({
    id: 'failed-cli-1',
    environment: 'staging',
    approval: 'none',
    status: 'failed',
    startedAt: now,
    finishedAt: now,
    planDigest: 'e'.repeat(64),
    reason: 'web: i/o timeout',
  });
  await stack.store.createDeployment(d);
  const one = await cli(['retry', d.id], 'dora');
  expect(one.code).toBe(0);
  expect(one.stdout).toContain(`retry ${retryIdOf(d)}:`);
  const two = await cli(['retry', d.id], 'erin');
  expect(two.code).toBe(1);
  expect(two.stderr).toContain(`deployment ${d.id} was retried already as ${retryIdOf(d)}`);
  await stack.idle();
});

test('override: Unicode format characters (bidi overrides, zero-width) are removed from the reason everywhere it is shown', async () => {
  const until = new Date(Date.now() + 4 * 3600_000).toISOString();
  const d = base({ id: 'frozen-cli-cf', frozenUntil: until, reason: `frozen until ${until}` });
  await stack.store.createDeployment(d);
  const first = await cli(
    ['override', d.id, '--reason', 'hot\u200Bfix \u202Etxt.exe\u202C for \uFEFFthe outage\u2066'],
    'erin',
  );
  expect(first.code).toBe(0);
  const shown = await cli(['show', d.id], 'dora');
  expect(shown.stdout).toMatch(/override by erin \(cli\) via cli at .*: hotfix txt\.exe for the outage$/m);
  const audit = (await stack.store.listAudit(d.id)).filter((a) => a.action === 'freeze-override');
  expect(audit.map((a) => a.detail)).toEqual([expect.stringContaining('hotfix txt.exe for the outage')]);
  expect(JSON.stringify(audit)).not.toMatch(/\p{Cf}/u);
  // nothing but format characters is no reason at all
  expect((await cli(['override', d.id, '--reason', '\u202E\u200B'], 'dora')).stderr).toContain(
    'an override needs a written reason',
  );
});

test('retry: refused (exit 1, audited) once a newer deployment of the environment exists', async () => {
  const t0 = Date.now() - 60_000;
  const d = base({
    id: 'failed-cli-older',
    environment: 'staging',
    approval: 'none',
    status: 'failed',
    createdAt: new Date(t0).toISOString(),
    startedAt: new Date(t0 + 1000).toISOString(),
    planDigest: 'e'.repeat(64),
    reason: 'web: i/o timeout',
  });
  const newer = base({
    id: 'succeeded-cli-newer',
    environment: 'staging',
    approval: 'none',
    sha: 'b'.repeat(40),
    status: 'succeeded',
    // the newest of the environment (the test above left a retry of staging too)
    createdAt: new Date(t0 + 120_000).toISOString(),
    startedAt: new Date(t0 + 121_000).toISOString(),
  });
  await stack.store.createDeployment(d);
  await stack.store.createDeployment(newer);
  const r = await cli(['retry', d.id], 'dora');
  expect(r.code).toBe(1);
  expect(r.stderr).toContain(
    `a newer deployment ${newer.id} of staging exists (${'b'.repeat(12)}, succeeded); redeploy or roll back instead`,
  );
  expect(await stack.store.getDeployment(retryIdOf(d))).toBeUndefined();
  expect((await stack.store.listAudit(d.id)).map((a) => `${a.actor} ${a.via} ${a.outcome}`)).toEqual([
    'dora (cli) cli refused: conflict',
  ]);
});
