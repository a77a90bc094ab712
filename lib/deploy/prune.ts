import type { ApprovalMode } from './deploy-config';

/**
 * Pruning (issue 13, item 5), as one pure rule: a release helmgate deployed last time (the environment's
 * plan snapshot) that is no longer in the plan is uninstalled by this deployment only when
 * - the operator's policy for the environment says `prune: allow` (the default is `forbid`), and
 * - where the environment needs approval, the approval showed it as removed (the line was in view).
 * Everything else is kept, with the reason.
 */

export interface PruneCandidate {
  name: string;
  namespace: string;
}

export interface PruneDecision {
  uninstall: PruneCandidate[];
  kept: Array<PruneCandidate & { why: string }>;
}

export function pruneDecision(input: {
  environment: string;
  /** what helmgate last deployed to the environment */
  previous: readonly PruneCandidate[] | undefined;
  /** what this deployment deploys */
  planned: readonly PruneCandidate[];
  prune: 'allow' | 'forbid';
  approval: ApprovalMode;
  /** release names the approval showed as removed (approval `required` only) */
  approvedRemovals: readonly string[] | undefined;
}): PruneDecision {
  const inPlan = new Set(input.planned.map((r) => r.name));
  const candidates = (input.previous ?? []).filter((r) => !inPlan.has(r.name));
  const out: PruneDecision = { uninstall: [], kept: [] };
  for (const c of candidates) {
    if (input.prune !== 'allow')
      out.kept.push({ ...c, why: `the policy of ${input.environment} does not allow pruning` });
    else if (input.approval === 'required' && !(input.approvedRemovals ?? []).includes(c.name))
      out.kept.push({ ...c, why: 'its removal was not in view when this deployment was approved' });
    else out.uninstall.push({ name: c.name, namespace: c.namespace });
  }
  return out;
}
