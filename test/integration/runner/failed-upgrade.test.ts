import type { Policy } from '../../../lib/policy/policy';
import { helmClusterConnector } from '../../../lib/runner/helm-cluster';
import { clusterAccessFromSecret } from '../../../lib/runner/kube-access';
import { renderDeploymentPage } from '../../../lib/web/deployment-page';
import { startDynalite, type TestDynamo } from '../../helpers/dynalite';
import { policyOf } from '../../helpers/policy';
import { KubeApiStandIn } from '../../stand-ins/kube-api';
import { CANARY, type Harness, makeHarness, runnerRepo, timingRunner } from './harness';

/**
 * Issue 13, item 2, for a failed *helm upgrade* (real helm against the loopback Kubernetes API): helm runs
 * without its own `--rollback-on-failure`, waits for the workloads, times out on a revision that never
 * becomes ready; the runner reads the failing pods first and only then rolls the release back itself (a
 * failed first install is uninstalled). The stand-in deletes the failing pod as soon as the Deployment is
 * back on its good image, as Kubernetes would replace it: a diagnosis taken after the rollback finds no log.
 */

const yamlFor = (env: string) => `apiVersion: helmgate/v1
environments:
  ${env}:
    approval: none
    cluster: { secret: test/cluster }
    releases:
      - name: base
        namespace: ${env}-base
        chart: ./charts/web
        values: [values/base.yaml]
        timeout: 3s
      - name: front
        namespace: ${env}-front
        chart: ./charts/web
        values: [values/front.yaml]
        needs: [base]
        timeout: 3s
        secretValues:
          greeting: { secret: app/db, key: password }
`;

let db: TestDynamo;
let kube: KubeApiStandIn;
/** `namespace/pod` of failing pods, deleted when their release's Deployment is on a good image again */
const failingPods = new Map<string, { namespace: string; pod: string; workload: string }>();

beforeAll(async () => {
  db = await startDynalite();
  kube = await KubeApiStandIn.start();
  kube.setWorkloadReadiness((w) => {
    const bad = String(w.spec?.template?.spec?.containers?.[0]?.image).endsWith(':bad');
    if (!bad)
      for (const [key, p] of failingPods)
        if (p.namespace === w.metadata?.namespace && p.workload === w.metadata?.name) {
          failingPods.delete(key);
          // after this save: the rule runs inside the stand-in's store update
          setImmediate(() => kube.delete('Pod', p.namespace, p.pod));
        }
    return !bad;
  });
});

afterAll(async () => {
  await kube.close();
  await db.close();
});

function policyWith(yaml: string, env: string, rollback: 'rollback' | 'keep'): Policy {
  const p = policyOf(yaml);
  const e = p.repositories['*']?.environments[env];
  if (!e) throw new Error('no environment');
  e.rollback = rollback;
  return p;
}

/**
 * The harness's runner as production runs it (the runner undoes failed upgrades: the default), with
 * helm's minimum attempt lowered to fit the releases' 3 s timeout and no retries.
 */
function asProduction(h: Harness): Harness {
  const { logger, redactor } = h.deps;
  h.deps.cluster = helmClusterConnector({
    helmBin: process.env.HELMGATE_HELM_BIN as string,
    commandRunner: timingRunner(h.calls),
    redactor,
    clock: h.deps.clock,
    logger,
    access: clusterAccessFromSecret({ logger, upgradeFlags: ['--disable-openapi-validation'] }),
    retry: { attempts: 1 },
    minAttemptSeconds: 1,
    baseEnv: process.env,
  });
  return h;
}

/** A pod of the release's Deployment that never becomes ready, with a log that names a secret. */
function seedFailingPod(namespace: string, release: string): string {
  const pod = `${release}-5f6b-bad1`;
  kube.put({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: pod, namespace, labels: { 'app.kubernetes.io/instance': release } },
    spec: { containers: [{ name: 'web', image: 'registry.example/web:bad' }] },
    status: {
      phase: 'Running',
      containerStatuses: [
        {
          name: 'web',
          image: 'registry.example/web:bad',
          imageID: '',
          ready: false,
          restartCount: 3,
          state: {
            waiting: { reason: 'CrashLoopBackOff', message: 'back-off 40s restarting failed container' },
          },
          lastState: { terminated: { reason: 'Error', exitCode: 1 } },
        },
      ],
    },
  });
  kube.setPodLog(
    namespace,
    pod,
    'web',
    ['starting', `dsn=postgres://app:${CANARY}@db/app`, 'fatal: cannot reach the database'].join('\n'),
  );
  failingPods.set(`${namespace}/${pod}`, { namespace, pod, workload: release });
  return pod;
}

const upgradeCalls = (h: Harness) => h.calls.filter((c) => c.args[0] === 'upgrade');

test('a helm upgrade that times out keeps the failing pod’s log (redacted), then the release is rolled back, even under `keep`', async () => {
  const env = 'keepenv';
  const yaml = yamlFor(env);
  const repo = runnerRepo({
    'deploy.yaml': yaml,
    'values/base.yaml': 'greeting: one\n',
    'values/front.yaml': 'image: { tag: "1.0.0" }\n',
  });
  const h = asProduction(makeHarness({ db, kube, repoDir: repo.dir, policy: policyWith(yaml, env, 'keep') }));
  const first = await h.queue(repo.head(), env);
  await h.run(first.id);
  expect((await db.store.getDeployment(first.id))?.status).toBe('succeeded');

  const sha = repo.commit(
    { 'values/base.yaml': 'greeting: two\n', 'values/front.yaml': 'image: { tag: bad }\n' },
    'bad front',
  );
  const pod = seedFailingPod(`${env}-front`, 'front');
  const d = await h.queue(sha, env);
  await h.run(d.id);

  // helm ran without its own rollback, waiting for the workloads
  const frontUpgrade = upgradeCalls(h)
    .filter((c) => c.args[2] === 'front')
    .at(-1);
  expect(frontUpgrade?.args).toContain('--wait');
  expect(frontUpgrade?.args).not.toContain('--rollback-on-failure');
  expect(frontUpgrade?.args).not.toContain('--atomic');
  expect(frontUpgrade?.code).not.toBe(0);

  const done = await db.store.getDeployment(d.id);
  expect(done?.status).toBe('failed');
  expect(done?.reason).toMatch(/^rolled back to front r1\. release\(s\) failed: front: /);
  const front = done?.releases?.find((r) => r.name === 'front');
  expect(front).toMatchObject({ status: 'failed', rolledBackTo: 1 });
  // the evidence, stored with the result after the rollback: the log tail, the secret masked
  const container = front?.diagnosis?.pods.find((p) => p.name === pod)?.containers[0];
  expect(container).toMatchObject({ reason: 'CrashLoopBackOff', lastReason: 'Error', exitCode: 1 });
  expect(container?.logTail).toContain('fatal: cannot reach the database');
  expect(container?.logTail).toContain('dsn=postgres://app:***@db/app');
  expect(JSON.stringify(done)).not.toContain(CANARY);
  expect(h.logs.join('\n')).not.toContain(CANARY);

  // read before the rollback, and the pod is gone after it (so reading afterwards would have found nothing)
  const logRead = kube.requests.find((q) => q.path.endsWith(`/pods/${pod}/log`));
  const rollback = h.calls.find((c) => c.args[0] === 'rollback' && c.args[1] === 'front');
  expect(rollback?.args.slice(0, 3)).toEqual(['rollback', 'front', '1']);
  expect(rollback?.code).toBe(0);
  expect(logRead?.at).toBeLessThan(rollback?.start ?? 0);
  await new Promise((r) => setImmediate(r));
  expect(kube.get('Pod', `${env}-front`, pod)).toBeUndefined();

  // the release is at its previous revision: its manifest and helm's records
  expect(kube.get('Deployment', `${env}-front`, 'front')?.spec.template.spec.containers[0].image).toBe(
    'registry.example/web:1.0.0',
  );
  expect(kube.helmReleases(`${env}-front`, 'front').map((r) => [r.version, r.info.status])).toEqual([
    [1, 'superseded'],
    [2, 'failed'],
    [3, 'deployed'],
  ]);
  // `keep`: base, which succeeded, keeps its new revision
  const base = done?.releases?.find((r) => r.name === 'base');
  expect(base).toMatchObject({ status: 'succeeded', revision: 2 });
  expect(base?.rolledBackTo).toBeUndefined();
  expect(kube.get('ConfigMap', `${env}-base`, 'base-config')?.data.greeting).toBe('two');

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
  expect(page).toMatch(
    /data-release="front">[\s\S]*before the rollback to revision 1[\s\S]*cannot reach the database/,
  );
});

test('under `rollback`, a failed upgrade rolls back the environment: the failed release itself, then what it needs', async () => {
  const env = 'rbenv';
  const yaml = yamlFor(env);
  const repo = runnerRepo({
    'deploy.yaml': yaml,
    'values/base.yaml': 'greeting: one\n',
    'values/front.yaml': 'image: { tag: "1.0.0" }\n',
  });
  const h = asProduction(
    makeHarness({ db, kube, repoDir: repo.dir, policy: policyWith(yaml, env, 'rollback') }),
  );
  const first = await h.queue(repo.head(), env);
  await h.run(first.id);
  const sha = repo.commit(
    { 'values/base.yaml': 'greeting: two\n', 'values/front.yaml': 'image: { tag: bad }\n' },
    'bad front',
  );
  seedFailingPod(`${env}-front`, 'front');
  const d = await h.queue(sha, env);
  await h.run(d.id);
  const done = await db.store.getDeployment(d.id);
  expect(done?.reason).toMatch(/^rolled back to front r1, base r1\. release\(s\) failed: front: /);
  expect(done?.releases?.find((r) => r.name === 'front')).toMatchObject({
    status: 'failed',
    rolledBackTo: 1,
  });
  expect(done?.releases?.find((r) => r.name === 'base')).toMatchObject({
    status: 'succeeded',
    revision: 2,
    rolledBackTo: 1,
  });
  // one rollback each: the failed release is not rolled back a second time by the environment's
  expect(h.calls.filter((c) => c.args[0] === 'rollback').map((c) => c.args.slice(1, 3))).toEqual([
    ['front', '1'],
    ['base', '1'],
  ]);
  expect(kube.get('ConfigMap', `${env}-base`, 'base-config')?.data.greeting).toBe('one');
  expect(kube.helmReleases(`${env}-front`, 'front').at(-1)?.info.status).toBe('deployed');
});

test('a failed first install leaves no broken release behind: diagnosed, then uninstalled', async () => {
  const env = 'newenv';
  const yaml = yamlFor(env);
  const repo = runnerRepo({
    'deploy.yaml': yaml,
    'values/base.yaml': 'greeting: one\n',
    'values/front.yaml': 'image: { tag: bad }\n',
  });
  const h = asProduction(makeHarness({ db, kube, repoDir: repo.dir, policy: policyWith(yaml, env, 'keep') }));
  const pod = seedFailingPod(`${env}-front`, 'front');
  const d = await h.queue(repo.head(), env);
  await h.run(d.id);
  const done = await db.store.getDeployment(d.id);
  expect(done?.status).toBe('failed');
  expect(done?.reason).toMatch(
    /^uninstalled the failed first install of front\. release\(s\) failed: front: /,
  );
  const front = done?.releases?.find((r) => r.name === 'front');
  expect(front).toMatchObject({ status: 'failed', uninstalled: true });
  expect(front?.rolledBackTo).toBeUndefined();
  expect(front?.diagnosis?.pods.find((p) => p.name === pod)?.containers[0]?.logTail).toContain(
    'fatal: cannot reach the database',
  );
  const uninstall = h.calls.find((c) => c.args[0] === 'uninstall' && c.args[1] === 'front');
  const logRead = kube.requests.find((q) => q.path.endsWith(`/pods/${pod}/log`));
  expect(logRead?.at).toBeLessThan(uninstall?.start ?? 0);
  expect(kube.helmReleases(`${env}-front`, 'front')).toEqual([]);
  expect(kube.get('Deployment', `${env}-front`, 'front')).toBeUndefined();
  // base, a first install that succeeded, stays
  expect(kube.helmReleases(`${env}-base`, 'base').at(-1)?.info.status).toBe('deployed');
});
