import { createTwoFilesPatch } from 'diff';
import { parseAllDocuments, stringify } from 'yaml';
import { yamlData } from './yaml-data';

/**
 * The rendered change an approver sees (issue 13, item 1): what a release runs now (`helm get manifest`)
 * against what the proposed plan renders (`helm template`), as a per-object diff. Pure: the runner
 * renders, this compares.
 *
 * - Objects are keyed by apiVersion, kind, namespace and name; added, removed and changed ones are listed
 *   in helm's install order of kinds (Namespace … Secret, ConfigMap … Service, Deployment …), then by name.
 * - A Secret's `data` and `stringData` are never shown: only which keys were added, removed or changed.
 * - Any other value that held a secret on the proposed side (the rendered text is redacted before it
 *   reaches here, so it contains the mask) is hidden on BOTH sides: the live side may hold the previous
 *   secret value, which the redactor does not know.
 * - The whole is bounded: each object's diff is cut at `maxObjectChars`, and once `maxTotalChars` is
 *   spent, further objects are listed without their diff and counted in `omitted`.
 */

export interface ObjectRef {
  apiVersion: string;
  kind: string;
  /** as rendered; absent for cluster-scoped objects and for templates that leave it to `--namespace` */
  namespace?: string;
  name: string;
}

export interface SecretKeyChanges {
  added: string[];
  removed: string[];
  changed: string[];
}

export interface ObjectChange {
  ref: ObjectRef;
  change: 'added' | 'removed' | 'changed';
  /** unified diff of the object's YAML (keys sorted); absent when left out for size */
  diff?: string;
  /** for Secrets: which keys of `data`/`stringData` changed (their values are never shown) */
  secretKeys?: SecretKeyChanges;
  /** the diff was cut at the per-object limit */
  truncated?: boolean;
}

export interface ReleaseManifestDiff {
  release: string;
  namespace: string;
  /** the release is not installed yet: everything is added */
  firstInstall?: boolean;
  objects: ObjectChange[];
  /** objects rendered identically on both sides */
  unchanged: number;
  /** objects listed without their diff because the size budget was spent */
  omitted: number;
  /** the release could not be rendered (the approval is still offered, without this release's diff) */
  error?: string;
}

/** Stored with the approval request, bound to the plan digest it was rendered for. */
export interface ManifestDiff {
  planDigest: string;
  renderedAt: string;
  releases: ReleaseManifestDiff[];
  /** why there is no rendered diff at all (render-only local stack, cluster unreachable) */
  unavailable?: string;
}

export interface DiffLimits {
  maxObjectChars: number;
  maxTotalChars: number;
}

/** Keeps the approval item far below DynamoDB's 400 KB, next to the values diffs (48 KB). */
export const DEFAULT_DIFF_LIMITS: DiffLimits = { maxObjectChars: 8 * 1024, maxTotalChars: 96 * 1024 };

/** The redactor's mask (lib/log/redact.ts): text that held a secret value. */
export const REDACTED = '***';
const HIDDEN = '(hidden)';
const HIDDEN_CHANGED = '(hidden secret value, changed)';
const HIDDEN_SECRET_CHANGED = '(hidden, changed)';

/** helm's install order of kinds (helm.sh/helm/v4 pkg/release/v1/util/kind_sorter.go) */
const KIND_ORDER = [
  'PriorityClass',
  'Namespace',
  'NetworkPolicy',
  'ResourceQuota',
  'LimitRange',
  'PodSecurityPolicy',
  'PodDisruptionBudget',
  'ServiceAccount',
  'Secret',
  'SecretList',
  'ConfigMap',
  'StorageClass',
  'PersistentVolume',
  'PersistentVolumeClaim',
  'CustomResourceDefinition',
  'ClusterRole',
  'ClusterRoleList',
  'ClusterRoleBinding',
  'ClusterRoleBindingList',
  'Role',
  'RoleList',
  'RoleBinding',
  'RoleBindingList',
  'Service',
  'DaemonSet',
  'Pod',
  'ReplicationController',
  'ReplicaSet',
  'Deployment',
  'HorizontalPodAutoscaler',
  'StatefulSet',
  'Job',
  'CronJob',
  'IngressClass',
  'Ingress',
  'APIService',
  'MutatingWebhookConfiguration',
  'ValidatingWebhookConfiguration',
];

type Json = Record<string, unknown>;

function isMap(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function refOf(o: Json): ObjectRef | undefined {
  const meta = isMap(o.metadata) ? o.metadata : {};
  if (typeof o.kind !== 'string' || typeof meta.name !== 'string') return undefined;
  return {
    apiVersion: typeof o.apiVersion === 'string' ? o.apiVersion : '',
    kind: o.kind,
    ...(typeof meta.namespace === 'string' && meta.namespace ? { namespace: meta.namespace } : {}),
    name: meta.name,
  };
}

function keyOf(r: ObjectRef): string {
  return `${r.apiVersion}\0${r.kind}\0${r.namespace ?? ''}\0${r.name}`;
}

/** `Kind namespace/name` for people */
export function objectLabel(r: ObjectRef): string {
  return `${r.kind} ${r.namespace ? `${r.namespace}/` : ''}${r.name}`;
}

/**
 * The objects of a rendered manifest (a multi-document YAML stream), by key. Empty documents are
 * skipped; `List` kinds are flattened (helm allows them); a document that is not an object with a kind
 * and a name is an error.
 */
export function parseManifest(text: string): Map<string, { ref: ObjectRef; obj: Json }> {
  const docs: unknown[] = [];
  for (const doc of parseAllDocuments(text)) {
    if ('errors' in doc && doc.errors.length > 0)
      throw new Error(`the manifest is not valid YAML: ${doc.errors[0]?.message.split('\n')[0]}`);
    docs.push(yamlData(doc, { maxAliasCount: 1000 }));
  }
  return indexObjects(docs);
}

/** Already parsed documents (helm's parse-then-redact output), by key; as parseManifest. */
export function indexObjects(docs: readonly unknown[]): Map<string, { ref: ObjectRef; obj: Json }> {
  const out = new Map<string, { ref: ObjectRef; obj: Json }>();
  const add = (o: unknown) => {
    if (o === null || o === undefined) return;
    if (!isMap(o)) throw new Error('a manifest document is not an object');
    if (typeof o.kind === 'string' && o.kind.endsWith('List') && Array.isArray(o.items)) {
      for (const item of o.items) add(item);
      return;
    }
    const ref = refOf(o);
    if (!ref) throw new Error('a manifest object has no kind or name');
    out.set(keyOf(ref), { ref, obj: o });
  };
  for (const doc of docs) add(doc);
  return out;
}

function kindRank(kind: string): number {
  const i = KIND_ORDER.indexOf(kind);
  return i === -1 ? KIND_ORDER.length : i;
}

function compareRefs(a: ObjectRef, b: ObjectRef): number {
  return (
    kindRank(a.kind) - kindRank(b.kind) ||
    a.kind.localeCompare(b.kind) ||
    (a.namespace ?? '').localeCompare(b.namespace ?? '') ||
    a.name.localeCompare(b.name)
  );
}

function isSecret(r: ObjectRef): boolean {
  return r.kind === 'Secret' && r.apiVersion === 'v1';
}

/** Which keys of a Secret changed, comparing data and stringData values; then both sides' values hidden. */
function maskSecrets(live: Json | undefined, proposed: Json | undefined): SecretKeyChanges {
  const values = (o: Json | undefined) => {
    const m = new Map<string, string>();
    for (const field of ['data', 'stringData'] as const) {
      const d = o?.[field];
      if (isMap(d)) for (const [k, v] of Object.entries(d)) m.set(`${field}.${k}`, String(v));
    }
    return m;
  };
  const before = values(live);
  const after = values(proposed);
  const name = (k: string) => k.replace(/^(data|stringData)\./, '');
  const changes: SecretKeyChanges = { added: [], removed: [], changed: [] };
  for (const [k, v] of after) {
    if (!before.has(k)) changes.added.push(name(k));
    else if (before.get(k) !== v) changes.changed.push(name(k));
  }
  for (const k of before.keys()) if (!after.has(k)) changes.removed.push(name(k));
  // the values go; a changed one reads differently on the proposed side, so the diff shows the key
  for (const [o, side] of [
    [live, 'live'],
    [proposed, 'proposed'],
  ] as const)
    for (const field of ['data', 'stringData'] as const) {
      const d = o?.[field];
      if (!isMap(d)) continue;
      for (const k of Object.keys(d)) {
        const moved =
          side === 'proposed' && before.has(`${field}.${k}`) && before.get(`${field}.${k}`) !== String(d[k]);
        d[k] = moved ? HIDDEN_SECRET_CHANGED : HIDDEN;
      }
    }
  for (const list of Object.values(changes)) list.sort();
  return changes;
}

/**
 * Hides, on both sides, every string leaf that holds a secret on the proposed side (it contains the
 * redactor's mask), at the same path; and every live leaf that holds the mask. The live side may hold
 * the secret's previous value, which the redactor never saw: it must not be shown.
 */
function maskRedactedLeaves(live: unknown, proposed: unknown): { live: unknown; proposed: unknown } {
  if (typeof proposed === 'string' && proposed.includes(REDACTED)) {
    const same = typeof live === 'string' && live === proposed;
    return { live: live === undefined ? undefined : HIDDEN, proposed: same ? HIDDEN : HIDDEN_CHANGED };
  }
  if (typeof live === 'string' && live.includes(REDACTED))
    return { live: HIDDEN, proposed: typeof proposed === 'string' ? HIDDEN_CHANGED : proposed };
  if (Array.isArray(proposed) && Array.isArray(live)) {
    const n = Math.max(proposed.length, live.length);
    const l: unknown[] = [];
    const p: unknown[] = [];
    for (let i = 0; i < n; i++) {
      const m = maskRedactedLeaves(live[i], proposed[i]);
      if (i < live.length) l.push(m.live);
      if (i < proposed.length) p.push(m.proposed);
    }
    return { live: l, proposed: p };
  }
  if (isMap(proposed) && isMap(live)) {
    const l: Json = {};
    const p: Json = {};
    for (const k of new Set([...Object.keys(live), ...Object.keys(proposed)])) {
      const m = maskRedactedLeaves(live[k], proposed[k]);
      if (k in live) l[k] = m.live;
      if (k in proposed) p[k] = m.proposed;
    }
    return { live: l, proposed: p };
  }
  // one side only (added/removed subtree) or different shapes: mask each side on its own
  return { live: maskOwn(live), proposed: maskOwn(proposed) };
}

/** A leaf's place: its keys, with list items named by their `name` field (env entries, containers). */
function placeStep(parent: string, item: unknown, key: string | number): string {
  if (typeof key === 'string') return `${parent}.${key}`;
  const name = isMap(item) && typeof item.name === 'string' ? item.name : '';
  return `${parent}[${name}]`;
}

function secretPlacesOf(v: unknown, place: string, out: Set<string>): void {
  if (typeof v === 'string') {
    if (v.includes(REDACTED)) out.add(place);
  } else if (Array.isArray(v))
    for (const [i, x] of v.entries()) secretPlacesOf(x, placeStep(place, x, i), out);
  else if (isMap(v)) for (const [k, x] of Object.entries(v)) secretPlacesOf(x, placeStep(place, x, k), out);
}

function hideAtPlaces<T>(v: T, place: string, places: ReadonlySet<string>): T {
  if (places.size === 0) return v;
  // a masked leaf is left to maskRedactedLeaves, which knows whether it changed
  if (typeof v === 'string') return (places.has(place) && !v.includes(REDACTED) ? HIDDEN : v) as T;
  if (Array.isArray(v)) return v.map((x, i) => hideAtPlaces(x, placeStep(place, x, i), places)) as T;
  if (isMap(v))
    return Object.fromEntries(
      Object.entries(v).map(([k, x]) => [k, hideAtPlaces(x, placeStep(place, x, k), places)]),
    ) as T;
  return v;
}

function maskOwn(v: unknown): unknown {
  if (typeof v === 'string') return v.includes(REDACTED) ? HIDDEN : v;
  if (Array.isArray(v)) return v.map(maskOwn);
  if (isMap(v)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, maskOwn(x)]));
  return v;
}

function dump(o: unknown): string {
  return o === undefined ? '' : stringify(o, { sortMapEntries: true, lineWidth: 0 });
}

function unified(ref: ObjectRef, live: unknown, proposed: unknown): string {
  const label = `${ref.kind}/${ref.namespace ? `${ref.namespace}/` : ''}${ref.name}`;
  const patch = createTwoFilesPatch(
    live === undefined ? '/dev/null' : `live/${label}`,
    proposed === undefined ? '/dev/null' : `proposed/${label}`,
    dump(live),
    dump(proposed),
    '',
    '',
    { context: 3 },
  );
  // drop the "===…" header line createTwoFilesPatch starts with
  return patch.replace(/^=+\n/, '');
}

function cut(text: string, max: number): { text: string; truncated: boolean } {
  if (text.length <= max) return { text, truncated: false };
  const head = text.slice(0, max);
  const kept = head.slice(0, head.lastIndexOf('\n') + 1) || head;
  const left = text.slice(kept.length).split('\n').filter(Boolean).length;
  return { text: `${kept}… ${left} more line${left === 1 ? '' : 's'} not shown\n`, truncated: true };
}

/**
 * One release's rendered change. `live` is undefined when the release is not installed. Throws when
 * either manifest cannot be parsed (the caller records that as the release's `error`).
 */
export function diffReleaseManifests(input: {
  release: string;
  namespace: string;
  /** text (tests) or parsed documents (helm's parse-then-redact output); undefined: not installed */
  live: string | readonly unknown[] | undefined;
  proposed: string | readonly unknown[];
  maxObjectChars?: number;
}): ReleaseManifestDiff {
  const max = input.maxObjectChars ?? DEFAULT_DIFF_LIMITS.maxObjectChars;
  const index = (m: string | readonly unknown[]) =>
    typeof m === 'string' ? parseManifest(m) : indexObjects(m);
  const before =
    input.live === undefined ? new Map<string, { ref: ObjectRef; obj: Json }>() : index(input.live);
  const after = index(input.proposed);
  const keys = new Set([...before.keys(), ...after.keys()]);
  // where a secret sits on the proposed side (by kind and a path that names list items by their
  // `name`), the live side may hold its previous value, which the redactor never saw: hidden on the
  // live side wherever that place appears, even when list items moved or the object was renamed
  const secretPlaces = new Set<string>();
  for (const { ref, obj } of after.values()) secretPlacesOf(obj, ref.kind, secretPlaces);
  const objects: ObjectChange[] = [];
  let unchanged = 0;
  for (const key of keys) {
    const b = before.get(key);
    const a = after.get(key);
    const ref = (a ?? b)?.ref as ObjectRef;
    const liveObj = b ? hideAtPlaces(structuredClone(b.obj), ref.kind, secretPlaces) : undefined;
    const proposedObj = a ? structuredClone(a.obj) : undefined;
    const secretKeys = isSecret(ref) ? maskSecrets(liveObj, proposedObj) : undefined;
    const masked = maskRedactedLeaves(liveObj, proposedObj);
    const same = dump(masked.live) === dump(masked.proposed);
    const keysMoved =
      secretKeys && secretKeys.added.length + secretKeys.removed.length + secretKeys.changed.length > 0;
    if (b && a && same && !keysMoved) {
      unchanged++;
      continue;
    }
    const change: ObjectChange['change'] = !b ? 'added' : !a ? 'removed' : 'changed';
    const d = cut(unified(ref, masked.live, masked.proposed), max);
    objects.push({
      ref,
      change,
      diff: d.text,
      ...(d.truncated ? { truncated: true } : {}),
      ...(secretKeys ? { secretKeys } : {}),
    });
  }
  objects.sort((x, y) => compareRefs(x.ref, y.ref));
  return {
    release: input.release,
    namespace: input.namespace,
    ...(input.live === undefined ? { firstInstall: true } : {}),
    objects,
    unchanged,
    omitted: 0,
  };
}

/**
 * Bounds the whole: object diffs are kept in release order, then helm's kind order, until
 * `maxTotalChars` is spent; the rest are listed without their diff and counted per release.
 */
export function boundManifestDiff(
  releases: readonly ReleaseManifestDiff[],
  maxTotalChars = DEFAULT_DIFF_LIMITS.maxTotalChars,
): ReleaseManifestDiff[] {
  let left = maxTotalChars;
  return releases.map((r) => {
    let omitted = r.omitted;
    const objects = r.objects.map((o) => {
      if (o.diff === undefined) return o;
      if (o.diff.length <= left) {
        left -= o.diff.length;
        return o;
      }
      omitted++;
      const { diff: _dropped, ...rest } = o;
      return rest;
    });
    return { ...r, objects, omitted };
  });
}

function count(n: number, what: string): string {
  return `${n} ${what}`;
}

/** One line per release that changes: counts and the objects' names, for Slack and `helmgate plan`. */
export function manifestSummaryLines(diff: ManifestDiff | undefined, maxNames = 6): string[] {
  if (!diff) return [];
  if (diff.unavailable) return [`rendered manifests: not available (${diff.unavailable})`];
  const lines: string[] = [];
  for (const r of diff.releases) {
    if (r.error) {
      lines.push(`${r.release}: rendered diff not available (${r.error})`);
      continue;
    }
    if (r.objects.length === 0) continue;
    const by = (c: ObjectChange['change']) => r.objects.filter((o) => o.change === c);
    const parts: string[] = [];
    for (const [c, word] of [
      ['changed', 'changed'],
      ['added', 'added'],
      ['removed', 'removed'],
    ] as const) {
      const os = by(c);
      if (os.length === 0) continue;
      const names = os.slice(0, maxNames).map((o) => `${o.ref.kind}/${o.ref.name}`);
      const more = os.length > maxNames ? `, +${os.length - maxNames} more` : '';
      parts.push(`${count(os.length, word)} (${names.join(', ')}${more})`);
    }
    lines.push(`${r.release}: objects ${parts.join('; ')}`);
  }
  if (lines.length === 0) lines.push('rendered manifests: no object changes');
  return lines;
}
