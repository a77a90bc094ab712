import { parseRedactedManifest } from '../../../lib/helm/manifest-objects';
import { Redactor } from '../../../lib/log/redact';

const KEY = Buffer.alloc(32, 7);

function redactor(...values: string[]) {
  const r = new Redactor();
  for (const v of values) r.register(v);
  return (t: string) => r.redact(t);
}

test('parsed before it is redacted: a redactor that knows YAML lines (a kubeconfig) cannot break the manifest', () => {
  const redact = redactor('apiVersion: v1\nkind: Config\nusers: []');
  const [cm] = parseRedactedManifest(
    '---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n',
    redact,
    KEY,
  );
  expect(cm).toEqual({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a' } });
});

test('every string and key is redacted on its own', () => {
  const redact = redactor('s3cr3t-value-123');
  const [cm] = parseRedactedManifest(
    'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  url: "https://u:s3cr3t-value-123@h"\n  s3cr3t-value-123: x\n',
    redact,
    KEY,
  );
  expect(JSON.stringify(cm)).not.toContain('s3cr3t-value-123');
  expect((cm as { data: Record<string, string> }).data.url).toBe('https://u:***@h');
});

test("a Secret's values become keyed digests: equal values compare equal, none is readable", () => {
  const text = (v: string) =>
    `apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\ndata:\n  a: ${Buffer.from(v).toString('base64')}\nstringData:\n  b: "${v}"\n`;
  const redact = redactor();
  const [one] = parseRedactedManifest(text('first-value'), redact, KEY) as Array<
    Record<string, Record<string, string>>
  >;
  const [same] = parseRedactedManifest(text('first-value'), redact, KEY) as Array<
    Record<string, Record<string, string>>
  >;
  const [other] = parseRedactedManifest(text('other-value'), redact, KEY) as Array<
    Record<string, Record<string, string>>
  >;
  expect(one?.data?.a).toMatch(/^digest:[0-9a-f]{32}$/);
  expect(one).toEqual(same);
  expect(other?.data?.a).not.toBe(one?.data?.a);
  expect(JSON.stringify([one, other])).not.toMatch(/first-value|other-value|Zmlyc3Qt|b3RoZXIt/);
});

test('invalid YAML is an error that quotes nothing of the manifest', () => {
  expect(() => parseRedactedManifest('a: 1\nkey: [s3cr3t-value-123\n', redactor(), KEY)).toThrow(
    /^helm printed a manifest that is not valid YAML/,
  );
  try {
    parseRedactedManifest('a: 1\nkey: [s3cr3t-value-123\n', redactor(), KEY);
  } catch (e) {
    expect(String(e)).not.toContain('s3cr3t');
  }
});

test('a chart that renders a cyclic alias gets a helm_failed error, not a stack overflow', () => {
  expect(() =>
    parseRedactedManifest(
      'apiVersion: v1\nkind: ConfigMap\nmetadata: &m {name: a, again: *m}\n',
      redactor(),
      KEY,
    ),
  ).toThrow(
    expect.objectContaining({ code: 'helm_failed', message: expect.stringContaining('cyclic value') }),
  );
});
