import { createHash } from 'node:crypto';
import { canonicalJson } from './canonical';

/**
 * Drift (issue 13, item 4), the pure half: what helm deployed (the release's manifest) against what the
 * cluster holds now, field by field over the fields the manifest sets — the fields helm manages. Fields
 * the cluster adds (status, defaults, other managers' fields) are not drift. Then: a digest per release,
 * so each change is reported once, and the bounds that keep a report small.
 *
 * Secrets. The deployed manifest reaches here parsed-then-redacted (lib/helm/manifest-objects.ts: every
 * string through the redactor, a Secret's data values as keyed digests) and the live object is given the
 * SAME treatment before it is compared (`redactLiveObject`, same file), so a secret helmgate knows never
 * shows on either side. On top of that no value is shown where a secret may sit that the redactor never saw (the
 * live side can hold a value typed in by hand):
 * - a Secret's `data`/`stringData`: by key only — `(set)` / `(changed)` / missing, never a value;
 * - any field whose deployed or live text holds the redactor's mask: `(hidden)` on both sides;
 * - any field under a key, or an env entry whose name, looks like a credential (`password`, `token`,
 *   `secret`, `apiKey`, `credential`, `private`, `auth`): `(hidden)` on both sides;
 * - list items present only live (an env entry added by hand) are named, never shown.
 * Pure.
 */
type Json = Record<string, unknown>;

export interface FieldDrift {
  /** `spec.replicas`, `spec.template.spec.containers[web].image` (list items by name where they have one) */
  path: string;
  /** as deployed / as live, JSON, clipped; `live` absent when the field is missing live */
  deployed: string;
  live?: string;
}

export interface ObjectDrift {
  /** `Deployment apps/web` */
  object: string;
  /** the object was deleted by hand */
  missing?: boolean;
  fields: FieldDrift[];
  /** fields left out by the bound */
  omittedFields?: number;
}

/** One release's drift: helm's record against what helmgate recorded, and the live objects. */
export interface ReleaseDrift {
  release: string;
  namespace: string;
  /** helm-level: `helm runs revision 4 (deployed); helmgate deployed revision 3`, or no release at all */
  helm?: string;
  objects: ObjectDrift[];
  /** objects left out by the bound */
  omittedObjects?: number;
}

/** The redactor's mask (lib/log/redact.ts). */
export const MASK = '***';
const HIDDEN = '(hidden)';
const HIDDEN_CHANGED = '(hidden, changed)';
const CREDENTIAL = /(passw|passwd|secret|token|credential|private|api[-_]?key|auth|cookie)/i;

/** How much of one release's drift is kept: objects, fields per object, characters per value. */
export const DRIFT_LIMITS = { objects: 10, fields: 10, value: 120 } as const;
const COLLECT_MAX = 100;

const isMap = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);
const show = (v: unknown) => {
  const s = JSON.stringify(v) ?? 'undefined';
  return s.length > DRIFT_LIMITS.value ? `${s.slice(0, DRIFT_LIMITS.value - 1)}…` : s;
};
const holdsMask = (v: unknown): boolean =>
  typeof v === 'string'
    ? v.includes(MASK)
    : Array.isArray(v)
      ? v.some(holdsMask)
      : isMap(v)
        ? Object.entries(v).some(([k, x]) => k.includes(MASK) || holdsMask(x))
        : false;
const isEmpty = (v: unknown) =>
  v === null || (Array.isArray(v) && v.length === 0) || (isMap(v) && Object.keys(v).length === 0);

/** Items of a list that all have a distinct string `name` (containers, env, ports, volumes): by name. */
function byName(list: readonly unknown[]): Map<string, Json> | undefined {
  const m = new Map<string, Json>();
  for (const x of list) {
    if (!isMap(x) || typeof x.name !== 'string' || m.has(x.name)) return undefined;
    m.set(x.name, x);
  }
  return m;
}

/**
 * The fields of `deployed` that `live` no longer has as deployed (at most 20, in document order). Both
 * sides must have had the same redaction (`redactLiveObject` for the live one).
 */
export function fieldDrift(deployed: Json, live: Json, kind?: string): FieldDrift[] {
  return collectDrift(deployed, live, kind).slice(0, 20);
}

function collectDrift(deployed: Json, live: Json, kind?: string): FieldDrift[] {
  const out: FieldDrift[] = [];
  const push = (path: string, d: unknown, l: unknown, hide: boolean) => {
    const hidden = hide || holdsMask(d) || holdsMask(l);
    out.push({
      path,
      deployed: hidden ? HIDDEN : show(d),
      ...(l !== undefined ? { live: hidden ? HIDDEN_CHANGED : show(l) } : {}),
    });
  };
  const walk = (d: unknown, l: unknown, path: string, hide: boolean): void => {
    if (out.length >= COLLECT_MAX || d === undefined || d === null) return;
    if (isEmpty(d) && (l === undefined || isEmpty(l))) return;
    if (isMap(d)) {
      if (!isMap(l)) {
        push(path, d, l, hide);
        return;
      }
      for (const [k, v] of Object.entries(d))
        walk(v, l[k], path ? `${path}.${k}` : k, hide || CREDENTIAL.test(k));
      return;
    }
    if (Array.isArray(d)) {
      const dn = byName(d);
      const ln = Array.isArray(l) ? byName(l) : undefined;
      if (dn && ln) {
        const env = /(^|\.)env$/.test(path);
        for (const [name, item] of dn) {
          const secretish = hide || (env && CREDENTIAL.test(name));
          const other = ln.get(name);
          if (!other) push(`${path}[${name}]`, item, undefined, secretish);
          else walk(item, other, `${path}[${name}]`, secretish);
        }
        // added by hand: named, never shown (its value may be a secret nobody registered)
        for (const name of ln.keys())
          if (!dn.has(name) && out.length < COLLECT_MAX)
            out.push({ path: `${path}[${name}]`, deployed: '(absent)', live: '(added)' });
        return;
      }
      if (!Array.isArray(l) || l.length !== d.length) {
        push(path, d, l, hide);
        return;
      }
      for (const [i, v] of d.entries()) walk(v, l[i], `${path}[${i}]`, hide);
      return;
    }
    // the API server turns numbers in quantities/ports to the same JSON; compare by value
    if (d === l || (l !== null && l !== undefined && typeof l !== 'object' && String(d) === String(l)))
      return;
    // and writes resource quantities its own way (`cpu: 0.5` → `500m`, `1024Mi` → `1Gi`)
    if (QUANTITY_PATH.test(path) && sameQuantity(d, l)) return;
    push(path, d, l, hide);
  };
  for (const [k, v] of Object.entries(deployed)) {
    if (k === 'status') continue;
    if (kind === 'Secret' && (k === 'data' || k === 'stringData')) {
      // by key only: both sides hold keyed digests of the values, never the values
      const lv = isMap(live[k]) ? (live[k] as Json) : {};
      for (const [key, dv] of Object.entries(isMap(v) ? v : {})) {
        if (out.length >= COLLECT_MAX) break;
        if (!(key in lv)) out.push({ path: `${k}.${key}`, deployed: '(set)' });
        else if (lv[key] !== dv) out.push({ path: `${k}.${key}`, deployed: '(set)', live: '(changed)' });
      }
      continue;
    }
    walk(v, live[k], k, CREDENTIAL.test(k));
  }
  return out;
}

/** Where the API server holds quantities: resource requests and limits, storage sizes, hard quotas. */
const QUANTITY_PATH = /(^|\.)(resources\.(requests|limits)|hard|capacity)\.[^.]+$|(^|\.)(storage|sizeLimit)$/;
const SUFFIX: Record<string, number> = {
  '': 1,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

/** A Kubernetes quantity's value (`500m` → 0.5, `1Gi` → 1073741824, `1e3` → 1000), or undefined. */
export function quantityValue(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined;
  if (typeof v !== 'string') return undefined;
  const m = /^([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei))?$/.exec(
    v.trim(),
  );
  if (!m) return undefined;
  const n = Number(`${m[1]}${m[2] ?? ''}`);
  const scale = SUFFIX[m[3] ?? ''];
  return Number.isFinite(n) && scale !== undefined ? n * scale : undefined;
}

function sameQuantity(a: unknown, b: unknown): boolean {
  const x = quantityValue(a);
  const y = quantityValue(b);
  return (
    x !== undefined && y !== undefined && Math.abs(x - y) <= 1e-9 * Math.max(1, Math.abs(x), Math.abs(y))
  );
}

/** One object's drift, or undefined when it runs as deployed. `live` undefined: deleted. */
export function objectDrift(input: {
  label: string;
  kind: string;
  deployed: Json;
  live: Json | undefined;
}): ObjectDrift | undefined {
  if (!input.live) return { object: input.label, missing: true, fields: [] };
  const fields = collectDrift(input.deployed, input.live, input.kind);
  if (fields.length === 0) return undefined;
  const kept = fields.slice(0, DRIFT_LIMITS.fields);
  return {
    object: input.label,
    fields: kept,
    ...(fields.length > kept.length ? { omittedFields: fields.length - kept.length } : {}),
  };
}

/** A release's drift, bounded; undefined when it runs exactly as deployed. */
export function releaseDriftOf(input: {
  release: string;
  namespace: string;
  helm?: string | undefined;
  objects: readonly ObjectDrift[];
}): ReleaseDrift | undefined {
  if (!input.helm && input.objects.length === 0) return undefined;
  const kept = input.objects.slice(0, DRIFT_LIMITS.objects);
  return {
    release: input.release,
    namespace: input.namespace,
    ...(input.helm ? { helm: input.helm } : {}),
    objects: kept,
    ...(input.objects.length > kept.length ? { omittedObjects: input.objects.length - kept.length } : {}),
  };
}

/** helm-level drift: helm's newest revision and status against the revision helmgate recorded. */
export function helmDrift(
  recordedRevision: number | undefined,
  live: { status: string; revision: number } | undefined,
): string | undefined {
  if (recordedRevision === undefined) return undefined;
  if (!live) return `helm has no release (helmgate deployed revision ${recordedRevision})`;
  if (live.status !== 'deployed' || live.revision !== recordedRevision)
    return `helm runs revision ${live.revision} (${live.status}); helmgate deployed revision ${recordedRevision}`;
  return undefined;
}

/**
 * The digest that decides "the same drift as last time": of the masked, bounded drift only (it holds no
 * secret value, so the digest confirms none).
 */
export function driftDigest(d: ReleaseDrift): string {
  return `sha256:${createHash('sha256').update(canonicalJson(d)).digest('hex')}`;
}

/** What was last reported for one release (stored per environment). */
export interface ReportedDrift {
  digest: string;
  /** when this drift (any digest) was first seen */
  since: string;
  reportedAt: string;
  drift: ReleaseDrift;
}

export type DriftChange =
  | { kind: 'drifted'; release: string; drift: ReleaseDrift; digest: string }
  | { kind: 'changed'; release: string; drift: ReleaseDrift; digest: string }
  | { kind: 'back-in-line'; release: string; was: ReleaseDrift };

/**
 * Report once per change: a release whose drift is new (`drifted`), different (`changed`), or gone
 * (`back-in-line`, once). The same drift as last reported: nothing. Releases not `checked` (their check
 * failed) keep what was reported before and report nothing.
 */
export function driftChanges(
  previous: Readonly<Record<string, ReportedDrift>>,
  current: readonly ReleaseDrift[],
  checked: readonly string[],
): DriftChange[] {
  const out: DriftChange[] = [];
  const now = new Map(current.map((d) => [d.release, d]));
  for (const d of current) {
    const digest = driftDigest(d);
    const before = Object.hasOwn(previous, d.release) ? previous[d.release] : undefined;
    if (!before) out.push({ kind: 'drifted', release: d.release, drift: d, digest });
    else if (before.digest !== digest) out.push({ kind: 'changed', release: d.release, drift: d, digest });
  }
  for (const [release, before] of Object.entries(previous))
    if (checked.includes(release) && !now.has(release))
      out.push({ kind: 'back-in-line', release, was: before.drift });
  return out;
}

/** One line per release for people (Slack, a commit status, logs): what drifted, without values. */
export function driftSummary(d: ReleaseDrift, maxObjects = 3): string {
  const parts: string[] = [];
  if (d.helm) parts.push(d.helm);
  const objects = d.objects.slice(0, maxObjects).map((o) => {
    if (o.missing) return `${o.object} deleted`;
    const fields = o.fields.map((f) => f.path);
    const more = (o.omittedFields ?? 0) + Math.max(0, fields.length - 3);
    return `${o.object}: ${fields.slice(0, 3).join(', ')}${more ? ` (+${more})` : ''}`;
  });
  parts.push(...objects);
  const more = d.objects.length - objects.length + (d.omittedObjects ?? 0);
  if (more > 0) parts.push(`+${more} more object(s)`);
  return `${d.release}: ${parts.join('; ')}`;
}

/** One changed field for people: `spec.replicas: 1 → 3` (values as the drift holds them: masked). */
export function fieldLine(f: FieldDrift): string {
  return `${f.path}: ${f.deployed} → ${f.live ?? '(missing)'}`;
}

/** Item kind: the drift last reported per environment (`repo#env`): the dashboard reads it too. */
export const DRIFT_KIND = 'DRIFT';

/** The stored state of one environment's drift. */
export interface EnvironmentDrift {
  repository: string;
  environment: string;
  sha: string;
  deploymentId: string;
  checkedAt: string;
  /** releases drifted now, with what was last reported for each */
  releases: Record<string, ReportedDrift>;
  /** releases whose check failed this time (why, redacted): what they reported before is kept */
  errors?: Record<string, string>;
  /** the last correction opened (`correct`), and for which drift: one per distinct drift */
  correction?: { deploymentId: string; forDigest: string; at: string };
}

export function driftItemId(d: { repository: string; environment: string }): string {
  return `${d.repository}#${d.environment}`;
}

/** The stored item stays far below DynamoDB's 400 KB whatever the number of releases. */
export const MAX_STORED_CHARS = 128 * 1024;

/**
 * Cuts an environment's stored drift to `maxChars` of JSON: first every object to 2 fields, then every
 * release to 2 objects, then to none — each cut counted in `omittedFields` / `omittedObjects`. The digests
 * stay those of the whole drift, so what is reported once stays once.
 */
export function fitDrift(record: EnvironmentDrift, maxChars = MAX_STORED_CHARS): EnvironmentDrift {
  const size = (r: EnvironmentDrift) => JSON.stringify(r).length;
  if (size(record) <= maxChars) return record;
  const cut = (keepFields: number, keepObjects: number): EnvironmentDrift => ({
    ...record,
    releases: Object.fromEntries(
      Object.entries(record.releases).map(([name, r]) => {
        const objects = r.drift.objects.slice(0, keepObjects).map((o) => ({
          ...o,
          fields: o.fields.slice(0, keepFields),
          ...(o.fields.length > keepFields || o.omittedFields
            ? { omittedFields: (o.omittedFields ?? 0) + Math.max(0, o.fields.length - keepFields) }
            : {}),
        }));
        const dropped = r.drift.objects.length - objects.length;
        return [
          name,
          {
            ...r,
            drift: {
              ...r.drift,
              objects,
              ...(dropped || r.drift.omittedObjects
                ? { omittedObjects: (r.drift.omittedObjects ?? 0) + dropped }
                : {}),
            },
          },
        ];
      }),
    ),
  });
  for (const [fields, objects] of [
    [2, DRIFT_LIMITS.objects],
    [2, 2],
    [0, 0],
  ] as const) {
    const smaller = cut(fields, objects);
    if (size(smaller) <= maxChars) return smaller;
  }
  return { ...cut(0, 0), errors: {} };
}
