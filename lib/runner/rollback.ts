import type { PlannedRelease } from '../deploy/plan';
import { describeError } from '../errors';
import type { Logger } from '../log/logger';

/** The part of a cluster session a rollback needs (structurally ClusterSession's; no import: no cycle). */
export interface RollbackSession {
  /** helm's latest revision of the release (`helm status`), read before it is rolled back */
  releaseStatus(release: PlannedRelease): Promise<{ status: string; revision: number } | undefined>;
  rollbackRelease?(release: PlannedRelease, revision: number, deadline: number): Promise<void>;
}

/** One release's part in an environment rollback. */
export interface RollbackStep {
  release: string;
  /** the revision it was rolled back to */
  to?: number;
  /** `uninstalled`: a failed first install (its upgrade failed, nothing ran before it) */
  outcome: 'rolled-back' | 'uninstalled' | 'left' | 'failed';
  reason?: string;
}

/**
 * The order to undo releases in: dependents before what they need (the reverse of the order they were
 * deployed in), limited to `names`. Releases with no order between them keep the plan's order.
 */
export function rollbackOrder(
  releases: ReadonlyArray<Pick<PlannedRelease, 'name' | 'needs'>>,
  names: ReadonlySet<string>,
): string[] {
  const byName = new Map(releases.map((r) => [r.name, r]));
  const done = new Set<string>();
  const forward: string[] = [];
  const visit = (n: string, path: Set<string>) => {
    if (done.has(n) || path.has(n)) return;
    path.add(n);
    for (const dep of byName.get(n)?.needs ?? []) visit(dep, path);
    done.add(n);
    forward.push(n);
  };
  for (const r of releases) visit(r.name, new Set());
  return forward.filter((n) => names.has(n)).reverse();
}

/**
 * Returns every release this deployment changed to the revision that ran before it (issue 13, item 3),
 * dependents first. A release's previous revision is the one before the revision this deployment made
 * (helm numbers revisions one by one); a first install has none and is left installed (uninstalling
 * would delete what it made, data included — an operator decides that). One failing rollback does not
 * stop the others.
 *
 * Only the revision this deployment made is undone, as undoFailedUpgrade (lib/helm/release-deployer.ts)
 * undoes only the revision its attempt wrote: the release's latest revision is read first and must be the
 * one this deployment made. A newer one is someone else's (another repository under the same `*` policy
 * deploying the same release name in the same namespace — helmgate locks per environment only — or an
 * operator's `helm upgrade`) and is left in place, said in the step. helm has no compare-and-swap: a write
 * between that read and the rollback is not seen.
 */
export async function rollbackEnvironment(input: {
  session: RollbackSession;
  releases: readonly PlannedRelease[];
  /** the revision this deployment made, per release it changed */
  changed: ReadonlyMap<string, number>;
  deadline: number;
  logger: Logger;
}): Promise<RollbackStep[]> {
  const byName = new Map(input.releases.map((r) => [r.name, r]));
  const steps: RollbackStep[] = [];
  const rollback = input.session.rollbackRelease;
  for (const name of rollbackOrder(input.releases, new Set(input.changed.keys()))) {
    const revision = input.changed.get(name) as number;
    const release = byName.get(name) as PlannedRelease;
    if (revision <= 1 || !rollback) {
      steps.push({
        release: name,
        outcome: 'left',
        reason: revision <= 1 ? 'first install, nothing ran before' : 'no rollback in this mode',
      });
      continue;
    }
    const to = revision - 1;
    try {
      const latest = (await input.session.releaseStatus(release))?.revision;
      if (latest !== revision) {
        const reason =
          latest === undefined
            ? `no longer installed; this deployment made r${revision}`
            : `its latest revision r${latest} is not r${revision}, the one this deployment made`;
        input.logger.warn(
          'release not rolled back: its latest revision is not the one this deployment made',
          {
            release: name,
            made: revision,
            latest: latest ?? null,
          },
        );
        steps.push({ release: name, outcome: 'left', reason });
        continue;
      }
      await rollback.call(input.session, release, to, input.deadline);
      steps.push({ release: name, to, outcome: 'rolled-back' });
    } catch (e) {
      input.logger.error('rollback failed', { release: name, to, err: e });
      steps.push({ release: name, to, outcome: 'failed', reason: describeError(e) });
    }
  }
  return steps;
}

/** `rolled back to web r3, db r7; app left at its first install` */
export function describeRollback(steps: readonly RollbackStep[]): string {
  const done = steps.filter((s) => s.outcome === 'rolled-back').map((s) => `${s.release} r${s.to}`);
  const uninstalled = steps.filter((s) => s.outcome === 'uninstalled').map((s) => s.release);
  const left = steps.filter((s) => s.outcome === 'left').map((s) => `${s.release} (${s.reason})`);
  const failed = steps
    .filter((s) => s.outcome === 'failed')
    .map((s) => (s.to !== undefined ? `${s.release} to r${s.to}` : s.release));
  const parts = [
    done.length ? `rolled back to ${done.join(', ')}` : uninstalled.length ? '' : 'rolled back nothing',
    ...(uninstalled.length ? [`uninstalled the failed first install of ${uninstalled.join(', ')}`] : []),
    ...(left.length ? [`left in place: ${left.join(', ')}`] : []),
    ...(failed.length ? [`rollback FAILED for ${failed.join(', ')}`] : []),
  ];
  return parts.filter(Boolean).join('; ');
}
