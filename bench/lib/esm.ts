import { readFileSync } from 'node:fs';
import Module from 'node:module';
import path from 'node:path';

/**
 * Octokit's packages (and a few others) are ESM-only and export nothing under the `require`
 * condition, so code run by `tsx` as CommonJS cannot `require()` them, although Node ≥ 20.19 can load
 * ESM that way. Jest solves it with test/helpers/jest-resolver.js; this does the same for the bench
 * scripts: when Node refuses a bare package for want of a `require` export, resolve that package's
 * `exports` with the `import` condition instead. Only that failure is retried, so dual packages
 * (big.js, which dynalite needs as CommonJS) keep their CommonJS build — unlike a global
 * `--conditions=import`.
 *
 * Import this module first (for its effect) in an entry script.
 */

type Exports = string | null | Exports[] | { [key: string]: Exports };

const CONDITIONS = new Set(['node', 'import', 'default']);

function resolveTarget(target: Exports): string | undefined {
  if (typeof target === 'string') return target;
  if (target === null) return undefined;
  if (Array.isArray(target)) {
    for (const t of target) {
      const r = resolveTarget(t);
      if (r) return r;
    }
    return undefined;
  }
  for (const [k, v] of Object.entries(target)) {
    if (!CONDITIONS.has(k)) continue;
    const r = resolveTarget(v);
    if (r) return r;
  }
  return undefined;
}

function subpathTarget(exports: Exports, subpath: string): string | undefined {
  if (typeof exports === 'string' || Array.isArray(exports) || exports === null)
    return subpath === '.' ? resolveTarget(exports) : undefined;
  const keys = Object.keys(exports);
  if (!keys.some((k) => k.startsWith('.'))) return subpath === '.' ? resolveTarget(exports) : undefined;
  const exact = exports[subpath];
  if (exact !== undefined) return resolveTarget(exact);
  for (const k of keys) {
    const star = k.indexOf('*');
    if (star < 0) continue;
    const [pre, post] = [k.slice(0, star), k.slice(star + 1)];
    if (subpath.startsWith(pre) && subpath.endsWith(post) && subpath.length >= pre.length + post.length) {
      const t = resolveTarget(exports[k] as Exports);
      if (t) return t.replace('*', subpath.slice(pre.length, subpath.length - post.length));
    }
  }
  return undefined;
}

function packageName(request: string): string {
  const parts = request.split('/');
  return request.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] as string);
}

interface ModuleInternals {
  _resolveFilename(request: string, parent: unknown, isMain: boolean, options?: unknown): string;
}

const internals = Module as unknown as ModuleInternals;
const original = internals._resolveFilename;
const marker = Symbol.for('helmgate.bench.esm-resolver');
const g = globalThis as Record<symbol, unknown>;

if (!g[marker]) {
  g[marker] = true;
  internals._resolveFilename = function (request, parent, isMain, options) {
    try {
      return original.call(this, request, parent, isMain, options);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      if (err.code !== 'ERR_PACKAGE_PATH_NOT_EXPORTED' || request.startsWith('.') || path.isAbsolute(request))
        throw e;
      // Node names the package.json it read: "... defined in /…/node_modules/<pkg>/package.json"
      const m = / in (\S+package\.json)/.exec(err.message);
      if (!m?.[1]) throw e;
      const pkgJson = m[1];
      const name = packageName(request);
      const subpath = request === name ? '.' : `.${request.slice(name.length)}`;
      const exports = (JSON.parse(readFileSync(pkgJson, 'utf8')) as { exports?: Exports }).exports;
      const target = exports === undefined ? undefined : subpathTarget(exports, subpath);
      if (!target) throw e;
      return path.join(path.dirname(pkgJson), target);
    }
  };
}
