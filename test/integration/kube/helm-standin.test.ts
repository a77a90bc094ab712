import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { KubeApiStandIn } from '../../stand-ins/kube-api';

// The real helm 4 binary against the loopback Kubernetes API: what the deploy runner relies on.
const helmBin = process.env.HELMGATE_HELM_BIN as string;
const CHARTS = path.resolve(__dirname, '../../fixtures/charts');

let kube: KubeApiStandIn;
let home: string;

beforeEach(async () => {
  kube = await KubeApiStandIn.start();
  home = await mkdtemp(path.join(tmpdir(), 'helmgate-kube-helm-'));
});

afterEach(async () => {
  await kube.close();
  await rm(home, { recursive: true, force: true });
});

interface HelmRun {
  code: number;
  stdout: string;
  stderr: string;
}

function helm(...args: string[]): Promise<HelmRun> {
  const env = {
    PATH: process.env.PATH ?? '',
    HOME: home,
    HELM_CACHE_HOME: path.join(home, 'cache'),
    HELM_CONFIG_HOME: path.join(home, 'config'),
    HELM_DATA_HOME: path.join(home, 'data'),
  };
  return new Promise((resolve) => {
    execFile(
      helmBin,
      [...args, '--kube-apiserver', kube.url],
      { env, timeout: 50_000, encoding: 'utf8' },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

async function helmOk(...args: string[]): Promise<string> {
  const r = await helm(...args);
  if (r.code !== 0) throw new Error(`helm ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

const install = (release: string, chart: string, ns: string, ...extra: string[]) =>
  helm(
    'upgrade',
    '--install',
    release,
    path.join(CHARTS, chart),
    '--namespace',
    ns,
    '--create-namespace',
    '--disable-openapi-validation',
    ...extra,
  );

it('installs a chart: namespace created, objects applied server-side, release stored as protobuf Secrets', async () => {
  const r = await install('web', 'web', 'apps', '--set', 'greeting=hello');
  expect(r).toMatchObject({ code: 0 });

  expect(kube.get('Namespace', '', 'apps')).toBeDefined();
  expect(kube.get('ConfigMap', 'apps', 'web-config')?.data).toEqual({ greeting: 'hello' });
  expect(kube.get('Service', 'apps', 'web')?.spec.ports[0].port).toBe(80);
  const dep = kube.get('Deployment', 'apps', 'web');
  expect(dep?.metadata.annotations['meta.helm.sh/release-name']).toBe('web');
  expect(dep?.status.availableReplicas).toBe(1);

  const applies = kube.requests.filter((q) => q.method === 'PATCH');
  expect(applies.length).toBeGreaterThanOrEqual(4); // namespace + three objects
  for (const q of applies) expect(q.contentType).toBe('application/apply-patch+yaml');
  const storage = kube.requests.filter(
    (q) => q.path === '/api/v1/namespaces/apps/secrets' && q.method === 'POST',
  );
  expect(storage[0]?.contentType).toBe('application/vnd.kubernetes.protobuf');

  const [rel] = kube.helmReleases('apps', 'web');
  expect(rel).toMatchObject({ name: 'web', version: 1, info: { status: 'deployed' } });
});

it('upgrades to revision 2, reports status and history, rolls back to 1 and lists the release', async () => {
  expect((await install('web', 'web', 'apps')).code).toBe(0);
  expect((await install('web', 'web', 'apps', '--set', 'greeting=bonjour,replicaCount=2')).code).toBe(0);
  expect(kube.get('ConfigMap', 'apps', 'web-config')?.data.greeting).toBe('bonjour');
  expect(kube.get('Deployment', 'apps', 'web')?.spec.replicas).toBe(2);

  const status = JSON.parse(await helmOk('status', 'web', '--namespace', 'apps', '-o', 'json'));
  expect(status).toMatchObject({ name: 'web', version: 2, info: { status: 'deployed' } });
  const history = JSON.parse(await helmOk('history', 'web', '--namespace', 'apps', '-o', 'json'));
  expect(history.map((h: { revision: number; status: string }) => [h.revision, h.status])).toEqual([
    [1, 'superseded'],
    [2, 'deployed'],
  ]);

  await helmOk('rollback', 'web', '1', '--namespace', 'apps');
  expect(kube.get('ConfigMap', 'apps', 'web-config')?.data.greeting).toBe('hello');
  expect(kube.get('Deployment', 'apps', 'web')?.spec.replicas).toBe(1);
  const list = JSON.parse(await helmOk('list', '--namespace', 'apps', '-o', 'json'));
  expect(list).toEqual([expect.objectContaining({ name: 'web', revision: '3', status: 'deployed' })]);
});

it('a release marked pending-upgrade is what helm status reports, and helm refuses to upgrade it', async () => {
  expect((await install('web', 'web', 'apps')).code).toBe(0);
  kube.markHelmReleasePending('apps', 'web', 'pending-upgrade');

  const status = JSON.parse(await helmOk('status', 'web', '--namespace', 'apps', '-o', 'json'));
  expect(status.info.status).toBe('pending-upgrade');
  const again = await install('web', 'web', 'apps');
  expect(again.code).not.toBe(0);
  expect(again.stderr).toMatch(/another operation \(install\/upgrade\/rollback\) is in progress/i);
});

it('an injected etcd timeout on the first apply reaches helm as a failed upgrade naming the error', async () => {
  kube.inject({ method: 'PATCH', pathPattern: /\/deployments\/web$/, status: 500 });
  const r = await install('web', 'web', 'apps');
  expect(r.code).not.toBe(0);
  expect(r.stderr).toContain('etcdserver: request timed out');
  expect(kube.helmReleases('apps', 'web').at(-1)?.info.status).toBe('failed');

  // the fault was used up: the retry goes through
  expect((await install('web', 'web', 'apps')).code).toBe(0);
  expect(kube.helmReleases('apps', 'web').at(-1)?.info.status).toBe('deployed');
});

it('a dropped connection while helm reads its release history is reported, not hidden', async () => {
  kube.inject({ method: 'GET', pathPattern: /\/namespaces\/apps\/secrets$/, status: 'reset', times: 20 });
  const r = await install('web', 'web', 'apps');
  expect(r.code).not.toBe(0);
  expect(r.stderr.toLowerCase()).toMatch(/eof|connection reset|connection refused/);
});

it('--rollback-on-failure waits through watches: ready workloads succeed', async () => {
  expect((await install('web', 'web', 'apps')).code).toBe(0);
  const r = await install(
    'web',
    'web',
    'apps',
    '--set',
    'greeting=salut',
    '--rollback-on-failure',
    '--timeout',
    '20s',
  );
  expect(r.stderr).not.toMatch(/error/i);
  expect(r.code).toBe(0);
  expect(kube.requests.some((q) => q.query.watch === 'true')).toBe(true);
  expect(kube.helmReleases('apps', 'web').at(-1)?.info.status).toBe('deployed');
});

it('--rollback-on-failure rolls back when the new revision never becomes available', async () => {
  kube.setWorkloadReadiness((w) => !String(w.spec?.template?.spec?.containers?.[0]?.image).endsWith(':bad'));
  expect((await install('web', 'web', 'apps')).code).toBe(0);
  const r = await install(
    'web',
    'web',
    'apps',
    '--set',
    'image.tag=bad',
    '--rollback-on-failure',
    '--timeout',
    '3s',
  );
  expect(r.code).not.toBe(0);
  expect(r.stderr).toContain('resource Deployment/apps/web not ready');
  expect(r.stderr).toMatch(/rolled back/i);
  expect(kube.get('Deployment', 'apps', 'web')?.spec.template.spec.containers[0].image).toBe(
    'registry.example/web:1.0.0',
  );
  const statuses = kube.helmReleases('apps', 'web').map((x) => x.info.status);
  expect(statuses).toEqual(['superseded', 'failed', 'deployed']);
});

it('--rollback-on-failure cannot succeed when the rolled-back revision is not available either', async () => {
  expect((await install('web', 'web', 'apps')).code).toBe(0);
  kube.setDeploymentAvailable('apps', 'web', false);
  const r = await install(
    'web',
    'web',
    'apps',
    '--set',
    'greeting=salut',
    '--rollback-on-failure',
    '--timeout',
    '2s',
  );
  expect(r.code).not.toBe(0);
  expect(r.stderr).toContain('an error occurred while rolling back the release');
  expect(r.stderr).toContain('Available: 0/1');
});

it('a template error fails before anything is written to the cluster', async () => {
  const r = await install('broken', 'broken', 'apps');
  expect(r.code).not.toBe(0);
  expect(r.stderr).toContain('auth.token is required');
  expect(kube.requests.filter((q) => q.method !== 'GET')).toEqual([]);
});

it('installs a needs chain (db StatefulSet, then app Deployment) into one namespace', async () => {
  expect((await install('db', 'db', 'data')).code).toBe(0);
  expect((await install('app', 'app', 'data', '--set', 'database.host=db')).code).toBe(0);
  expect(kube.get('StatefulSet', 'data', 'db')?.status.readyReplicas).toBe(1);
  expect(kube.get('Deployment', 'data', 'app')?.spec.template.spec.containers[0].env).toEqual([
    { name: 'DATABASE_HOST', value: 'db' },
  ]);
  const list = JSON.parse(await helmOk('list', '--namespace', 'data', '-o', 'json'));
  expect(list.map((x: { name: string }) => x.name).sort()).toEqual(['app', 'db']);
});
