import { cpus, platform, release, totalmem } from 'node:os';

/**
 * One figure of the bench suite. `baseline` is what the figure is compared against, measured in the
 * same run (or a fixed target, said so in `note`); `ratio` = value / baseline where that means
 * something.
 */
export interface BenchRow {
  bench: string;
  metric: string;
  value: number | string;
  unit?: string;
  baseline?: number | string;
  ratio?: number;
  note?: string;
}

/** Builds a row, leaving out absent optional fields (exactOptionalPropertyTypes). */
export function row(
  bench: string,
  metric: string,
  value: number | string,
  extra: {
    unit?: string | undefined;
    baseline?: number | string | undefined;
    ratio?: number | undefined;
    note?: string | undefined;
  } = {},
): BenchRow {
  const r: BenchRow = { bench, metric, value };
  if (extra.unit !== undefined) r.unit = extra.unit;
  if (extra.baseline !== undefined) r.baseline = extra.baseline;
  if (extra.ratio !== undefined && Number.isFinite(extra.ratio)) r.ratio = extra.ratio;
  if (extra.note !== undefined) r.note = extra.note;
  return r;
}

function formatNumber(n: number): string {
  if (!Number.isFinite(n)) return 'n/a';
  if (Number.isInteger(n)) return String(n);
  const abs = Math.abs(n);
  return n.toFixed(abs >= 100 ? 0 : abs >= 10 ? 1 : abs >= 1 ? 2 : 3);
}

function cell(v: number | string | undefined, unit?: string): string {
  if (v === undefined) return '';
  const s = typeof v === 'number' ? formatNumber(v) : v;
  return unit ? `${s} ${unit}` : s;
}

/** A Markdown table (pipes), so the output pastes into an issue or a PR as it is. */
export function renderTable(headers: string[], rows: string[][]): string {
  const clean = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');
  const all = [headers, ...rows].map((r) => r.map(clean));
  const width = headers.map((_, i) => Math.max(3, ...all.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(width[i] ?? 0)).join(' | ')} |`;
  return [line(all[0] ?? []), line(width.map((w) => '-'.repeat(w))), ...all.slice(1).map(line)].join('\n');
}

/** The suite's one table: name, figure, baseline, ratio, notes. */
export function benchTable(rows: readonly BenchRow[]): string {
  return renderTable(
    ['bench', 'metric', 'figure', 'baseline', 'ratio', 'notes'],
    rows.map((r) => [
      r.bench,
      r.metric,
      cell(r.value, r.unit),
      cell(r.baseline, typeof r.baseline === 'number' ? r.unit : undefined),
      r.ratio === undefined ? '' : `${formatNumber(r.ratio)}×`,
      r.note ?? '',
    ]),
  );
}

/** What the figures were measured on. */
export function machine(): string {
  const c = cpus();
  const model = c[0]?.model.trim() ?? 'unknown cpu';
  return `${platform()} ${release()}, ${c.length} × ${model}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, node ${process.version}`;
}

/** Counts by key, as `201: 3, 401: 7`. */
export function counts(m: ReadonlyMap<string | number, number>): string {
  return [...m.entries()]
    .sort(([a], [b]) => String(a).localeCompare(String(b)))
    .map(([k, v]) => `${k}: ${v}`)
    .join(', ');
}
