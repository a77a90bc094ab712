import type { Clock } from '../clock';
import { clip } from '../deploy/diagnosis';
import type { PlannedRelease } from '../deploy/plan';
import { type ReleaseTests, TEST_LIMITS } from '../deploy/release-tests';
import { describeError } from '../errors';
import { errorSummary } from '../exec/command-runner';
import type { HelmRunner, HelmTestRun } from '../helm/helm-runner';
import type { Redactor } from '../log/redact';

/** Shortest `--timeout` a test hook gets, even near the invocation's deadline. */
const MIN_TEST_SECONDS = 5;

/**
 * `helm test` of a release that is deployed and healthy (issue 13, item 8): each test hook gets the
 * release's timeout (at most what is left before `deadline`). A run that could not reach the cluster
 * (a transient failure before any hook started) is tried once more. Never throws: a failure to run the
 * tests is a failed test run, with why.
 */
export async function runReleaseTests(
  deps: {
    helm: HelmRunner;
    clock: Clock;
    redactor: Redactor;
    sleep: (ms: number) => Promise<void>;
  },
  input: { release: PlannedRelease; deadline: number },
): Promise<ReleaseTests> {
  const { release } = input;
  const startedAt = deps.clock.now();
  const finish = (t: Omit<ReleaseTests, 'at' | 'durationMs'>): ReleaseTests => ({
    ...t,
    ...(t.reason ? { reason: clip(deps.redactor.redact(t.reason), TEST_LIMITS.reasonChars) } : {}),
    at: startedAt.toISOString(),
    durationMs: deps.clock.now().getTime() - startedAt.getTime(),
  });
  const test = deps.helm.test?.bind(deps.helm);
  if (!test)
    return finish({
      outcome: 'failed',
      hooks: [],
      reason: 'could not run: this helm runner cannot run helm test',
    });

  const attempt = (): Promise<HelmTestRun> => {
    const left = input.deadline - deps.clock.now().getTime();
    const seconds = Math.max(MIN_TEST_SECONDS, Math.min(release.timeoutSeconds, Math.floor(left / 1000)));
    // --timeout bounds each hook; the process gets what is left of the run (several hooks run in turn)
    return test(release.name, release.namespace, {
      timeoutSeconds: seconds,
      processTimeoutMs: Math.max(seconds * 1000, left) + 10_000,
    });
  };

  let run: HelmTestRun;
  try {
    run = await attempt();
    if (!run.passed && run.hooks.length === 0 && run.classification?.kind === 'transient') {
      await deps.sleep(2_000);
      run = await attempt();
    }
  } catch (e) {
    return finish({ outcome: 'failed', hooks: [], reason: `could not run: ${describeError(e)}` });
  }
  const counted = {
    hooks: run.hooks,
    ...(run.omittedHooks ? { omittedHooks: run.omittedHooks } : {}),
  };
  if (run.passed) return finish({ outcome: 'passed', ...counted });
  const failed = run.hooks.filter((h) => h.phase !== 'Succeeded').map((h) => h.name);
  const helmSaid = errorSummary(run.stderrTail);
  // our process deadline, or helm's own `--timeout` for a hook (helm then marks the hook Failed)
  const slow = run.timedOut || /context deadline exceeded/i.test(run.stderrTail);
  // phrased to follow "helm test failed: "
  const reason = slow
    ? `${failed.join(', ') || 'the tests'} did not finish in time`
    : failed.length > 0
      ? `${failed.join(', ')} failed`
      : `could not run: ${helmSaid || 'helm exited with an error'}`;
  return finish({ outcome: 'failed', ...counted, reason });
}
