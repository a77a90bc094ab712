import {
  boundManifestDiff,
  diffReleaseManifests,
  type ManifestDiff,
  manifestSummaryLines,
  parseManifest,
} from '../../../lib/deploy/manifest-diff';

const cm = (name: string, data: Record<string, string>, ns?: string) =>
  `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\n${ns ? `  namespace: ${ns}\n` : ''}data:\n${Object.entries(
    data,
  )
    .map(([k, v]) => `  ${k}: ${JSON.stringify(v)}`)
    .join('\n')}\n`;
const deploy = (name: string, image: string, env = 'x') =>
  `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: ${name}\nspec:\n  template:\n    spec:\n      containers:\n        - name: c\n          image: ${image}\n          env:\n            - name: PASSWORD\n              value: ${JSON.stringify(env)}\n`;
const secret = (name: string, data: Record<string, string>) =>
  `apiVersion: v1\nkind: Secret\nmetadata:\n  name: ${name}\ndata:\n${Object.entries(data)
    .map(([k, v]) => `  ${k}: ${Buffer.from(v).toString('base64')}`)
    .join('\n')}\n`;
const docs = (...d: string[]) => d.map((x) => `---\n# Source: chart/templates/x.yaml\n${x}`).join('');

test('objects are keyed by apiVersion, kind, namespace and name; Lists are flattened; empty documents skipped', () => {
  const m = parseManifest(
    `${docs(cm('a', { k: '1' }), cm('a', { k: '1' }, 'other'))}---\n---\napiVersion: v1\nkind: ConfigMapList\nitems:\n  - ${cm('b', {}).trimEnd().split('\n').join('\n    ')}\n`,
  );
  expect([...m.values()].map((o) => `${o.ref.namespace ?? ''}/${o.ref.name}`).sort()).toEqual([
    '/a',
    '/b',
    'other/a',
  ]);
  expect(() => parseManifest('apiVersion: v1\nkind: ConfigMap\n')).toThrow(/no kind or name/);
  expect(() => parseManifest('a: [\n')).toThrow(/not valid YAML/);
});

test('added, removed and changed objects in helm install order; identical ones only counted', () => {
  const live = docs(deploy('web', 'img:1'), cm('gone', { a: '1' }), cm('same', { a: '1' }));
  const proposed = docs(deploy('web', 'img:2'), cm('same', { a: '1' }), cm('new', { b: '2' }));
  const d = diffReleaseManifests({ release: 'web', namespace: 'web', live, proposed });
  expect(d.objects.map((o) => `${o.change} ${o.ref.kind}/${o.ref.name}`)).toEqual([
    'removed ConfigMap/gone',
    'added ConfigMap/new',
    'changed Deployment/web',
  ]);
  expect(d.unchanged).toBe(1);
  expect(d.firstInstall).toBeUndefined();
  const web = d.objects[2]?.diff ?? '';
  expect(web).toContain('--- live/Deployment/web\n+++ proposed/Deployment/web');
  expect(web).toContain('-          image: img:1\n+          image: img:2');
  expect(d.objects[0]?.diff).toContain('+++ /dev/null');
});

test("a Secret's values never appear; added, removed and changed keys are named", () => {
  const d = diffReleaseManifests({
    release: 'r',
    namespace: 'n',
    live: docs(secret('s', { keep: 'k-value-1', change: 'old-value-2', drop: 'drop-value-3' })),
    proposed: docs(secret('s', { keep: 'k-value-1', change: 'new-value-4', add: 'add-value-5' })),
  });
  const [s] = d.objects;
  expect(s?.secretKeys).toEqual({ added: ['add'], removed: ['drop'], changed: ['change'] });
  const text = JSON.stringify(d);
  for (const v of ['k-value-1', 'old-value-2', 'drop-value-3', 'new-value-4', 'add-value-5'])
    expect(text).not.toContain(Buffer.from(v).toString('base64'));
  expect(s?.diff).toContain('+  change: (hidden, changed)');
});

test('a Secret whose only change is a value is still listed as changed', () => {
  const d = diffReleaseManifests({
    release: 'r',
    namespace: 'n',
    live: docs(secret('s', { a: 'one-1' })),
    proposed: docs(secret('s', { a: 'two-2' })),
  });
  expect(d.objects.map((o) => o.change)).toEqual(['changed']);
  expect(d.objects[0]?.secretKeys?.changed).toEqual(['a']);
});

test('a leaf that holds a secret on the proposed side is hidden on BOTH sides (the live side may hold the old value)', () => {
  const d = diffReleaseManifests({
    release: 'r',
    namespace: 'n',
    live: docs(deploy('web', 'img:1', 'previous-password-not-known-to-the-redactor')),
    proposed: docs(deploy('web', 'img:1', '***')),
  });
  const text = JSON.stringify(d);
  expect(text).not.toContain('previous-password');
  expect(d.objects[0]?.diff).toContain('+              value: (hidden secret value, changed)');
  // the same masked value on both sides is no change at all
  const same = diffReleaseManifests({
    release: 'r',
    namespace: 'n',
    live: docs(deploy('web', 'img:1', 'x ***')),
    proposed: docs(deploy('web', 'img:1', 'x ***')),
  });
  expect(same.objects).toEqual([]);
});

test('a first install lists every object as added', () => {
  const d = diffReleaseManifests({
    release: 'r',
    namespace: 'n',
    live: undefined,
    proposed: docs(cm('a', {})),
  });
  expect(d.firstInstall).toBe(true);
  expect(d.objects.map((o) => o.change)).toEqual(['added']);
});

test('an object diff is cut at its limit, and past the total budget objects lose their diff and are counted', () => {
  const big = Object.fromEntries(Array.from({ length: 400 }, (_, i) => [`k${i}`, `value-${i}`]));
  const d = diffReleaseManifests({
    release: 'r',
    namespace: 'n',
    live: undefined,
    proposed: docs(cm('big', big), cm('small', { a: '1' })),
    maxObjectChars: 1000,
  });
  const bigDiff = d.objects.find((o) => o.ref.name === 'big');
  expect(bigDiff?.truncated).toBe(true);
  expect(bigDiff?.diff?.length).toBeLessThan(1100);
  expect(bigDiff?.diff).toMatch(/… \d+ more lines not shown\n$/);
  const [bounded] = boundManifestDiff([d], 1100);
  expect(bounded?.omitted).toBe(1);
  expect(bounded?.objects.filter((o) => o.diff === undefined)).toHaveLength(1);
  expect(bounded?.objects).toHaveLength(2);
});

test('summary lines: objects per release, errors, nothing to say', () => {
  const diff: ManifestDiff = {
    planDigest: 'p',
    renderedAt: 't',
    releases: [
      diffReleaseManifests({
        release: 'web',
        namespace: 'web',
        live: docs(deploy('web', 'a'), cm('old', {})),
        proposed: docs(deploy('web', 'b'), cm('new', {})),
      }),
      { release: 'db', namespace: 'db', objects: [], unchanged: 2, omitted: 0 },
      { release: 'x', namespace: 'x', objects: [], unchanged: 0, omitted: 0, error: 'chart missing' },
    ],
  };
  expect(manifestSummaryLines(diff)).toEqual([
    'web: objects 1 changed (Deployment/web); 1 added (ConfigMap/new); 1 removed (ConfigMap/old)',
    'x: rendered diff not available (chart missing)',
  ]);
  expect(manifestSummaryLines({ planDigest: 'p', renderedAt: 't', releases: [] })).toEqual([
    'rendered manifests: no object changes',
  ]);
  expect(
    manifestSummaryLines({ planDigest: 'p', renderedAt: 't', releases: [], unavailable: 'no cluster' }),
  ).toEqual(['rendered manifests: not available (no cluster)']);
  expect(manifestSummaryLines(undefined)).toEqual([]);
});

test("a secret's previous value stays hidden when its env entry moved or its ConfigMap was renamed", () => {
  // found in review: masking matched live to proposed by exact path, so a shifted list index or a renamed
  // object showed the pre-rotation value, which the redactor never saw
  const shifted = (first: string, pw: string) =>
    `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n        - name: c\n          image: img:1\n          env:\n${first ? `            - name: ${first}\n              value: "1"\n` : ''}            - name: PASSWORD\n              value: ${JSON.stringify(pw)}\n`;
  const r = diffReleaseManifests({
    release: 'web',
    namespace: 'web',
    live: docs(shifted('', 'OldRotatedPass123'), cm('db-old', { url: 'postgres://u:OldRotatedPass123@db' })),
    proposed: docs(shifted('ADDED', '***'), cm('db-new', { url: 'postgres://u:***@db' })),
  });
  const text = JSON.stringify(r);
  expect(text).not.toContain('OldRotatedPass123');
  expect(r.objects.map((o) => `${o.change} ${o.ref.kind}/${o.ref.name}`).sort()).toEqual([
    'added ConfigMap/db-new',
    'changed Deployment/web',
    'removed ConfigMap/db-old',
  ]);
});
