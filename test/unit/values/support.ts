import { readFileSync } from 'node:fs';
import path from 'node:path';
import Ajv, { type ErrorObject } from 'ajv';
import { parse } from 'yaml';
import { type DeployConfig, parseDeployConfig } from '../../../lib/deploy/deploy-config';
import { type EnvironmentPlan, type PlannedRelease, planEnvironment } from '../../../lib/deploy/plan';
import { coalesceValues, isPlainObject, type Values } from '../../../lib/deploy/values-merge';
import { directorySourceReader } from '../../../lib/runner/source-reader';

/**
 * Shared by the tests of what this repository deploys (deploy.yaml, values/, charts/): the real
 * files of the checkout, planned by the real planner, checked against the upstream charts' own
 * defaults and schemas (copied into test/fixtures/upstream so a fresh clone needs nothing else).
 */

export const REPO_ROOT = path.resolve(__dirname, '../../..');
export const UPSTREAM = path.join(REPO_ROOT, 'test/fixtures/upstream');
const SHA = '0'.repeat(40);

export function readRepoFile(rel: string): string {
  return readFileSync(path.join(REPO_ROOT, rel), 'utf8');
}

export function readYaml<T = unknown>(absPath: string): T {
  return parse(readFileSync(absPath, 'utf8'), { maxAliasCount: -1 }) as T;
}

export function loadDeployConfig(): DeployConfig {
  return parseDeployConfig(readRepoFile('deploy.yaml'));
}

/** Every environment of deploy.yaml, planned at the checkout as the runner would plan it. */
export async function planAll(config = loadDeployConfig()): Promise<EnvironmentPlan[]> {
  const source = directorySourceReader(REPO_ROOT);
  const plans: EnvironmentPlan[] = [];
  for (const environment of Object.keys(config.environments))
    plans.push(await planEnvironment({ config, environment, sha: SHA, source }));
  return plans;
}

export type ChartName = 'jupyterhub' | 'grafana' | 'prometheus';

export function releasesOfChart(
  plans: readonly EnvironmentPlan[],
  chart: ChartName,
): Array<{ plan: EnvironmentPlan; release: PlannedRelease }> {
  return plans.flatMap((plan) =>
    plan.releases
      .filter((r) => r.chart.kind === 'repo' && r.chart.name === chart)
      .map((release) => ({ plan, release })),
  );
}

// ── upstream charts ──────────────────────────────────────────────────────────────────────────────

export const upstream = {
  jupyterhub: { dir: 'z2jh-4.4.0', version: '4.4.0' },
  grafana: { dir: 'grafana-12.11.1', version: '12.11.1' },
  prometheus: { dir: 'prometheus-29.27.0', version: '29.27.0' },
} as const satisfies Record<ChartName, { dir: string; version: string }>;

export function chartDefaults(chart: ChartName): Values {
  return readYaml<Values>(path.join(UPSTREAM, upstream[chart].dir, 'values.yaml'));
}

export function chartDefaultsText(chart: ChartName): string {
  return readFileSync(path.join(UPSTREAM, upstream[chart].dir, 'values.yaml'), 'utf8');
}

/** What helm computes for a release: its merged values files over the chart's defaults. */
export function computedValues(chart: ChartName, release: PlannedRelease): Values {
  return coalesceValues(chartDefaults(chart), release.mergedValues);
}

export type Validate = (values: unknown) => { ok: boolean; errors: string[] };

function compile(schema: object): Validate {
  // strict: false because the upstream schemas use keywords ajv's strict mode frowns on (e.g. type
  // lists next to additionalProperties); strictness about the *values* comes from the schemas'
  // own additionalProperties: false.
  const ajv = new Ajv({ allErrors: true, strict: false });
  const validate = ajv.compile(schema);
  return (values) => {
    const ok = validate(values) as boolean;
    return { ok, errors: (validate.errors ?? []).map(formatAjvError) };
  };
}

function formatAjvError(e: ErrorObject): string {
  const extra =
    e.keyword === 'additionalProperties'
      ? ` "${(e.params as { additionalProperty: string }).additionalProperty}"`
      : '';
  return `${e.instancePath || '/'} ${e.message ?? e.keyword}${extra}`;
}

/** z2jh 4.4.0's values.schema.yaml: strict, unknown keys are errors (as helm applies it). */
export function jupyterhubSchema(): Validate {
  return compile(readYaml<object>(path.join(UPSTREAM, upstream.jupyterhub.dir, 'values.schema.yaml')));
}

/** prometheus 29.27.0's values.schema.json (not strict about unknown keys). */
export function prometheusSchema(): Validate {
  const schema = readYaml<Record<string, unknown>>(
    path.join(UPSTREAM, upstream.prometheus.dir, 'values.schema.json'),
  );
  // "http://json-schema.org/schema#" (the latest draft, unversioned) is not a meta-schema ajv
  // ships; the schema itself only uses draft-07 keywords.
  delete schema.$schema;
  return compile(schema);
}

// ── keys the chart does not know ─────────────────────────────────────────────────────────────────

export type KeyPath = readonly string[];

export interface KeyAllowlist {
  /** maps the chart takes whole (any key below them); each must exist in the chart's defaults */
  freeForm: ReadonlyArray<{ path: KeyPath; why: string }>;
  /** keys the chart documents only in a comment of its values.yaml (`# key: example`) */
  documentedInComments: ReadonlyArray<{ path: KeyPath; why: string }>;
}

const samePath = (a: KeyPath, b: KeyPath) => a.length === b.length && a.every((s, i) => s === b[i]);

/**
 * Every key path set in `values` that the chart's `defaults` do not have: the typos a chart without a
 * strict schema ignores silently. Lists are leaves (helm replaces them whole; their items are
 * Kubernetes objects, not chart keys). Below a free-form map nothing is checked.
 */
export function unknownKeys(values: Values, defaults: Values, allow: KeyAllowlist): string[] {
  const out: string[] = [];
  const walk = (v: Values, d: unknown, at: string[]) => {
    for (const [key, child] of Object.entries(v)) {
      const p = [...at, key];
      if (allow.freeForm.some((a) => samePath(a.path, p))) continue;
      const known = isPlainObject(d) && Object.hasOwn(d, key);
      if (!known) {
        if (!allow.documentedInComments.some((a) => samePath(a.path, p))) out.push(p.join(' › '));
        continue;
      }
      const def = (d as Values)[key];
      if (isPlainObject(child) && isPlainObject(def)) walk(child, def, p);
    }
  };
  walk(values, defaults, []);
  return out;
}

export function valueAt(values: unknown, p: KeyPath): unknown {
  let cur = values;
  for (const seg of p) {
    if (!isPlainObject(cur) || !Object.hasOwn(cur, seg)) return undefined;
    cur = cur[seg];
  }
  return cur;
}

// ── Kubernetes Secret references ─────────────────────────────────────────────────────────────────

export interface SecretKeyUse {
  /** Kubernetes Secret name */
  name: string;
  key: string;
  /** where in the values, dotted */
  at: string;
}

/** Every `secretKeyRef: { name, key }` anywhere in `values` (env vars of any notation). */
export function secretKeyRefs(values: unknown, at: string[] = []): SecretKeyUse[] {
  if (Array.isArray(values)) return values.flatMap((v, i) => secretKeyRefs(v, [...at, String(i)]));
  if (!isPlainObject(values)) return [];
  const out: SecretKeyUse[] = [];
  for (const [k, v] of Object.entries(values)) {
    if (k === 'secretKeyRef' && isPlainObject(v) && typeof v.name === 'string' && typeof v.key === 'string')
      out.push({ name: v.name, key: v.key, at: [...at, k].join('.') });
    else out.push(...secretKeyRefs(v, [...at, k]));
  }
  return out;
}

// ── literal secrets ──────────────────────────────────────────────────────────────────────────────

/** A key that would hold a secret value. */
const SENSITIVE_KEY = /secret|passw(or)?d|passwd|token|api[-_]?key|private[-_]?key|credential/i;

/**
 * Keys that match SENSITIVE_KEY but hold the *name* of a secret or of a key inside one. Explicit, so a
 * new one is a decision: `apiKey` must never slip through as "ends in Key".
 */
const NAME_KEYS = new Set([
  'existingSecret', // grafana admin: the Kubernetes Secret's name
  'secretName', // Ingress TLS: the Secret holding the certificate
  'passwordKey', // grafana admin: key inside existingSecret
  'userKey',
]);

/** Values that point at a secret elsewhere: Grafana's variable expansion. */
const REFERENCE_VALUE = /^\$__(env|file|vault)\{[^}]+\}$/;
/** An endpoint (`token_url`), not a token: a plain URL without credentials in it. */
const ENDPOINT = /^https?:\/\/[^\s@]+$/;
/** A Secrets Manager id (deploy.yaml `secret:`): lowercase path segments, or an ARN. */
const SECRETS_MANAGER_ID = /^([a-z0-9][a-z0-9._-]*)(\/[a-z0-9][a-z0-9._-]*)+$|^arn:aws:secretsmanager:/;

/** Well-known credential shapes, wherever they appear (also inside multi-line strings and code). */
const CREDENTIAL_PATTERNS: Array<[RegExp, string]> = [
  [/-----BEGIN [A-Z ]*PRIVATE KEY-----/, 'a PEM private key'],
  [/\bgh[pousr]_[A-Za-z0-9]{30,}/, 'a GitHub token'],
  [/\bgithub_pat_[A-Za-z0-9_]{30,}/, 'a GitHub token'],
  [/\bxox[abpr]-[A-Za-z0-9-]{10,}/, 'a Slack token'],
  [/\b(AKIA|ASIA)[0-9A-Z]{16}\b/, 'an AWS access key id'],
  [/\beyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\./, 'a JWT'],
  [/\b[a-z][a-z0-9+.-]*:\/\/[^\s/:@]+:[^\s/@]+@/i, 'a URL with a password in it'],
  // code that assigns a string literal to a secret-looking name: c.X.client_secret = "…"
  [
    /(secret|passw(or)?d|token)\w*["']?\s*[:=]\s*["'][^"'\s$]{6,}["']/i,
    'a string literal assigned to a secret-looking name',
  ],
];

export function shannonEntropy(s: string): number {
  const counts = new Map<string, number>();
  for (const c of s) counts.set(c, (counts.get(c) ?? 0) + 1);
  let h = 0;
  for (const n of counts.values()) {
    const p = n / s.length;
    h -= p * Math.log2(p);
  }
  return h;
}

/**
 * A token-like string: 20+ characters of base64/hex/url-safe alphabet (no dots, colons or spaces, so
 * host names, URLs, image references and prose are not candidates), letters and digits mixed, and
 * random-looking (Shannon entropy ≥ 3.5 bits per character; a 40-hex OAuth secret has ~3.9).
 */
export function looksRandom(s: string): boolean {
  return (
    /^[A-Za-z0-9+/=_-]{20,}$/.test(s) && /[0-9]/.test(s) && /[A-Za-z]/.test(s) && shannonEntropy(s) >= 3.5
  );
}

export interface LiteralSecret {
  at: string;
  why: string;
}

/**
 * Heuristics for a secret written into a file: a secret-looking key with a literal (string or number)
 * value, a well-known credential shape anywhere, or a random-looking token anywhere. A value that only
 * names or points at a secret passes.
 */
export function findLiteralSecrets(doc: unknown, at: string[] = []): LiteralSecret[] {
  const here = at.join('.') || '(root)';
  if (Array.isArray(doc)) return doc.flatMap((v, i) => findLiteralSecrets(v, [...at, String(i)]));
  if (isPlainObject(doc)) {
    const out: LiteralSecret[] = [];
    for (const [k, v] of Object.entries(doc)) {
      const p = [...at, k];
      const literal = (typeof v === 'string' && v.trim() !== '') || typeof v === 'number';
      if (literal && SENSITIVE_KEY.test(k) && !NAME_KEYS.has(k)) {
        const s = String(v);
        const isReference =
          REFERENCE_VALUE.test(s) ||
          (/url$/i.test(k) && ENDPOINT.test(s)) ||
          (k === 'secret' && typeof v === 'string' && SECRETS_MANAGER_ID.test(s));
        if (!isReference) out.push({ at: p.join('.'), why: `"${k}" holds a literal value` });
      }
      out.push(...findLiteralSecrets(v, p));
    }
    return out;
  }
  if (typeof doc === 'string') {
    const out: LiteralSecret[] = [];
    for (const [re, what] of CREDENTIAL_PATTERNS) if (re.test(doc)) out.push({ at: here, why: what });
    if (looksRandom(doc)) out.push({ at: here, why: 'a random-looking token' });
    return out;
  }
  return [];
}
