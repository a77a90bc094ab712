import type { Clock } from '../clock';
import {
  type Deployment,
  decide,
  type Facts,
  type Job,
  type LifecycleEvent,
  type Step,
} from '../deploy/lifecycle';
import type { Logger } from '../log/logger';
import type { Notifier } from '../notify/notifier';
import { type DeploymentStore, StoreConflictError } from '../store/deployment-store';

export interface ApplyDeps {
  store: DeploymentStore;
  notifier: Notifier;
  dispatcher: { dispatch(job: Job): Promise<void> };
  clock: Clock;
  logger?: Logger;
}

/** What applying one step did. */
export type Applied =
  | { kind: 'moved'; step: Extract<Step, { kind: 'move' }>; deployment: Deployment; held?: Job }
  /** the conditional write lost: someone moved it first; `current` is what it is now */
  | { kind: 'lost'; step: Extract<Step, { kind: 'move' }>; current?: Deployment }
  | { kind: 'dispatched'; job: Job; held: boolean }
  | { kind: 'none'; reason: string }
  | { kind: 'refused'; reason: string };

export interface ApplyOptions {
  /**
   * Do not dispatch yet: the job is returned in `held` for the caller to dispatch later (the runner
   * lets go of the environment lock first, or the continuation would find it taken).
   */
  holdDispatch?: boolean;
}

/**
 * The one place that performs a lifecycle step: the conditional write (the store refuses a move that
 * is not an edge), the audit entry, the notification, the dispatch. A lost write is not an error: it
 * comes back as `lost` with the deployment as it is now.
 */
export async function apply(deps: ApplyDeps, step: Step, opts: ApplyOptions = {}): Promise<Applied> {
  switch (step.kind) {
    case 'none':
      return { kind: 'none', reason: step.reason };
    case 'refuse':
      return { kind: 'refused', reason: step.reason };
    case 'dispatch':
      if (!opts.holdDispatch) await deps.dispatcher.dispatch(step.job);
      return { kind: 'dispatched', job: step.job, held: opts.holdDispatch === true };
    case 'move': {
      const at = deps.clock.now();
      let moved: Deployment;
      try {
        moved = await deps.store.transition(step.id, step.from, step.to, step.patch, at);
      } catch (e) {
        if (!(e instanceof StoreConflictError)) throw e;
        deps.logger?.info('lifecycle move lost to a concurrent one', {
          deploymentId: step.id,
          move: step.move,
          to: step.to,
          now: e.current?.status,
        });
        return { kind: 'lost', step, ...(e.current ? { current: e.current } : {}) };
      }
      if (step.audit)
        await deps.store.appendAudit({
          deploymentId: step.id,
          at: at.toISOString(),
          ...step.audit,
        });
      await deps.notifier.deploymentChanged(moved);
      if (step.next && !opts.holdDispatch) await deps.dispatcher.dispatch(step.next);
      return {
        kind: 'moved',
        step,
        deployment: moved,
        ...(step.next && opts.holdDispatch ? { held: step.next } : {}),
      };
    }
  }
}

/** Applies steps in order. */
export async function applyAll(
  deps: ApplyDeps,
  steps: readonly Step[],
  opts: ApplyOptions = {},
): Promise<Applied[]> {
  const out: Applied[] = [];
  for (const s of steps) out.push(await apply(deps, s, opts));
  return out;
}

/** decide, then apply: the whole of an entry point's lifecycle work for one event. */
export async function handle(
  deps: ApplyDeps,
  event: LifecycleEvent,
  facts: Omit<Facts, 'now'> = {},
  opts: ApplyOptions = {},
): Promise<Applied[]> {
  return applyAll(deps, decide(event, { ...facts, now: deps.clock.now().toISOString() }), opts);
}

/** The deployment a single-move result left behind: the moved one, else the current one on a lost write. */
export function movedOrCurrent(applied: readonly Applied[]): Deployment | undefined {
  for (const a of applied) {
    if (a.kind === 'moved') return a.deployment;
    if (a.kind === 'lost') return a.current;
  }
  return undefined;
}

/** True when the first move of the result was taken. */
export function tookMove(applied: readonly Applied[]): boolean {
  return applied.some((a) => a.kind === 'moved');
}
