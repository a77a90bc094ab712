import { CoreV1Api, KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { KubeApiStandIn, parseSelector } from '../../stand-ins/kube-api';
import { decodeProtobufObject, encodeProtobufObject } from '../../stand-ins/kube-protobuf';

// The stand-in's own contract, through the real client-node and raw HTTP where client-node cannot reach.
let kube: KubeApiStandIn;
let core: CoreV1Api;

beforeEach(async () => {
  kube = await KubeApiStandIn.start();
  const kc = new KubeConfig();
  kc.loadFromString(kube.kubeconfig());
  core = kc.makeApiClient(CoreV1Api);
});

afterEach(async () => {
  await kube.close();
});

it('round-trips a Secret through the k8s protobuf envelope', () => {
  const secret = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name: 's',
      namespace: 'n',
      labels: { owner: 'helm' },
      resourceVersion: '7',
      uid: 'u-1',
      creationTimestamp: '2026-01-02T03:04:05Z',
    },
    type: 'helm.sh/release.v1',
    data: { release: Buffer.from('H4sI-binary\u0000').toString('base64') },
  };
  const wire = encodeProtobufObject(secret);
  expect([...wire.subarray(0, 4)]).toEqual([0x6b, 0x38, 0x73, 0x00]);
  expect(decodeProtobufObject(wire)).toEqual(secret);
});

it('answers protobuf when asked first and JSON otherwise, and decodes protobuf writes', async () => {
  const body = encodeProtobufObject({
    kind: 'Secret',
    metadata: { name: 'p', labels: { a: '1' } },
    data: { k: Buffer.from('v').toString('base64') },
  });
  const created = await fetch(`${kube.url}/api/v1/namespaces/default/secrets`, {
    method: 'POST',
    headers: {
      'content-type': 'application/vnd.kubernetes.protobuf',
      accept: 'application/vnd.kubernetes.protobuf, application/json',
    },
    body,
  });
  expect(created.status).toBe(201);
  expect(created.headers.get('content-type')).toBe('application/vnd.kubernetes.protobuf');
  const back = decodeProtobufObject(Buffer.from(await created.arrayBuffer()));
  expect(back.metadata).toMatchObject({ name: 'p', namespace: 'default', labels: { a: '1' } });

  const s = await core.readNamespacedSecret({ namespace: 'default', name: 'p' });
  expect(Buffer.from(s.data?.k ?? '', 'base64').toString()).toBe('v');
  expect(kube.requests.find((q) => q.method === 'POST')?.text).toContain('"k":"v"'); // decoded for canary scans
});

it('lists by label selector, including set-based terms', async () => {
  for (const [name, labels] of [
    ['a', { owner: 'helm', status: 'deployed' }],
    ['b', { owner: 'helm', status: 'superseded' }],
    ['c', { owner: 'someone' }],
  ] as const)
    kube.put({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'default', labels } });
  const names = async (labelSelector: string) =>
    (await core.listNamespacedConfigMap({ namespace: 'default', labelSelector })).items.map(
      (i) => i.metadata?.name,
    );
  expect(await names('owner=helm')).toEqual(['a', 'b']);
  expect(await names('owner=helm,status!=deployed')).toEqual(['b']);
  expect(await names('status in (deployed,failed)')).toEqual(['a']);
  expect(await names('!status')).toEqual(['c']);
  expect(parseSelector('status notin (deployed)')({ status: 'failed' })).toBe(true);
});

it('supports JSON patch, merge patch and server-side apply that drops fields the manager stopped applying', async () => {
  const path = `${kube.url}/api/v1/namespaces/default/configmaps/cm`;
  const apply = (data: Record<string, string>) =>
    fetch(`${path}?fieldManager=helm&force=false`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/apply-patch+yaml' },
      body: JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cm' }, data }),
    });
  expect((await apply({ a: '1', b: '2' })).status).toBe(201);
  expect((await apply({ a: '1' })).status).toBe(200);
  expect(kube.get('ConfigMap', 'default', 'cm')?.data).toEqual({ a: '1' });

  await core.patchNamespacedConfigMap(
    { namespace: 'default', name: 'cm', body: [{ op: 'add', path: '/data/c', value: '3' }] },
    setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
  );
  await core.patchNamespacedConfigMap(
    { namespace: 'default', name: 'cm', body: { data: { a: null, d: '4' } } },
    setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
  );
  expect(kube.get('ConfigMap', 'default', 'cm')?.data).toEqual({ c: '3', d: '4' });
});

it('rejects a stale resourceVersion with the conflict message helm retries on', async () => {
  const cm = await core.createNamespacedConfigMap({
    namespace: 'default',
    body: { metadata: { name: 'x' } },
  });
  await core.replaceNamespacedConfigMap({
    namespace: 'default',
    name: 'x',
    body: { ...cm, data: { a: '1' } },
  });
  const err = await core
    .replaceNamespacedConfigMap({ namespace: 'default', name: 'x', body: { ...cm, data: { a: '2' } } })
    .then(
      () => ({ code: 200, body: '' }),
      (e: { code: number; body: string }) => e,
    );
  expect(err.code).toBe(409);
  expect(String(err.body)).toContain('the object has been modified');
});

it('streams watch events after a watch-list bookmark', async () => {
  const ac = new AbortController();
  const res = await fetch(
    `${kube.url}/api/v1/namespaces/default/configmaps?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan`,
    { signal: ac.signal },
  );
  const reader = res.body?.getReader();
  const lines: string[] = [];
  let buf = '';
  const next = async () => {
    while (!buf.includes('\n')) {
      const chunk = await reader?.read();
      if (!chunk || chunk.done) throw new Error('watch ended');
      buf += Buffer.from(chunk.value).toString();
    }
    const i = buf.indexOf('\n');
    lines.push(buf.slice(0, i));
    buf = buf.slice(i + 1);
    return JSON.parse(lines.at(-1) as string);
  };
  const bookmark = await next();
  expect(bookmark).toMatchObject({
    type: 'BOOKMARK',
    object: { metadata: { annotations: { 'k8s.io/initial-events-end': 'true' } } },
  });
  kube.put({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'w', namespace: 'default' } });
  expect(await next()).toMatchObject({ type: 'ADDED', object: { metadata: { name: 'w' } } });
  ac.abort();
});

describe('helm test hook pods (issue 13 item 8)', () => {
  const testPod = (name: string, containers: Array<{ name: string; env?: Record<string, string> }>) => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', annotations: { 'helm.sh/hook': 'pre-install,test' } },
    spec: {
      restartPolicy: 'Never',
      containers: containers.map((c) => ({
        name: c.name,
        image: 'busybox',
        env: Object.entries(c.env ?? {}).map(([n, value]) => ({ name: n, value })),
      })),
    },
  });
  const until = async (check: () => boolean) => {
    for (let i = 0; i < 600 && !check(); i++) await new Promise((r) => setTimeout(r, 5));
  };

  it('runs a test pod: Pending when created, then Succeeded or Failed by its env, with container statuses, events and a log', async () => {
    const created = await core.createNamespacedPod({
      namespace: 'default',
      body: testPod('ok', [{ name: 'c', env: { STANDIN_LOG: 'all good' } }]) as never,
    });
    // as the API answered the create: not yet run
    expect(created.status?.phase).toBe('Pending');
    await core.createNamespacedPod({
      namespace: 'default',
      body: testPod('bad', [
        { name: 'c', env: { STANDIN_EXIT_CODE: '3', STANDIN_LOG: 'line 1\nboom' } },
      ]) as never,
    });
    await until(() => kube.get('Pod', 'default', 'bad')?.status.phase !== 'Pending');
    await until(() => kube.get('Pod', 'default', 'ok')?.status.phase !== 'Pending');
    expect(kube.get('Pod', 'default', 'ok')?.status.phase).toBe('Succeeded');
    const bad = kube.get('Pod', 'default', 'bad');
    expect(bad?.status.phase).toBe('Failed');
    expect(bad?.status.containerStatuses[0]).toMatchObject({
      name: 'c',
      ready: false,
      state: { terminated: { exitCode: 3, reason: 'Error' } },
    });
    // without `container` the only container's log, as `helm test --logs` asks for it
    expect(await (await fetch(`${kube.url}/api/v1/namespaces/default/pods/bad/log`)).text()).toBe(
      'line 1\nboom',
    );
    expect(
      await core.readNamespacedPodLog({ name: 'bad', namespace: 'default', container: 'c', tailLines: 1 }),
    ).toBe('boom');
    const events = kube.objects('Event').filter((e) => e.involvedObject.name === 'bad');
    expect(events.map((e) => e.reason)).toEqual(['Scheduled', 'Started']);
    expect(events[0]?.involvedObject.uid).toBe(bad?.metadata.uid);
  });

  it('a rule decides instead of the env; a pod of several containers fails when one does and needs a container for its log', async () => {
    kube.setTestPodOutcome((pod) =>
      pod.metadata.name === 'two' ? { containers: { b: { exitCode: 1, log: 'b broke' } } } : undefined,
    );
    kube.put(testPod('two', [{ name: 'a' }, { name: 'b' }]));
    await until(() => kube.get('Pod', 'default', 'two')?.status.phase !== 'Pending');
    expect(kube.get('Pod', 'default', 'two')?.status.phase).toBe('Failed');
    const all = await fetch(`${kube.url}/api/v1/namespaces/default/pods/two/log`);
    expect(all.status).toBe(400);
    expect(await all.text()).toContain(
      'a container name must be specified for pod two, choose one of: [a b]',
    );
    expect(await core.readNamespacedPodLog({ name: 'two', namespace: 'default', container: 'b' })).toBe(
      'b broke',
    );
  });

  it('other pods are not run, and a pod seeded with a status keeps it', async () => {
    kube.put({ ...testPod('plain', [{ name: 'c' }]), metadata: { name: 'plain', namespace: 'default' } });
    kube.put({ ...testPod('seeded', [{ name: 'c' }]), status: { phase: 'Running' } });
    await new Promise((r) => setTimeout(r, 60));
    expect(kube.get('Pod', 'default', 'plain')?.status).toBeUndefined();
    expect(kube.get('Pod', 'default', 'seeded')?.status.phase).toBe('Running');
  });
});

it('a test-hook Job makes one pod (job-name, owned by the Job) that runs; the Job ends with it; deleting the Job removes the pod', async () => {
  kube.put({
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: 'check', namespace: 'default', annotations: { 'helm.sh/hook': 'test' } },
    spec: {
      template: {
        spec: {
          restartPolicy: 'Never',
          containers: [{ name: 'c', image: 'x', env: [{ name: 'STANDIN_EXIT_CODE', value: '1' }] }],
        },
      },
    },
  });
  expect(kube.get('Job', 'default', 'check')?.status).toMatchObject({ active: 1 });
  const [pod] = kube.objects('Pod').filter((p) => p.metadata.labels?.['job-name'] === 'check');
  expect(pod?.metadata.name).toMatch(/^check-[0-9a-f]{5}$/);
  expect(pod?.metadata.ownerReferences[0]).toMatchObject({ kind: 'Job', name: 'check' });
  for (let i = 0; i < 600 && !kube.get('Job', 'default', 'check')?.status.conditions; i++)
    await new Promise((r) => setTimeout(r, 5));
  expect(kube.get('Job', 'default', 'check')?.status).toMatchObject({
    failed: 1,
    conditions: [{ type: 'Failed', status: 'True', reason: 'BackoffLimitExceeded' }],
  });
  expect(kube.get('Pod', 'default', pod?.metadata.name)?.status.phase).toBe('Failed');
  await fetch(`${kube.url}/apis/batch/v1/namespaces/default/jobs/check`, { method: 'DELETE' });
  expect(kube.objects('Pod').filter((p) => p.metadata.labels?.['job-name'] === 'check')).toEqual([]);
});
