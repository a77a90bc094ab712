import { randomUUID } from 'node:crypto';
import type { Decision, EnvironmentApprovers, VoteOutcome } from '../approval/approval-port';
import { authorize, identify } from '../approval/approver-policy';
import { type Deployment, isTerminal } from '../deploy/lifecycle';
import { HelmgateError } from '../errors';
import { deploymentId } from '../intake/push-intake';
import { handle } from '../lifecycle/apply';
import { overrideFreeze } from '../lifecycle/freeze-override';
import { retryDeployment } from '../lifecycle/retry';
import { type CliDeployment, findDeployment, summarize } from './inspect';
import { type Output, short } from './output';
import { environmentsOf, openTargetCommit } from './plans';
import { WaitProgress } from './progress';
import type { CliTarget } from './target';

export interface WaitOptions {
  wait: boolean;
  timeoutMs: number;
  intervalMs: number;
  sleep: (ms: number) => Promise<void>;
}

/** Statuses that count as "it worked" when the CLI waited for them. */
const GOOD = new Set<Deployment['status']>(['succeeded', 'rendered']);

/**
 * Polls a deployment until it is terminal, writing each transition (and each release's) to stderr.
 * Returns the last state seen and whether it finished in time.
 */
export async function waitForDeployment(
  t: CliTarget,
  o: Output,
  id: string,
  w: WaitOptions,
): Promise<{ deployment: Deployment; finished: boolean }> {
  const started = t.clock.now().getTime();
  const progress = new WaitProgress(o, t.clock);
  for (;;) {
    const d = await t.store.getDeployment(id);
    if (!d) throw new HelmgateError('not_found', `deployment ${id} disappeared`);
    progress.update(d);
    if (isTerminal(d.status)) return { deployment: d, finished: true };
    if (t.clock.now().getTime() - started >= w.timeoutMs) {
      o.note(`${d.id}: still ${d.status} after ${Math.round(w.timeoutMs / 1000)} s; stopped waiting`);
      return { deployment: d, finished: false };
    }
    await w.sleep(w.intervalMs);
  }
}

function reportDispatchFailures(t: CliTarget, o: Output): boolean {
  for (const f of t.dispatcher.failures)
    o.note(`helmgate: ${f.job.deploymentId} could not be handed to the runner: ${f.message}`);
  return t.dispatcher.failures.length === 0;
}

function outcomeText(outcome: VoteOutcome, decision: Decision): string {
  switch (outcome.kind) {
    case 'approved':
      return `approved ${outcome.deploymentId}: ${outcome.dispatched ? 'handed to the runner' : 'it was no longer waiting, nothing dispatched'}`;
    case 'recorded':
      return `recorded your approval of ${outcome.deploymentId}: ${outcome.votes} of ${outcome.required} needed`;
    case 'rejected':
      return `rejected ${outcome.deploymentId}`;
    default:
      return `you already ${decision === 'approve' ? 'approved' : 'rejected'} ${outcome.deploymentId}`;
  }
}

/** `approve` / `reject`: a vote through the approval service, as `cli:<principal>`, audited via `cli`. */
export async function voteCommand(
  t: CliTarget,
  o: Output,
  input: { id: string; decision: Decision; rollback: boolean } & WaitOptions,
): Promise<number> {
  const principal = await t.principal();
  const d = await findDeployment(t, input.id);
  const approvals = await t.approvals();
  const rollback = input.rollback || d.trigger === 'rollback';
  const outcome = await approvals.vote({
    deploymentId: d.id,
    voter: { kind: 'cli', id: principal },
    via: 'cli',
    decision: input.decision,
    ...(rollback ? { rollback: true } : {}),
  });
  const dispatched = reportDispatchFailures(t, o);
  let final: Deployment | undefined;
  let finished = true;
  if (input.wait && input.decision === 'approve' && outcome.kind === 'approved' && dispatched) {
    ({ deployment: final, finished } = await waitForDeployment(t, o, d.id, input));
  }
  o.result(
    { outcome, principal, ...(final ? { deployment: summarize(final) } : {}) },
    () =>
      `${outcomeText(outcome, input.decision)}${final ? `\n${final.id}: ${final.status}${final.reason ? ` (${final.reason})` : ''}` : ''}`,
  );
  if (!dispatched || !finished) return 1;
  return final && !GOOD.has(final.status) ? 1 : 0;
}

async function commitSubject(t: CliTarget, sha: string): Promise<string | undefined> {
  try {
    return (await t.git.output(t.repoDir, ['log', '-1', '--format=%s', sha])) || undefined;
  } catch {
    return undefined;
  }
}

interface CreateInput {
  trigger: 'redeploy' | 'rollback';
  sha: string;
  environment: string;
  force: boolean;
  /** rollback: always through approval */
  requireApproval: boolean;
  rollbackOf?: Deployment;
}

/**
 * Records a deployment the operator asked for, then either dispatches it (no approval needed) or
 * plans it from the local checkout and opens its approval (same offer as after a push).
 */
async function createDeployment(
  t: CliTarget,
  o: Output,
  input: CreateInput,
  w: WaitOptions,
): Promise<number> {
  const principal = await t.principal();
  const repository = await t.repository();
  const tree = await openTargetCommit(t, input.sha, repository);
  try {
    const [environment] = environmentsOf(tree, input.environment) as [string];
    const plan = await tree.plan(environment);
    const needsApproval = input.requireApproval || plan.approval === 'required';
    const now = t.clock.now();
    const earlier = (await t.store.listByEnvironment(repository, environment, { limit: 50 })).find(
      (x) => x.sha === tree.sha,
    );
    const message = earlier?.commitMessage ?? (await commitSubject(t, tree.sha));
    const d: CliDeployment = {
      id: deploymentId(`cli-${input.trigger}-${randomUUID()}`, environment, tree.sha),
      repository,
      environment,
      sha: tree.sha,
      ref: earlier?.ref ?? tree.sha,
      status: needsApproval ? 'awaiting_approval' : 'queued',
      approval: needsApproval ? 'required' : plan.approval,
      // the requester stands where a pusher would: the self-approval rule applies to them, also as
      // the GitHub login their principal maps to (cliToGithub), so they cannot approve from the web
      pusher: principal,
      involved: requesterLogins(
        principal,
        (typeof t.approvers === 'function' ? t.approvers({ repository, environment }) : t.approvers)[
          environment
        ],
      ),
      createdAt: now.toISOString(),
      updatedAt: now.toISOString(),
      ...(message ? { commitMessage: message.slice(0, 2000) } : {}),
      ...(earlier?.commitUrl ? { commitUrl: earlier.commitUrl } : {}),
      ...(input.force ? { force: true } : {}),
      trigger: input.trigger,
      requestedBy: principal,
      ...(input.rollbackOf ? { rollbackOf: input.rollbackOf.id } : {}),
      // the plan was checked against the operator policy (planAt): say which one
      ...(plan.policy ? { policy: plan.policy } : {}),
    };
    if (!(await t.store.createDeployment(d)))
      throw new HelmgateError('conflict', `deployment ${d.id} exists already`);
    await t.store.appendAudit({
      deploymentId: d.id,
      at: now.toISOString(),
      actor: `${principal} (cli)`,
      via: 'cli',
      action: input.trigger,
      outcome: 'created',
      detail: `${environment} @ ${short(tree.sha)}${input.rollbackOf ? ` instead of ${short(input.rollbackOf.sha)} (${input.rollbackOf.id})` : ''}${input.force ? ', forced' : ''}`,
    });
    const notifier = await t.notifier();
    await notifier.deploymentChanged(d);
    // as a push: older deployments of the environment that have not started give way; a queued one
    // is dispatched; one that needs approval is offered here, from the plan we already made
    const applied = await handle(
      { store: t.store, notifier, dispatcher: t.dispatcher, clock: t.clock },
      { type: 'created', deployment: d, offer: false },
      { environment: await t.store.listByEnvironment(repository, environment, { limit: 50 }) },
    );
    const superseded = applied.flatMap((a) => (a.kind === 'moved' ? [a.deployment.id] : []));

    let offer: { approvalUrl?: string; expiresAt?: string; summary: string[] } | undefined;
    if (needsApproval) {
      const approvals = await t.approvals();
      const previous = await approvals.currentSnapshot(repository, environment);
      offer = await approvals.offer(d.id, { plan, ...(previous ? { previous } : {}) });
    }
    const dispatched = reportDispatchFailures(t, o);

    let final: Deployment | undefined;
    let finished = true;
    if (w.wait && dispatched) ({ deployment: final, finished } = await waitForDeployment(t, o, d.id, w));
    const created = (await t.store.getDeployment(d.id)) ?? d;
    o.result(
      {
        deployment: summarize(final ?? created),
        superseded,
        ...(offer
          ? {
              approval: {
                ...(offer.expiresAt ? { expiresAt: offer.expiresAt } : {}),
                ...(offer.approvalUrl ? { approvalUrl: offer.approvalUrl } : {}),
                summary: offer.summary,
              },
            }
          : {}),
      },
      () => {
        const lines = [
          `${input.trigger === 'rollback' ? 'rollback' : 'redeploy'} ${d.id}: ${environment} @ ${short(tree.sha)}${input.force ? ' (forced)' : ''}`,
        ];
        if (input.rollbackOf)
          lines.push(`  rolls back ${short(input.rollbackOf.sha)} (${input.rollbackOf.id})`);
        if (superseded.length) lines.push(`  superseded ${superseded.join(', ')}`);
        if (offer) {
          lines.push(`  waits for approval until ${offer.expiresAt ?? '?'}; what changes:`);
          for (const s of offer.summary) lines.push(`    ${s}`);
          if (offer.approvalUrl) lines.push(`  approval page: ${offer.approvalUrl}`);
          lines.push(`  approve with: helmgate approve ${d.id}`);
        } else lines.push('  queued and handed to the runner');
        if (final) lines.push(`${final.id}: ${final.status}${final.reason ? ` (${final.reason})` : ''}`);
        return lines.join('\n');
      },
    );
    if (!dispatched || !finished) return 1;
    return final && !GOOD.has(final.status) ? 1 : 0;
  } finally {
    await tree.dispose();
  }
}

/** `redeploy <rev> <env>`: a new deployment of that commit; through approval where the environment needs one. */
export async function redeployCommand(
  t: CliTarget,
  o: Output,
  input: { rev: string; environment: string; force: boolean } & WaitOptions,
): Promise<number> {
  return createDeployment(
    t,
    o,
    {
      trigger: 'redeploy',
      sha: input.rev,
      environment: input.environment,
      force: input.force,
      requireApproval: false,
    },
    input,
  );
}

/**
 * `rollback <env>`: the commit of the previous successful deployment (before what runs now, at another
 * commit), as a new deployment that always needs approval.
 */
export async function rollbackCommand(
  t: CliTarget,
  o: Output,
  input: { environment: string; force: boolean } & WaitOptions,
): Promise<number> {
  const repository = await t.repository();
  const list = await t.store.listByEnvironment(repository, input.environment, { limit: 200 });
  const ok = (d: Deployment) => d.status === 'succeeded' || (t.renderOnly && d.status === 'rendered');
  const current = list.find(ok);
  if (!current)
    throw new HelmgateError('not_found', `${repository} ${input.environment} has no successful deployment`);
  const previous = list.find((d) => ok(d) && d.sha !== current.sha && d.createdAt < current.createdAt);
  if (!previous)
    throw new HelmgateError(
      'not_found',
      `${repository} ${input.environment} has no successful deployment before ${short(current.sha)} to roll back to`,
    );
  return createDeployment(
    t,
    o,
    {
      trigger: 'rollback',
      sha: previous.sha,
      environment: input.environment,
      force: input.force,
      requireApproval: true,
      rollbackOf: current,
    },
    input,
  );
}

/** The requester's GitHub login, when the approvers config maps their CLI principal to one. */
function requesterLogins(principal: string, cfg: EnvironmentApprovers | undefined): string[] {
  const login = identify({ kind: 'cli', id: principal }, cfg).login;
  return login ? [login] : [];
}

/**
 * `retry <id>`: the failed deployment's commit and plan again (issue 13, item 9). In an environment that
 * needs approval, its approval carries over while it is valid for the same plan and the principal may
 * approve the environment; otherwise the retry waits for approval like any deployment.
 */
export async function retryCommand(
  t: CliTarget,
  o: Output,
  input: { id: string } & WaitOptions,
): Promise<number> {
  const principal = await t.principal();
  const failed = await findDeployment(t, input.id);
  const notifier = await t.notifier();
  const approvals = await t.approvals();
  const approvers = typeof t.approvers === 'function' ? t.approvers(failed) : t.approvers;
  const mayApprove = authorize({ kind: 'cli', id: principal }, failed.environment, approvers).ok;
  // the retry's involved gets the principal's login when it waits for approval (four eyes)
  const [login] = requesterLogins(
    principal,
    Object.hasOwn(approvers, failed.environment) ? approvers[failed.environment] : undefined,
  );
  const { retry, reason } = await retryDeployment(
    {
      store: t.store,
      notifier,
      dispatcher: t.dispatcher,
      clock: t.clock,
      approvalOf: (id) => approvals.getRequest(id),
    },
    { id: failed.id, actor: `${principal} (cli)`, via: 'cli', mayApprove, ...(login ? { login } : {}) },
  );
  const dispatched = reportDispatchFailures(t, o);
  let final: Deployment | undefined;
  let finished = true;
  if (input.wait && dispatched && retry.status !== 'awaiting_approval')
    ({ deployment: final, finished } = await waitForDeployment(t, o, retry.id, input));
  o.result({ deployment: summarize(final ?? retry), retryOf: failed.id, reason }, () =>
    [
      `retry ${retry.id}: ${retry.environment} @ ${short(retry.sha)} (retry of ${failed.id})`,
      `  ${reason}`,
      retry.status === 'awaiting_approval'
        ? `  approve with: helmgate approve ${retry.id}`
        : '  queued and handed to the runner',
      ...(final ? [`${final.id}: ${final.status}${final.reason ? ` (${final.reason})` : ''}`] : []),
    ].join('\n'),
  );
  if (!dispatched || !finished) return 1;
  return final && !GOOD.has(final.status) ? 1 : 0;
}

/**
 * `override <id> --reason "…"`: the principal's part of a freeze override (issue 13, item 6), as
 * `cli:<principal>` mapped to a GitHub login (cliToGithub) like `approve`; audited via `cli`. The
 * deciding override starts the deployment through the lifecycle.
 */
export async function overrideCommand(
  t: CliTarget,
  o: Output,
  input: { id: string; reason: string },
): Promise<number> {
  const principal = await t.principal();
  const d = await findDeployment(t, input.id);
  const notifier = await t.notifier();
  const outcome = await overrideFreeze(
    {
      store: t.store,
      notifier,
      dispatcher: t.dispatcher,
      clock: t.clock,
      logger: t.logger,
      approvers: (k) => (typeof t.approvers === 'function' ? t.approvers(k) : t.approvers),
    },
    { deploymentId: d.id, voter: { kind: 'cli', id: principal }, via: 'cli', reason: input.reason },
  );
  const dispatched = reportDispatchFailures(t, o);
  o.result({ outcome, principal }, () => {
    switch (outcome.kind) {
      case 'recorded':
        return `recorded your override of the freeze of ${d.id} (until ${outcome.until}): ${outcome.votes} of ${outcome.required} needed`;
      case 'overridden':
        return `overrode the freeze of ${d.id}: ${outcome.dispatched ? 'it starts now (handed to the runner)' : 'it was no longer waiting, nothing dispatched'}`;
      default:
        return `you had overridden the freeze of ${d.id} (until ${outcome.until}) already; nothing changed`;
    }
  });
  return dispatched ? 0 : 1;
}
