import { AppsV1Api, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { startDynalite, type TestDynamo } from '../../helpers/dynalite';
import { KubeApiStandIn } from '../../stand-ins/kube-api';
import { CANARY, type Harness, makeHarness, runnerRepo, upgradesOf } from './harness';

/**
 * The deploy runner end to end: the real helm binary against the loopback Kubernetes API, the real
 * DynamoDB client against dynalite, the exact commit through `git archive`, objects read back with
 * @kubernetes/client-node.
 */

const DEPLOY_YAML = `apiVersion: helmgate/v1
environments:
  staging:
    approval: none
    cluster: { secret: test/cluster }
    kubernetesSecrets:
      - name: app-credentials
        namespace: apps
        data:
          PASSWORD: { secret: app/db, key: password }
        restart:
          - { kind: Deployment, name: app }
    releases:
      - name: web
        namespace: web
        chart: ./charts/web
        values: [values/web.yaml]
      - name: web2
        namespace: web2
        chart: ./charts/web
      - name: db
        namespace: apps
        chart: ./charts/db
      - name: app
        namespace: apps
        chart: ./charts/app
        needs: [db]
        secretValues:
          database.host: { secret: app/db, key: password }
`;

let db: TestDynamo;
let kube: KubeApiStandIn;
let repo: ReturnType<typeof runnerRepo>;
let h: Harness;
let kc: KubeConfig;

beforeAll(async () => {
  db = await startDynalite();
  kube = await KubeApiStandIn.start();
  repo = runnerRepo({ 'deploy.yaml': DEPLOY_YAML, 'values/web.yaml': 'greeting: hello\n' });
  h = makeHarness({ db, kube, repoDir: repo.dir });
  kc = new KubeConfig();
  kc.loadFromString(kube.kubeconfig());
});

afterAll(async () => {
  await kube.close();
  await db.close();
});

const releasesOf = async (id: string) =>
  Object.fromEntries(((await db.store.getDeployment(id))?.releases ?? []).map((r) => [r.name, r]));

test('installs every release at the exact commit, syncs the Secret first, records revisions and timings', async () => {
  const d = await h.queue(repo.head());
  const result = await h.run(d.id);
  expect(result.kind).toBe('finished');
  const done = await db.store.getDeployment(d.id);
  expect(done?.status).toBe('succeeded');
  const rel = await releasesOf(d.id);
  for (const name of ['web', 'web2', 'db', 'app']) {
    expect(rel[name]).toMatchObject({ status: 'succeeded', revision: 1, attempts: 1 });
    expect(rel[name]?.durationMs).toBeGreaterThan(0);
  }
  // objects are in the cluster, read back with client-node
  const core = kc.makeApiClient(CoreV1Api);
  const cm = await core.readNamespacedConfigMap({ name: 'web-config', namespace: 'web' });
  expect(cm.data?.greeting).toBe('hello');
  const apps = kc.makeApiClient(AppsV1Api);
  expect((await apps.readNamespacedStatefulSet({ name: 'db', namespace: 'apps' })).metadata?.name).toBe('db');
  const app = await apps.readNamespacedDeployment({ name: 'app', namespace: 'apps' });
  expect(app.spec?.template.spec?.containers[0]?.env?.[0]?.value).toBe(CANARY); // the secret value reached the cluster
  const secret = await core.readNamespacedSecret({ name: 'app-credentials', namespace: 'apps' });
  expect(secret.metadata?.labels?.['app.kubernetes.io/managed-by']).toBe('helmgate');
  expect(Buffer.from(secret.data?.PASSWORD ?? '', 'base64').toString()).toBe(CANARY);
  // the Secret was written before the release that reads it: the request that creates it comes before
  // the first write of the app Deployment (helm's server-side apply) and before helm records the release
  const secretWrite = kube.requests.findIndex(
    (r) =>
      r.method === 'POST' &&
      r.path.endsWith('/namespaces/apps/secrets') &&
      r.text.includes('app-credentials'),
  );
  const readerWrite = kube.requests.findIndex(
    (r) => r.method !== 'GET' && r.path.endsWith('/apis/apps/v1/namespaces/apps/deployments/app'),
  );
  const appRelease = kube.requests.findIndex(
    (r) =>
      r.method === 'POST' &&
      r.path.endsWith('/namespaces/apps/secrets') &&
      r.text.includes('sh.helm.release.v1.app.'),
  );
  expect(secretWrite).toBeGreaterThanOrEqual(0);
  expect(readerWrite).toBeGreaterThan(secretWrite);
  expect(appRelease).toBeGreaterThan(secretWrite);
  // the release ran at the deployment's commit, and each deployment transition was announced
  expect(h.notifier.changes.filter((c) => c.id === d.id).map((c) => c.status)).toEqual([
    'running',
    'succeeded',
  ]);
});

test('runs independent releases in parallel and a dependent only after what it needs', async () => {
  const calls = h.calls;
  const [web] = upgradesOf(calls, 'web');
  const [web2] = upgradesOf(calls, 'web2');
  const [dbUp] = upgradesOf(calls, 'db');
  const [app] = upgradesOf(calls, 'app');
  if (!web || !web2 || !dbUp || !app) throw new Error('missing upgrade calls');
  // the three roots overlap in time
  const latestStart = Math.max(web.start, web2.start, dbUp.start);
  const earliestEnd = Math.min(web.end, web2.end, dbUp.end);
  expect(latestStart).toBeLessThan(earliestEnd);
  // app waits for db
  expect(app.start).toBeGreaterThanOrEqual(dbUp.end);
});

test('the same commit again skips every release as unchanged; force redeploys them all', async () => {
  const before = h.calls.length;
  const d = await h.queue(repo.head());
  await h.run(d.id);
  const rel = await releasesOf(d.id);
  for (const name of ['web', 'web2', 'db', 'app'])
    expect(rel[name]).toMatchObject({ status: 'skipped', reason: 'unchanged', revision: 1 });
  expect(h.calls.slice(before).filter((c) => c.args[0] === 'upgrade')).toHaveLength(0);
  expect((await db.store.getDeployment(d.id))?.status).toBe('succeeded');

  const forced = await h.queue(repo.head(), 'staging', { force: true });
  await h.run(forced.id);
  const frel = await releasesOf(forced.id);
  for (const name of ['web', 'web2', 'db', 'app'])
    expect(frel[name]).toMatchObject({ status: 'succeeded', revision: 2 });
});

test('a changed secret value updates the Kubernetes Secret, restarts its readers and upgrades its release', async () => {
  h.setSecret('app/db', JSON.stringify({ password: `${CANARY}-rotated` }));
  const d = await h.queue(repo.head());
  await h.run(d.id);
  const rel = await releasesOf(d.id);
  // app takes the value through secretValues: its secret digest changed, so it is not "unchanged"
  expect(rel.app).toMatchObject({ status: 'succeeded' });
  expect(rel.web).toMatchObject({ status: 'skipped', reason: 'unchanged' });
  const core = kc.makeApiClient(CoreV1Api);
  const secret = await core.readNamespacedSecret({ name: 'app-credentials', namespace: 'apps' });
  expect(Buffer.from(secret.data?.PASSWORD ?? '', 'base64').toString()).toBe(`${CANARY}-rotated`);
  const app = await kc.makeApiClient(AppsV1Api).readNamespacedDeployment({ name: 'app', namespace: 'apps' });
  expect(app.spec?.template.metadata?.annotations?.['helmgate.io/restartedAt']).toBeDefined();
});

test('a values change upgrades only that release', async () => {
  const sha = repo.commit({ 'values/web.yaml': 'greeting: bonjour\n' }, 'greeting');
  const d = await h.queue(sha);
  await h.run(d.id);
  const rel = await releasesOf(d.id);
  expect(rel.web).toMatchObject({ status: 'succeeded', revision: 3 });
  for (const name of ['web2', 'db', 'app'])
    expect(rel[name]).toMatchObject({ status: 'skipped', reason: 'unchanged' });
  const cm = await kc
    .makeApiClient(CoreV1Api)
    .readNamespacedConfigMap({ name: 'web-config', namespace: 'web' });
  expect(cm.data?.greeting).toBe('bonjour');
});

test('a transient API error on the first apply is retried and the release succeeds', async () => {
  const sha = repo.commit({ 'values/web.yaml': 'greeting: hola\n' }, 'greeting 2');
  kube.inject({
    method: 'PATCH',
    pathPattern: /\/namespaces\/web\/configmaps\/web-config/,
    status: 503,
    body: 'etcdserver: request timed out',
    times: 1,
  });
  const d = await h.queue(sha);
  await h.run(d.id);
  const rel = await releasesOf(d.id);
  expect(rel.web).toMatchObject({ status: 'succeeded', attempts: 2 });
  expect((await db.store.getDeployment(d.id))?.status).toBe('succeeded');
});

test('a release left pending-upgrade by a killed run is recovered before the upgrade', async () => {
  kube.markHelmReleasePending('web2', 'web2', 'pending-upgrade');
  const d = await h.queue(repo.head(), 'staging', { force: true });
  await h.run(d.id);
  const rel = await releasesOf(d.id);
  expect(rel.web2?.status).toBe('succeeded');
  const rollbacks = h.calls.filter((c) => c.args[0] === 'rollback' && c.args[1] === 'web2');
  expect(rollbacks).toHaveLength(1);
  const history = kube.helmReleases('web2', 'web2').map((r) => r.info?.status);
  expect(history.at(-1)).toBe('deployed');
});

test('a template error fails at once, without retries, stops its dependents and not the others', async () => {
  const yaml = DEPLOY_YAML.replace('        chart: ./charts/db\n', '        chart: ./charts/broken\n');
  const sha = repo.commit({ 'deploy.yaml': yaml, 'values/web.yaml': 'greeting: ciao\n' }, 'broken db');
  const before = h.calls.length;
  const d = await h.queue(sha);
  await h.run(d.id);
  const done = await db.store.getDeployment(d.id);
  expect(done?.status).toBe('failed');
  expect(done?.reason).toMatch(/db: .*auth\.token is required/);
  const rel = await releasesOf(d.id);
  expect(rel.db).toMatchObject({ status: 'failed', attempts: 1 });
  expect(rel.db?.errorTail).toContain('auth.token is required');
  // a template error leaves no pods to diagnose: no empty diagnosis beside helm's error
  expect(rel.db?.diagnosis).toBeUndefined();
  expect(rel.app).toMatchObject({ status: 'cancelled', reason: 'dependency db failed' });
  expect(rel.web).toMatchObject({ status: 'succeeded' });
  const mine = h.calls.slice(before);
  expect(upgradesOf(mine, 'db')).toHaveLength(1); // permanent: no retry
  expect(upgradesOf(mine, 'app')).toHaveLength(0); // never started
});

test("near Lambda's time limit the releases are handed to a fresh invocation, never started to be killed", async () => {
  const sha = repo.commit(
    { 'deploy.yaml': DEPLOY_YAML, 'values/web.yaml': 'greeting: hallo\n' },
    'late greeting',
  );
  const before = h.calls.length;
  const d = await h.queue(sha);
  // 40 s left, 30 s kept back for recording: no helm attempt can get its minimum budget
  const first = await h.run(d.id, { remainingTimeMs: () => 40_000 });
  expect(first.kind).toBe('handed-off');
  const handed = await db.store.getDeployment(d.id);
  expect(handed?.status).toBe('queued');
  expect(handed?.reason).toMatch(/continuing in invocation 2/);
  expect(upgradesOf(h.calls.slice(before), 'web')).toHaveLength(0);
  expect(h.dispatcher.jobs.at(-1)).toEqual({ deploymentId: d.id, continuation: 1 });
  expect(await db.store.getLock(`env:${d.repository}:staging`)).toBeUndefined();
  // the fresh invocation, with its full 15 minutes, finishes the work
  const second = await h.run(d.id, {}, { continuation: 1 });
  expect(second.kind).toBe('finished');
  const rel = await releasesOf(d.id);
  expect(rel.web).toMatchObject({ status: 'succeeded' });
  const final = await db.store.getDeployment(d.id);
  expect(final?.status).toBe('succeeded');
  expect(final?.reason).toMatch(/finished in invocation 2/);
});

test('two deploys of one environment at once are serialized by the environment lock', async () => {
  repo.commit({ 'deploy.yaml': DEPLOY_YAML, 'values/web.yaml': 'greeting: hej\n' }, 'restore');
  const a = await h.queue(repo.head(), 'staging', { force: true });
  const b = await h.queue(repo.head(), 'staging', { force: true });
  const [ra, rb] = await Promise.all([
    h.run(a.id, { invocationId: 'invocation-a' }),
    h.run(b.id, { invocationId: 'invocation-b' }),
  ]);
  const kinds = [ra.kind, rb.kind].sort();
  expect(kinds).toEqual(['finished', 'waiting']);
  const waiter = ra.kind === 'waiting' ? a : b;
  expect((await db.store.getDeployment(waiter.id))?.status).toBe('queued');
  // the finished run hands the environment to the queued one
  expect(h.dispatcher.jobs.map((j) => j.deploymentId)).toContain(waiter.id);
  expect(await db.store.getLock(`env:${a.repository}:staging`)).toBeUndefined();
});

test('no secret value in argv, logs, the store, notifications or error messages', async () => {
  const b64 = Buffer.from(CANARY).toString('base64');
  const argv = h.calls.map((c) => c.args.join(' ')).join('\n');
  const stored = JSON.stringify(await db.store.listDeployments({ limit: 100 }));
  const notes = JSON.stringify(h.notifier.changes);
  const logs = h.logs.join('\n');
  for (const hay of [argv, stored, notes, logs]) {
    expect(hay).not.toContain(CANARY);
    expect(hay).not.toContain(b64);
  }
  // it was sent, but only on helm's stdin
  expect(h.calls.some((c) => c.stdin.includes(CANARY))).toBe(true);
});
