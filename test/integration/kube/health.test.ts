import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { checkReleaseHealth, workloadProblems } from '../../../lib/kube/health';
import { KubeApiStandIn } from '../../stand-ins/kube-api';

// Release health checks with the real client-node against the stand-in, and HTTP checks against a local server.
let kube: KubeApiStandIn;
let kc: KubeConfig;
let http: Server;
let base: string;
let hits: string[];

beforeEach(async () => {
  kube = await KubeApiStandIn.start();
  kc = new KubeConfig();
  kc.loadFromString(kube.kubeconfig());
  kube.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'hub' } });
  hits = [];
  http = createServer((req, res) => {
    hits.push(req.url ?? '');
    if (req.url?.startsWith('/slow')) return; // never answers
    res.statusCode = req.url?.startsWith('/down') ? 503 : req.url?.startsWith('/moved') ? 302 : 200;
    if (res.statusCode === 302) res.setHeader('location', '/ok');
    res.end('body');
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
});

afterEach(async () => {
  http.closeAllConnections();
  await new Promise<void>((r) => http.close(() => r()));
  await kube.close();
});

const workload = (
  kind: 'Deployment' | 'StatefulSet',
  name: string,
  release: string,
  by: 'label' | 'annotation',
) => ({
  apiVersion: 'apps/v1',
  kind,
  metadata: {
    name,
    namespace: 'hub',
    ...(by === 'label'
      ? { labels: { 'app.kubernetes.io/instance': release } }
      : { annotations: { 'meta.helm.sh/release-name': release } }),
  },
  spec: {
    replicas: 2,
    selector: { matchLabels: { app: name } },
    template: { metadata: { labels: { app: name } }, spec: { containers: [{ name, image: 'x' }] } },
  },
});

/** Virtual time for the poll loop: each sleep moves the clock at once, and `meanwhile` is what happens during it. */
function virtualTime(meanwhile: () => void = () => {}) {
  let t = 0;
  const slept: number[] = [];
  const deps = {
    now: () => t,
    sleep: async (ms: number) => {
      slept.push(ms);
      t += ms;
      meanwhile();
    },
  };
  return { slept, deps };
}

const input = (over: Partial<Parameters<typeof checkReleaseHealth>[1]> = {}) => ({
  namespace: 'hub',
  release: 'jupyterhub',
  workloads: true,
  http: [],
  timeoutMs: 400,
  pollMs: 50,
  ...over,
});

it('is healthy when every Deployment and StatefulSet of the release is available', async () => {
  kube.put(workload('Deployment', 'hub', 'jupyterhub', 'label'));
  kube.put(workload('StatefulSet', 'db', 'jupyterhub', 'annotation'));
  expect(await checkReleaseHealth(kc, input())).toEqual({ healthy: true });
});

it('names the workload that is not available and what is wrong with it', async () => {
  kube.put(workload('Deployment', 'hub', 'jupyterhub', 'label'));
  kube.put(workload('StatefulSet', 'db', 'jupyterhub', 'annotation'));
  kube.setDeploymentAvailable('hub', 'db', false);
  const r = await checkReleaseHealth(kc, input(), virtualTime().deps);
  expect(r.healthy).toBe(false);
  const reason = r.healthy ? '' : r.reason;
  expect(reason).toContain('release jupyterhub not available after 400ms');
  expect(reason).toContain('StatefulSet db: 0/2 ready, 0/2 available');
  expect(reason).not.toContain('Deployment hub');
  // it polled more than once before giving up
  const lists = kube.requests.filter((q) => q.path === '/apis/apps/v1/namespaces/hub/statefulsets');
  expect(lists.length).toBeGreaterThan(1);
});

it('ignores workloads of other releases', async () => {
  kube.put(workload('Deployment', 'hub', 'jupyterhub', 'label'));
  kube.put(workload('Deployment', 'grafana', 'grafana', 'label'));
  kube.setDeploymentAvailable('hub', 'grafana', false);
  expect(await checkReleaseHealth(kc, input())).toEqual({ healthy: true });
});

it('waits for a workload that becomes available before the timeout', async () => {
  kube.put(workload('Deployment', 'hub', 'jupyterhub', 'label'));
  kube.setDeploymentAvailable('hub', 'hub', false);
  // the controller catches up while the check waits between two polls
  const time = virtualTime(() => kube.setDeploymentAvailable('hub', 'hub', true));
  expect(await checkReleaseHealth(kc, input({ timeoutMs: 5000 }), time.deps)).toEqual({ healthy: true });
  expect(time.slept).toEqual([50]);
});

it('a generation the controller has not observed yet is not healthy', async () => {
  // as seen right after an upgrade: the spec moved on, the controller has not caught up
  kube.put(workload('Deployment', 'hub', 'jupyterhub', 'label'));
  const d = kube.get('Deployment', 'hub', 'hub');
  const stale = {
    ...d,
    metadata: { ...d?.metadata, generation: 5 },
    status: { ...d?.status, observedGeneration: 4 },
  };
  expect(workloadProblems([stale])).toBe('Deployment hub: generation 5 not yet observed (at 4)');
  expect(workloadProblems([d ?? {}])).toBeUndefined();
});

it('checks HTTP endpoints after the workloads: 200 passes, 503 fails with the URL and statuses', async () => {
  kube.put(workload('Deployment', 'hub', 'jupyterhub', 'label'));
  expect(await checkReleaseHealth(kc, input({ http: [{ url: `${base}/ok`, expectStatus: 200 }] }))).toEqual({
    healthy: true,
  });

  const r = await checkReleaseHealth(
    kc,
    input({ http: [{ url: `${base}/down?token=secret-in-query`, expectStatus: 200 }], timeoutMs: 200 }),
    virtualTime().deps,
  );
  expect(r).toEqual({ healthy: false, reason: `GET ${base}/down answered 503, expected 200` });
  expect(hits.filter((h) => h.startsWith('/down')).length).toBeGreaterThan(1);
});

it('does not follow redirects, so an expected 302 can be checked', async () => {
  const r = await checkReleaseHealth(
    kc,
    input({ workloads: false, http: [{ url: `${base}/moved`, expectStatus: 302 }] }),
  );
  expect(r).toEqual({ healthy: true });
  expect(hits).toEqual(['/moved']);
});

it('a request that hangs times out with a reason, and a closed port is reported', async () => {
  const slow = await checkReleaseHealth(
    kc,
    input({
      workloads: false,
      http: [{ url: `${base}/slow`, expectStatus: 200 }],
      timeoutMs: 300,
      requestTimeoutMs: 100,
    }),
  );
  expect(slow.healthy).toBe(false);
  expect(slow.healthy ? '' : slow.reason).toMatch(new RegExp(`^GET ${base}/slow timed out after \\d+ms$`));

  const gone = createServer();
  await new Promise<void>((r) => gone.listen(0, '127.0.0.1', r));
  const port = (gone.address() as AddressInfo).port;
  await new Promise<void>((r) => gone.close(() => r()));
  const closed = await checkReleaseHealth(
    kc,
    input({
      workloads: false,
      http: [{ url: `http://127.0.0.1:${port}/x`, expectStatus: 200 }],
      timeoutMs: 100,
    }),
  );
  expect(closed).toEqual({ healthy: false, reason: `GET http://127.0.0.1:${port}/x failed (ECONNREFUSED)` });
});

it('keeps polling through an API error and reports it if it never clears', async () => {
  kube.put(workload('Deployment', 'hub', 'jupyterhub', 'label'));
  kube.inject({ method: 'GET', pathPattern: /\/deployments$/, status: 503, times: 2 });
  const time = virtualTime();
  expect(await checkReleaseHealth(kc, input({ timeoutMs: 5000 }), time.deps)).toEqual({ healthy: true });
  expect(time.slept).toEqual([50, 50]);

  kube.inject({ method: 'GET', pathPattern: /\/deployments$/, status: 503, times: 1000 });
  const r = await checkReleaseHealth(kc, input({ timeoutMs: 200 }), virtualTime().deps);
  expect(r.healthy ? '' : r.reason).toContain(
    'could not list workloads in hub: HTTP 503 ServiceUnavailable: the server is currently unable to handle the request',
  );
});
