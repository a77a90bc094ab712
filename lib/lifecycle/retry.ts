import { createHash } from 'node:crypto';
import type { Deployment } from '../deploy/lifecycle';
import { newerExistsReason, newerThanFailed, retryDecision } from '../deploy/retry';
import { HelmgateError } from '../errors';
import { type ApplyDeps, handle } from './apply';

/**
 * The one retry a failed deployment may have: its id follows from the failed one's, so two presses
 * (a double click, the CLI and the dashboard at once) create one retry, and the second learns which.
 */
export function retryIdOf(failed: Pick<Deployment, 'id' | 'environment' | 'sha'>): string {
  const h = createHash('sha256').update(`retry\0${failed.id}`).digest('hex').slice(0, 10);
  return `${failed.sha.slice(0, 7)}-${failed.environment.replace(/[^\w-]/g, '_')}-r${h}`;
}

/** The deployment was retried already: `retryId` names its retry (HTTP 409; the dashboard shows it). */
export class AlreadyRetriedError extends HelmgateError {
  override name = 'AlreadyRetriedError';
  readonly retryId: string;
  constructor(failedId: string, retry: Pick<Deployment, 'id' | 'status'>) {
    super('conflict', `deployment ${failedId} was retried already as ${retry.id} (${retry.status})`);
    this.retryId = retry.id;
  }
}

export interface RetryDeps extends ApplyDeps {
  /** the failed deployment's approval request, if it had one */
  approvalOf(
    deploymentId: string,
  ): Promise<{ status: string; planDigest: string; expiresAtMs: number; decidedBy?: string } | undefined>;
}

export interface RetryInput {
  id: string;
  /** who asked: `cli:<principal>`, `github:<login>` */
  actor: string;
  via: string;
  /**
   * Whether this person may approve the environment: only then does the failed deployment's approval
   * carry over to the retry; anyone else's retry waits for a fresh approval.
   */
  mayApprove: boolean;
  /**
   * The asker's GitHub login (a web login, or a Slack id / CLI principal mapped to one), when known.
   * When the retry waits for approval it is added to the retry's `involved`: whoever asked for it may
   * not approve it alone, as the requester of a `helmgate redeploy` may not (four eyes).
   */
  login?: string;
}

export interface RetryResult {
  retry: Deployment;
  /** why it runs at once or waits */
  reason: string;
}

/**
 * Creates the one retry of a failed deployment (same commit, same plan digest) and hands it to the
 * lifecycle exactly as a push would: `created` supersedes older waiting deployments of the environment,
 * dispatches a queued one, and has a waiting one planned and offered for approval.
 */
export async function retryDeployment(deps: RetryDeps, input: RetryInput): Promise<RetryResult> {
  const failed = await deps.store.getDeployment(input.id);
  if (!failed) throw new HelmgateError('not_found', `no deployment ${input.id}`);
  const retryId = retryIdOf(failed);
  const earlier = await deps.store.getDeployment(retryId);
  if (earlier) throw new AlreadyRetriedError(failed.id, earlier);
  const now = deps.clock.now();
  const at = now.toISOString();
  const refuse = async (reason: string): Promise<never> => {
    // audited like "not an approver": who asked, how, and why not
    await deps.store.appendAudit({
      deploymentId: failed.id,
      at: deps.clock.now().toISOString(),
      actor: input.actor,
      via: input.via,
      action: 'retry',
      outcome: 'refused: conflict',
      detail: reason,
    });
    throw new HelmgateError('conflict', reason);
  };
  const request = failed.approval === 'required' ? await deps.approvalOf(failed.id) : undefined;
  const environment = () =>
    deps.store.listByEnvironment(failed.repository, failed.environment, { limit: 50 });
  const decision = retryDecision({
    failed,
    request,
    nowMs: now.getTime(),
    environment: await environment(),
  });
  if (decision.kind === 'refuse') return refuse(decision.reason);
  let { status, reason } = decision;
  if (status === 'queued' && failed.approval === 'required' && !input.mayApprove) {
    status = 'awaiting_approval';
    reason = `retry of ${failed.id}: ${input.actor} may not approve ${failed.environment}, so it waits for approval`;
  }
  // the four-eyes rule sees everyone the failed deployment had (authors, committers, merger, a CLI
  // requester's login) and, for a retry that waits for approval, whoever asked for it
  const involved = [
    ...new Set([
      ...(failed.involved ?? []),
      ...(status === 'awaiting_approval' && input.login ? [input.login.toLowerCase()] : []),
    ]),
  ];
  const retry: Deployment = {
    id: retryId,
    repository: failed.repository,
    environment: failed.environment,
    sha: failed.sha,
    ref: failed.ref,
    status,
    approval: failed.approval,
    planDigest: decision.planDigest,
    ...(failed.pusher ? { pusher: failed.pusher } : {}),
    ...(involved.length ? { involved } : {}),
    ...(failed.commitMessage ? { commitMessage: failed.commitMessage } : {}),
    ...(failed.commitUrl ? { commitUrl: failed.commitUrl } : {}),
    ...(failed.policy ? { policy: failed.policy } : {}),
    ...(failed.requestedApprovers ? { requestedApprovers: failed.requestedApprovers } : {}),
    createdAt: at,
    updatedAt: at,
    trigger: 'retry',
    retryOf: failed.id,
    requestedBy: input.actor,
    reason,
  };
  if (!(await deps.store.createDeployment(retry))) {
    // another press won the race: it is the one retry
    const winner = await deps.store.getDeployment(retryId);
    throw new AlreadyRetriedError(failed.id, winner ?? retry);
  }
  // a deployment created while we looked (a push racing the press): the retry gives way to it before
  // anything else sees it, so it never supersedes a newer commit's deployment
  const after = await environment();
  const racing = newerThanFailed(
    failed,
    after.filter((o) => o.id !== retry.id),
  );
  if (racing) {
    await handle(deps, { type: 'superseded', target: retry, by: racing }, {});
    return refuse(newerExistsReason(racing));
  }
  for (const [id, outcome, detail] of [
    [retry.id, 'created', reason],
    [failed.id, 'retried', `as ${retry.id}`],
  ] as const)
    await deps.store.appendAudit({
      deploymentId: id,
      at,
      actor: input.actor,
      via: input.via,
      action: 'retry',
      outcome,
      detail,
    });
  await deps.notifier.deploymentChanged(retry);
  await handle(
    deps,
    { type: 'created', deployment: retry, offer: status === 'awaiting_approval' },
    { environment: after },
  );
  return { retry: (await deps.store.getDeployment(retry.id)) ?? retry, reason };
}
