import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { type LocalStack, startLocalStack } from '../../../handlers/local/local-stack';
import { ApproversConfig } from '../../../lib/approval/approval-port';
import { LocalHttpDispatcher } from '../../../lib/cli/local-dispatch';
import { runCli } from '../../../lib/cli/main';
import { fixedClock } from '../../../lib/clock';
import { createLocalHttpServer, listen } from '../../../lib/http/local-adapter';
import { headCommit, pushPayload, signedWebhook } from '../../../lib/local/push-payload';
import { testGit } from '../../helpers/git';
import { makeGitRepo } from '../../helpers/git-repo';
import { policyOf } from '../../helpers/policy';
import { SecretsManagerStandIn } from '../../stand-ins/secrets-manager';
import { StsStandIn } from '../../stand-ins/sts';

/**
 * The operator CLI against a real local stack (dynalite, the render-only runner, the approval
 * service): `runCli` in-process with captured stdout/stderr, and the launcher as a child process.
 */

const run = promisify(execFile);
const ROOT = path.resolve(__dirname, '../../..');
const CANARY = 'canary-cli-7d41e0b95a2c';
const WEBHOOK_SECRET = 'w'.repeat(40);
const DEPLOY_YAML = `apiVersion: helmgate/v1
environments:
  staging:
    approval: none
    cluster: { secret: local/staging/cluster }
    releases:
      - name: hello
        namespace: hello-staging
        chart: ./charts/hello
        values: [values/hello.yaml]
        secretValues:
          auth.token: { secret: app/token, key: token }
  production:
    approval: required
    after: staging
    cluster: { secret: local/production/cluster }
    releases:
      - name: hello
        namespace: hello-production
        chart: ./charts/hello
        values: [values/hello.yaml, values/hello-production.yaml]
        secretValues:
          auth.token: { secret: app/token, key: token }
`;
const FILES = {
  'deploy.yaml': DEPLOY_YAML,
  'values/hello.yaml': 'greeting: hi\n',
  'values/hello-production.yaml': 'replicas: 2\n',
  'charts/hello/Chart.yaml': 'apiVersion: v2\nname: hello\nversion: 0.1.0\n',
  'charts/hello/values.yaml': 'greeting: hello\nreplicas: 1\nauth:\n  token: ""\n',
  'charts/hello/templates/configmap.yaml':
    'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  greeting: {{ .Values.greeting | quote }}\n',
  'charts/hello/templates/secret.yaml':
    'apiVersion: v1\nkind: Secret\nmetadata:\n  name: {{ .Release.Name }}\nstringData:\n  token: {{ required "auth.token is required" .Values.auth.token | quote }}\n',
};
// every vote is a GitHub login: the CLI principal `dora` votes as the login dora through cliToGithub
const APPROVERS = {
  staging: { github: ['dora', 'erin'], cliToGithub: { dora: 'dora', erin: 'erin' } },
  production: { github: ['dora', 'erin'], cliToGithub: { dora: 'dora', erin: 'erin' } },
};
const REPOSITORY = 'idr/deployment';

let stack: LocalStack;
let repo: ReturnType<typeof makeGitRepo>;
let stateFile: string;
const logs: string[] = [];

interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

async function cli(args: string[], opts: { as?: string } = {}): Promise<CliRun> {
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
      HELMGATE_CLI_PRINCIPAL: opts.as ?? 'dora',
    },
    cwd: repo.dir,
    isTTY: false,
    // --wait polls between sleeps: wait for the stack to finish what it is doing instead of for time
    sleep: () => stack.idle(),
  });
  return { code, stdout, stderr };
}

async function cliJson<T>(
  args: string[],
  opts: { as?: string } = {},
): Promise<{ code: number; body: T; stderr: string }> {
  const r = await cli([...args, '--json'], opts);
  return { code: r.code, body: JSON.parse(r.stdout) as T, stderr: r.stderr };
}

async function push(): Promise<string> {
  const commit = await headCommit(testGit, repo.dir);
  const req = await signedWebhook(WEBHOOK_SECRET, 'push', pushPayload(REPOSITORY, commit));
  const res = await fetch(`${stack.url}/webhook`, { method: 'POST', headers: req.headers, body: req.body });
  expect(res.status).toBe(202);
  await stack.idle();
  return commit.sha;
}

async function ofSha(sha: string, environment: string) {
  const list = await stack.store.listByEnvironment(REPOSITORY, environment);
  const d = list.find((x) => x.sha === sha);
  if (!d) throw new Error(`no ${environment} deployment of ${sha}`);
  return d;
}

function writeSecrets(doc: Record<string, string>): void {
  writeFileSync(stack.secretsFile, JSON.stringify(doc), { mode: 0o600 });
}

const SECRETS = {
  'helmgate/github-webhook': WEBHOOK_SECRET,
  'helmgate/approval-signing-key': 'k'.repeat(64),
  'app/token': JSON.stringify({ token: CANARY }),
  'helmgate/digest-key': 'd'.repeat(64),
};

beforeAll(async () => {
  repo = makeGitRepo(FILES, { origin: `git@github.com:${REPOSITORY}.git` });
  const secretsFile = path.join(repo.dir, '.helmgate', 'secrets.json');
  mkdirSync(path.dirname(secretsFile), { recursive: true });
  writeFileSync(secretsFile, JSON.stringify(SECRETS), { mode: 0o600 });
  stateFile = path.join(repo.dir, '.helmgate', 'stack.json');
  stack = await startLocalStack({
    port: 0,
    repoDir: repo.dir,
    secretsFile,
    stateFile,
    logWrite: (l) => logs.push(l),
    approvers: ApproversConfig.parse(APPROVERS),
    sweepIntervalMs: 0,
  });
  // the CLI finds the stack through its state file, and reaches the stack's own routes there
  expect(JSON.parse(readFileSync(stateFile, 'utf8')).url).toBe(stack.url);
});

afterAll(async () => {
  await stack?.close();
});

let first: string;

describe('after a push (staging rendered, production waiting)', () => {
  beforeAll(async () => {
    first = await push();
  });

  test('status shows what runs in staging and what waits in production, as text and JSON', async () => {
    const text = await cli(['status']);
    expect(text.code).toBe(0);
    const staging = await ofSha(first, 'staging');
    const production = await ofSha(first, 'production');
    // a table, the id first, columns aligned under their heading
    const lines = text.stdout.split('\n');
    expect(lines[0]).toBe(REPOSITORY);
    expect(lines[1]).toMatch(/^ID +ENVIRONMENT +STATE +COMMIT +STATUS +WHEN +DETAIL$/);
    const sha = first.slice(0, 12);
    const runs = lines.find((l) => l.startsWith(staging.id)) ?? '';
    expect(runs).toMatch(new RegExp(`^${staging.id} +staging +runs +${sha} +rendered +\\d+\\w ago$`));
    const waits = lines.find((l) => l.startsWith(production.id)) ?? '';
    expect(waits).toMatch(
      new RegExp(
        `^${production.id} +production +waits +${sha} +awaiting approval +\\d+\\w ago +0/1 votes, expires in \\d+h$`,
      ),
    );
    const column = (heading: string) => (lines[1] ?? '').indexOf(heading);
    for (const l of [runs, waits]) {
      expect(l.indexOf(sha)).toBe(column('COMMIT'));
      expect(l.indexOf(l.includes('rendered') ? 'rendered' : 'awaiting')).toBe(column('STATUS'));
    }
    expect(text.stdout).not.toContain('\x1b['); // not a terminal: no colour

    const json = await cliJson<{ target: string; environments: Array<Record<string, unknown>> }>(['status']);
    expect(json.code).toBe(0);
    expect(json.body.target).toBe('local');
    const byEnv = Object.fromEntries(json.body.environments.map((e) => [e.environment, e]));
    expect(byEnv.staging).toMatchObject({
      repository: REPOSITORY,
      current: { id: staging.id, sha: first, status: 'rendered' },
      running: [],
      waiting: [],
    });
    expect(byEnv.production).toMatchObject({
      current: null,
      waiting: [
        {
          id: production.id,
          status: 'awaiting_approval',
          approval: { status: 'pending', votes: 0, required: 1, expiresAt: expect.any(String) },
        },
      ],
    });
  });

  test('show prints the deployment, its per-release results and the audit log; --json has no token hash', async () => {
    const staging = await ofSha(first, 'staging');
    const text = await cli(['show', staging.id]);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`deployment ${staging.id}`);
    expect(text.stdout).toContain('status       rendered');
    expect(text.stdout).toMatch(
      /^ {2}RELEASE +NAMESPACE +STATUS +REVISION +ATTEMPTS +DURATION +CHART +REASON$/m,
    );
    expect(text.stdout).toMatch(/^ {2}hello +hello-staging +rendered +- +1 +\d[\d.]* m?s +charts\/hello$/m);

    const production = await ofSha(first, 'production');
    // a unique prefix is enough
    const json = await cliJson<{
      deployment: { id: string; status: string };
      approval: Record<string, unknown> | null;
      audit: Array<{ action: string; outcome: string; via: string }>;
    }>(['show', production.id.slice(0, production.id.length - 3)]);
    expect(json.code).toBe(0);
    expect(json.body.deployment).toMatchObject({ id: production.id, status: 'awaiting_approval' });
    expect(json.body.approval).toMatchObject({
      status: 'pending',
      required: 1,
      summary: ['hello: new (./charts/hello)'],
    });
    expect(json.body.approval).not.toHaveProperty('tokenHash');
    expect(json.body.audit).toContainEqual(
      expect.objectContaining({ action: 'offer', outcome: 'offered', via: 'system' }),
    );
  });

  test('show of an unknown deployment fails with exit 1 and says so', async () => {
    const r = await cli(['show', 'nope-nope']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('no deployment nope-nope');
    const j = await cliJson<{ error: { code: string } }>(['show', 'nope-nope']);
    expect(j.code).toBe(1);
    expect(j.body.error.code).toBe('not_found');
  });

  test('plan describes the plan of a commit and diffs it against what the environment runs', async () => {
    const same = await cli(['plan', 'HEAD', 'staging']);
    expect(same.code).toBe(0);
    expect(same.stdout).toContain(`staging @ ${first.slice(0, 12)} — deploys on push`);
    expect(same.stdout).toContain('secret value auth.token ← app/token#token');
    expect(same.stdout).toContain('hello: unchanged');
    // which policy applied: the local stack's, from its checkout
    expect(same.stdout).toMatch(/\npolicy [0-9a-f]{12}: deploys on push; cluster local\/staging\/cluster; /);

    const prod = await cli(['plan', first.slice(0, 9), 'production']);
    expect(prod.stdout).toContain('production runs nothing deployed by helmgate yet');
    expect(prod.stdout).toContain('hello: new (./charts/hello)');

    const next = repo.commit({ 'values/hello.yaml': 'greeting: bonjour\n' }, 'say bonjour');
    const changed = await cli(['plan', 'HEAD', 'staging']);
    expect(changed.stdout).toContain('hello: values changed');
    expect(changed.stdout).toContain('-greeting: hi');
    expect(changed.stdout).toContain('+greeting: bonjour');

    const json = await cliJson<{
      sha: string;
      environments: Array<{
        environment: string;
        running: { sha: string } | null;
        changes: Array<{ change: string }>;
      }>;
    }>(['plan', 'HEAD']);
    expect(json.body.sha).toBe(next);
    expect(json.body.environments.map((e) => e.environment)).toEqual(['staging', 'production']);
    expect(json.body.environments[0]).toMatchObject({
      running: { sha: first },
      changes: [{ change: 'changed' }],
    });
    expect(json.body.environments[1]).toMatchObject({ running: null, changes: [{ change: 'new' }] });
    expect(json.body.environments[0]).toMatchObject({ plan: { policy: { digest: expect.any(String) } } });
  });

  test('plan of a commit outside the operator policy exits 1 and names the rule', async () => {
    repo.commit(
      { 'deploy.yaml': DEPLOY_YAML.replace('approval: required', 'approval: none') },
      'switch off approval',
    );
    const out = await cli(['plan', 'HEAD', 'production']);
    expect(out.code).toBe(1);
    expect(out.stderr).toContain('policy: production.approval is required; deploy.yaml says none');
    repo.commit({ 'deploy.yaml': DEPLOY_YAML }, 'restore');
  });

  test('plan of an environment the config does not have, or a commit that does not exist, exits 1', async () => {
    expect((await cli(['plan', 'HEAD', 'qa'])).stderr).toMatch(/environment qa is not in the deploy config/);
    const missing = await cli(['plan', 'deadbeef1234', 'staging']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('is not a commit');
  });

  test('secrets check passes when every reference resolves, and names the missing one (never a value) when not', async () => {
    const ok = await cli(['secrets', 'check']);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/staging @ \w+: 1 secret reference, all present/);
    expect(ok.stdout).toMatch(/ok +app\/token#token/);

    writeSecrets({ ...SECRETS, 'app/token': JSON.stringify({ token: '  ' }) });
    try {
      const bad = await cli(['secrets', 'check', 'production']);
      expect(bad.code).toBe(1);
      expect(bad.stdout).toMatch(/production @ \w+: 1 secret reference, 1 missing or empty/);
      expect(bad.stdout).toMatch(/MISSING +app\/token#token/);
      const json = await cliJson<{
        ok: boolean;
        environments: Array<{ environment: string; missing: string[] }>;
      }>(['secrets', 'check']);
      expect(json.code).toBe(1);
      expect(json.body.ok).toBe(false);
      expect(json.body.environments).toEqual([
        expect.objectContaining({ environment: 'staging', missing: ['app/token#token'] }),
        expect.objectContaining({ environment: 'production', missing: ['app/token#token'] }),
      ]);
    } finally {
      writeSecrets(SECRETS);
    }
    const again = await cli(['secrets', 'check', '--json']);
    expect(again.stdout).not.toContain(CANARY);
    expect(again.stderr).not.toContain(CANARY);
  });

  test('approve by a principal the approvers config does not allow is refused, audited via cli, and changes nothing', async () => {
    const production = await ofSha(first, 'production');
    const r = await cli(['approve', production.id], { as: 'mallory' });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('mallory (cli) is not mapped to a GitHub login (cliToGithub)');
    const j = await cliJson<{ error: { code: string } }>(['approve', production.id], { as: 'mallory' });
    expect(j.body.error.code).toBe('forbidden');
    expect((await stack.store.getDeployment(production.id))?.status).toBe('awaiting_approval');
    expect(await stack.store.listAudit(production.id)).toContainEqual(
      expect.objectContaining({
        actor: 'mallory (cli)',
        via: 'cli',
        action: 'approve',
        outcome: 'refused: forbidden',
      }),
    );
  });

  test('approve --wait by an allowed principal releases production and follows it until rendered', async () => {
    const production = await ofSha(first, 'production');
    const r = await cliJson<{
      outcome: { kind: string; dispatched: boolean };
      principal: string;
      deployment: { status: string };
    }>(['approve', production.id, '--wait', '--interval', '20']);
    expect(r.code).toBe(0);
    expect(r.body.outcome).toEqual({ kind: 'approved', deploymentId: production.id, dispatched: true });
    expect(r.body.principal).toBe('dora');
    expect(r.body.deployment.status).toBe('rendered');
    // --json: the final document only, no progress on stderr either
    expect(r.stderr).not.toContain(production.id);
    await stack.idle();
    expect((await stack.store.getDeployment(production.id))?.status).toBe('rendered');
    expect(await stack.store.listAudit(production.id)).toContainEqual(
      expect.objectContaining({ actor: 'dora (cli)', via: 'cli', action: 'approve', outcome: 'approved' }),
    );
    // approving again is a no-op the CLI reports
    const again = await cli(['approve', production.id]);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain(`you already approved ${production.id}`);
  });
});

describe('redeploy, reject and rollback', () => {
  let second: string;

  beforeAll(async () => {
    // a second commit (made by the plan test, or now) goes through staging
    if (repo.head() === first) repo.commit({ 'values/hello.yaml': 'greeting: bonjour\n' }, 'say bonjour');
    second = await push();
    expect((await ofSha(second, 'staging')).status).toBe('rendered');
  });

  test('redeploy to an environment without approval queues it, hands it to the runner and --wait follows it', async () => {
    const r = await cliJson<{
      deployment: { id: string; status: string; trigger: string };
      superseded: string[];
    }>(['redeploy', second.slice(0, 10), 'staging', '--force', '--wait', '--interval', '20']);
    expect(r.code).toBe(0);
    expect(r.body.deployment).toMatchObject({ status: 'rendered', trigger: 'redeploy' });
    const d = await stack.store.getDeployment(r.body.deployment.id);
    expect(d).toMatchObject({
      sha: second,
      environment: 'staging',
      approval: 'none',
      force: true,
      pusher: 'dora',
    });
    expect(d?.releases).toEqual([expect.objectContaining({ name: 'hello', status: 'rendered' })]);
    expect(await stack.store.listAudit(d?.id as string)).toContainEqual(
      expect.objectContaining({ actor: 'dora (cli)', via: 'cli', action: 'redeploy', outcome: 'created' }),
    );
  });

  test('redeploy to an environment that needs approval waits for it with an offer; reject through the CLI ends it', async () => {
    const r = await cli(['redeploy', 'HEAD', 'production']);
    expect(r.code).toBe(0);
    const id = /^redeploy (\S+): production @/m.exec(r.stdout)?.[1] as string;
    expect(id).toBeDefined();
    expect(r.stdout).toContain('waits for approval until');
    expect(r.stdout).toContain(`approve with: helmgate approve ${id}`);
    // production runs the first commit: the offer shows the values change
    expect(r.stdout).toContain('hello: values changed');
    expect(await stack.store.getDeployment(id)).toMatchObject({
      status: 'awaiting_approval',
      approval: 'required',
    });

    const rejected = await cli(['reject', id]);
    expect(rejected.code).toBe(0);
    expect(rejected.stdout).toContain(`rejected ${id}`);
    const d = await stack.store.getDeployment(id);
    expect(d?.status).toBe('rejected');
    expect(d?.reason).toBe('rejected by dora (cli) via cli');
    expect(await stack.store.listAudit(id)).toContainEqual(
      expect.objectContaining({ actor: 'dora (cli)', via: 'cli', action: 'reject', outcome: 'rejected' }),
    );
  });

  test('a newer redeploy supersedes an older one that has not started', async () => {
    const older = await cliJson<{ deployment: { id: string } }>(['redeploy', 'HEAD', 'production']);
    const newer = await cliJson<{ deployment: { id: string }; superseded: string[] }>([
      'redeploy',
      'HEAD',
      'production',
    ]);
    expect(newer.body.superseded).toEqual([older.body.deployment.id]);
    expect((await stack.store.getDeployment(older.body.deployment.id))?.status).toBe('superseded');
    await cli(['reject', newer.body.deployment.id]);
  });

  test('rollback creates a deployment of the previous successful commit that must be approved, marked as a rollback', async () => {
    const current = (await stack.store.listByEnvironment(REPOSITORY, 'staging')).find(
      (d) => d.status === 'rendered',
    );
    expect(current?.sha).toBe(second);
    const r = await cliJson<{
      deployment: { id: string; status: string; trigger: string; sha: string };
      approval: { summary: string[]; expiresAt: string };
    }>(['rollback', 'staging']);
    expect(r.code).toBe(0);
    expect(r.body.deployment).toMatchObject({ status: 'awaiting_approval', trigger: 'rollback', sha: first });
    expect(r.body.approval.summary).toEqual(['hello: values changed']);
    const d = (await stack.store.getDeployment(r.body.deployment.id)) as unknown as Record<string, unknown>;
    // staging needs no approval on push, but a rollback always does
    expect(d).toMatchObject({ approval: 'required', rollbackOf: current?.id, requestedBy: 'dora' });

    const shown = await cli(['show', r.body.deployment.id]);
    expect(shown.stdout).toContain(`trigger      rollback by dora (rolls back ${current?.id})`);

    // four eyes: the requester stands where a pusher would and may not approve their own rollback
    const own = await cli(['approve', r.body.deployment.id]);
    expect(own.code).toBe(1);
    expect(own.stderr).toContain(
      "dora pushed, merged or wrote this change; staging needs someone else's approval",
    );
    const approved = await cli(['approve', r.body.deployment.id, '--wait', '--interval', '20'], {
      as: 'erin',
    });
    expect(approved.code).toBe(0);
    expect((await stack.store.getDeployment(r.body.deployment.id))?.status).toBe('rendered');
    expect(await stack.store.listAudit(r.body.deployment.id)).toContainEqual(
      expect.objectContaining({
        actor: 'erin (cli)',
        via: 'cli',
        action: 'approve',
        outcome: 'approved',
        detail: 'rollback confirmed; deploy dispatched',
      }),
    );
    // what runs in staging is the first commit again
    const status = await cliJson<{ environments: Array<{ environment: string; current: { sha: string } }> }>([
      'status',
      '--environment',
      'staging',
    ]);
    expect(status.body.environments).toEqual([
      expect.objectContaining({ current: expect.objectContaining({ sha: first }) }),
    ]);
  });

  test('rollback of an environment with nothing earlier to go back to exits 1', async () => {
    const r = await cli(['rollback', 'production']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/no successful deployment before \w+ to roll back to/);
  });
});

/** The route the local stack serves for the CLI (the contract: POST /local/dispatch, loopback, JSON). */
const LOCAL_DISPATCH = '/local/dispatch';

describe('the local dispatch route of the running stack', () => {
  const post = async (body: string, type = 'application/json') =>
    fetch(`${stack.url}${LOCAL_DISPATCH}`, { method: 'POST', headers: { 'content-type': type }, body });

  test('only JSON is accepted, so a web page cannot post to it without a CORS preflight', async () => {
    expect((await post('deploymentId=x', 'text/plain')).status).toBe(415);
    expect((await post('{"deploymentId":1}')).status).toBe(400);
  });

  test('it dispatches only what the store says should run', async () => {
    expect((await post('{"deploymentId":"nope"}')).status).toBe(404);
    const staging = await ofSha(first, 'staging');
    const res = await post(JSON.stringify({ deploymentId: staging.id }));
    expect(res.status).toBe(409);
    expect(await res.text()).toContain('is rendered: nothing to deploy');
  });

  test('the CLI says plainly when a stack has no such route', async () => {
    const bare = createLocalHttpServer([]);
    const port = await listen(bare, 0);
    try {
      await expect(
        new LocalHttpDispatcher(`http://127.0.0.1:${port}`).dispatch({ deploymentId: 'x' }),
      ).rejects.toThrow(`has no ${LOCAL_DISPATCH} route`);
    } finally {
      await new Promise((r) => bare.close(r));
    }
  });
});

describe('AWS mode (the environment of the Lambdas, DynamoDB at a loopback endpoint)', () => {
  // the SDK's credential chain reads process.env itself, whatever env the CLI is given
  const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };
  let sts: StsStandIn;
  let secretsManager: SecretsManagerStandIn;
  beforeAll(async () => {
    secretsManager = await new SecretsManagerStandIn().start();
    process.env.AWS_ACCESS_KEY_ID = 'AKIDEXAMPLE';
    process.env.AWS_SECRET_ACCESS_KEY = 'example-secret';
    sts = await new StsStandIn().start();
    process.env.AWS_ENDPOINT_URL_STS = sts.url;
  });
  afterAll(async () => {
    await sts.close();
    await secretsManager.close();
    delete process.env.AWS_ENDPOINT_URL_STS;
    if (saved.id === undefined) delete process.env.AWS_ACCESS_KEY_ID;
    else process.env.AWS_ACCESS_KEY_ID = saved.id;
    if (saved.secret === undefined) delete process.env.AWS_SECRET_ACCESS_KEY;
    else process.env.AWS_SECRET_ACCESS_KEY = saved.secret;
  });
  const awsCli = async (args: string[], extra: Record<string, string> = {}) => {
    const { dynamodbEndpoint } = JSON.parse(readFileSync(stateFile, 'utf8')) as { dynamodbEndpoint: string };
    let stdout = '';
    let stderr = '';
    const code = await runCli(['--aws', ...args], {
      stdout: (s) => {
        stdout += s;
      },
      stderr: (s) => {
        stderr += s;
      },
      // no HELMGATE_REPOSITORIES: the CLI does not need it
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        AWS_REGION: 'eu-west-1',
        HELMGATE_TABLE: 'helmgate',
        HELMGATE_DYNAMODB_ENDPOINT: dynamodbEndpoint,
        HELMGATE_SECRETS_ENDPOINT: secretsManager.url,
        // as the stack sets it on every function (scripts/serverless-policy.cjs)
        HELMGATE_POLICY: JSON.stringify(policyOf(DEPLOY_YAML)),
        HELMGATE_APPROVERS: JSON.stringify(APPROVERS),
        ...extra,
      },
      cwd: repo.dir,
    });
    return { code, stdout, stderr };
  };

  test('status and show read the same table through the AWS wiring', async () => {
    const status = await awsCli(['status', '--json']);
    expect(status.code).toBe(0);
    const body = JSON.parse(status.stdout) as {
      target: string;
      environments: Array<{ environment: string }>;
    };
    expect(body.target).toBe('aws');
    expect(body.environments.map((e) => e.environment).sort()).toEqual(['production', 'staging']);
    const staging = await ofSha(first, 'staging');
    const show = await awsCli(['show', staging.id]);
    expect(show.code).toBe(0);
    expect(show.stdout).toContain(`deployment ${staging.id}`);
  });

  test('in AWS mode the voter is whoever the credentials belong to (STS), never a name typed in', async () => {
    repo.commit({ 'values/aws-mode.yaml': 'x: 1\n' }, 'a commit for the AWS-mode vote');
    const production = await ofSha(await push(), 'production');
    sts.arn = 'arn:aws:iam::123456789012:user/mallory';
    const refused = await awsCli(['reject', production.id]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('arn:aws:iam::123456789012:user/mallory');
    expect(sts.actions).toContain('GetCallerIdentity');
    const audit = await stack.store.listAudit(production.id);
    expect(audit.at(-1)).toMatchObject({ actor: 'arn:aws:iam::123456789012:user/mallory (cli)', via: 'cli' });
    // claiming to be someone else is a usage error, whatever HELMGATE_APPROVERS says
    const lie = await awsCli(['reject', production.id, '--as', 'arn:aws:iam::123456789012:user/alice']);
    expect(lie.code).toBe(2);
    expect(lie.stderr).toContain('does not match your AWS credentials');
  });
});

describe('usage and the launcher', () => {
  test('usage errors exit 2: unknown command, missing argument, bad option value', async () => {
    expect((await cli(['frobnicate'])).code).toBe(2);
    expect((await cli(['approve'])).code).toBe(2);
    const bad = await cli(['status', '--limit', 'many']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('expected a positive integer');
  });

  test('--local without a running stack is an error that says how to start one', async () => {
    // a directory of its own: a stack the developer runs in this checkout must not answer here
    const empty = mkdtempSync(path.join(tmpdir(), 'helmgate-cli-nostack-'));
    let stderr = '';
    const code = await runCli(['status', '--local'], {
      stdout: () => undefined,
      stderr: (s) => {
        stderr += s;
      },
      env: {},
      cwd: empty,
    });
    expect(code).toBe(1);
    expect(stderr).toContain('npm start');
  });

  test('node bin/helmgate.cjs --help lists every command and exits 0', async () => {
    const { stdout } = await run(process.execPath, [path.join(ROOT, 'bin', 'helmgate.cjs'), '--help'], {
      cwd: ROOT,
    });
    for (const c of ['status', 'show', 'plan', 'approve', 'reject', 'redeploy', 'rollback', 'secrets'])
      expect(stdout).toMatch(new RegExp(`^  ${c}\\b`, 'm'));
  });

  test('node bin/helmgate.cjs status --json in the checkout finds the running stack through its state file, and nothing else speaks', async () => {
    const { stdout, stderr } = await run(
      process.execPath,
      [path.join(ROOT, 'bin', 'helmgate.cjs'), 'status', '--json'],
      {
        cwd: repo.dir,
        env: { PATH: process.env.PATH, HOME: process.env.HOME },
      },
    );
    const body = JSON.parse(stdout) as { target: string; environments: Array<{ environment: string }> };
    expect(body.target).toBe('local');
    expect(body.environments.map((e) => e.environment).sort()).toEqual(['production', 'staging']);
    // no dependency's notice on every call (the AWS SDK's Node version warning, on Node 20)
    expect(stderr).toBe('');
  });

  test('--version prints the version of the package', async () => {
    const { stdout } = await run(process.execPath, [path.join(ROOT, 'bin', 'helmgate.cjs'), '--version'], {
      cwd: repo.dir,
      env: { PATH: process.env.PATH, HOME: process.env.HOME },
    });
    const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
    expect(stdout).toBe(`${pkg.version}\n`);
  });
});

describe('show of a deployment that failed in helm', () => {
  test('prints the last lines helm printed, without --json', async () => {
    repo.commit(
      { 'charts/hello/templates/broken.yaml': '{{ fail "hello chart broken on purpose" }}\n' },
      'break the chart',
    );
    const sha = await push();
    const staging = await ofSha(sha, 'staging');
    expect(staging.status).toBe('failed');
    const r = await cli(['show', staging.id]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^ {2}hello +hello-staging +failed\b/m);
    expect(r.stdout).toContain('hello: the last lines helm printed');
    expect(r.stdout).toMatch(/^ {2}│ .*hello chart broken on purpose/m);
  });
});

describe('--wait shows per-release progress, timed by the injected clock', () => {
  /** the CLI with a clock it owns: each poll interval moves it, then the stack finishes what it does */
  async function timed(args: string[]) {
    const clock = fixedClock('2026-11-26T03:00:00Z');
    const sleeps: number[] = [];
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
        HELMGATE_CLI_PRINCIPAL: 'dora',
      },
      cwd: repo.dir,
      isTTY: false,
      clock,
      sleep: async (ms) => {
        sleeps.push(ms);
        clock.advance(ms);
        await stack.idle();
      },
    });
    return { code, stdout, stderr, sleeps };
  }

  test('a failing redeploy: one line per release with its status, the final status and reason, exit 1', async () => {
    // HEAD is the commit whose chart fails on purpose (previous describe)
    const r = await timed(['redeploy', 'HEAD', 'staging', '--force', '--wait', '--interval', '750']);
    expect(r.code).toBe(1);
    expect(r.stderr).not.toContain('\x1b[');
    expect(r.stderr).toMatch(/^ {2}hello {2}failed\b/m);
    const id = /^redeploy (\S+):/m.exec(r.stdout)?.[1] as string;
    const d = await stack.store.getDeployment(id);
    expect(d?.status).toBe('failed');
    expect(r.stdout.trimEnd().split('\n').at(-1)).toBe(`${id}: failed${d?.reason ? ` (${d.reason})` : ''}`);
    expect(r.sleeps.every((ms) => ms === 750)).toBe(true);
  });

  test('with --json stdout is only the final document and stderr has no progress', async () => {
    const r = await timed([
      'redeploy',
      'HEAD',
      'staging',
      '--force',
      '--wait',
      '--interval',
      '750',
      '--json',
    ]);
    expect(r.code).toBe(1);
    const body = JSON.parse(r.stdout) as {
      deployment: { status: string; releases: Array<{ status: string }> };
    };
    expect(body.deployment.status).toBe('failed');
    expect(r.stderr).not.toMatch(/hello|failed|queued/);
  });

  test('a deployment that does not finish: polls at --interval on the clock until --timeout, then exit 1', async () => {
    const r = await timed([
      'redeploy',
      first,
      'production',
      '--wait',
      '--timeout',
      '3',
      '--interval',
      '1000',
    ]);
    expect(r.code).toBe(1);
    expect(r.sleeps).toEqual([1000, 1000, 1000]);
    expect(r.stderr).toMatch(/: still awaiting_approval after 3 s; stopped waiting$/m);
    const id = /^redeploy (\S+):/m.exec(r.stdout)?.[1] as string;
    expect((await cli(['reject', id])).code).toBe(0);
  });

  test('show without --json prints the error tail and the diagnosis: pods, container states, events, logs', async () => {
    const base = await ofSha(first, 'staging');
    const id = `${base.id}-diagnosed`;
    const now = new Date().toISOString();
    await stack.store.createDeployment({
      ...base,
      id,
      status: 'failed',
      reason: 'hello failed: timed out waiting for the condition',
      createdAt: now,
      updatedAt: now,
      releases: [
        {
          name: 'hello',
          namespace: 'hello-staging',
          status: 'failed',
          attempts: 1,
          durationMs: 61_200,
          errorTail: 'Error: UPGRADE FAILED: context deadline exceeded',
          // helm test (issue 13 item 8): which test hook failed
          tests: {
            outcome: 'failed',
            hooks: [
              { name: 'hello-test-connection', phase: 'Succeeded' },
              { name: 'hello-test-smoke', phase: 'Failed' },
            ],
            reason: 'hello-test-smoke failed',
            at: now,
            durationMs: 1200,
          },
          diagnosis: {
            at: now,
            pods: [
              {
                name: 'hello-7c9d-x2',
                phase: 'Running',
                containers: [
                  {
                    name: 'app',
                    state: 'waiting',
                    reason: 'CrashLoopBackOff',
                    lastReason: 'Error',
                    exitCode: 3,
                    restarts: 4,
                    ready: false,
                    logTail: 'boot\npanic: config missing DATABASE_URL',
                  },
                ],
                events: ['Warning BackOff: Back-off restarting failed container (x12)'],
              },
            ],
          },
        },
      ],
    });
    const r = await cli(['show', id]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^ {2}hello +hello-staging +failed\b/m);
    expect(r.stdout).toMatch(/^ {2}│ Error: UPGRADE FAILED: context deadline exceeded$/m);
    expect(r.stdout).toContain('hello: what the cluster showed when it failed');
    expect(r.stdout).toMatch(/│ pod hello-7c9d-x2 \(Running\)/);
    expect(r.stdout).toMatch(
      /│ +container app: waiting, CrashLoopBackOff, last run ended Error, exit 3, 4 restarts/,
    );
    expect(r.stdout).toMatch(/│ .*Warning BackOff: Back-off restarting failed container \(x12\)/);
    expect(r.stdout).toMatch(/│ .*panic: config missing DATABASE_URL/);
    expect(r.stdout).toContain(
      'hello: helm test failed: hello-test-smoke Failed (hello-test-connection passed)',
    );
  });
});
