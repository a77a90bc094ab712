import { fixedClock } from '../../../lib/clock';
import type { PlannedRelease } from '../../../lib/deploy/plan';
import {
  describeTests,
  formatTestHooks,
  type ReleaseTests,
  testsSummary,
} from '../../../lib/deploy/release-tests';
import type { HelmRunner, HelmTestRun } from '../../../lib/helm/helm-runner';
import { Redactor } from '../../../lib/log/redact';
import { runReleaseTests } from '../../../lib/runner/release-tests';

const SECRET = 'token-1f2e3d4c5b6a';

const release = { name: 'hub', namespace: 'jh', timeoutSeconds: 120 } as PlannedRelease;

/** A helm runner that only tests, answering `runs` in turn and recording the options it got. */
function helmAnswering(...runs: Array<Partial<HelmTestRun> | Error>) {
  const seen: Array<{ timeoutSeconds: number; processTimeoutMs?: number }> = [];
  const helm = {
    async test(_release: string, _ns: string, o: { timeoutSeconds: number; processTimeoutMs?: number }) {
      seen.push(o);
      const next = runs.shift();
      if (next instanceof Error) throw next;
      return { passed: true, hooks: [], stderrTail: '', timedOut: false, durationMs: 5, ...next };
    },
  } as unknown as HelmRunner;
  return { helm, seen };
}

function deps(helm: HelmRunner) {
  const clock = fixedClock('2026-11-26T04:00:00Z');
  const redactor = new Redactor();
  redactor.register(SECRET);
  const slept: number[] = [];
  return {
    clock,
    slept,
    deps: {
      helm,
      clock,
      redactor,
      sleep: async (ms: number) => {
        slept.push(ms);
        clock.advance(ms);
      },
    },
  };
}

describe('runReleaseTests', () => {
  test('each hook gets the release’s timeout, capped by what is left before the deadline (at least 5 s)', async () => {
    const { helm, seen } = helmAnswering({}, {}, {});
    const { deps: d, clock } = deps(helm);
    const now = clock.now().getTime();
    await runReleaseTests(d, { release, deadline: now + 3_600_000 });
    await runReleaseTests(d, { release, deadline: now + 45_500 });
    await runReleaseTests(d, { release, deadline: now + 1_000 });
    expect(seen.map((s) => s.timeoutSeconds)).toEqual([120, 45, 5]);
    // the process may take what is left of the run: several hooks run one after another
    expect(seen[0]?.processTimeoutMs).toBe(3_610_000);
  });

  test('passed: the hooks helm ran, when, how long', async () => {
    const { helm } = helmAnswering({
      passed: true,
      hooks: [{ name: 'hub-test', phase: 'Succeeded' }],
    });
    const { deps: d } = deps(helm);
    expect(await runReleaseTests(d, { release, deadline: Date.now() + 600_000 })).toEqual({
      outcome: 'passed',
      hooks: [{ name: 'hub-test', phase: 'Succeeded' }],
      at: '2026-11-26T04:00:00.000Z',
      durationMs: 0,
    });
  });

  test('failed: names the failing hooks; a run that timed out says so', async () => {
    const failing = {
      passed: false,
      hooks: [
        { name: 'a', phase: 'Succeeded' as const },
        { name: 'b', phase: 'Failed' as const },
      ],
      stderrTail: 'Error: resource Pod/jh/b not ready. status: Failed, message: pod b failed',
      classification: { kind: 'permanent' as const, reason: 'x' },
    };
    const { helm } = helmAnswering(failing, {
      ...failing,
      timedOut: true,
      hooks: [{ name: 'a', phase: 'Running' }],
    });
    const { deps: d } = deps(helm);
    const failed = await runReleaseTests(d, { release, deadline: Date.now() + 600_000 });
    expect(failed).toMatchObject({ outcome: 'failed', reason: 'b failed' });
    expect(describeTests(failed)).toBe('helm test failed: b Failed (a passed)');
    expect(formatTestHooks(failed)).toBe('tests: a Succeeded, b Failed');
    const slow = await runReleaseTests(d, { release, deadline: Date.now() + 600_000 });
    expect(slow.reason).toBe('a did not finish in time');
  });

  test('a transient failure before any hook started is tried once more; a permanent one is not', async () => {
    const unreachable = {
      passed: false,
      stderrTail: 'Error: Kubernetes cluster unreachable',
      classification: { kind: 'transient' as const, reason: 'cluster unreachable' },
    };
    const first = helmAnswering(unreachable, { passed: true, hooks: [{ name: 't', phase: 'Succeeded' }] });
    const a = deps(first.helm);
    expect(await runReleaseTests(a.deps, { release, deadline: Date.now() + 600_000 })).toMatchObject({
      outcome: 'passed',
    });
    expect(first.seen).toHaveLength(2);
    expect(a.slept).toEqual([2_000]);

    const twice = helmAnswering(unreachable, unreachable);
    const b = deps(twice.helm);
    expect(await runReleaseTests(b.deps, { release, deadline: Date.now() + 600_000 })).toMatchObject({
      outcome: 'failed',
      reason: 'could not run: Error: Kubernetes cluster unreachable',
    });
    expect(twice.seen).toHaveLength(2);

    const permanent = helmAnswering({ ...unreachable, classification: { kind: 'permanent', reason: 'x' } });
    await runReleaseTests(deps(permanent.helm).deps, { release, deadline: Date.now() + 600_000 });
    expect(permanent.seen).toHaveLength(1);
  });

  test('never throws, and what it keeps is redacted', async () => {
    const { helm } = helmAnswering(new Error(`spawn failed with ${SECRET}`));
    const { deps: d } = deps(helm);
    const t = await runReleaseTests(d, { release, deadline: Date.now() + 600_000 });
    expect(t.outcome).toBe('failed');
    expect(t.reason).toMatch(/^could not run: /);
    expect(describeTests(t)).toMatch(/^helm test failed: could not run: /);
    expect(JSON.stringify(t)).not.toContain(SECRET);
    const none = await runReleaseTests({ ...d, helm: {} as HelmRunner }, { release, deadline: 0 });
    expect(none).toMatchObject({
      outcome: 'failed',
      reason: 'could not run: this helm runner cannot run helm test',
    });
  });
});

describe('test outcome, for people', () => {
  const passed = (name: string, hooks: string[]): { name: string; tests: ReleaseTests } => ({
    name,
    tests: {
      outcome: 'passed',
      hooks: hooks.map((h) => ({ name: h, phase: 'Succeeded' })),
      at: '',
      durationMs: 1,
    },
  });
  test('per release, and per environment', () => {
    expect(describeTests(passed('hub', ['t1', 't2']).tests)).toBe('helm test passed: t1, t2');
    expect(describeTests(passed('hub', []).tests)).toBe('helm test passed (the chart has no test hooks)');
    expect(testsSummary([passed('a', ['t']), passed('b', []), { name: 'c' }])).toBe(
      'helm test passed (2 releases)',
    );
    expect(testsSummary([{ name: 'c' }])).toBeUndefined();
    const failed = {
      name: 'b',
      tests: {
        outcome: 'failed' as const,
        hooks: [{ name: 'b-smoke', phase: 'Failed' as const }],
        at: '',
        durationMs: 1,
      },
    };
    expect(testsSummary([passed('a', ['t']), failed])).toBe('helm test failed: b (b-smoke)');
  });
});
