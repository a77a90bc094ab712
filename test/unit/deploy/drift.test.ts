import {
  DRIFT_LIMITS,
  driftChanges,
  driftDigest,
  fieldDrift,
  fitDrift,
  helmDrift,
  objectDrift,
  type ReleaseDrift,
  releaseDriftOf,
} from '../../../lib/deploy/drift';

const web = (fields: ReleaseDrift['objects'][number]['fields']): ReleaseDrift => ({
  release: 'web',
  namespace: 'apps',
  objects: [{ object: 'Deployment apps/web', fields }],
});

test('list items with names compare by name: a reorder is no drift, a changed item names itself', () => {
  const deployed = {
    spec: {
      ports: [
        { name: 'a', port: 1 },
        { name: 'b', port: 2 },
      ],
    },
  };
  expect(
    fieldDrift(deployed, {
      spec: {
        ports: [
          { name: 'b', port: 2 },
          { name: 'a', port: 1 },
        ],
      },
    }),
  ).toEqual([]);
  expect(
    fieldDrift(deployed, {
      spec: {
        ports: [
          { name: 'a', port: 1 },
          { name: 'b', port: 3 },
        ],
      },
    }),
  ).toEqual([{ path: 'spec.ports[b].port', deployed: '2', live: '3' }]);
  expect(fieldDrift(deployed, { spec: { ports: [{ name: 'a', port: 1 }] } })).toEqual([
    { path: 'spec.ports[b]', deployed: '{"name":"b","port":2}' },
  ]);
});

test('empty and null fields the API server drops are not drift; numbers compare by value', () => {
  expect(
    fieldDrift({ spec: { env: [], resources: {}, x: null, port: 80 } }, { spec: { port: '80' } }),
  ).toEqual([]);
});

test('a masked value, a credential-named field and a credential-named env entry never show a value', () => {
  expect(fieldDrift({ a: { url: 'x://u:***@h' } }, { a: { url: 'x://u:typed-by-hand@h' } })).toEqual([
    { path: 'a.url', deployed: '(hidden)', live: '(hidden, changed)' },
  ]);
  expect(fieldDrift({ a: { dbPassword: 'x' } }, { a: { dbPassword: 'y' } })).toEqual([
    { path: 'a.dbPassword', deployed: '(hidden)', live: '(hidden, changed)' },
  ]);
  expect(
    fieldDrift(
      { env: [{ name: 'GITHUB_TOKEN', value: 'a' }] },
      {
        env: [
          { name: 'GITHUB_TOKEN', value: 'b' },
          { name: 'NEW', value: 'c' },
        ],
      },
    ),
  ).toEqual([
    { path: 'env[GITHUB_TOKEN].value', deployed: '(hidden)', live: '(hidden, changed)' },
    { path: 'env[NEW]', deployed: '(absent)', live: '(added)' },
  ]);
  // an unnamed list that changed length and holds a mask: hidden whole
  expect(fieldDrift({ args: ['--pw=***'] }, { args: ['--pw=new', '--x'] })).toEqual([
    { path: 'args', deployed: '(hidden)', live: '(hidden, changed)' },
  ]);
});

test('a release drift is bounded: objects and fields beyond the limits are counted, not kept', () => {
  const many = Object.fromEntries(Array.from({ length: 15 }, (_, i) => [`k${i}`, i]));
  const o = objectDrift({
    label: 'ConfigMap a/b',
    kind: 'ConfigMap',
    deployed: { data: many },
    live: { data: {} },
  });
  expect(o?.fields).toHaveLength(DRIFT_LIMITS.fields);
  expect(o?.omittedFields).toBe(15 - DRIFT_LIMITS.fields);
  const objects = Array.from({ length: 12 }, (_, i) => ({
    object: `ConfigMap a/${i}`,
    missing: true,
    fields: [],
  }));
  const r = releaseDriftOf({ release: 'web', namespace: 'apps', objects });
  expect(r?.objects).toHaveLength(DRIFT_LIMITS.objects);
  expect(r?.omittedObjects).toBe(2);
  expect(releaseDriftOf({ release: 'web', namespace: 'apps', objects: [] })).toBeUndefined();
});

test('helm-level drift: another revision, a status other than deployed, or no release', () => {
  expect(helmDrift(3, { status: 'deployed', revision: 3 })).toBeUndefined();
  expect(helmDrift(3, { status: 'deployed', revision: 4 })).toBe(
    'helm runs revision 4 (deployed); helmgate deployed revision 3',
  );
  expect(helmDrift(3, { status: 'failed', revision: 3 })).toMatch(/revision 3 \(failed\)/);
  expect(helmDrift(3, undefined)).toBe('helm has no release (helmgate deployed revision 3)');
});

test('each change is reported once: new, different, gone; an unchecked release keeps its report', () => {
  const a = web([{ path: 'spec.replicas', deployed: '1', live: '3' }]);
  const b = web([{ path: 'spec.replicas', deployed: '1', live: '4' }]);
  const at = '2026-11-26T04:00:00Z';
  const reported = { web: { digest: driftDigest(a), since: at, reportedAt: at, drift: a } };
  expect(driftChanges({}, [a], ['web'])).toEqual([
    { kind: 'drifted', release: 'web', drift: a, digest: driftDigest(a) },
  ]);
  expect(driftChanges(reported, [a], ['web'])).toEqual([]);
  expect(driftChanges(reported, [b], ['web'])).toMatchObject([{ kind: 'changed', release: 'web' }]);
  expect(driftChanges(reported, [], ['web'])).toEqual([{ kind: 'back-in-line', release: 'web', was: a }]);
  expect(driftChanges(reported, [], [])).toEqual([]);
});

test('the stored drift of an environment fits its bound; what was cut is counted', () => {
  const fields = Array.from({ length: 10 }, (_, i) => ({
    path: `data.k${i}`,
    deployed: 'x'.repeat(100),
    live: 'y'.repeat(100),
  }));
  const drift: ReleaseDrift = {
    release: 'r',
    namespace: 'n',
    objects: Array.from({ length: 10 }, (_, i) => ({ object: `ConfigMap n/c${i}`, fields })),
  };
  const at = '2026-11-26T04:00:00Z';
  const record = {
    repository: 'o/r',
    environment: 'staging',
    sha: 'a'.repeat(40),
    deploymentId: 'd',
    checkedAt: at,
    releases: Object.fromEntries(
      Array.from({ length: 30 }, (_, i) => [
        `r${i}`,
        { digest: 'sha256:x', since: at, reportedAt: at, drift },
      ]),
    ),
  };
  expect(JSON.stringify(record).length).toBeGreaterThan(400_000);
  const fitted = fitDrift(record, 128 * 1024);
  expect(JSON.stringify(fitted).length).toBeLessThanOrEqual(128 * 1024);
  const first = fitted.releases.r0?.drift;
  expect(first?.objects[0]?.fields).toHaveLength(2);
  expect(first?.objects[0]?.omittedFields).toBe(8);
  expect(fitDrift({ ...record, releases: {} })).toEqual({ ...record, releases: {} });
});

test('resource quantities the API server rewrites are not drift; a changed quantity is', () => {
  const res = (cpu: unknown, memory: unknown) => ({
    spec: { containers: [{ name: 'c', resources: { limits: { cpu, memory }, requests: { cpu } } }] },
  });
  expect(fieldDrift(res(0.5, '1024Mi'), res('500m', '1Gi'))).toEqual([]);
  expect(
    fieldDrift(
      { spec: { resources: { requests: { storage: '1000M' } } } },
      { spec: { resources: { requests: { storage: '1G' } } } },
    ),
  ).toEqual([]);
  expect(fieldDrift(res('1', '1Gi'), res('2', '1Gi'))).toEqual([
    { path: 'spec.containers[c].resources.limits.cpu', deployed: '"1"', live: '"2"' },
    { path: 'spec.containers[c].resources.requests.cpu', deployed: '"1"', live: '"2"' },
  ]);
  // elsewhere a number-like string stays a string: an image tag 1.0 → 1 is drift
  expect(fieldDrift({ tag: '1.0' }, { tag: '1' })).toEqual([{ path: 'tag', deployed: '"1.0"', live: '"1"' }]);
});
