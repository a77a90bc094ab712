import { ACTIVE_STATUSES, type Deployment, isNewer } from './lifecycle';

/**
 * `helmgate retry <id>` (issue 13, item 9), as one pure rule: a deployment that failed WHILE RUNNING is
 * run again as a new deployment of the same commit, bound to the same plan digest (the runner refuses
 * any other plan). Where the environment needs approval, the failed deployment's approval still holds
 * when it was given, has not expired, and was bound to that same plan digest; otherwise the retry waits
 * for a fresh approval. A deployment that never ran (it could not be planned, its earlier stage failed,
 * it was rejected) is not retried: push again, or `helmgate redeploy`.
 *
 * A retry only while nothing newer of the environment runs, ran or may still run (security review of
 * issue 13): the retry is created now, so the lifecycle's `created` step would take it for the newest
 * deployment, supersede a newer commit's deployment that waits, and (its approval carried over) put
 * the older commit back over a newer one without the rollback confirmation a vote asks for. So a
 * deployment created after the failed one — by the lifecycle's own order (`isNewer`) — that is
 * waiting, queued or running, or that started (succeeded, failed, rendered), refuses the retry:
 * redeploy or roll back instead, which go through approval with the change in view. A newer one that
 * ended without ever starting (superseded, rejected, expired, blocked) changed nothing and does not.
 */

/** What the rule needs of the failed deployment's approval request. */
export interface RetryApprovalFacts {
  status: string;
  planDigest: string;
  expiresAtMs: number;
  decidedBy?: string;
}

export type RetryDecision =
  | { kind: 'refuse'; reason: string }
  | {
      kind: 'retry';
      status: 'queued' | 'awaiting_approval';
      planDigest: string;
      /** why the new deployment may run at once, or why it waits */
      reason: string;
    };

/**
 * The newest deployment of the environment that rules out a retry of `failed` (see above), or
 * undefined. `environment` is the environment's deployments in any order; `failed` itself and its
 * own retry are not counted.
 */
export function newerThanFailed(
  failed: Pick<Deployment, 'id' | 'createdAt' | 'repository' | 'environment'>,
  environment: readonly Deployment[],
): Deployment | undefined {
  return environment
    .filter(
      (o) =>
        o.id !== failed.id &&
        o.retryOf !== failed.id &&
        o.repository === failed.repository &&
        o.environment === failed.environment &&
        isNewer(o, failed) &&
        (ACTIVE_STATUSES.includes(o.status) || o.startedAt !== undefined),
    )
    .sort((a, b) => (isNewer(a, b) ? -1 : 1))[0];
}

/** The one refusal when a newer deployment exists (409 on every channel). */
export function newerExistsReason(newer: Pick<Deployment, 'id' | 'environment' | 'sha' | 'status'>): string {
  return `a newer deployment ${newer.id} of ${newer.environment} exists (${newer.sha.slice(0, 12)}, ${newer.status}); redeploy or roll back instead`;
}

export function retryDecision(input: {
  failed: Deployment;
  request: RetryApprovalFacts | undefined;
  nowMs: number;
  /** the environment's deployments (newest first is enough): a newer one refuses the retry */
  environment: readonly Deployment[];
}): RetryDecision {
  const { failed, request } = input;
  if (failed.status !== 'failed')
    return {
      kind: 'refuse',
      reason: `deployment ${failed.id} is ${failed.status}: only a failed one is retried`,
    };
  if (!failed.startedAt || !failed.planDigest)
    return {
      kind: 'refuse',
      reason: `deployment ${failed.id} never ran (${failed.reason ?? 'no reason recorded'}): push again or redeploy`,
    };
  const newer = newerThanFailed(failed, input.environment);
  if (newer) return { kind: 'refuse', reason: newerExistsReason(newer) };
  const planDigest = failed.planDigest;
  if (failed.approval !== 'required')
    return { kind: 'retry', status: 'queued', planDigest, reason: `retry of ${failed.id}` };
  if (!request || request.status !== 'approved')
    return {
      kind: 'retry',
      status: 'awaiting_approval',
      planDigest,
      reason: `retry of ${failed.id}: it has no approval to reuse, so it waits for one`,
    };
  if (input.nowMs >= request.expiresAtMs)
    return {
      kind: 'retry',
      status: 'awaiting_approval',
      planDigest,
      reason: `retry of ${failed.id}: its approval expired at ${new Date(request.expiresAtMs).toISOString()}, so it waits for a new one`,
    };
  if (request.planDigest !== planDigest)
    return {
      kind: 'retry',
      status: 'awaiting_approval',
      planDigest,
      reason: `retry of ${failed.id}: its approval was for another plan, so it waits for a new one`,
    };
  return {
    kind: 'retry',
    status: 'queued',
    planDigest,
    reason: `retry of ${failed.id}: its approval${request.decidedBy ? ` by ${request.decidedBy}` : ''} holds until ${new Date(request.expiresAtMs).toISOString()} for the same plan`,
  };
}
