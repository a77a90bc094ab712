import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import pRetry, { AbortError } from 'p-retry';
import type { Clock } from '../clock';
import { describeError } from '../errors';
import { isExecError, tailLines } from '../exec/command-runner';
import type { Logger } from '../log/logger';
import { cryptoRandom } from '../random';
import type { FailureClassification } from './failure-classifier';
import {
  type HelmHistoryEntry,
  type HelmReleaseInput,
  type HelmRunner,
  isHelmError,
  PENDING_STATES,
} from './helm-runner';

export interface RetryPolicy {
  /** Total tries of the upgrade, the first included. */
  attempts: number;
  /** Back-off before retry n is uniform in [0, min(capMs, baseMs·2^(n-1))) — "full jitter". */
  baseMs: number;
  capMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { attempts: 4, baseMs: 2_000, capMs: 30_000 };
/** Kept back from the deadline: helm must have exited, and results be recorded, before it. */
export const DEFAULT_SAFETY_MARGIN_MS = 20_000;
/** An attempt that cannot get at least this much helm `--timeout` is not started. */
export const DEFAULT_MIN_ATTEMPT_SECONDS = 30;

export interface ReleaseDeployerDeps {
  helm: HelmRunner;
  clock: Clock;
  /** Waits between attempts; tests pass one that returns at once (and records the delays). */
  sleep: (ms: number) => Promise<void>;
  /** [0, 1), for the jitter; default from the crypto random source (the jitter needs no more than that). */
  random?: () => number;
  logger?: Logger;
  retry?: Partial<RetryPolicy>;
  safetyMarginMs?: number;
  minAttemptSeconds?: number;
}

export interface DeployReleaseInput extends HelmReleaseInput {
  /** The release's helm `--timeout` from the deploy config; clamped to the time left. */
  timeoutSeconds: number;
  wait?: boolean;
  /** Absolute epoch ms the invocation must be done by (Lambda: now + getRemainingTimeInMillis()). */
  deadline: number;
  signal?: AbortSignal;
}

export interface RecoveredRelease {
  /** the pending-* state the release was found in */
  from: string;
  /** the revision it was rolled back to; absent when a first install that never deployed was uninstalled */
  toRevision?: number;
}

export interface DeployReleaseResult {
  /** `deferred`: not enough time left in this invocation; hand the release to a fresh one. */
  status: 'succeeded' | 'failed' | 'deferred';
  revision?: number;
  attempts: number;
  durationMs: number;
  reason?: string;
  classification?: FailureClassification;
  /** The last lines of helm's stderr, redacted. */
  errorTail?: string;
  recovered?: RecoveredRelease;
  /**
   * The release's latest revision before this call's first upgrade (after any recovery); null when it
   * was not installed. Absent when it was never read (deferred before the first attempt). A failed
   * upgrade is undone against it (undoFailedUpgrade).
   */
  before?: number | null;
  /**
   * The release's latest revision just before the last upgrade attempt (as `before`, read again before
   * each retry): the revision a failed last attempt wrote is the next one, and only that one is undone.
   */
  beforeLastAttempt?: number | null;
}

export interface RenderReleaseResult {
  status: 'rendered' | 'failed';
  attempts: number;
  durationMs: number;
  outputDir: string;
  reason?: string;
  classification?: FailureClassification;
  errorTail?: string;
}

export type TimeBudget =
  | { kind: 'run'; timeoutSeconds: number; processTimeoutMs: number }
  | { kind: 'defer'; reason: string };

/**
 * How long helm may run now: the release's timeout, clamped to what is left before the deadline minus the
 * safety margin; `defer` when that is less than the minimum an attempt needs. The process itself is killed
 * at half the margin past helm's timeout, so even a hung helm is gone before the deadline.
 */
export function timeBudget(opts: {
  timeoutSeconds: number;
  deadline: number;
  now: number;
  safetyMarginMs?: number;
  minAttemptSeconds?: number;
  /** time that must pass first (the back-off before a retry) */
  delayMs?: number;
}): TimeBudget {
  const margin = opts.safetyMarginMs ?? DEFAULT_SAFETY_MARGIN_MS;
  const min = opts.minAttemptSeconds ?? DEFAULT_MIN_ATTEMPT_SECONDS;
  const usableMs = opts.deadline - opts.now - (opts.delayMs ?? 0) - margin;
  const seconds = Math.min(opts.timeoutSeconds, Math.floor(usableMs / 1000));
  if (seconds < min) {
    return {
      kind: 'defer',
      reason: `not enough time left in this invocation (${Math.max(0, Math.floor(usableMs / 1000))}s usable, ${min}s needed)`,
    };
  }
  return { kind: 'run', timeoutSeconds: seconds, processTimeoutMs: seconds * 1000 + Math.floor(margin / 2) };
}

/** Full-jitter exponential back-off before retry `retry` (1 = the first retry). */
export function backoffDelay(
  retry: number,
  policy: Pick<RetryPolicy, 'baseMs' | 'capMs'>,
  random: () => number,
): number {
  const ceiling = Math.min(policy.capMs, policy.baseMs * 2 ** Math.max(0, retry - 1));
  return Math.floor(random() * ceiling);
}

/** Raised inside an attempt to stop retrying and hand the release over. */
class DeferRelease extends Error {
  override name = 'DeferRelease';
}

/**
 * Deploys one release with `helm upgrade --install`:
 * 1. checks the release's status; `pending-install/upgrade/rollback` means a killed run (the caller holds
 *    the environment lock, so no live helm can be holding it) and is recovered first: rolled back to the
 *    last deployed revision, or uninstalled when it was a first install that never deployed;
 * 2. retries with full-jitter back-off only failures classified `transient`, and `stuck` ones after the
 *    stuck-release check runs again; permanent failures stop at once;
 * 3. never lets helm run past `deadline` (minus the safety margin): `--timeout` is clamped, and an attempt
 *    that cannot get its minimum is not started — the result is `deferred`.
 */
export async function deployRelease(
  deps: ReleaseDeployerDeps,
  input: DeployReleaseInput,
): Promise<DeployReleaseResult> {
  const policy = { ...DEFAULT_RETRY_POLICY, ...deps.retry };
  const random = deps.random ?? (() => cryptoRandom.bytes(4).readUInt32BE(0) / 2 ** 32);
  const now = () => deps.clock.now().getTime();
  const started = now();
  const budget = (delayMs = 0) =>
    timeBudget({
      timeoutSeconds: input.timeoutSeconds,
      deadline: input.deadline,
      now: now(),
      delayMs,
      ...(deps.safetyMarginMs !== undefined ? { safetyMarginMs: deps.safetyMarginMs } : {}),
      ...(deps.minAttemptSeconds !== undefined ? { minAttemptSeconds: deps.minAttemptSeconds } : {}),
    });
  const log = deps.logger?.child({ release: input.release, namespace: input.namespace });

  let attempts = 0;
  let checkPending = true;
  let phase: 'status' | 'recovery' | 'upgrade' = 'status';
  let recovered: RecoveredRelease | undefined;
  let before: number | null | undefined;
  let beforeLastAttempt: number | null | undefined;

  const attempt = async (attemptNumber: number): Promise<number> => {
    let b = budget();
    if (attemptNumber > 1) {
      const delay = backoffDelay(attemptNumber - 1, policy, random);
      b = budget(delay);
      if (b.kind === 'defer') throw new AbortError(new DeferRelease(b.reason));
      await deps.sleep(delay);
      b = budget();
    }
    if (b.kind === 'defer') throw new AbortError(new DeferRelease(b.reason));
    attempts++;
    if (checkPending) {
      phase = 'status';
      const { recovered: r, current } = await recoverIfPending(deps, input, b, (p) => {
        phase = p;
      });
      // what a failed upgrade is undone against: the latest revision before this call's first upgrade
      // (a recovery's rollback wrote the next one; its uninstall left none)
      const latest = !r ? current : r.toRevision !== undefined && current !== null ? current + 1 : null;
      if (before === undefined) before = latest;
      beforeLastAttempt = latest;
      if (r) {
        recovered = r;
        log?.warn('recovered a release left pending by an earlier run', {
          from: r.from,
          toRevision: r.toRevision,
        });
        b = budget();
        if (b.kind === 'defer') throw new AbortError(new DeferRelease(b.reason));
      }
      checkPending = false;
    } else {
      // a retry: an earlier attempt may have written a revision, and only the last one's is undone
      phase = 'status';
      beforeLastAttempt = (await deps.helm.status(input.release, input.namespace))?.revision ?? null;
    }
    phase = 'upgrade';
    const { revision } = await deps.helm.upgradeInstall({
      release: input.release,
      namespace: input.namespace,
      chart: input.chart,
      valuesFiles: input.valuesFiles,
      ...(input.secretValues ? { secretValues: input.secretValues } : {}),
      timeoutSeconds: b.timeoutSeconds,
      processTimeoutMs: b.processTimeoutMs,
      ...(input.wait !== undefined ? { wait: input.wait } : {}),
      ...(input.signal ? { signal: input.signal } : {}),
    });
    return revision;
  };

  let lastFailure: unknown;
  try {
    const revision = await pRetry(attempt, {
      retries: Math.max(0, policy.attempts - 1),
      // p-retry's own delay is off (its jitter is not full jitter and it sleeps with real timers): the
      // back-off happens at the start of the next attempt, with the injected sleep, after a deadline check
      minTimeout: 0,
      factor: 1,
      randomize: false,
      onFailedAttempt: ({ error, attemptNumber }) => {
        lastFailure = error;
        const classification = isHelmError(error) ? error.classification : undefined;
        // a stuck release may have been left pending by a run killed in between: check again
        if (classification?.kind === 'stuck') checkPending = true;
        log?.warn('helm attempt failed', {
          attempt: attemptNumber,
          phase,
          kind: classification?.kind,
          cause: classification?.reason,
        });
      },
      shouldRetry: ({ error }) =>
        isHelmError(error) &&
        (error.classification.kind === 'transient' || error.classification.kind === 'stuck'),
    });
    return {
      status: 'succeeded',
      revision,
      attempts,
      durationMs: now() - started,
      ...(recovered ? { recovered } : {}),
      ...(before !== undefined ? { before } : {}),
      ...(beforeLastAttempt !== undefined ? { beforeLastAttempt } : {}),
    };
  } catch (e) {
    const durationMs = now() - started;
    if (e instanceof DeferRelease) {
      const after = failureFields(lastFailure, phase);
      return {
        status: 'deferred',
        attempts,
        durationMs,
        reason: after.reason ? `${e.message}; last attempt failed: ${after.reason}` : e.message,
        ...(after.classification ? { classification: after.classification } : {}),
        ...(after.errorTail ? { errorTail: after.errorTail } : {}),
        ...(recovered ? { recovered } : {}),
        ...(before !== undefined ? { before } : {}),
        ...(beforeLastAttempt !== undefined ? { beforeLastAttempt } : {}),
      };
    }
    return {
      status: 'failed',
      attempts,
      durationMs,
      ...failureFields(e, phase),
      ...(recovered ? { recovered } : {}),
      ...(before !== undefined ? { before } : {}),
      ...(beforeLastAttempt !== undefined ? { beforeLastAttempt } : {}),
    };
  }
}

async function recoverIfPending(
  deps: ReleaseDeployerDeps,
  input: DeployReleaseInput,
  b: Extract<TimeBudget, { kind: 'run' }>,
  enter: (phase: 'recovery') => void,
): Promise<{ recovered?: RecoveredRelease; current: number | null }> {
  const current = await deps.helm.status(input.release, input.namespace);
  if (!current || !PENDING_STATES.includes(current.status)) return { current: current?.revision ?? null };
  enter('recovery');
  const history = await deps.helm.history(input.release, input.namespace);
  const target = rollbackTarget(history, current.revision);
  const opts = {
    timeoutSeconds: b.timeoutSeconds,
    processTimeoutMs: b.processTimeoutMs,
    ...(input.wait !== undefined ? { wait: input.wait } : {}),
    ...(input.signal ? { signal: input.signal } : {}),
  };
  if (target !== undefined) {
    await deps.helm.rollback(input.release, input.namespace, target, opts);
    return { recovered: { from: current.status, toRevision: target }, current: current.revision };
  }
  await deps.helm.uninstall(input.release, input.namespace, opts);
  return { recovered: { from: current.status }, current: current.revision };
}

/** What undoing a failed upgrade did (undoFailedUpgrade). */
export type UndoResult =
  | { outcome: 'rolled-back'; to: number }
  | { outcome: 'uninstalled' }
  /** helm made no revision (a template or API error before it wrote one): the release is as it was */
  | { outcome: 'unchanged' }
  /**
   * the latest revision is not the one this upgrade wrote (another writer of the same release name in the
   * same namespace — helmgate locks per environment only): nothing is touched
   */
  | { outcome: 'left'; reason: string }
  | { outcome: 'failed'; to?: number; reason: string };

/**
 * Undoes a failed `upgrade --install`, as helm's `--rollback-on-failure` did, but only after the runner
 * has read the failing pods (issue 13, item 2): the revision the failure left is rolled back to the one
 * that ran before (the latest earlier `deployed`, see rollbackTarget); a first install that failed is
 * uninstalled, so no broken release is left behind (it never served, and the next deployment installs it
 * afresh). `before` is the latest revision before the upgrade (DeployReleaseResult.before): when helm
 * wrote no newer one, nothing is touched. Only the revision the last attempt wrote is undone: the latest
 * revision must be `beforeLastAttempt + 1` and `failed` or `pending-*`; anything else was written by
 * someone else (two environments whose deploy.yaml name the same release in the same namespace, each
 * holding only its own lock) and is left as it is, said in the result. Never throws.
 */
export async function undoFailedUpgrade(
  deps: Pick<ReleaseDeployerDeps, 'helm'>,
  input: {
    release: string;
    namespace: string;
    before: number | null;
    /** DeployReleaseResult.beforeLastAttempt */
    beforeLastAttempt: number | null;
    timeoutSeconds: number;
    processTimeoutMs: number;
    signal?: AbortSignal;
  },
): Promise<UndoResult> {
  const opts = {
    timeoutSeconds: input.timeoutSeconds,
    processTimeoutMs: input.processTimeoutMs,
    ...(input.signal ? { signal: input.signal } : {}),
  };
  let to: number | undefined;
  try {
    const history = await deps.helm.history(input.release, input.namespace);
    const last = history.reduce<HelmHistoryEntry | undefined>(
      (m, h) => (m && m.revision >= h.revision ? m : h),
      undefined,
    );
    const latest = last?.revision ?? 0;
    if (!last || (input.before !== null && latest <= input.before)) return { outcome: 'unchanged' };
    const wrote = (input.beforeLastAttempt ?? 0) + 1;
    if (latest !== wrote || !(last.status === 'failed' || PENDING_STATES.includes(last.status)))
      return {
        outcome: 'left',
        reason: `not undone: its latest revision r${latest} (${last.status}) is not the one this upgrade wrote (r${wrote}), so it is someone else's`,
      };
    if (input.before === null) {
      await deps.helm.uninstall(input.release, input.namespace, opts);
      return { outcome: 'uninstalled' };
    }
    to = rollbackTarget(history, latest);
    if (to === undefined) return { outcome: 'failed', reason: 'no earlier revision to return to' };
    await deps.helm.rollback(input.release, input.namespace, to, opts);
    return { outcome: 'rolled-back', to };
  } catch (e) {
    return {
      outcome: 'failed',
      ...(to !== undefined ? { to } : {}),
      reason: isHelmError(e) ? `${e.classification.reason}: ${e.message}` : describeError(e),
    };
  }
}

/**
 * The revision a pending release goes back to: the latest earlier `deployed` one, else the latest
 * `superseded`, else the latest earlier revision at all; undefined for a first install (nothing earlier).
 */
export function rollbackTarget(
  history: readonly HelmHistoryEntry[],
  pendingRevision: number,
): number | undefined {
  const earlier = history.filter((h) => h.revision < pendingRevision && !PENDING_STATES.includes(h.status));
  const latest = (status?: string) =>
    earlier
      .filter((h) => status === undefined || h.status === status)
      .sort((a, b) => b.revision - a.revision)[0]?.revision;
  return latest('deployed') ?? latest('superseded') ?? latest();
}

function failureFields(
  e: unknown,
  phase: 'status' | 'recovery' | 'upgrade',
): { reason?: string; classification?: FailureClassification; errorTail?: string } {
  if (e === undefined) return {};
  const prefix = phase === 'recovery' ? 'recovering the pending release failed: ' : '';
  if (isHelmError(e)) {
    return {
      reason: `${prefix}${e.classification.reason}: ${e.message}`,
      classification: e.classification,
      ...(e.stderrTail ? { errorTail: tailLines(e.stderrTail) } : {}),
    };
  }
  const classification: FailureClassification = { kind: 'permanent', reason: 'helm could not run' };
  return {
    reason: `${prefix}${describeError(e)}`,
    classification,
    ...(isExecError(e) && e.stderrTail ? { errorTail: e.stderrTail } : {}),
  };
}

/**
 * Render-only mode (no cluster): `helm template`, written to `<outputDir>/manifest.yaml`. helm prints
 * to stdout, which is redacted before it is written, so a secret value never reaches the disk (helm's
 * own `--output-dir` would write it as rendered). One attempt: rendering is not flaky.
 */
export async function renderRelease(
  deps: Pick<ReleaseDeployerDeps, 'helm' | 'clock'>,
  input: HelmReleaseInput & { outputDir: string },
): Promise<RenderReleaseResult> {
  const started = deps.clock.now().getTime();
  try {
    const { outputDir, ...release } = input;
    const manifest = await deps.helm.template(release);
    await mkdir(outputDir, { recursive: true });
    await writeFile(path.join(outputDir, 'manifest.yaml'), manifest);
    return {
      status: 'rendered',
      attempts: 1,
      durationMs: deps.clock.now().getTime() - started,
      outputDir: input.outputDir,
    };
  } catch (e) {
    return {
      status: 'failed',
      attempts: 1,
      durationMs: deps.clock.now().getTime() - started,
      outputDir: input.outputDir,
      ...failureFields(e, 'upgrade'),
    };
  }
}
