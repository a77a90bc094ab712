/**
 * Helm's values semantics, so what helmgate shows and digests is what helm will compute.
 *
 * Two steps, as in helm (pkg/cli/values/options.go `mergeMaps`, pkg/chart/common/util/coalesce.go):
 * 1. `mergeValues` — the user-supplied layers (`-f a.yaml -f b.yaml`, then `--set`): maps merge deeply,
 *    lists and scalars are replaced, the right-most wins. A `null` replaces too and is *kept* as a
 *    tombstone, because it still has work to do in step 2.
 * 2. `coalesceValues` — user values over the chart's defaults: a `null` in the user values deletes that
 *    key from the result (that is how a values file removes a chart default).
 *
 * So `mergeValues(a, b)` followed by `coalesceValues(defaults, merged)` gives helm's computed values.
 */

export type Values = Record<string, unknown>;
export type PathSegment = string | number;

/**
 * Keys that reach an object's prototype chain when assigned (`o.__proto__ = …`, `o.constructor.prototype`).
 * Refused wherever a pusher's text becomes an object key: deploy.yaml keys, values paths, secret paths
 * (issue 12: a secretValues key `__proto__.HELM_KUBEAPISERVER` once wrote onto Object.prototype).
 */
export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

export function isForbiddenKey(key: string): boolean {
  return FORBIDDEN_KEYS.has(key);
}

/** A map with no prototype: no key of it, whatever its name, reaches anything shared. */
export function emptyValues(): Values {
  return Object.create(null) as Values;
}

export function isPlainObject(v: unknown): v is Values {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A deep copy whose maps have no prototype (structuredClone would give them Object.prototype back). */
function clone<T>(v: T): T {
  if (Array.isArray(v)) return v.map((x) => clone(x)) as T;
  if (isPlainObject(v)) {
    const out = emptyValues();
    for (const k of Object.keys(v)) define(out, k, clone(v[k]));
    return out as T;
  }
  return v;
}

/** `o[k] = v` as a data property, even for k = "__proto__" (then it is a key, not the prototype). */
function define(o: Values, k: string, v: unknown): void {
  Object.defineProperty(o, k, { value: v, writable: true, enumerable: true, configurable: true });
}

/** Helm's `-f`/`--set` merge of user-supplied values: deep for maps, replace for everything else. */
export function mergeValues(...layers: ReadonlyArray<Values | null | undefined>): Values {
  let out: Values = emptyValues();
  for (const layer of layers) if (layer) out = mergeTwo(out, layer);
  return out;
}

function mergeTwo(a: Values, b: Values): Values {
  const out = emptyValues();
  for (const k of Object.keys(a)) define(out, k, a[k]);
  for (const [k, v] of Object.entries(b)) {
    const existing = Object.hasOwn(out, k) ? out[k] : undefined;
    define(out, k, isPlainObject(v) && isPlainObject(existing) ? mergeTwo(existing, v) : clone(v));
  }
  return out;
}

/**
 * Helm's coalesce of user values over chart defaults: the user wins, maps merge deeply, and a `null`
 * in the user values deletes the key (with whatever the chart had there).
 */
export function coalesceValues(chartDefaults: Values, userValues: Values): Values {
  const out: Values = clone(chartDefaults);
  for (const [k, v] of Object.entries(userValues)) {
    if (v === null) {
      delete out[k];
      continue;
    }
    const d = Object.hasOwn(out, k) ? out[k] : undefined;
    define(
      out,
      k,
      isPlainObject(v)
        ? isPlainObject(d)
          ? coalesceValues(d, v)
          : coalesceValues(emptyValues(), v)
        : clone(v),
    );
  }
  return out;
}

/** Helm's strvals bounds list indexes in `--set a[i]=…` (MaxIndex); so do we. */
const MAX_INDEX = 65536;

/**
 * Parses a helm `--set`-style key: `a.b.c`, escaped dots `a\.b` (a backslash takes the next character
 * literally, as in helm's strvals), list indexes `a[0].b`. Throws on an empty key or a bad index.
 */
export function parsePath(path: string): PathSegment[] {
  const segs: PathSegment[] = [];
  let key = '';
  let prev: 'start' | 'key' | 'dot' | 'index' = 'start';
  const fail = (why: string): never => {
    throw new Error(`${why} in "${path}"`);
  };
  let i = 0;
  while (i < path.length) {
    const c = path[i] as string;
    if (c === '.' || c === '[') {
      if (prev === 'key') {
        segs.push(key);
        key = '';
      } else if (prev !== 'index') fail(c === '.' ? 'empty key' : 'a list index without a key');
      if (c === '.') {
        prev = 'dot';
        i++;
        continue;
      }
      const end = path.indexOf(']', i);
      const digits = end < 0 ? '' : path.slice(i + 1, end);
      if (!/^\d+$/.test(digits)) fail('bad list index');
      const index = Number(digits);
      if (index > MAX_INDEX) fail(`list index larger than ${MAX_INDEX}`);
      segs.push(index);
      prev = 'index';
      i = end + 1;
      continue;
    }
    if (prev === 'index') fail('expected "." or "[" after "]"');
    if (c === '\\') {
      if (i + 1 >= path.length) fail('a lone backslash at the end');
      key += path[i + 1];
      i += 2;
    } else {
      key += c;
      i++;
    }
    prev = 'key';
  }
  if (prev === 'key') segs.push(key);
  else if (prev !== 'index') fail('empty key');
  for (const seg of segs)
    if (typeof seg === 'string' && isForbiddenKey(seg)) fail(`the key "${seg}" is not allowed`);
  return segs;
}

/**
 * Sets `value` at a helm `--set`-style path in `obj` (mutated and returned), creating maps and lists on
 * the way and overwriting scalars that stand in the way, as `helm --set` does.
 */
export function setPath(obj: Values, path: string | readonly PathSegment[], value: unknown): Values {
  const segs = typeof path === 'string' ? parsePath(path) : path;
  if (segs.length === 0) throw new Error('empty path');
  if (typeof segs[0] !== 'string') throw new Error('a path starts with a key');
  for (const seg of segs)
    if (typeof seg === 'string' && isForbiddenKey(seg)) throw new Error(`the key "${seg}" is not allowed`);
  let cur: Values | unknown[] = obj;
  for (let i = 0; i < segs.length; i++) {
    const seg = segs[i] as PathSegment;
    const last = i === segs.length - 1;
    const next = segs[i + 1];
    const fresh = () => (typeof next === 'number' ? [] : emptyValues());
    if (typeof seg === 'number') {
      const list = cur as unknown[];
      while (list.length <= seg) list.push(null);
      if (last) list[seg] = value;
      else {
        const child = list[seg];
        const ok = typeof next === 'number' ? Array.isArray(child) : isPlainObject(child);
        if (!ok) list[seg] = fresh();
        cur = list[seg] as Values | unknown[];
      }
    } else {
      const map = cur as Values;
      if (last) define(map, seg, value);
      else {
        const child = Object.hasOwn(map, seg) ? map[seg] : undefined;
        const ok = typeof next === 'number' ? Array.isArray(child) : isPlainObject(child);
        if (!ok) map[seg] = fresh();
        cur = map[seg] as Values | unknown[];
      }
    }
  }
  return obj;
}

/** Whether `obj` has something (even null) at `path`. */
export function hasPath(obj: unknown, path: string | readonly PathSegment[]): boolean {
  const segs = typeof path === 'string' ? parsePath(path) : path;
  let cur: unknown = obj;
  for (const seg of segs) {
    if (typeof seg === 'number') {
      if (!Array.isArray(cur) || seg >= cur.length) return false;
      cur = cur[seg];
    } else {
      if (!isPlainObject(cur) || !Object.hasOwn(cur, seg)) return false;
      cur = cur[seg];
    }
  }
  return true;
}
