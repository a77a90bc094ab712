import { coalesceValues, hasPath, mergeValues, parsePath, setPath } from '../../../lib/deploy/values-merge';

describe('mergeValues (helm -f a.yaml -f b.yaml)', () => {
  test('maps merge deeply and the right-most layer wins for the same key', () => {
    const a = { hub: { image: { name: 'hub', tag: '1' }, replicas: 1 }, keep: 'a' };
    const b = { hub: { image: { tag: '2' } } };
    const c = { hub: { replicas: 3 } };
    expect(mergeValues(a, b, c)).toEqual({
      hub: { image: { name: 'hub', tag: '2' }, replicas: 3 },
      keep: 'a',
    });
  });

  test('lists are replaced, never concatenated or merged by index', () => {
    expect(mergeValues({ l: [1, 2, 3], m: [{ a: 1 }] }, { l: [9], m: [{ b: 2 }] })).toEqual({
      l: [9],
      m: [{ b: 2 }],
    });
  });

  test('a scalar replaces a map and a map replaces a scalar', () => {
    expect(mergeValues({ a: { x: 1 }, b: 'text' }, { a: 'flat', b: { y: 2 } })).toEqual({
      a: 'flat',
      b: { y: 2 },
    });
  });

  test('null in a later layer replaces the earlier value and stays as a tombstone for the chart defaults', () => {
    const merged = mergeValues({ a: { x: 1 }, b: 2 }, { a: null });
    expect(merged).toEqual({ a: null, b: 2 });
  });

  test('does not mutate or alias its inputs', () => {
    const a = { m: { l: [1] } };
    const b = { m: { n: { deep: true } } };
    const out = mergeValues(a, b);
    (out.m as { n: { deep: boolean } }).n.deep = false;
    ((out.m as { l: number[] }).l as number[]).push(2);
    expect(a).toEqual({ m: { l: [1] } });
    expect(b).toEqual({ m: { n: { deep: true } } });
  });

  test('empty and null layers (empty values files) change nothing', () => {
    expect(mergeValues({ a: 1 }, null, undefined, {})).toEqual({ a: 1 });
  });
});

describe('coalesceValues (user values over chart defaults)', () => {
  test('null deletes the key, including the chart default under it', () => {
    const defaults = {
      ingress: { enabled: true, hosts: ['a'] },
      proxy: { https: { enabled: true, letsencrypt: {} } },
    };
    const user = mergeValues(
      { proxy: { https: { letsencrypt: { email: 'x@y' } } } },
      { ingress: null, proxy: { https: { letsencrypt: null } } },
    );
    expect(coalesceValues(defaults, user)).toEqual({ proxy: { https: { enabled: true } } });
  });

  test('helm order: files are merged first, then coalesced, so a later map restores a key an earlier null removed', () => {
    const defaults = { foo: { x: 1 } };
    const user = mergeValues({ foo: null }, { foo: { y: 2 } });
    expect(coalesceValues(defaults, user)).toEqual({ foo: { x: 1, y: 2 } });
  });

  test('user lists replace default lists and user maps merge into defaults', () => {
    expect(coalesceValues({ l: [1, 2], m: { a: 1, b: 1 } }, { l: [3], m: { b: 2 } })).toEqual({
      l: [3],
      m: { a: 1, b: 2 },
    });
  });
});

describe('setPath (helm --set-style paths for secretValues)', () => {
  test('creates nested maps along a dotted path and keeps siblings', () => {
    const obj = { hub: { config: { other: 1 } } };
    setPath(obj, 'hub.config.GitHubOAuthenticator.client_secret', 's');
    expect(obj).toEqual({ hub: { config: { other: 1, GitHubOAuthenticator: { client_secret: 's' } } } });
  });

  test('an escaped dot is part of the key, as in helm --set', () => {
    const obj = {};
    setPath(obj, 'controller.podAnnotations.prometheus\\.io/scrape', 'true');
    expect(obj).toEqual({ controller: { podAnnotations: { 'prometheus.io/scrape': 'true' } } });
  });

  test('a list index creates a list padded with nulls', () => {
    const obj = {};
    setPath(obj, 'hub.extraEnv[1].value', 'v');
    expect(obj).toEqual({ hub: { extraEnv: [null, { value: 'v' }] } });
  });

  test('a scalar in the way is replaced by a map', () => {
    const obj: Record<string, unknown> = { a: 'scalar' };
    setPath(obj, 'a.b', 1);
    expect(obj).toEqual({ a: { b: 1 } });
  });

  test('parsePath splits keys, escaped dots and indexes', () => {
    expect(parsePath('a.b\\.c[2].d')).toEqual(['a', 'b.c', 2, 'd']);
    expect(parsePath('a\\\\b')).toEqual(['a\\b']);
  });

  test.each(['', 'a..b', '.a', 'a.', '[0]', 'a[x]', 'a[0]b', 'a\\', 'a[99999999]'])(
    'parsePath refuses %j',
    (p) => {
      expect(() => parsePath(p)).toThrow();
    },
  );

  test('hasPath sees keys with escaped dots and list items', () => {
    const obj = setPath({}, 'a\\.b.c[0]', null);
    expect(hasPath(obj, 'a\\.b.c[0]')).toBe(true);
    expect(hasPath(obj, 'a.b')).toBe(false);
  });
});
