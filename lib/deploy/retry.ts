import type { Deployment } from './lifecycle';

/**
 * `helmgate retry <id>` (issue 13, item 9), as one pure rule: a deployment that failed WHILE RUNNING is
 * run again as a new deployment of the same commit, bound to the same plan digest (the runner refuses
 * any other plan). Where the environment needs approval, the failed deployment's approval still holds
 * when it was given, has not expired, and was bound to that same plan digest; otherwise the retry waits
 * for a fresh approval. A deployment that never ran (it could not be planned, its earlier stage failed,
 * it was rejected) is not retried: push again, or `helmgate redeploy`.
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

export function retryDecision(input: {
  failed: Deployment;
  request: RetryApprovalFacts | undefined;
  nowMs: number;
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
