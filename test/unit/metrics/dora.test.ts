import type { Deployment, DeploymentStatus, ReleaseResult } from '../../../lib/deploy/deployment';
import { doraFigures, type EnvironmentFigures, median } from '../../../lib/metrics/dora';

/**
 * Two weeks of a staging → production pipeline, computed by hand (times UTC, period 2026-03-01 to
 * 2026-03-15). Production: c1 ok, c2 failed, c3 ok (restores c2 after 120 min), c4 blocked by a
 * failed staging, c5 ok, c6 and c7 failed (one incident), c8 ok (restores after 22 h 15 min), c9
 * blocked, plus a rejected one and an incident that began before the period (c0).
 */

const MIN = 60_000;
let n = 0;
function dep(
  environment: 'staging' | 'production',
  sha: string,
  status: DeploymentStatus,
  created: string,
  started: string | undefined,
  finished: string | undefined,
  releases?: ReleaseResult[],
): Deployment {
  n++;
  return {
    id: `${sha}-${environment}-${n}`,
    repository: 'org/r',
    environment,
    sha: sha.padEnd(40, '0'),
    ref: 'refs/heads/main',
    status,
    approval: environment === 'production' ? 'required' : 'none',
    createdAt: `2026-${created}:00.000Z`,
    updatedAt: `2026-${finished ?? created}:00.000Z`,
    ...(started ? { startedAt: `2026-${started}:00.000Z` } : {}),
    ...(finished ? { finishedAt: `2026-${finished}:00.000Z` } : {}),
    ...(releases ? { releases } : {}),
  };
}
const rel = (name: string, durationMs: number): ReleaseResult => ({
  name,
  namespace: 'ns',
  status: 'succeeded',
  attempts: 1,
  durationMs,
});

const FIXTURE: Deployment[] = [
  // c0: before the period; production failed, restored by c1
  dep('staging', 'c0', 'succeeded', '02-27T10:00', '02-27T10:00', '02-27T10:05'),
  dep('production', 'c0', 'failed', '02-27T10:00', '02-27T10:30', '02-27T11:00'),
  dep('staging', 'c1', 'succeeded', '03-02T10:00', '03-02T10:00', '03-02T10:10'),
  dep('production', 'c1', 'succeeded', '03-02T10:00', '03-02T12:10', '03-02T12:30', [
    rel('web', 60_000),
    rel('db', 120_000),
  ]),
  dep('staging', 'c2', 'succeeded', '03-04T09:00', '03-04T09:00', '03-04T09:05'),
  dep('production', 'c2', 'failed', '03-04T09:00', '03-04T09:35', '03-04T09:45'),
  dep('staging', 'c3', 'succeeded', '03-04T11:00', '03-04T11:00', '03-04T11:06'),
  dep('production', 'c3', 'succeeded', '03-04T11:00', '03-04T11:16', '03-04T11:45', [rel('web', 30_000)]),
  dep('staging', 'c4', 'failed', '03-08T14:00', '03-08T14:00', '03-08T14:04'),
  dep('production', 'c4', 'failed', '03-08T14:00', undefined, '03-08T14:04'),
  dep('staging', 'c5', 'succeeded', '03-08T15:00', '03-08T15:00', '03-08T15:08'),
  dep('production', 'c5', 'succeeded', '03-08T15:00', '03-09T09:08', '03-09T09:20'),
  dep('staging', 'c6', 'succeeded', '03-12T10:00', '03-12T10:00', '03-12T10:05'),
  dep('production', 'c6', 'failed', '03-12T10:00', '03-12T10:15', '03-12T10:25'),
  dep('staging', 'c7', 'succeeded', '03-12T11:00', '03-12T11:00', '03-12T11:04'),
  dep('production', 'c7', 'failed', '03-12T11:00', '03-12T11:14', '03-12T11:20'),
  dep('staging', 'c8', 'succeeded', '03-13T08:00', '03-13T08:00', '03-13T08:06'),
  dep('production', 'c8', 'succeeded', '03-13T08:00', '03-13T08:16', '03-13T08:40'),
  dep('production', 'cx', 'rejected', '03-13T09:00', undefined, '03-13T10:00'),
  dep('staging', 'c9', 'failed', '03-14T20:00', '03-14T20:00', '03-14T20:02'),
  dep('production', 'c9', 'failed', '03-14T20:00', undefined, '03-14T20:02'),
];

const NOW = new Date('2026-03-15T00:00:00.000Z');

function env(figures: EnvironmentFigures[], name: string): EnvironmentFigures {
  const f = figures.find((e) => e.environment === name);
  if (!f) throw new Error(`no figures for ${name}`);
  return f;
}

describe('doraFigures', () => {
  it('computes production over two weeks as worked out by hand', () => {
    const report = doraFigures(FIXTURE, { now: NOW, days: 14 });
    expect(report.from).toBe('2026-03-01T00:00:00.000Z');
    const p = env(report.environments, 'production');
    expect(p.deployments).toBe(4); // c1 c3 c5 c8
    expect(p.perWeek).toBeCloseTo(2, 10);
    expect(p.perDay).toBeCloseTo(4 / 14, 10);
    expect(p.failedRuns).toBe(3); // c2 c6 c7; c4 and c9 never started, cx was rejected
    expect(p.changeFailureRate).toBeCloseTo(3 / 7, 10);
    // lead times 150, 45, 1100, 40 min → median (45 + 150) / 2
    expect(p.leadTimeMedianMs).toBe(97.5 * MIN);
    // incidents c2 (restored by c3 after 120 min) and c6+c7 (restored by c8 after 1335 min); c0's began earlier
    expect(p.incidents).toBe(2);
    expect(p.openIncidents).toBe(0);
    expect(p.timeToRestoreMedianMs).toBe(727.5 * MIN);
    // waits 120, 30, 10, 1080, 10, 10, 10 min → median 10
    expect(p.approvals).toBe(7);
    expect(p.approvalWaitMedianMs).toBe(10 * MIN);
    expect(p.releaseDurations).toEqual([
      { release: 'db', runs: 1, medianMs: 120_000, maxMs: 120_000 },
      { release: 'web', runs: 2, medianMs: 45_000, maxMs: 60_000 },
    ]);
  });

  it('computes staging, with one incident still open at the end of the period', () => {
    const s = env(doraFigures(FIXTURE, { now: NOW, days: 14 }).environments, 'staging');
    expect(s.deployments).toBe(7);
    expect(s.failedRuns).toBe(2);
    expect(s.changeFailureRate).toBeCloseTo(2 / 9, 10);
    // 10, 5, 6, 8, 5, 4, 6 min → median 6
    expect(s.leadTimeMedianMs).toBe(6 * MIN);
    expect(s.incidents).toBe(2);
    expect(s.openIncidents).toBe(1);
    expect(s.timeToRestoreMedianMs).toBe(64 * MIN);
    expect(s.approvals).toBe(0);
    expect(s.approvalWaitMedianMs).toBeUndefined();
  });

  it('counts only what finished inside a shorter period', () => {
    const p = env(doraFigures(FIXTURE, { now: NOW, days: 7 }).environments, 'production');
    expect(p.deployments).toBe(2); // c5 c8
    expect(p.changeFailureRate).toBe(0.5);
    expect(p.leadTimeMedianMs).toBe(570 * MIN); // 1100 and 40
    expect(p.incidents).toBe(1);
    expect(p.timeToRestoreMedianMs).toBe(1335 * MIN);
    expect(p.approvalWaitMedianMs).toBe(10 * MIN); // 1080, 10, 10, 10
  });

  it('puts each run in its day', () => {
    const report = doraFigures(FIXTURE, { now: NOW, days: 14 });
    const p = env(report.environments, 'production');
    expect(report.bucketDays).toBe(1);
    expect(p.series).toHaveLength(14);
    const mar4 = p.series.find((b) => b.from === '2026-03-04T00:00:00.000Z');
    expect(mar4).toMatchObject({ succeeded: 1, failed: 1, leadTimeMs: 45 * MIN, approvalWaitMs: 20 * MIN });
    expect(p.series.reduce((a, b) => a + b.succeeded, 0)).toBe(4);
    expect(p.series.reduce((a, b) => a + b.failed, 0)).toBe(3);
  });

  it('uses weekly buckets for 90 days and says nothing for an empty period', () => {
    const report = doraFigures(FIXTURE, { now: new Date('2027-01-01T00:00:00.000Z'), days: 90 });
    expect(report.bucketDays).toBe(7);
    const p = env(report.environments, 'production');
    expect(p.deployments).toBe(0);
    expect(p.changeFailureRate).toBeUndefined();
    expect(p.leadTimeMedianMs).toBeUndefined();
    expect(p.series).toHaveLength(13);
  });

  it('counts rendered runs as success only when asked', () => {
    const rendered = FIXTURE.map((d) =>
      d.status === 'succeeded' ? { ...d, status: 'rendered' as const } : d,
    );
    expect(env(doraFigures(rendered, { now: NOW, days: 14 }).environments, 'production').deployments).toBe(0);
    expect(
      env(doraFigures(rendered, { now: NOW, days: 14, allowRendered: true }).environments, 'production')
        .deployments,
    ).toBe(4);
  });

  it('keeps repositories apart when asked', () => {
    const other = FIXTURE.map((d) => ({ ...d, id: `o-${d.id}`, repository: 'org/other' }));
    const shared = doraFigures([...FIXTURE, ...other], { now: NOW, days: 14 });
    expect(env(shared.environments, 'production').deployments).toBe(8);
    const apart = doraFigures([...FIXTURE, ...other], { now: NOW, days: 14, byRepository: true });
    expect(apart.environments.map((e) => e.environment)).toEqual([
      'org/other: production',
      'org/other: staging',
      'org/r: production',
      'org/r: staging',
    ]);
    expect(env(apart.environments, 'org/r: production').timeToRestoreMedianMs).toBe(727.5 * MIN);
  });

  it('takes the middle of an odd list and the mean of the two middles of an even one', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeUndefined();
  });
});
