/**
 * Drift (issue 13, item 4), the comparison: what helm deployed (the release's manifest) against what the
 * cluster holds now, field by field over the fields the manifest sets — the fields helm manages. Fields
 * the cluster adds (status, defaults, other managers' fields) are not drift. Secret data is compared by
 * key only (the manifest's values are redacted). Pure.
 */
type Json = Record<string, unknown>;

export interface FieldDrift {
  /** `spec.replicas`, `spec.template.spec.containers[0].image` */
  path: string;
  /** as deployed / as live, JSON, clipped; absent when the field is missing live */
  deployed: string;
  live?: string;
}

export interface ObjectDrift {
  /** `Deployment apps/web` */
  object: string;
  /** the object was deleted by hand */
  missing?: boolean;
  fields: FieldDrift[];
}

const MAX_FIELDS = 20;
const show = (v: unknown) => {
  const s = JSON.stringify(v) ?? 'undefined';
  return s.length > 120 ? `${s.slice(0, 119)}…` : s;
};
const isMap = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);

/** The fields of `deployed` that `live` no longer has as deployed (at most 20, in document order). */
export function fieldDrift(deployed: Json, live: Json, kind?: string): FieldDrift[] {
  const out: FieldDrift[] = [];
  const walk = (d: unknown, l: unknown, path: string) => {
    if (out.length >= MAX_FIELDS) return;
    if (isMap(d)) {
      if (!isMap(l)) {
        out.push({ path, deployed: show(d), ...(l !== undefined ? { live: show(l) } : {}) });
        return;
      }
      for (const [k, v] of Object.entries(d)) walk(v, l[k], path ? `${path}.${k}` : k);
      return;
    }
    if (Array.isArray(d)) {
      if (!Array.isArray(l) || l.length !== d.length) {
        out.push({ path, deployed: show(d), ...(l !== undefined ? { live: show(l) } : {}) });
        return;
      }
      d.forEach((v, i) => {
        walk(v, l[i], `${path}[${i}]`);
      });
      return;
    }
    // the API server turns numbers in quantities/ports to the same JSON; compare by value
    if (d !== l && !(d !== null && l !== null && String(d) === String(l) && typeof l !== 'object'))
      out.push({ path, deployed: show(d), ...(l !== undefined ? { live: show(l) } : {}) });
  };
  for (const [k, v] of Object.entries(deployed)) {
    if (k === 'status') continue;
    if (kind === 'Secret' && (k === 'data' || k === 'stringData')) {
      const liveKeys = new Set(Object.keys(isMap(live.data) ? live.data : {}));
      for (const key of Object.keys(isMap(v) ? v : {}))
        if (!liveKeys.has(key)) out.push({ path: `${k}.${key}`, deployed: '(set)' });
      continue;
    }
    walk(v, live[k], k);
  }
  return out;
}
