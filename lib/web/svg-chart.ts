import { escapeHtml } from './html';

/**
 * Server-rendered SVG charts: no client-side library, no script. Colours come from classes (`c1`…`c4`)
 * the stylesheet defines for light and dark. Each chart is an `img` with a title; the page puts the same
 * numbers in a table beside it, so nothing is only in the picture.
 */

export type SeriesClass = 'c1' | 'c2' | 'c3' | 'c4';

export interface ChartSeries {
  label: string;
  cls: SeriesClass;
  /** one value per label; undefined = no data (a gap in a line) */
  values: readonly (number | undefined)[];
}

export interface ChartInput {
  id: string;
  title: string;
  /** x-axis labels, one per bucket */
  labels: readonly string[];
  series: readonly ChartSeries[];
  /** how y values read on the axis */
  format: (v: number) => string;
  /** counts get whole-number ticks, durations ticks at round times; default a 1-2-5 scale */
  scale?: 'count' | 'duration' | 'number';
}

const W = 600;
const H = 220;
const M = { left: 78, right: 12, top: 12, bottom: 30 };
const PW = W - M.left - M.right;
const PH = H - M.top - M.bottom;

/** 1, 2, 5 × 10^k at or above v: a round axis maximum. */
export function niceCeil(v: number): number {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

const S = 1000;
const MIN = 60 * S;
const HOUR = 60 * MIN;
/** Axis maxima whose quarters are round times (1 s, 15 s, 2 min, 30 min, 3 h, 1 d…). */
const DURATION_STEPS = [
  4 * S,
  8 * S,
  20 * S,
  40 * S,
  60 * S,
  2 * MIN,
  4 * MIN,
  8 * MIN,
  20 * MIN,
  40 * MIN,
  60 * MIN,
  2 * HOUR,
  4 * HOUR,
  8 * HOUR,
  12 * HOUR,
  24 * HOUR,
  48 * HOUR,
  96 * HOUR,
  8 * 24 * HOUR,
  20 * 24 * HOUR,
  40 * 24 * HOUR,
];

/** The axis maximum for this scale: counts a multiple of 4 (whole ticks), durations round times. */
export function axisMax(v: number, scale: ChartInput['scale'] = 'number'): number {
  if (scale === 'count') return Math.max(4, Math.ceil(v / 4) * 4);
  if (scale === 'duration') return DURATION_STEPS.find((s) => s >= v) ?? niceCeil(v);
  return niceCeil(v);
}

const r1 = (v: number) => Math.round(v * 10) / 10;

function frame(input: ChartInput, max: number, body: string): string {
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => {
    const y = r1(M.top + PH - f * PH);
    return `<line class="grid" x1="${M.left}" x2="${W - M.right}" y1="${y}" y2="${y}"/><text x="${M.left - 6}" y="${y + 4}" text-anchor="end">${escapeHtml(f === 0 ? '0' : input.format(max * f))}</text>`;
  });
  const n = input.labels.length;
  const every = Math.max(1, Math.ceil(n / 8));
  const step = PW / Math.max(1, n);
  const xl = input.labels
    .map((l, i) =>
      i % every === 0
        ? `<text x="${r1(M.left + step * (i + 0.5))}" y="${H - M.bottom + 16}" text-anchor="middle">${escapeHtml(l)}</text>`
        : '',
    )
    .join('');
  const titleId = `${input.id}-title`;
  return `<svg class="chart" id="${escapeHtml(input.id)}" viewBox="0 0 ${W} ${H}" role="img" aria-labelledby="${escapeHtml(titleId)}" xmlns="http://www.w3.org/2000/svg"><title id="${escapeHtml(titleId)}">${escapeHtml(input.title)}</title>${ticks.join('')}<line class="axis" x1="${M.left}" x2="${W - M.right}" y1="${M.top + PH}" y2="${M.top + PH}"/>${body}${xl}</svg>`;
}

export function legend(series: readonly ChartSeries[]): string {
  return `<ul class="legend">${series.map((s) => `<li><span class="key ${s.cls}"></span>${escapeHtml(s.label)}</li>`).join('')}</ul>`;
}

/** Stacked bars, one stack per label (e.g. succeeded and failed deployments per day). */
export function barChart(input: ChartInput): string {
  const n = input.labels.length;
  const totals = input.labels.map((_, i) => input.series.reduce((a, s) => a + (s.values[i] ?? 0), 0));
  const max = axisMax(Math.max(0, ...totals), input.scale);
  const step = PW / Math.max(1, n);
  const bw = Math.max(1, step * 0.7);
  const bars: string[] = [];
  for (let i = 0; i < n; i++) {
    let base = 0;
    for (const s of input.series) {
      const v = s.values[i] ?? 0;
      if (v <= 0) continue;
      const h = (v / max) * PH;
      const y = M.top + PH - ((base + v) / max) * PH;
      bars.push(
        `<rect class="${s.cls}" x="${r1(M.left + step * i + (step - bw) / 2)}" y="${r1(y)}" width="${r1(bw)}" height="${r1(h)}"><title>${escapeHtml(`${input.labels[i]}: ${s.label} ${input.format(v)}`)}</title></rect>`,
      );
      base += v;
    }
  }
  return frame(input, max, bars.join(''));
}

/** Lines with a dot per value; a missing value breaks the line. */
export function lineChart(input: ChartInput): string {
  const n = input.labels.length;
  const all = input.series.flatMap((s) => s.values.filter((v): v is number => v !== undefined));
  const max = axisMax(Math.max(0, ...all), input.scale);
  const step = PW / Math.max(1, n);
  const parts: string[] = [];
  for (const s of input.series) {
    let d = '';
    let pen = false;
    const dots: string[] = [];
    s.values.forEach((v, i) => {
      if (v === undefined) {
        pen = false;
        return;
      }
      const x = r1(M.left + step * (i + 0.5));
      const y = r1(M.top + PH - (v / max) * PH);
      d += `${pen ? 'L' : 'M'}${x} ${y}`;
      pen = true;
      dots.push(
        `<circle class="${s.cls}" cx="${x}" cy="${y}" r="3"><title>${escapeHtml(`${input.labels[i]}: ${s.label} ${input.format(v)}`)}</title></circle>`,
      );
    });
    if (d) parts.push(`<path class="line ${s.cls}" d="${d}"/>`);
    parts.push(...dots);
  }
  return frame(input, max, parts.join(''));
}
