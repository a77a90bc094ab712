import { Output } from '../../../lib/cli/output';
import { WaitProgress } from '../../../lib/cli/progress';
import { fixedClock } from '../../../lib/clock';
import type { Deployment, ReleaseResult } from '../../../lib/deploy/lifecycle';

const ESC = '\x1b';

function deployment(status: Deployment['status'], releases: ReleaseResult[], reason?: string): Deployment {
  return {
    id: 'abc1234-staging-0123456789',
    repository: 'o/r',
    environment: 'staging',
    sha: 'abc1234'.padEnd(40, '0'),
    ref: 'refs/heads/main',
    status,
    approval: 'none',
    pusher: 'p',
    createdAt: '2026-11-26T03:00:00.000Z',
    updatedAt: '2026-11-26T03:00:00.000Z',
    releases,
    ...(reason ? { reason } : {}),
  } as Deployment;
}
const rel = (name: string, status: ReleaseResult['status'], extra: Partial<ReleaseResult> = {}) =>
  ({ name, namespace: name, status, attempts: 1, ...extra }) as ReleaseResult;

function sink(opts: { json?: boolean; color?: boolean; live?: boolean; columns?: number } = {}) {
  const out = { stdout: '', stderr: '' };
  const o = new Output(
    (s) => {
      out.stdout += s;
    },
    (s) => {
      out.stderr += s;
    },
    opts.json ?? false,
    opts.color ?? false,
    opts.live ?? false,
    opts.columns ?? 80,
  );
  return { o, out };
}

// the states a deployment goes through, as the store shows them poll after poll
const STEPS = [
  deployment('queued', []),
  deployment('running', [rel('db', 'pending'), rel('web', 'pending')]),
  deployment('running', [rel('db', 'running'), rel('web', 'pending')]),
  deployment('running', [rel('db', 'running'), rel('web', 'pending')]),
  deployment(
    'failed',
    [
      rel('db', 'failed', { durationMs: 61_200, reason: 'timed out' }),
      rel('web', 'skipped', { reason: 'dependency db failed' }),
    ],
    'db failed: timed out',
  ),
];

describe('WaitProgress', () => {
  test('not on a terminal: one appended line per change, pending → running → failed/skipped with durations', () => {
    const { o, out } = sink();
    const p = new WaitProgress(o, fixedClock('2026-11-26T03:00:00Z'));
    for (const d of STEPS) p.update(d);
    expect(out.stdout).toBe('');
    expect(out.stderr.split('\n')).toEqual([
      'abc1234-staging-0123456789: queued',
      '  db   pending',
      '  web  pending',
      'abc1234-staging-0123456789: queued → running',
      '  db   running',
      '  db   failed     1m 01s  timed out',
      '  web  skipped    dependency db failed',
      'abc1234-staging-0123456789: running → failed (db failed: timed out)',
      '',
    ]);
  });

  test('on a terminal: the block is redrawn in place, a running release shows how long it has run', () => {
    const clock = fixedClock('2026-11-26T03:00:00Z');
    const { o, out } = sink({ live: true });
    const p = new WaitProgress(o, clock);
    p.update(STEPS[0] as Deployment);
    p.update(STEPS[2] as Deployment);
    clock.advance(2500);
    p.update(STEPS[3] as Deployment);
    const frames = out.stderr.split(new RegExp(`${ESC}\\[\\d+F${ESC}\\[J`));
    expect(frames).toHaveLength(3);
    expect(out.stderr.startsWith(`abc1234-staging-0123456789: queued\n${ESC}[1F${ESC}[J`)).toBe(true);
    expect(out.stderr).toContain('\x1b[3F\x1b[J');
    expect(frames[2]).toBe('abc1234-staging-0123456789: running\n  db   running    2.5 s\n  web  pending\n');
  });

  test('a redraw moves up over the rows a wrapped line took', () => {
    const { o } = sink({ live: true, columns: 10, color: true });
    expect(o.redraw(['x'.repeat(25), o.status('failed')], 0)).toBe(4);
  });

  test('with --json nothing is shown', () => {
    const { o, out } = sink({ json: true });
    const p = new WaitProgress(o, fixedClock('2026-11-26T03:00:00Z'));
    for (const d of STEPS) p.update(d);
    expect(out).toEqual({ stdout: '', stderr: '' });
  });

  test('colour only when asked (NO_COLOR decides that upstream)', () => {
    const { o, out } = sink({ color: true });
    new WaitProgress(o, fixedClock('2026-11-26T03:00:00Z')).update(STEPS[4] as Deployment);
    expect(out.stderr).toContain('\x1b[31mfailed\x1b[0m');
  });
});
