import type { DoraReport, EnvironmentFigures } from '../metrics/dora';
import { escapeHtml, hrefWith, humanDuration } from './html';
import { DASHBOARD_NAV, renderLayout } from './layout';
import { barChart, type ChartSeries, legend, lineChart } from './svg-chart';

export const PERIODS = [7, 30, 90] as const;
export type Period = (typeof PERIODS)[number];

function pct(v: number | undefined): string {
  return v === undefined ? '—' : `${Math.round(v * 1000) / 10} %`;
}

function perWeek(v: number): string {
  return `${Math.round(v * 10) / 10} / week`;
}

function bucketLabel(iso: string, bucketDays: number): string {
  const d = new Date(iso);
  const md = `${String(d.getUTCMonth() + 1).padStart(2, '0')}-${String(d.getUTCDate()).padStart(2, '0')}`;
  return bucketDays === 1 ? md : `wk ${md}`;
}

function slug(s: string): string {
  return s.replace(/[^\w-]/g, '-');
}

/** A chart with the same numbers in a table beside it (the table is what screen readers read). */
function chartRow(input: {
  id: string;
  title: string;
  labels: string[];
  series: ChartSeries[];
  kind: 'bar' | 'line';
  format: (v: number) => string;
  scale: 'count' | 'duration';
}): string {
  const svg = input.kind === 'bar' ? barChart(input) : lineChart(input);
  const head = input.series.map((s) => `<th scope="col" class="num">${escapeHtml(s.label)}</th>`).join('');
  const rows = input.labels
    .map((l, i) => {
      const cells = input.series.map((s) => {
        const v = s.values[i];
        return `<td class="num">${v === undefined ? '—' : escapeHtml(input.format(v))}</td>`;
      });
      const empty = input.series.every((s) => s.values[i] === undefined || s.values[i] === 0);
      return empty ? '' : `<tr><th scope="row">${escapeHtml(l)}</th>${cells.join('')}</tr>`;
    })
    .join('');
  return `<div class="chart-row"><figure>${svg}<figcaption>${escapeHtml(input.title)}</figcaption>${legend(input.series)}</figure>
<div class="table-wrap" tabindex="0" role="region" aria-label="${escapeHtml(`${input.title}: numbers`)}"><table id="${escapeHtml(`${input.id}-table`)}"><caption>${escapeHtml(input.title)}</caption><thead><tr><th scope="col">Period</th>${head}</tr></thead><tbody>${rows || `<tr><td colspan="${input.series.length + 1}">Nothing in this period.</td></tr>`}</tbody></table></div></div>`;
}

function figures(e: EnvironmentFigures): string {
  const item = (key: string, label: string, value: string, note: string) =>
    `<li data-figure="${key}"><span class="muted">${escapeHtml(label)}</span><span class="value">${escapeHtml(value)}</span><span class="muted">${escapeHtml(note)}</span></li>`;
  return `<ul class="figures">
${item('frequency', 'Deployment frequency', perWeek(e.perWeek), `${e.deployments} successful`)}
${item('lead-time', 'Lead time (median)', humanDuration(e.leadTimeMedianMs), 'push → deployed')}
${item('change-failure-rate', 'Change failure rate', pct(e.changeFailureRate), `${e.failedRuns} of ${e.deployments + e.failedRuns} runs failed`)}
${item('time-to-restore', 'Time to restore (median)', humanDuration(e.timeToRestoreMedianMs), `${e.incidents} incident${e.incidents === 1 ? '' : 's'}${e.openIncidents ? `, ${e.openIncidents} open` : ''}`)}
${e.approvals ? item('approval-wait', 'Approval wait (median)', humanDuration(e.approvalWaitMedianMs), `${e.approvals} runs that waited`) : ''}
</ul>`;
}

function releaseTable(e: EnvironmentFigures, id: string): string {
  if (e.releaseDurations.length === 0) return '';
  return `<div class="table-wrap"><table id="${escapeHtml(id)}"><caption>Release durations in ${escapeHtml(e.environment)}</caption><thead><tr><th scope="col">Release</th><th scope="col" class="num">Runs</th><th scope="col" class="num">Median</th><th scope="col" class="num">Longest</th></tr></thead><tbody>${e.releaseDurations
    .map(
      (r) =>
        `<tr><th scope="row">${escapeHtml(r.release)}</th><td class="num">${r.runs}</td><td class="num">${escapeHtml(humanDuration(r.medianMs))}</td><td class="num">${escapeHtml(humanDuration(r.maxMs))}</td></tr>`,
    )
    .join('')}</tbody></table></div>`;
}

function environmentSection(report: DoraReport, e: EnvironmentFigures): string {
  const id = slug(e.environment);
  const labels = e.series.map((b) => bucketLabel(b.from, report.bucketDays));
  const per = report.bucketDays === 1 ? 'day' : 'week';
  return `<section class="environment-metrics" id="${escapeHtml(`metrics-${id}`)}" aria-labelledby="${escapeHtml(`metrics-${id}-h`)}">
<h2 id="${escapeHtml(`metrics-${id}-h`)}">${escapeHtml(e.environment)}</h2>
${figures(e)}
${chartRow({
  id: `chart-${id}-deploys`,
  title: `${e.environment}: deployments per ${per}`,
  labels,
  kind: 'bar',
  series: [
    { label: 'succeeded', cls: 'c3', values: e.series.map((b) => b.succeeded) },
    { label: 'failed', cls: 'c2', values: e.series.map((b) => b.failed) },
  ],
  format: (v) => String(Math.round(v * 100) / 100),
  scale: 'count',
})}
${chartRow({
  id: `chart-${id}-lead`,
  title: `${e.environment}: lead time and approval wait (median per ${per})`,
  labels,
  kind: 'line',
  series: [
    { label: 'lead time', cls: 'c1', values: e.series.map((b) => b.leadTimeMs) },
    ...(e.approvals
      ? [{ label: 'approval wait', cls: 'c4' as const, values: e.series.map((b) => b.approvalWaitMs) }]
      : []),
  ],
  format: humanDuration,
  scale: 'duration',
})}
${chartRow({
  id: `chart-${id}-release`,
  title: `${e.environment}: release duration (median per ${per})`,
  labels,
  kind: 'line',
  series: [{ label: 'release duration', cls: 'c1', values: e.series.map((b) => b.releaseDurationMs) }],
  format: humanDuration,
  scale: 'duration',
})}
${releaseTable(e, `releases-${id}`)}
</section>`;
}

/** `/metrics`: the DORA figures per environment over a period, charts with their numbers beside them. */
export function renderMetricsPage(report: DoraReport, ctx: { login: string; period: Period }): string {
  const periods = `<nav class="periods" aria-label="Period">${PERIODS.map((p) =>
    p === ctx.period
      ? `<strong aria-current="page">${p} days</strong>`
      : `<a href="${escapeHtml(hrefWith('/metrics', { days: p }))}">${p} days</a>`,
  ).join('')}</nav>`;
  const summary = report.environments.length
    ? `<div class="table-wrap"><table id="dora-summary"><caption>The four figures, ${escapeHtml(report.from.slice(0, 10))} to ${escapeHtml(report.to.slice(0, 10))}</caption><thead><tr><th scope="col">Environment</th><th scope="col" class="num">Deployment frequency</th><th scope="col" class="num">Lead time</th><th scope="col" class="num">Change failure rate</th><th scope="col" class="num">Time to restore</th><th scope="col" class="num">Approval wait</th></tr></thead><tbody>${report.environments
        .map(
          (e) =>
            `<tr data-environment="${escapeHtml(e.environment)}"><th scope="row">${escapeHtml(e.environment)}</th><td class="num">${escapeHtml(perWeek(e.perWeek))}</td><td class="num">${escapeHtml(humanDuration(e.leadTimeMedianMs))}</td><td class="num">${escapeHtml(pct(e.changeFailureRate))}</td><td class="num">${escapeHtml(humanDuration(e.timeToRestoreMedianMs))}</td><td class="num">${e.approvals ? escapeHtml(humanDuration(e.approvalWaitMedianMs)) : '—'}</td></tr>`,
        )
        .join('')}</tbody></table></div>`
    : '<p>No deployments in this period.</p>';
  const body = `<h1>Delivery metrics</h1>
${periods}
<p class="muted">Lead time runs from the push to the successful deployment; a deployment that never started (blocked by a failed earlier stage) is not a failed change; time to restore runs from the first failure to the next success.</p>
${summary}
${report.environments.map((e) => environmentSection(report, e)).join('\n')}`;
  return renderLayout({
    title: 'helmgate: delivery metrics',
    body,
    current: '/metrics',
    login: ctx.login,
    nav: DASHBOARD_NAV,
  });
}
