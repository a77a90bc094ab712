import { cpSync } from 'node:fs';
import path from 'node:path';
import { renderApprovalPage } from '../../../lib/approval/approval-page';
import type { ApprovalService } from '../../../lib/approval/approval-service';
import { systemClock } from '../../../lib/clock';
import { approvalService } from '../../../lib/compose/shared';
import { formatDiagnosis } from '../../../lib/deploy/diagnosis';
import { RecordingDispatcher } from '../../../lib/dispatch/dispatcher';
import { createLogger } from '../../../lib/log/logger';
import type { Policy } from '../../../lib/policy/policy';
import { cryptoRandom } from '../../../lib/random';
import { helmClusterConnector } from '../../../lib/runner/helm-cluster';
import { clusterAccessFromSecret } from '../../../lib/runner/kube-access';
import { environmentLine, renderFailureDetails } from '../../../lib/slack/messages';
import { renderDeploymentPage } from '../../../lib/web/deployment-page';
import { startDynalite, type TestDynamo } from '../../helpers/dynalite';
import { policyOf } from '../../helpers/policy';
import { KubeApiStandIn } from '../../stand-ins/kube-api';
import { CANARY, type Harness, makeHarness, RecordingNotifier, runnerRepo, timingRunner } from './harness';

/**
 * Issue 13, item 8, with the real helm 4 against the loopback Kubernetes API (which "runs" test-hook
 * pods: test/stand-ins/kube-api.ts): a release may declare `helm test` as part of its health; staging's
 * tests must pass before production's approval opens; a failed test fails the release like a failed health
 * check (diagnosis kept, redacted; the policy's rollback applies); a policy can require the tests.
 */

const FIXTURE_CHARTS = path.resolve(__dirname, '../../fixtures/charts');

const release = (env: string, helmTest: boolean, tag: string) => `
      - name: hub
        namespace: ${env}-${tag}
        chart: ./charts/tested
        values: [values/hub.yaml]
        timeout: 5s
        secretValues:
          tests.token: { secret: app/db, key: password }${helmTest ? '\n        health: { helmTest: true }' : ''}`;

/** `tag` names the namespaces: each test deploys into its own (the stand-in and the store are shared) */
const yamlOf = (tag: string, helmTest = true) => `apiVersion: helmgate/v1
environments:
  staging:
    approval: none
    cluster: { secret: test/cluster }
    releases:${release('staging', helmTest, tag)}
  production:
    approval: required
    after: staging
    cluster: { secret: test/cluster }
    releases:${release('production', helmTest, tag)}
`;

const FAILING = `tests:
  smoke:
    exitCode: 1
    log: "GET / answered 503 Service Unavailable"
`;

let db: TestDynamo;
let kube: KubeApiStandIn;

beforeAll(async () => {
  db = await startDynalite();
  kube = await KubeApiStandIn.start();
});

afterAll(async () => {
  await kube.close();
  await db.close();
});

/** The fixture repository with the `tested` chart (two test hooks) and `files`. */
function testedRepo(files: Record<string, string>) {
  const repo = runnerRepo(files);
  cpSync(path.join(FIXTURE_CHARTS, 'tested'), path.join(repo.dir, 'charts', 'tested'), { recursive: true });
  repo.commit({}, 'tested chart');
  return repo;
}

/**
 * The harness with releases of a 5 s timeout: helm's minimum attempt is lowered to fit (a failing health
 * check gives up after 5 s, not helm's 30 s minimum), one attempt, no `--rollback-on-failure`.
 */
function harness(repoDir: string, policy: Policy): Harness {
  const h = makeHarness({ db, kube, repoDir, policy, rollbackOnFailure: false });
  const { logger, redactor } = h.deps;
  h.deps.cluster = helmClusterConnector({
    helmBin: process.env.HELMGATE_HELM_BIN as string,
    commandRunner: timingRunner(h.calls),
    redactor,
    clock: h.deps.clock,
    logger,
    access: clusterAccessFromSecret({ logger, upgradeFlags: ['--disable-openapi-validation'] }),
    retry: { attempts: 1 },
    rollbackOnFailure: false,
    minAttemptSeconds: 1,
    baseEnv: process.env,
  });
  return h;
}

/** The promotion gate as every target builds it: plans of waiting environments from the finished run's tree. */
function gate(h: Harness, policy: Policy): ApprovalService {
  return approvalService({
    store: db.store,
    notifier: new RecordingNotifier(),
    dispatcher: new RecordingDispatcher(),
    clock: systemClock,
    random: cryptoRandom,
    logger: createLogger({ redactor: h.redactor, clock: systemClock, write: () => {} }),
    redactor: h.redactor,
    approvers: {
      production: {
        github: ['alice'],
        githubTeams: [],
        slack: [],
        cli: [],
        required: 1,
        allowSelfApproval: false,
        slackToGithub: {},
        cliToGithub: {},
      },
    },
    publicUrl: 'https://helmgate.example.org',
    deployConfigPath: 'deploy.yaml',
    policy,
  });
}

function setup(tag: string, opts: { rollback?: 'rollback' | 'keep' } = {}) {
  const yaml = yamlOf(tag);
  const repo = testedRepo({ 'deploy.yaml': yaml, 'values/hub.yaml': 'greeting: hello\n' });
  const policy = policyOf(yaml);
  const staging = policy.repositories['*']?.environments.staging;
  if (staging && opts.rollback) staging.rollback = opts.rollback;
  const h = harness(repo.dir, policy);
  return { repo, h, approvals: gate(h, policy) };
}

/** staging and production of one commit, as the intake records them: production waits behind staging */
async function push(h: Harness, sha: string) {
  const staging = await h.queue(sha, 'staging');
  const production = await h.queue(sha, 'production', { status: 'awaiting_approval', approval: 'required' });
  return { staging, production };
}

const testCalls = (h: Harness) => h.calls.filter((c) => c.args[0] === 'test');

test('passing tests: helm test runs after the upgrade and the health check, staging succeeds, production’s approval opens', async () => {
  const { repo, h, approvals } = setup('pass');
  const { staging, production } = await push(h, repo.head());
  await h.run(staging.id, { finished: approvals });

  const done = await db.store.getDeployment(staging.id);
  expect(done?.status).toBe('succeeded');
  const hub = done?.releases?.find((r) => r.name === 'hub');
  expect(hub).toMatchObject({
    status: 'succeeded',
    revision: 1,
    tests: {
      outcome: 'passed',
      hooks: [
        { name: 'hub-test-connection', phase: 'Succeeded' },
        { name: 'hub-test-smoke', phase: 'Succeeded' },
      ],
    },
  });
  expect(hub?.diagnosis).toBeUndefined();

  // the real helm ran the chart's test hooks, after the upgrade, with the release's timeout
  const [call] = testCalls(h);
  expect(call?.args.slice(0, 6)).toEqual(['test', 'hub', '--namespace', 'staging-pass', '--timeout', '5s']);
  expect(call?.args).not.toContain('--logs');
  const upgrade = h.calls.find((c) => c.args[0] === 'upgrade');
  expect(call?.start).toBeGreaterThan(upgrade?.end ?? Number.POSITIVE_INFINITY);
  expect(kube.get('Pod', 'staging-pass', 'hub-test-smoke')?.status.phase).toBe('Succeeded');

  // the gate: production's approval is open
  expect((await db.store.getDeployment(production.id))?.status).toBe('awaiting_approval');
  expect(await db.store.getApprovalRequest(production.id)).toMatchObject({ status: 'pending' });
  // and the approver sees staging's test outcome beside it
  const view = await approvals.view(production.id);
  expect(view?.previousStage?.id).toBe(staging.id);
  const { deployment, request, audit, previousStage } = view as NonNullable<typeof view>;
  const approvalPage = renderApprovalPage({
    state: { kind: 'forbidden', login: 'bob', reason: 'not an approver' },
    deployment,
    audit,
    ...(request ? { request } : {}),
    ...(previousStage ? { previousStage } : {}),
  });
  expect(approvalPage).toContain('<span id="staging-tests">helm test passed (1 release)</span>');

  // every channel says so
  const line = environmentLine(done as NonNullable<typeof done>, undefined);
  expect(line).toContain('helm test passed (1 release)');
  const page = pageOf(done);
  expect(page).toMatch(/<td[^>]*>helm test passed: hub-test-connection, hub-test-smoke<\/td>/);
});

test('a failing test fails staging, keeps the test pod’s state, events and redacted log, rolls back, and production’s approval does not open', async () => {
  const { repo, h, approvals } = setup('fail', { rollback: 'rollback' });
  const first = await push(h, repo.head());
  await h.run(first.staging.id, { finished: approvals });
  expect((await db.store.getDeployment(first.staging.id))?.status).toBe('succeeded');

  const sha = repo.commit({ 'values/hub.yaml': `greeting: bonjour\n${FAILING}` }, 'a failing smoke test');
  const { staging, production } = await push(h, sha);
  await h.run(staging.id, { finished: approvals });

  const done = await db.store.getDeployment(staging.id);
  expect(done?.status).toBe('failed');
  expect(done?.reason).toMatch(
    /^rolled back to hub r1\. release\(s\) failed: hub: helm test failed: hub-test-smoke failed/,
  );
  const hub = done?.releases?.find((r) => r.name === 'hub');
  expect(hub).toMatchObject({
    status: 'failed',
    revision: 2,
    rolledBackTo: 1,
    reason: 'helm test failed: hub-test-smoke failed',
    tests: {
      outcome: 'failed',
      hooks: [
        { name: 'hub-test-connection', phase: 'Succeeded' },
        { name: 'hub-test-smoke', phase: 'Failed' },
      ],
    },
  });

  // the evidence: the failing test pod first, its container's end, the kubelet's events, its log tail
  const pod = hub?.diagnosis?.pods[0];
  expect(pod).toMatchObject({ name: 'hub-test-smoke', phase: 'Failed' });
  expect(pod?.containers[0]).toMatchObject({
    name: 'smoke',
    state: 'terminated',
    reason: 'Error',
    exitCode: 1,
    ready: false,
  });
  // the kubelet's events of this pod, not of the one of the same name the first run created
  expect(pod?.events).toEqual([
    'Normal Scheduled: Successfully assigned staging-fail/hub-test-smoke to standin-node',
    'Normal Started: Started container smoke',
  ]);
  expect(pod?.containers[0]?.logTail).toContain('GET / answered 503 Service Unavailable');
  // the test printed the secret value it was given: kept redacted, never as is
  expect(pod?.containers[0]?.logTail).toMatch(/using token \S+/);
  expect(pod?.containers[0]?.logTail).not.toContain(CANARY);
  expect(JSON.stringify(done)).not.toContain(CANARY);
  // the passing test pod is not "failing"
  expect(hub?.diagnosis?.pods.map((p) => p.name)).not.toContain('hub-test-connection');

  // collected before the rollback
  const logRead = kube.requests.find((q) => q.path.endsWith('/pods/hub-test-smoke/log'));
  const rollback = h.calls.find((c) => c.args[0] === 'rollback');
  expect(rollback?.args.slice(1, 3)).toEqual(['hub', '1']);
  expect(logRead?.at).toBeLessThan(rollback?.start ?? 0);
  expect(kube.get('ConfigMap', 'staging-fail', 'hub-config')?.data.greeting).toBe('hello');

  // the gate: production can never be approved for this commit
  const prod = await db.store.getDeployment(production.id);
  expect(prod?.status).toBe('failed');
  expect(prod?.reason).toBe(`staging failed for ${sha}`);
  expect(await db.store.getApprovalRequest(production.id)).toBeUndefined();

  // every channel shows which test failed, and the evidence
  const failed = done as NonNullable<typeof done>;
  expect(environmentLine(failed, undefined)).toContain('helm test failed: hub (hub-test-smoke)');
  const slack = JSON.stringify(renderFailureDetails(failed));
  expect(slack).toContain('tests: hub-test-connection Succeeded, hub-test-smoke Failed');
  expect(slack).toContain('GET / answered 503');
  expect(slack).not.toContain(CANARY);
  const page = pageOf(done);
  expect(page).toContain('helm test failed: hub-test-smoke Failed (hub-test-connection passed)');
  expect(page).toMatch(
    /<details open class="diagnosis" data-release="hub">[\s\S]*pod hub-test-smoke \(Failed\)/,
  );
  expect(formatDiagnosis(hub?.diagnosis ?? { at: '', pods: [] })).toContain('terminated, Error, exit 1');
});

test('tests run only once the release is healthy: a workload that never becomes available fails first, untested', async () => {
  const { repo, h, approvals } = setup('sick');
  kube.setDeploymentAvailable('staging-sick', 'hub', false);
  try {
    const { staging } = await push(h, repo.head());
    await h.run(staging.id, { finished: approvals });
    const done = await db.store.getDeployment(staging.id);
    expect(done?.status).toBe('failed');
    const hub = done?.releases?.find((r) => r.name === 'hub');
    expect(hub?.reason).toMatch(/^health check failed/);
    expect(hub?.tests).toBeUndefined();
    expect(testCalls(h)).toEqual([]);
  } finally {
    kube.setDeploymentAvailable('staging-sick', 'hub', true);
  }
});

test('a policy that requires helm test refuses a deploy.yaml that dropped it: nothing is deployed', async () => {
  const policy = policyOf(yamlOf('required', true));
  // the pushed commit deletes the `health: { helmTest: true }` lines
  const repo = testedRepo({ 'deploy.yaml': yamlOf('required', false), 'values/hub.yaml': 'greeting: hi\n' });
  expect(policy.repositories['*']?.environments.staging?.requireHelmTest).toEqual(['hub']);
  const h = harness(repo.dir, policy);
  const { staging, production } = await push(h, repo.head());
  await h.run(staging.id, { finished: gate(h, policy) });

  const done = await db.store.getDeployment(staging.id);
  expect(done?.status).toBe('failed');
  expect(done?.reason).toBe(
    'policy: staging.requireHelmTest requires helm test of release hub; deploy.yaml does not declare it (health.helmTest: true)',
  );
  expect(h.calls.filter((c) => c.args[0] === 'upgrade')).toEqual([]);
  // production can never be approved for this commit: it ends failed (not left awaiting), and says why
  const prod = await db.store.getDeployment(production.id);
  expect(prod?.status).toBe('failed');
  // (the policy requires the tests of production too: its own plan of this commit is refused as well)
  expect(prod?.reason).toBe(
    `cannot plan production at ${repo.head()}: policy: production.requireHelmTest requires helm test of release hub; deploy.yaml does not declare it (health.helmTest: true)`,
  );
  expect(await db.store.getApprovalRequest(production.id)).toBeUndefined();
});

test('staging refused at planning (its values file is not YAML) fails production behind it: it does not linger awaiting approval', async () => {
  // production's own plan of the commit is fine; only staging's values file is broken
  const yaml = yamlOf('unplanned').replace(
    /namespace: staging-unplanned\n(\s+)chart: \.\/charts\/tested\n(\s+)values: \[values\/hub\.yaml\]/,
    'namespace: staging-unplanned\n$1chart: ./charts/tested\n$2values: [values/staging.yaml]',
  );
  expect(yaml).toContain('values: [values/staging.yaml]');
  const policy = policyOf(yaml);
  const repo = testedRepo({
    'deploy.yaml': yaml,
    'values/hub.yaml': 'greeting: hello\n',
    'values/staging.yaml': 'greeting: [unclosed\n',
  });
  const h = harness(repo.dir, policy);
  const { staging, production } = await push(h, repo.head());
  await h.run(staging.id, { finished: gate(h, policy) });

  const done = await db.store.getDeployment(staging.id);
  expect(done?.status).toBe('failed');
  expect(done?.reason).toContain('values file values/staging.yaml is not valid YAML');
  expect(h.calls.filter((c) => c.args[0] === 'upgrade')).toEqual([]);
  // the gate: staging failed, so production (after: staging) can never be approved for this commit
  const prod = await db.store.getDeployment(production.id);
  expect(prod?.status).toBe('failed');
  expect(prod?.reason).toBe(`staging failed for ${repo.head()}`);
  expect(await db.store.getApprovalRequest(production.id)).toBeUndefined();
});

test('a commit whose tree cannot be fetched fails staging and production behind it, saying why', async () => {
  const { h, approvals } = setup('unfetched');
  // a well-formed commit the repository does not hold
  const sha = 'deadbeef'.repeat(5);
  const { staging, production } = await push(h, sha);
  await h.run(staging.id, { finished: approvals });

  const done = await db.store.getDeployment(staging.id);
  expect(done?.status).toBe('failed');
  expect(done?.reason).toContain(`not a tree object: ${sha}`);
  // production's planning fails with the same error: it does not linger awaiting approval
  const prod = await db.store.getDeployment(production.id);
  expect(prod?.status).toBe('failed');
  expect(prod?.reason).toBe(`cannot plan production at ${sha}: ${done?.reason}`);
  expect(await db.store.getApprovalRequest(production.id)).toBeUndefined();
});

test('the stand-in’s rule decides a test pod’s end: a test the chart says passes fails, and helm says which', async () => {
  const { repo, h } = setup('ruled');
  kube.setTestPodOutcome((pod) =>
    pod.metadata.name === 'hub-test-connection'
      ? { containers: { wget: { exitCode: 7, log: 'wget: cannot connect to remote host' } } }
      : undefined,
  );
  try {
    const d = await h.queue(repo.head(), 'staging');
    await h.run(d.id);
    const hub = (await db.store.getDeployment(d.id))?.releases?.find((r) => r.name === 'hub');
    // helm stops at the first failing hook (weight 0): the smoke test did not run
    expect(hub?.tests).toMatchObject({
      outcome: 'failed',
      hooks: [{ name: 'hub-test-connection', phase: 'Failed' }],
    });
    expect(hub?.diagnosis?.pods[0]?.containers[0]).toMatchObject({ exitCode: 7 });
    expect(hub?.diagnosis?.pods[0]?.containers[0]?.logTail).toBe('wget: cannot connect to remote host');
  } finally {
    kube.setTestPodOutcome(undefined);
  }
});

function pageOf(d: Parameters<typeof renderDeploymentPage>[0]['deployment'] | undefined): string {
  return renderDeploymentPage(
    { deployment: d as NonNullable<typeof d>, audit: [] },
    {
      login: 'alice',
      now: new Date(),
      githubWebUrl: 'https://github.com',
      nonce: 'bm9uY2U=',
      csrfFor: () => 'x',
    },
  );
}

test('declaring helm test deploys an otherwise unchanged release once more and tests it; after that it is skipped', async () => {
  const yaml = (helmTest: boolean) => `apiVersion: helmgate/v1
environments:
  staging:
    approval: none
    cluster: { secret: test/cluster }
    releases:
      - name: plain
        namespace: staging-declared
        chart: ./charts/web
        timeout: 5s${helmTest ? '\n        health: { helmTest: true }' : ''}
`;
  const repo = testedRepo({ 'deploy.yaml': yaml(false) });
  const h = harness(repo.dir, policyOf(yaml(false)));
  const first = await h.queue(repo.head(), 'staging');
  await h.run(first.id);
  expect((await db.store.getDeployment(first.id))?.releases?.[0]).toMatchObject({
    status: 'succeeded',
    revision: 1,
  });

  const sha = repo.commit({ 'deploy.yaml': yaml(true) }, 'test the release');
  const second = await h.queue(sha, 'staging');
  await h.run(second.id);
  // the `web` chart has no test hooks: helm test passes, and says so
  const tested = (await db.store.getDeployment(second.id))?.releases?.[0];
  expect(tested).toMatchObject({ status: 'succeeded', revision: 2, tests: { outcome: 'passed', hooks: [] } });
  expect(environmentLine((await db.store.getDeployment(second.id)) as never, undefined)).toContain(
    'helm test passed (1 release)',
  );
  expect(testCalls(h)).toHaveLength(1);

  const third = await h.queue(repo.commit({ 'README.md': 'docs\n' }, 'docs only'), 'staging');
  await h.run(third.id);
  expect((await db.store.getDeployment(third.id))?.releases?.[0]).toMatchObject({
    status: 'skipped',
    reason: 'unchanged',
  });
  expect(testCalls(h)).toHaveLength(1);
});

test('a test hook of kind Job: helm waits for the Job, and its failing pod (found by job-name) is diagnosed', async () => {
  const { repo, h } = setup('job');
  const sha = repo.commit(
    {
      'values/hub.yaml':
        'greeting: hello\ntests:\n  job:\n    enabled: true\n    exitCode: 2\n    log: "schema check: table users missing"\n',
    },
    'a failing Job test',
  );
  const d = await h.queue(sha, 'staging');
  await h.run(d.id);
  const hub = (await db.store.getDeployment(d.id))?.releases?.find((r) => r.name === 'hub');
  expect(hub?.tests).toMatchObject({
    outcome: 'failed',
    hooks: [
      { name: 'hub-test-connection', phase: 'Succeeded' },
      { name: 'hub-test-smoke', phase: 'Succeeded' },
      { name: 'hub-test-job', phase: 'Failed' },
    ],
  });
  expect(hub?.reason).toBe('helm test failed: hub-test-job failed');
  const pod = hub?.diagnosis?.pods[0];
  expect(pod?.name).toMatch(/^hub-test-job-[0-9a-f]{5}$/);
  expect(pod?.containers[0]).toMatchObject({ name: 'check', exitCode: 2 });
  expect(pod?.containers[0]?.logTail).toBe('schema check: table users missing');
  expect(kube.get('Job', 'staging-job', 'hub-test-job')?.status.conditions[0]).toMatchObject({
    type: 'Failed',
    reason: 'BackoffLimitExceeded',
  });
});

test('a test that never ends: helm gives up after the release’s timeout, the release fails saying so, the running pod is diagnosed', async () => {
  const { repo, h } = setup('hung');
  kube.setTestPodOutcome((pod) =>
    pod.metadata.name === 'hub-test-smoke'
      ? { containers: { smoke: { exitCode: 0, log: 'waiting for the hub…' } }, hang: true }
      : undefined,
  );
  try {
    const d = await h.queue(repo.head(), 'staging');
    await h.run(d.id);
    const hub = (await db.store.getDeployment(d.id))?.releases?.find((r) => r.name === 'hub');
    expect(hub?.reason).toBe('helm test failed: hub-test-smoke did not finish in time');
    expect(hub?.tests?.hooks).toEqual([
      { name: 'hub-test-connection', phase: 'Succeeded' },
      { name: 'hub-test-smoke', phase: 'Failed' },
    ]);
    // helm's own --timeout (the release's 5 s) ended it, not our process deadline
    const [call] = testCalls(h);
    expect((call?.end ?? 0) - (call?.start ?? 0)).toBeGreaterThanOrEqual(5_000);
    expect(hub?.diagnosis?.pods[0]).toMatchObject({ name: 'hub-test-smoke', phase: 'Running' });
    expect(hub?.diagnosis?.pods[0]?.containers[0]).toMatchObject({
      state: 'running',
      ready: true,
      logTail: 'waiting for the hub…',
    });
  } finally {
    kube.setTestPodOutcome(undefined);
  }
});
