import type { Deployment } from '../deploy/deployment';

/**
 * The four DORA figures (and two of our own) per environment over a period, computed from
 * deployments alone: pure, so the page, the CLI and a test compute the same numbers.
 *
 * Definitions (each counts what finished inside the period `[to - days, to)`):
 * - **deployment frequency**: successful deployments, per day and per week;
 * - **lead time**: from the push (the earliest `createdAt` of any deployment of the same repository and
 *   commit) to the successful deployment's `finishedAt`; median;
 * - **change failure rate**: failed runs / (successful + failed runs). A deployment that failed
 *   without ever starting (`startedAt` unset: staging failed, an unplannable commit) is blocked, not a
 *   failed change, and counts in neither;
 * - **time to restore**: an incident starts at a failed run whose previous run in the same repository
 *   and environment succeeded (or that has none) and ends at the next successful run; median over
 *   incidents that started inside the period. Incidents not yet restored are counted as `open`;
 * - **approval wait** (environments with approval): from the moment the commit was ready — the last
 *   successful run of the same commit in another environment that finished before this one started,
 *   else its `createdAt` — to `startedAt`; median;
 * - **release duration**: each release's `durationMs`; median.
 */

export interface DoraOptions {
  now: Date;
  days: number;
  /** count `rendered` (local render-only runs) as success; default false */
  allowRendered?: boolean;
  /** bucket width for the series; default one day up to 31 days, else one week */
  bucketDays?: number;
  /**
   * Figures per `owner/name: environment` instead of per environment name (when several repositories
   * deploy environments of the same name); default false.
   */
  byRepository?: boolean;
}

export interface DoraBucket {
  /** ISO start of the bucket */
  from: string;
  succeeded: number;
  failed: number;
  leadTimeMs?: number;
  approvalWaitMs?: number;
  releaseDurationMs?: number;
}

export interface ReleaseDurationFigure {
  release: string;
  runs: number;
  medianMs: number;
  maxMs: number;
}

export interface EnvironmentFigures {
  environment: string;
  /** successful deployments finished in the period */
  deployments: number;
  perDay: number;
  perWeek: number;
  failedRuns: number;
  /** failed / (succeeded + failed); undefined without runs */
  changeFailureRate?: number;
  leadTimeMedianMs?: number;
  incidents: number;
  openIncidents: number;
  timeToRestoreMedianMs?: number;
  approvalWaitMedianMs?: number;
  approvals: number;
  releaseDurations: ReleaseDurationFigure[];
  series: DoraBucket[];
}

export interface DoraReport {
  from: string;
  to: string;
  days: number;
  bucketDays: number;
  environments: EnvironmentFigures[];
}

const DAY_MS = 86_400_000;

export function median(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

function ms(iso: string | undefined): number | undefined {
  if (!iso) return undefined;
  const t = Date.parse(iso);
  return Number.isFinite(t) ? t : undefined;
}

export function doraFigures(deployments: readonly Deployment[], opts: DoraOptions): DoraReport {
  const to = opts.now.getTime();
  const from = to - opts.days * DAY_MS;
  const bucketDays = opts.bucketDays ?? (opts.days <= 31 ? 1 : 7);
  const bucketMs = bucketDays * DAY_MS;
  const bucketCount = Math.ceil((to - from) / bucketMs);
  const inPeriod = (t: number | undefined): t is number => t !== undefined && t >= from && t < to;
  const ok = (d: Deployment) =>
    d.status === 'succeeded' || (opts.allowRendered === true && d.status === 'rendered');
  const ran = (d: Deployment) => d.startedAt !== undefined && (ok(d) || d.status === 'failed');

  // the push time of each commit: the earliest record of it in any environment
  const pushedAt = new Map<string, number>();
  const byCommit = new Map<string, Deployment[]>();
  for (const d of deployments) {
    const key = `${d.repository}@${d.sha}`;
    const c = ms(d.createdAt);
    if (c !== undefined && c < (pushedAt.get(key) ?? Number.POSITIVE_INFINITY)) pushedAt.set(key, c);
    byCommit.set(key, [...(byCommit.get(key) ?? []), d]);
  }

  const keyOf = (d: Deployment) => (opts.byRepository ? `${d.repository}: ${d.environment}` : d.environment);
  const environments = [...new Set(deployments.map(keyOf))].sort();
  const out: EnvironmentFigures[] = [];
  for (const environment of environments) {
    const runs = deployments
      .filter((d) => keyOf(d) === environment && ran(d) && ms(d.finishedAt) !== undefined)
      .sort((a, b) => (ms(a.finishedAt) as number) - (ms(b.finishedAt) as number));
    const buckets: DoraBucket[] = Array.from({ length: bucketCount }, (_, i) => ({
      from: new Date(from + i * bucketMs).toISOString(),
      succeeded: 0,
      failed: 0,
    }));
    const samples = buckets.map(() => ({
      lead: [] as number[],
      wait: [] as number[],
      release: [] as number[],
    }));
    const bucketOf = (t: number) => Math.min(bucketCount - 1, Math.floor((t - from) / bucketMs));

    let succeeded = 0;
    let failed = 0;
    const leads: number[] = [];
    const waits: number[] = [];
    const releases = new Map<string, number[]>();
    for (const d of runs) {
      const fin = ms(d.finishedAt) as number;
      if (!inPeriod(fin)) continue;
      const b = bucketOf(fin);
      const bucket = buckets[b] as DoraBucket;
      const sample = samples[b] as { lead: number[]; wait: number[]; release: number[] };
      if (ok(d)) {
        succeeded++;
        bucket.succeeded++;
        const pushed = pushedAt.get(`${d.repository}@${d.sha}`);
        if (pushed !== undefined) {
          leads.push(fin - pushed);
          sample.lead.push(fin - pushed);
        }
      } else {
        failed++;
        bucket.failed++;
      }
      for (const r of d.releases ?? []) {
        if (r.durationMs === undefined || r.status === 'skipped' || r.status === 'pending') continue;
        releases.set(r.name, [...(releases.get(r.name) ?? []), r.durationMs]);
        sample.release.push(r.durationMs);
      }
    }

    // approval wait: environments with approval, by start time
    let approvals = 0;
    for (const d of deployments) {
      if (keyOf(d) !== environment || d.approval === 'none') continue;
      const started = ms(d.startedAt);
      if (!inPeriod(started)) continue;
      const ready = (byCommit.get(`${d.repository}@${d.sha}`) ?? [])
        .filter((o) => o.environment !== d.environment && ok(o))
        .map((o) => ms(o.finishedAt))
        .filter((t): t is number => t !== undefined && t <= started)
        .reduce((a, t) => Math.max(a, t), ms(d.createdAt) ?? started);
      approvals++;
      waits.push(started - ready);
      samples[bucketOf(started)]?.wait.push(started - ready);
    }

    // incidents: a failure after a success (or first ever run), restored by the next success
    const restores: number[] = [];
    let incidents = 0;
    let open = 0;
    const repos = [...new Set(runs.map((d) => d.repository))];
    for (const repo of repos) {
      const mine = runs.filter((d) => d.repository === repo);
      let start: number | undefined;
      let prevOk = true;
      for (const d of mine) {
        const fin = ms(d.finishedAt) as number;
        if (!ok(d)) {
          if (prevOk) {
            start = fin;
            if (inPeriod(fin)) incidents++;
          }
          prevOk = false;
        } else {
          if (!prevOk && start !== undefined && inPeriod(start)) restores.push(fin - start);
          start = undefined;
          prevOk = true;
        }
      }
      if (!prevOk && start !== undefined && inPeriod(start)) open++;
    }

    const total = succeeded + failed;
    const leadTimeMedianMs = median(leads);
    const timeToRestoreMedianMs = median(restores);
    const approvalWaitMedianMs = median(waits);
    out.push({
      environment,
      deployments: succeeded,
      perDay: succeeded / opts.days,
      perWeek: (succeeded / opts.days) * 7,
      failedRuns: failed,
      ...(total > 0 ? { changeFailureRate: failed / total } : {}),
      ...(leadTimeMedianMs !== undefined ? { leadTimeMedianMs } : {}),
      incidents,
      openIncidents: open,
      ...(timeToRestoreMedianMs !== undefined ? { timeToRestoreMedianMs } : {}),
      ...(approvalWaitMedianMs !== undefined ? { approvalWaitMedianMs } : {}),
      approvals,
      releaseDurations: [...releases.entries()]
        .map(([release, v]) => ({
          release,
          runs: v.length,
          medianMs: median(v) as number,
          maxMs: Math.max(...v),
        }))
        .sort((a, b) => a.release.localeCompare(b.release)),
      series: buckets.map((bucket, i) => {
        const s = samples[i] as { lead: number[]; wait: number[]; release: number[] };
        const lead = median(s.lead);
        const wait = median(s.wait);
        const rel = median(s.release);
        return {
          ...bucket,
          ...(lead !== undefined ? { leadTimeMs: lead } : {}),
          ...(wait !== undefined ? { approvalWaitMs: wait } : {}),
          ...(rel !== undefined ? { releaseDurationMs: rel } : {}),
        };
      }),
    });
  }
  return {
    from: new Date(from).toISOString(),
    to: new Date(to).toISOString(),
    days: opts.days,
    bucketDays,
    environments: out,
  };
}
