const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Every dynamic string goes through this: text and attribute values alike. */
export function escapeHtml(v: unknown): string {
  return String(v ?? '').replace(/[&<>"']/g, (c) => ESCAPES[c] as string);
}

/** An http(s) URL as given, or undefined: a pushed `javascript:` commit URL never becomes a link. */
export function safeHttpUrl(u: string | undefined): string | undefined {
  if (!u) return undefined;
  try {
    const p = new URL(u);
    return p.protocol === 'https:' || p.protocol === 'http:' ? p.toString() : undefined;
  } catch {
    return undefined;
  }
}

/** `/path?k=v&…` with every value encoded; empty values are left out. */
export function hrefWith(path: string, query: Record<string, string | number | undefined>): string {
  const q = Object.entries(query)
    .filter(([, v]) => v !== undefined && v !== '')
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`)
    .join('&');
  return q ? `${path}?${q}` : path;
}

export function shortSha(sha: string | undefined): string {
  return (sha ?? '').slice(0, 7);
}

export function firstLine(message: string | undefined): string {
  return message?.split(/\r?\n/, 1)[0]?.trim() ?? '';
}

/** `4 min 12 s`, `1 h 3 min`, `850 ms`: durations for people. */
export function humanDuration(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return s % 60 ? `${m} min ${s % 60} s` : `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 48) return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
  const d = Math.floor(h / 24);
  return h % 24 ? `${d} d ${h % 24} h` : `${d} d`;
}

/** `3 min ago`, relative to `now`, for a `<time>` element's text (its datetime attribute holds the ISO). */
export function ago(iso: string | undefined, now: Date): string {
  if (!iso) return '—';
  const ms = now.getTime() - Date.parse(iso);
  if (!Number.isFinite(ms)) return '—';
  if (ms < -45_000) return `in ${humanDuration(Math.round(-ms / 60_000) * 60_000).replace(/ \d+ s$/, '')}`;
  if (ms < 45_000) return 'just now';
  return `${humanDuration(Math.max(60_000, Math.round(ms / 60_000) * 60_000)).replace(/ \d+ s$/, '')} ago`;
}

/** A `<time>` with the ISO timestamp as attribute and title, and relative text. */
export function timeTag(iso: string | undefined, now: Date): string {
  if (!iso) return '<span class="muted">—</span>';
  return `<time datetime="${escapeHtml(iso)}" title="${escapeHtml(iso)}">${escapeHtml(ago(iso, now))}</time>`;
}
