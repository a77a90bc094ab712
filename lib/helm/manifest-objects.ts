import { createHmac } from 'node:crypto';
import { parseAllDocuments } from 'yaml';
import { yamlData } from '../deploy/yaml-data';
import { HelmgateError } from '../errors';

/**
 * A rendered manifest made safe to hold: parsed from helm's raw output FIRST, then every string (keys
 * included) redacted on its own, and every value of a Secret's `data`/`stringData` replaced by a keyed
 * digest. Redacting the text before parsing would break it wherever the redactor knows a line that is
 * also YAML (a kubeconfig's `apiVersion: v1`), and would hide whether a Secret's value changed when the
 * redactor knows both the old and the new value. The digest key lives only as long as the helm runner
 * (one session), so digests compare within one preview and mean nothing outside it.
 */
export function parseRedactedManifest(
  raw: string,
  redact: (text: string) => string,
  digestKey: Buffer,
): unknown[] {
  const out: unknown[] = [];
  for (const doc of parseAllDocuments(raw)) {
    // YAML error messages quote the offending text: say where, never what
    if ('errors' in doc && doc.errors.length > 0) {
      const at = doc.errors[0]?.linePos?.[0];
      throw new HelmgateError(
        'helm_failed',
        `helm printed a manifest that is not valid YAML${at ? ` (line ${at.line})` : ''}`,
      );
    }
    let v: unknown;
    try {
      v = yamlData(doc, { maxAliasCount: 1000 });
    } catch (e) {
      throw new HelmgateError(
        'helm_failed',
        `helm printed a manifest helmgate cannot read: ${(e as Error).message}`,
      );
    }
    if (v === null || v === undefined) continue;
    out.push(redactObject(v, redact, digestKey));
  }
  return out;
}

/**
 * An object read from the cluster, given the same treatment as a parsed manifest (same redactor, same
 * digest key), so the two compare field by field (drift, lib/deploy/drift.ts) and neither shows a secret
 * helmgate knows. A live Secret keeps only digests: of each `data` value as it is (base64, as a manifest's
 * `data` holds it) under `data`, and of its decoded text under `stringData` (what a manifest's
 * `stringData` holds; the API server folds `stringData` into `data`).
 */
export function redactLiveObject(o: unknown, redact: (text: string) => string, digestKey: Buffer): unknown {
  if (!isMap(o) || o.kind !== 'Secret') return redactObject(o, redact, digestKey);
  const digest = (v: string) =>
    `digest:${createHmac('sha256', digestKey).update(v).digest('hex').slice(0, 32)}`;
  const data = isMap(o.data) ? o.data : {};
  const stringData = isMap(o.stringData) ? o.stringData : {};
  const copy: Record<string, unknown> = { ...o, data: {}, stringData: {} };
  const d: Record<string, string> = {};
  const sd: Record<string, string> = {};
  for (const [k, v] of Object.entries(data)) {
    d[redact(k)] = digest(String(v));
    sd[redact(k)] = digest(Buffer.from(String(v), 'base64').toString('utf8'));
  }
  for (const [k, v] of Object.entries(stringData)) {
    sd[redact(k)] = digest(String(v));
    d[redact(k)] ??= digest(Buffer.from(String(v), 'utf8').toString('base64'));
  }
  copy.data = d;
  copy.stringData = sd;
  return walk(copy, redact, new Set(['data', 'stringData']));
}

function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function redactObject(o: unknown, redact: (t: string) => string, key: Buffer): unknown {
  if (isMap(o) && o.kind === 'Secret' && o.apiVersion === 'v1') {
    const copy: Record<string, unknown> = { ...o };
    for (const field of ['data', 'stringData']) {
      const d = o[field];
      if (!isMap(d)) continue;
      copy[field] = Object.fromEntries(
        Object.entries(d).map(([k, v]) => [
          redact(k),
          `digest:${createHmac('sha256', key).update(String(v)).digest('hex').slice(0, 32)}`,
        ]),
      );
    }
    return walk(copy, redact, new Set(['data', 'stringData']));
  }
  if (isMap(o) && typeof o.kind === 'string' && o.kind.endsWith('List') && Array.isArray(o.items))
    return {
      ...(walk({ ...o, items: [] }, redact) as Record<string, unknown>),
      items: o.items.map((i) => redactObject(i, redact, key)),
    };
  return walk(o, redact);
}

/** Redacts every string and key; `skip` names top-level fields already made safe. */
function walk(v: unknown, redact: (t: string) => string, skip?: Set<string>): unknown {
  if (typeof v === 'string') return redact(v);
  if (Array.isArray(v)) return v.map((x) => walk(x, redact));
  if (isMap(v))
    return Object.fromEntries(
      Object.entries(v).map(([k, x]) => [redact(k), skip?.has(k) ? x : walk(x, redact)]),
    );
  return v;
}
