/**
 * `helm test` as part of a release's health (issue 13, item 8): what the runner keeps of one run of a
 * release's chart test hooks (pods or Jobs annotated `helm.sh/hook: test`), and one text rendering of
 * it shared by the release result, `helmgate show`, the deployment page and the Slack thread. Pure.
 */

/** A test hook's phase as helm records it (`Succeeded`, `Failed`, `Running`, `Unknown`). */
export type TestHookPhase = 'Succeeded' | 'Failed' | 'Running' | 'Unknown';

export interface TestHookRun {
  /** the hook's name: the test pod's (or Job's) name */
  name: string;
  phase: TestHookPhase;
}

export interface ReleaseTests {
  outcome: 'passed' | 'failed';
  /**
   * The test hooks helm ran, in its order (hook weight, then name). Helm stops at the first failure, so
   * hooks after it are not listed. Empty when the chart has no test hooks (which passes, as helm says).
   */
  hooks: TestHookRun[];
  /** hooks left out by the bound (TEST_LIMITS.hooks) */
  omittedHooks?: number;
  /**
   * why they failed, redacted and bounded, phrased to follow "helm test failed: ": `<hooks> failed`,
   * `<hooks> did not finish in time`, `could not run: <helm's error>`
   */
  reason?: string;
  /** ISO time the run started */
  at: string;
  durationMs: number;
}

/** Bounds: kept in the deployment record (DynamoDB items are at most 400 KB). */
export const TEST_LIMITS = { hooks: 20, nameChars: 253, reasonChars: 500 } as const;

const PHASES: readonly TestHookPhase[] = ['Succeeded', 'Failed', 'Running', 'Unknown'];

export function testHookPhase(s: string): TestHookPhase {
  return (PHASES as readonly string[]).includes(s) ? (s as TestHookPhase) : 'Unknown';
}

/** The hooks that did not pass: failed, or still running when helm gave up. */
export function failedHooks(t: Pick<ReleaseTests, 'hooks'>): TestHookRun[] {
  return t.hooks.filter((h) => h.phase !== 'Succeeded');
}

/**
 * One line for people: `helm test passed: web-test-connection, web-test-smoke`, `helm test passed (the
 * chart has no test hooks)`, or `helm test failed: web-test-smoke Failed (web-test-connection passed)`.
 */
export function describeTests(t: ReleaseTests): string {
  const more = t.omittedHooks ? ` and ${t.omittedHooks} more` : '';
  if (t.outcome === 'passed')
    return t.hooks.length === 0
      ? 'helm test passed (the chart has no test hooks)'
      : `helm test passed: ${t.hooks.map((h) => h.name).join(', ')}${more}`;
  const failed = failedHooks(t);
  const passed = t.hooks.filter((h) => h.phase === 'Succeeded');
  const which =
    failed.length > 0 ? failed.map((h) => `${h.name} ${h.phase}`).join(', ') : (t.reason ?? 'unknown');
  return `helm test failed: ${which}${passed.length ? ` (${passed.map((h) => h.name).join(', ')} passed)` : ''}`;
}

/** Every hook helm ran with its phase: `tests: web-test-connection Succeeded, web-test-smoke Failed`. */
export function formatTestHooks(t: ReleaseTests): string {
  if (t.hooks.length === 0) return 'tests: none in the chart';
  const more = t.omittedHooks ? ` and ${t.omittedHooks} more` : '';
  return `tests: ${t.hooks.map((h) => `${h.name} ${h.phase}`).join(', ')}${more}`;
}

/**
 * Per environment, one clause over the releases that ran tests: `helm test passed (2 releases)` or
 * `helm test failed: front (front-test-smoke)`. Undefined when no release ran tests.
 */
export function testsSummary(
  releases: ReadonlyArray<{ name: string; tests?: ReleaseTests | undefined }> | undefined,
): string | undefined {
  const tested = (releases ?? []).filter((r) => r.tests);
  if (tested.length === 0) return undefined;
  const failed = tested.filter((r) => r.tests?.outcome === 'failed');
  if (failed.length === 0)
    return `helm test passed (${tested.length} release${tested.length === 1 ? '' : 's'})`;
  return `helm test failed: ${failed
    .map((r) => {
      const hooks = failedHooks(r.tests as ReleaseTests).map((h) => h.name);
      return hooks.length ? `${r.name} (${hooks.join(', ')})` : r.name;
    })
    .join('; ')}`;
}
