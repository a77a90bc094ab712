import { mkdtempSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { formatDiagnosis } from '../../../lib/deploy/diagnosis';
import { createProcessRunner } from '../../../lib/exec/command-runner';
import { createHelmRunner } from '../../../lib/helm/helm-runner';
import { Redactor } from '../../../lib/log/redact';
import type { Policy } from '../../../lib/policy/policy';
import { helmClusterConnector } from '../../../lib/runner/helm-cluster';
import { clusterAccessFromSecret } from '../../../lib/runner/kube-access';
import { renderFailureDetails } from '../../../lib/slack/messages';
import { sweep } from '../../../lib/sweeper/sweeper';
import { renderDeploymentPage } from '../../../lib/web/deployment-page';
import { startDynalite, type TestDynamo } from '../../helpers/dynalite';
import { policyOf } from '../../helpers/policy';
import { KubeApiStandIn } from '../../stand-ins/kube-api';
import { CANARY, type Harness, makeHarness, runnerRepo, timingRunner } from './harness';

/**
 * Issue 13, items 2 and 3, with the real helm against the loopback Kubernetes API: a release whose health
 * check fails has its failing pods' states, events and log tails recorded (redacted) before anything is
 * rolled back; under policy `rollback` the environment returns to the revisions that ran before, dependents
 * first; under `keep` it stays.
 */

const yamlFor = (env: string, approval = 'none') => `apiVersion: helmgate/v1
environments:
  ${env}:
    approval: ${approval}
    cluster: { secret: test/cluster }
    releases:
      - name: base
        namespace: ${env}-base
        chart: ./charts/web
        values: [values/base.yaml]
        timeout: 5s
      - name: front
        namespace: ${env}-front
        chart: ./charts/web
        values: [values/front.yaml]
        needs: [base]
        timeout: 5s
        secretValues:
          greeting: { secret: app/db, key: password }
`;

let db: TestDynamo;
let kube: KubeApiStandIn;

beforeAll(async () => {
  db = await startDynalite();
  kube = await KubeApiStandIn.start();
  kube.setWorkloadReadiness((w) => !String(w.spec?.template?.spec?.containers?.[0]?.image).endsWith(':bad'));
});

afterAll(async () => {
  await kube.close();
  await db.close();
});

function withRollback(yaml: string, env: string, rollback: 'rollback' | 'keep' | undefined): Policy {
  const p = policyOf(yaml);
  const e = p.repositories['*']?.environments[env];
  if (!e) throw new Error('no environment');
  if (rollback) e.rollback = rollback;
  return p;
}

/**
 * The harness's runner with releases of a 5 s timeout: helm's minimum attempt is lowered to fit, so a
 * failing health check gives up after 5 s instead of helm's 30 s minimum.
 */
function quick(h: Harness): Harness {
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

/** A pod of the release in CrashLoopBackOff after an OOM kill, with events and a log naming a secret. */
function seedFailingPod(namespace: string, release: string) {
  kube.put({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: `${release}-7c9d-x1`,
      namespace,
      labels: { 'app.kubernetes.io/instance': release },
    },
    spec: { containers: [{ name: 'web', image: 'registry.example/web:bad' }] },
    status: {
      phase: 'Running',
      containerStatuses: [
        {
          name: 'web',
          image: 'registry.example/web:bad',
          imageID: '',
          ready: false,
          restartCount: 5,
          state: {
            waiting: { reason: 'CrashLoopBackOff', message: 'back-off 2m40s restarting failed container' },
          },
          lastState: { terminated: { reason: 'OOMKilled', exitCode: 137 } },
        },
      ],
    },
  });
  kube.put({
    apiVersion: 'v1',
    kind: 'Event',
    metadata: { name: `${release}-7c9d-x1.1`, namespace },
    involvedObject: { kind: 'Pod', name: `${release}-7c9d-x1`, namespace },
    type: 'Warning',
    reason: 'BackOff',
    message: 'Back-off restarting failed container web',
    count: 12,
    lastTimestamp: '2026-11-26T02:00:00Z',
  });
  const lines = Array.from({ length: 40 }, (_, i) => `line ${i + 1}`);
  lines.push(`connecting with password ${CANARY}`, 'fatal: out of memory');
  kube.setPodLog(namespace, `${release}-7c9d-x1`, 'web', lines.join('\n'));
}

test('a failed health check keeps the diagnosis, then rolls the environment back in reverse dependency order', async () => {
  const env = 'prod';
  const yaml = yamlFor(env);
  const repo = runnerRepo({
    'deploy.yaml': yaml,
    'values/base.yaml': 'greeting: one\n',
    'values/front.yaml': 'image: { tag: "1.0.0" }\n',
  });
  const h = quick(
    makeHarness({
      db,
      kube,
      repoDir: repo.dir,
      rollbackOnFailure: false,
      policy: withRollback(yaml, env, 'rollback'),
    }),
  );
  const first = await h.queue(repo.head(), env);
  expect(await h.run(first.id)).toMatchObject({ kind: 'finished' });
  expect((await db.store.getDeployment(first.id))?.status).toBe('succeeded');

  const sha = repo.commit(
    { 'values/base.yaml': 'greeting: two\n', 'values/front.yaml': 'image: { tag: bad }\n' },
    'bad front',
  );
  seedFailingPod(`${env}-front`, 'front');
  const d = await h.queue(sha, env);
  await h.run(d.id);

  const done = await db.store.getDeployment(d.id);
  expect(done?.status).toBe('failed');
  expect(done?.reason).toMatch(
    /^rolled back to front r1, base r1\. release\(s\) failed: front: health check failed/,
  );
  const front = done?.releases?.find((r) => r.name === 'front');
  const base = done?.releases?.find((r) => r.name === 'base');
  expect(front).toMatchObject({ status: 'failed', revision: 2, rolledBackTo: 1 });
  expect(base).toMatchObject({ status: 'succeeded', revision: 2, rolledBackTo: 1 });

  // the evidence: container state, the previous run's end, events, the last log lines (bounded, redacted)
  const pod = front?.diagnosis?.pods[0];
  expect(pod?.name).toBe('front-7c9d-x1');
  expect(pod?.containers[0]).toMatchObject({
    state: 'waiting',
    reason: 'CrashLoopBackOff',
    exitCode: 137,
    lastReason: 'OOMKilled',
    restarts: 5,
    ready: false,
  });
  expect(pod?.events).toEqual(['Warning BackOff: Back-off restarting failed container web (x12)']);
  const tail = pod?.containers[0]?.logTail ?? '';
  expect(tail.split('\n')).toHaveLength(20);
  expect(tail).toContain('fatal: out of memory');
  expect(tail).not.toContain('line 22\n');
  expect(JSON.stringify(done)).not.toContain(CANARY);
  expect(formatDiagnosis(front?.diagnosis ?? { at: '', pods: [] })).toContain('CrashLoopBackOff');

  // every channel shows the evidence and says it was rolled back
  const slack = JSON.stringify(renderFailureDetails(done as NonNullable<typeof done>));
  expect(slack).toContain('rolled back to front r1, base r1');
  expect(slack).toContain('CrashLoopBackOff');
  expect(slack).toContain('fatal: out of memory');
  const page = renderDeploymentPage(
    { deployment: done as NonNullable<typeof done>, audit: [] },
    {
      login: 'alice',
      now: new Date(),
      githubWebUrl: 'https://github.com',
      nonce: 'bm9uY2U=',
      csrfFor: () => 'x',
    },
  );
  expect(page).toContain('rolled back to front r1, base r1');
  expect(page).toMatch(
    /<details open class="diagnosis" data-release="front">[\s\S]*before the rollback to revision 1[\s\S]*CrashLoopBackOff, last run ended OOMKilled, exit 137/,
  );
  expect(page).toContain('event: Warning BackOff: Back-off restarting failed container web (x12)');

  // collected before anything was rolled back
  const logRead = kube.requests.find((q) => q.path.endsWith('/pods/front-7c9d-x1/log'));
  const rollbacks = h.calls.filter((c) => c.args[0] === 'rollback');
  expect(rollbacks.map((c) => c.args[1])).toEqual(['front', 'base']);
  expect(logRead?.at).toBeLessThan(rollbacks[0]?.start ?? 0);

  // the cluster runs what ran before
  expect(kube.get('Deployment', `${env}-front`, 'front')?.spec.template.spec.containers[0].image).toBe(
    'registry.example/web:1.0.0',
  );
  expect(kube.get('ConfigMap', `${env}-base`, 'base-config')?.data.greeting).toBe('one');
  expect(kube.helmReleases(`${env}-front`, 'front').map((r) => r.info.status)).toEqual([
    'superseded',
    'superseded',
    'deployed',
  ]);
});

test('a release someone else upgraded after this deployment is left in place by its rollback, and the reason says so', async () => {
  const env = 'shared';
  const yaml = yamlFor(env);
  const repo = runnerRepo({
    'deploy.yaml': yaml,
    'values/base.yaml': 'greeting: one\n',
    'values/front.yaml': 'image: { tag: "1.0.0" }\n',
  });
  const h = quick(
    makeHarness({
      db,
      kube,
      repoDir: repo.dir,
      rollbackOnFailure: false,
      policy: withRollback(yaml, env, 'rollback'),
    }),
  );
  const first = await h.queue(repo.head(), env);
  await h.run(first.id);
  expect((await db.store.getDeployment(first.id))?.status).toBe('succeeded');

  // another writer of `base` (another repository under the same `*` policy, or an operator's helm upgrade)
  // writes r3 after our r2 and before our rollback reaches it: when our rollback starts, with `front`
  const work = mkdtempSync(path.join(path.resolve(__dirname, '../../../.tmp'), 'rollback-foreign-'));
  const theirs = path.join(work, 'theirs.yaml');
  writeFileSync(theirs, 'greeting: theirs\n');
  const foreign = createHelmRunner({
    commandRunner: createProcessRunner(),
    helmBin: process.env.HELMGATE_HELM_BIN as string,
    homeDir: path.join(work, 'helm-home'),
    redactor: new Redactor(),
    baseEnv: process.env,
    connection: { kind: 'apiserver', url: kube.url },
    upgradeFlags: ['--disable-openapi-validation'],
  });
  let wrote = false;
  const ours = timingRunner(h.calls);
  const cluster = helmClusterConnector({
    helmBin: process.env.HELMGATE_HELM_BIN as string,
    commandRunner: {
      async run(command, args, o) {
        if (args[0] === 'rollback' && !wrote) {
          wrote = true;
          await foreign.upgradeInstall({
            release: 'base',
            namespace: `${env}-base`,
            chart: { kind: 'local', path: path.join(repo.dir, 'charts/web') },
            valuesFiles: [theirs],
            timeoutSeconds: 30,
          });
        }
        return ours.run(command, args, o);
      },
    },
    redactor: h.deps.redactor,
    clock: h.deps.clock,
    logger: h.deps.logger,
    access: clusterAccessFromSecret({
      logger: h.deps.logger,
      upgradeFlags: ['--disable-openapi-validation'],
    }),
    retry: { attempts: 1 },
    rollbackOnFailure: false,
    minAttemptSeconds: 1,
    baseEnv: process.env,
  });
  h.deps.cluster = cluster;

  const sha = repo.commit(
    { 'values/base.yaml': 'greeting: two\n', 'values/front.yaml': 'image: { tag: bad }\n' },
    'bad front',
  );
  const d = await h.queue(sha, env);
  await h.run(d.id);

  const done = await db.store.getDeployment(d.id);
  expect(done?.status).toBe('failed');
  expect(done?.reason).toMatch(
    /^rolled back to front r1; left in place: base \(its latest revision r3 is not r2, the one this deployment made\)\. release\(s\) failed: front: health check failed/,
  );
  expect(done?.releases?.find((r) => r.name === 'base')).toMatchObject({ status: 'succeeded', revision: 2 });
  expect(done?.releases?.find((r) => r.name === 'base')?.rolledBackTo).toBeUndefined();
  expect(done?.releases?.find((r) => r.name === 'front')).toMatchObject({ revision: 2, rolledBackTo: 1 });
  // only front was rolled back; the other writer's revision still runs
  expect(h.calls.filter((c) => c.args[0] === 'rollback').map((c) => c.args[1])).toEqual(['front']);
  expect(kube.get('ConfigMap', `${env}-base`, 'base-config')?.data.greeting).toBe('theirs');
  expect(kube.helmReleases(`${env}-base`, 'base').map((r) => [r.version, r.info.status])).toEqual([
    [1, 'superseded'],
    [2, 'superseded'],
    [3, 'deployed'],
  ]);
  expect(kube.get('Deployment', `${env}-front`, 'front')?.spec.template.spec.containers[0].image).toBe(
    'registry.example/web:1.0.0',
  );
});

test('under `keep` (the default without required approval) a failed health check leaves the new revisions', async () => {
  const env = 'stage';
  const yaml = yamlFor(env);
  const repo = runnerRepo({
    'deploy.yaml': yaml,
    'values/base.yaml': 'greeting: one\n',
    'values/front.yaml': 'image: { tag: "1.0.0" }\n',
  });
  const h = quick(
    makeHarness({
      db,
      kube,
      repoDir: repo.dir,
      rollbackOnFailure: false,
      policy: withRollback(yaml, env, undefined),
    }),
  );
  const first = await h.queue(repo.head(), env);
  await h.run(first.id);
  const sha = repo.commit({ 'values/front.yaml': 'image: { tag: bad }\n' }, 'bad front');
  const d = await h.queue(sha, env);
  await h.run(d.id);
  const done = await db.store.getDeployment(d.id);
  expect(done?.status).toBe('failed');
  expect(done?.reason).not.toMatch(/rolled back/);
  expect(h.calls.filter((c) => c.args[0] === 'rollback')).toHaveLength(0);
  expect(kube.get('Deployment', `${env}-front`, 'front')?.spec.template.spec.containers[0].image).toBe(
    'registry.example/web:bad',
  );
  // no failing pods in the stand-in for this release: the diagnosis says so rather than nothing
  expect(done?.releases?.find((r) => r.name === 'front')?.diagnosis?.pods).toEqual([]);
});

test('a deployment approved inside a freeze waits, and starts when the window ends (injected clock)', async () => {
  const env = 'frozen';
  const yaml = yamlFor(env, 'required');
  const repo = runnerRepo({
    'deploy.yaml': yaml,
    'values/base.yaml': 'greeting: one\n',
    'values/front.yaml': 'image: { tag: "1.0.0" }\n',
  });
  const policy = withRollback(yaml, env, undefined);
  const e = policy.repositories['*']?.environments[env];
  if (!e) throw new Error('no environment');
  e.approval = 'required';
  e.freezeWindows = [
    { from: '2026-12-24', to: '2026-12-24T12:00', timeZone: 'Europe/Berlin', reason: 'Christmas Eve' },
  ];
  const h = quick(makeHarness({ db, kube, repoDir: repo.dir, policy }));
  let now = new Date('2026-12-24T08:00:00Z');
  const clock = { now: () => now };
  // approved (queued) while the environment is frozen
  const d = await h.queue(repo.head(), env, { approval: 'required' });
  const waited = await h.run(d.id, { clock });
  expect(waited).toEqual({
    kind: 'waiting',
    reason: 'frozen until 2026-12-24T11:00:00.000Z (Christmas Eve): starts when the freeze ends',
  });
  expect(await db.store.getDeployment(d.id)).toMatchObject({
    status: 'queued',
    frozenUntil: '2026-12-24T11:00:00.000Z',
  });
  expect(h.calls.filter((c) => c.args[0] === 'upgrade')).toHaveLength(0);

  const sweeper = {
    store: db.store,
    notifier: h.notifier,
    dispatcher: h.dispatcher,
    logger: h.deps.logger,
    policy,
  };
  now = new Date('2026-12-24T10:59:59Z');
  expect((await sweep({ ...sweeper, clock })).thawed).not.toContain(d.id);
  now = new Date('2026-12-24T11:00:00Z');
  expect((await sweep({ ...sweeper, clock })).thawed).toContain(d.id);
  expect(h.dispatcher.jobs).toContainEqual({ deploymentId: d.id });

  expect(await h.run(d.id, { clock })).toMatchObject({ kind: 'finished' });
  const done = await db.store.getDeployment(d.id);
  expect([done?.status, done?.reason]).toEqual([
    'succeeded',
    'started when the freeze ended (2026-12-24T11:00:00.000Z)',
  ]);
  expect(done?.startedAt).toBe('2026-12-24T11:00:00.000Z');
});
