import type { Deployment, ReleaseResult } from '../deploy/lifecycle';
import type { EnvironmentPlan } from '../deploy/plan';
import type { PlanSnapshot } from '../deploy/plan-diff';
import { type PruneCandidate, pruneDecision } from '../deploy/prune';
import { describeError } from '../errors';
import type { Logger } from '../log/logger';
import type { Redactor } from '../log/redact';
import { environmentPolicy, type Policy } from '../policy/policy';
import type { DeploymentStore } from '../store/deployment-store';

/** The environment's plan snapshot (written by the approval service at each success). */
export const PLAN_SNAPSHOT_KIND = 'PLANSNAP';

/** The id of an environment's plan snapshot item. */
export function planSnapshotId(d: Pick<Deployment, 'repository' | 'environment'>): string {
  return `${d.repository}#${d.environment}`;
}

interface PruneSession {
  uninstallRelease?(release: PruneCandidate): Promise<void>;
}

/**
 * After every release of a deployment succeeded: uninstalls what the pure prune rule says (releases
 * helmgate deployed last time that are no longer in the plan, where the policy allows it and, under
 * approval, the approval showed them as removed). Returns one result per uninstalled or kept release;
 * a failed uninstall is a failed result.
 */
export async function pruneRemoved(
  deps: {
    store: DeploymentStore;
    policy: Policy;
    logger: Logger;
    redactor: Redactor;
    clock: { now(): Date };
  },
  ctx: {
    deployment: Deployment;
    plan: EnvironmentPlan;
    session: PruneSession;
    stateKind: string;
    /** the environment's plan snapshot as the caller just read it (saves the read); absent: read here */
    snapshot?: { item: { snapshotJson?: string } | undefined };
  },
): Promise<ReleaseResult[]> {
  const { deployment: d, plan } = ctx;
  const snap = ctx.snapshot
    ? ctx.snapshot.item
    : await deps.store.getItem<{ snapshotJson?: string }>(PLAN_SNAPSHOT_KIND, planSnapshotId(d));
  const previous = snap?.snapshotJson ? (JSON.parse(snap.snapshotJson) as PlanSnapshot).releases : undefined;
  if (!previous?.some((r) => !plan.releases.some((p) => p.name === r.name))) return [];
  const request = plan.approval === 'required' ? await deps.store.getApprovalRequest(d.id) : undefined;
  const decision = pruneDecision({
    environment: d.environment,
    previous,
    planned: plan.releases,
    prune: environmentPolicy(deps.policy, d.repository, d.environment)?.prune ?? 'forbid',
    approval: plan.approval,
    approvedRemovals:
      request?.planDigest === plan.digest
        ? request.changes.filter((c) => c.change === 'removed').map((c) => c.name)
        : undefined,
  });
  const results: ReleaseResult[] = decision.kept.map((k) => ({
    name: k.name,
    namespace: k.namespace,
    status: 'skipped',
    pruned: 'kept',
    reason: `removed from deploy.yaml, not uninstalled: ${k.why}`,
    attempts: 0,
  }));
  for (const r of decision.uninstall) {
    const started = deps.clock.now().getTime();
    try {
      if (!ctx.session.uninstallRelease) throw new Error('this cluster session cannot uninstall');
      await ctx.session.uninstallRelease(r);
      // a release added back later is installed again, not skipped as unchanged
      await deps.store.putItem(ctx.stateKind, `${d.repository}#${d.environment}#${r.name}`, {
        digest: 'uninstalled',
        revision: 0,
        deploymentId: d.id,
        at: deps.clock.now().toISOString(),
      });
      deps.logger.info('release uninstalled: removed from deploy.yaml', {
        deploymentId: d.id,
        release: r.name,
      });
      results.push({
        ...r,
        status: 'succeeded',
        pruned: 'uninstalled',
        reason: 'uninstalled: removed from deploy.yaml',
        attempts: 1,
        durationMs: deps.clock.now().getTime() - started,
      });
    } catch (e) {
      results.push({
        ...r,
        status: 'failed',
        reason: deps.redactor.redact(
          `uninstalling it (removed from deploy.yaml) failed: ${describeError(e)}`,
        ),
        attempts: 1,
      });
    }
  }
  return results;
}
