import { AppsV1Api, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { HelmgateError } from '../../../lib/errors';
import {
  contentDigest,
  DIGEST_ANNOTATION,
  RESTARTED_AT_ANNOTATION,
  type SecretSpec,
  syncSecrets,
} from '../../../lib/kube/secret-sync';
import { KubeApiStandIn } from '../../stand-ins/kube-api';

// Secret sync with the real @kubernetes/client-node against the loopback Kubernetes API.
const CANARY = 'canary-SecretSync-7f3a91c2';
const KEY = 'installation-digest-key-for-tests';
const KEYED = { digestKey: KEY };

let kube: KubeApiStandIn;
let kc: KubeConfig;

beforeEach(async () => {
  kube = await KubeApiStandIn.start({ token: 'standin-token' });
  kc = new KubeConfig();
  kc.loadFromString(kube.kubeconfig());
});

afterEach(async () => {
  await kube.close();
});

const deployment = (ns: string, name: string) => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name, namespace: ns },
  spec: {
    replicas: 1,
    selector: { matchLabels: { app: name } },
    template: { metadata: { labels: { app: name } }, spec: { containers: [{ name, image: 'x' }] } },
  },
});

const spec = (data: Record<string, string>, restart: SecretSpec['restart'] = []): SecretSpec => ({
  namespace: 'hub',
  name: 'hub-secrets',
  data,
  restart,
});

it('creates the namespace and an Opaque Secret labelled as helmgate-managed with the content digest', async () => {
  expect(kube.get('Namespace', '', 'hub')).toBeUndefined();
  const [r] = await syncSecrets(kc, [spec({ 'proxy-token': CANARY, other: 'x' })], KEYED);
  expect(r).toEqual({ namespace: 'hub', name: 'hub-secrets', action: 'created', restarted: [], skipped: [] });

  expect(kube.get('Namespace', '', 'hub')).toBeDefined();
  const s = await kc.makeApiClient(CoreV1Api).readNamespacedSecret({ namespace: 'hub', name: 'hub-secrets' });
  expect(s.type).toBe('Opaque');
  expect(s.metadata?.labels?.['app.kubernetes.io/managed-by']).toBe('helmgate');
  expect(s.metadata?.annotations?.[DIGEST_ANNOTATION]).toBe(
    contentDigest({ other: 'x', 'proxy-token': CANARY }, KEY),
  );
  expect(Buffer.from(s.data?.['proxy-token'] ?? '', 'base64').toString()).toBe(CANARY);
  // the canary went over the wire base64-encoded, never in a URL
  for (const q of kube.requests) expect(q.path + JSON.stringify(q.query)).not.toContain(CANARY);
});

it('the digest ignores key order and changes with any value', () => {
  expect(contentDigest({ a: '1', b: '2' }, KEY)).toBe(contentDigest({ b: '2', a: '1' }, KEY));
  expect(contentDigest({ a: '1', b: '2' }, KEY)).not.toBe(contentDigest({ a: '1', b: '3' }, KEY));
  expect(contentDigest({ a: '1', b: '2' }, KEY)).not.toBe(contentDigest({ a: '12' }, KEY));
});

it('an unchanged secret is not written again and restarts nothing', async () => {
  kube.put(deployment('hub', 'hub'));
  await syncSecrets(kc, [spec({ token: CANARY }, [{ kind: 'Deployment', name: 'hub' }])], KEYED);
  const writesBefore = kube.requests.filter((q) => q.method !== 'GET').length;

  const [r] = await syncSecrets(kc, [spec({ token: CANARY }, [{ kind: 'Deployment', name: 'hub' }])], KEYED);
  expect(r?.action).toBe('unchanged');
  expect(r?.restarted).toEqual([]);
  expect(kube.requests.filter((q) => q.method !== 'GET').length).toBe(writesBefore);
  expect(kube.get('Deployment', 'hub', 'hub')?.spec.template.metadata.annotations).toBeUndefined();
});

it('an unchanged secret costs one request: its namespace is only looked at before a Secret is created', async () => {
  await syncSecrets(kc, [spec({ token: CANARY })], KEYED);
  const before = kube.requests.length;
  const [r] = await syncSecrets(kc, [spec({ token: CANARY })], KEYED);
  expect(r?.action).toBe('unchanged');
  expect(kube.requests.slice(before).map((q) => `${q.method} ${q.path}`)).toEqual([
    'GET /api/v1/namespaces/hub/secrets/hub-secrets',
  ]);
});

it('a changed secret is updated and its workloads restarted; a missing workload is skipped', async () => {
  kube.put(deployment('hub', 'hub'));
  kube.put({
    ...deployment('hub', 'db'),
    kind: 'StatefulSet',
    spec: { ...deployment('hub', 'db').spec, serviceName: 'db' },
  });
  const restart: SecretSpec['restart'] = [
    { kind: 'Deployment', name: 'hub' },
    { kind: 'StatefulSet', name: 'db' },
    { kind: 'DaemonSet', name: 'not-installed-yet' },
  ];
  await syncSecrets(kc, [spec({ token: 'old-value' }, restart)], KEYED);
  const generation = kube.get('Deployment', 'hub', 'hub')?.metadata.generation;

  const at = new Date('2026-03-01T12:00:00Z');
  const [r] = await syncSecrets(kc, [spec({ token: CANARY }, restart)], { ...KEYED, now: () => at });
  expect(r).toEqual({
    namespace: 'hub',
    name: 'hub-secrets',
    action: 'updated',
    restarted: ['Deployment/hub', 'StatefulSet/db'],
    skipped: ['DaemonSet/not-installed-yet'],
  });

  const apps = kc.makeApiClient(AppsV1Api);
  const dep = await apps.readNamespacedDeployment({ namespace: 'hub', name: 'hub' });
  expect(dep.spec?.template.metadata?.annotations?.[RESTARTED_AT_ANNOTATION]).toBe(at.toISOString());
  expect(dep.metadata?.generation).toBe((generation ?? 0) + 1);
  const sts = await apps.readNamespacedStatefulSet({ namespace: 'hub', name: 'db' });
  expect(sts.spec?.template.metadata?.annotations?.[RESTARTED_AT_ANNOTATION]).toBe(at.toISOString());

  const s = kube.get('Secret', 'hub', 'hub-secrets');
  expect(Buffer.from(s?.data.token, 'base64').toString()).toBe(CANARY);
  expect(s?.metadata.annotations[DIGEST_ANNOTATION]).toBe(contentDigest({ token: CANARY }, KEY));
});

it('a hand-edited managed Secret whose digest annotation was kept is repaired', async () => {
  await syncSecrets(kc, [spec({ token: CANARY })], KEYED);
  const s = kube.get('Secret', 'hub', 'hub-secrets');
  kube.put({ ...s, data: { token: Buffer.from('edited').toString('base64') } });

  const [r] = await syncSecrets(kc, [spec({ token: CANARY })], KEYED);
  expect(r?.action).toBe('updated');
  expect(Buffer.from(kube.get('Secret', 'hub', 'hub-secrets')?.data.token, 'base64').toString()).toBe(CANARY);
});

it('refuses to overwrite a Secret that helmgate does not manage, without echoing any value', async () => {
  kube.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'hub' } });
  kube.put({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'hub-secrets', namespace: 'hub', labels: { 'app.kubernetes.io/managed-by': 'Helm' } },
    data: { token: Buffer.from('theirs').toString('base64') },
  });
  const err = await syncSecrets(kc, [spec({ token: CANARY })], KEYED).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(HelmgateError);
  expect((err as HelmgateError).code).toBe('conflict');
  expect((err as Error).message).toContain('hub/hub-secrets');
  expect((err as Error).message).toContain('not managed by helmgate');
  expect((err as Error).message).not.toContain(CANARY);
  expect(Buffer.from(kube.get('Secret', 'hub', 'hub-secrets')?.data.token, 'base64').toString()).toBe(
    'theirs',
  );
});

it('an API failure names the Secret and the status but never the value', async () => {
  kube.inject({
    method: 'POST',
    pathPattern: /\/secrets$/,
    status: 500,
    body: `etcdserver: request timed out while writing ${CANARY} (${Buffer.from(CANARY).toString('base64')})`,
    times: 5,
  });
  const err = await syncSecrets(kc, [spec({ token: CANARY })], KEYED).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(HelmgateError);
  const message = (err as Error).message;
  expect(message).toContain('could not create Secret hub/hub-secrets: HTTP 500');
  expect(message).toContain('etcdserver: request timed out');
  expect(message).not.toContain(CANARY);
  expect(message).not.toContain(Buffer.from(CANARY).toString('base64'));
  expect((err as Error).cause).toBeUndefined();
});

it('a write conflict from a concurrent writer is retried once against the fresh version', async () => {
  await syncSecrets(kc, [spec({ token: 'v1' })], KEYED);
  kube.inject({ method: 'PUT', pathPattern: /\/secrets\/hub-secrets$/, status: 409 });
  const [r] = await syncSecrets(kc, [spec({ token: 'v2' })], KEYED);
  expect(r?.action).toBe('updated');
  expect(kube.requests.filter((q) => q.method === 'PUT')).toHaveLength(2);
  expect(Buffer.from(kube.get('Secret', 'hub', 'hub-secrets')?.data.token, 'base64').toString()).toBe('v2');
});

it('the stand-in rejects a Secret in a namespace that does not exist, as the real API does', async () => {
  const core = kc.makeApiClient(CoreV1Api);
  const err = await core
    .createNamespacedSecret({ namespace: 'nowhere', body: { metadata: { name: 's' } } })
    .catch((e: unknown) => e);
  expect((err as { code?: number }).code).toBe(404);
});
