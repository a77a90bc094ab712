import { parseDocument } from 'yaml';
import { parseManifest } from '../../../lib/deploy/manifest-diff';
import { YamlCycleError, yamlData } from '../../../lib/deploy/yaml-data';
import { parsePolicy } from '../../../lib/policy/policy';

const data = (text: string) => yamlData(parseDocument(text), { maxAliasCount: 100 });

describe('yamlData', () => {
  test.each([
    ['a map inside itself', 'a: &x {b: *x}'],
    ['a list inside itself', 'a: &x [1, *x]'],
    ['deeper', 'a: &x {b: {c: [{d: *x}]}}'],
    ['a top-level sequence', '- &x\n  - *x'],
  ])('refuses an alias inside the node its anchor names: %s', (_, text) => {
    expect(() => data(text)).toThrow(YamlCycleError);
  });

  test('aliases of other nodes, repeated, are plain copies', () => {
    expect(data('a: &x {b: 1}\nc: *x\nd: [*x, *x]')).toEqual({
      a: { b: 1 },
      c: { b: 1 },
      d: [{ b: 1 }, { b: 1 }],
    });
  });

  test('the alias count limit still applies (billion laughs)', () => {
    const laughs = ['a: &a [x, x]', 'b: &b [*a, *a, *a]', 'c: &c [*b, *b, *b]', 'd: [*c, *c, *c, *c]'];
    expect(() => yamlData(parseDocument(laughs.join('\n')), { maxAliasCount: 5 })).toThrow(/alias/i);
  });

  test('a rendered manifest with a cyclic alias is an error, not a cyclic object', () => {
    expect(() => parseManifest('apiVersion: v1\nkind: ConfigMap\nmetadata: &m {name: a, x: *m}\n')).toThrow(
      /cyclic/,
    );
  });

  test('a policy with a cyclic alias is a policy error', () => {
    expect(() => parsePolicy('apiVersion: &v {a: *v}\n', 'helmgate-policy.yaml')).toThrow(
      'helmgate-policy.yaml: the alias *v is used inside the node its anchor names, which makes a cyclic value',
    );
  });
});

describe('yamlData costs the size of the document (found in review: the first version was quadratic)', () => {
  test('more alias nodes than the limit are refused before any is expanded', () => {
    const text = `a: &a x\nb: [${Array(200_000).fill('*a').join(', ')}]\n`;
    expect(() => yamlData(parseDocument(text), { maxAliasCount: 1000 })).toThrow(
      'more than 1000 aliases: refused before expanding them',
    );
  });

  test('a redefined anchor: an alias names the latest definition before it, as the yaml library resolves it', () => {
    expect(data('a: &x {b: 1}\nc: &x {d: 1}\ne: *x')).toEqual({ a: { b: 1 }, c: { d: 1 }, e: { d: 1 } });
    expect(() => data('a: &x {b: 1}\nc: &x {d: *x}')).toThrow(YamlCycleError);
  });
});
