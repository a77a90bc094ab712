import type { ApproversConfig, Via, Voter } from '../approval/approval-port';
import type { ApproversKey } from '../approval/approval-service';
import { authorize, identify, involvedIn, selfApprovalRefusal } from '../approval/approver-policy';
import { type FreezeOverrideVotes, overrideReason, overrideRefusal } from '../deploy/freeze-override';
import type { Deployment, FreezeOverride, FreezeOverrideVote } from '../deploy/lifecycle';
import { type ErrorCode, HelmgateError } from '../errors';
import { type ApplyDeps, handle } from './apply';

/** An override that was refused; `code` picks the HTTP status (400, 403, 404, 409). */
export class OverrideRefusedError extends HelmgateError {
  override name = 'OverrideRefusedError';
}

export interface FreezeOverrideDeps extends ApplyDeps {
  /** who may approve a deployment, from the operator policy (lib/policy `approversFor`) */
  approvers: (d: ApproversKey) => ApproversConfig;
}

export interface FreezeOverrideInput {
  deploymentId: string;
  voter: Voter;
  via: Via;
  /** the written reason, as typed */
  reason: string;
}

export type FreezeOverrideOutcome =
  /** this vote is recorded; more are needed */
  | { kind: 'recorded'; deploymentId: string; votes: number; required: number; until: string }
  /** this vote completed the override: the deployment was dispatched */
  | { kind: 'overridden'; deploymentId: string; override: FreezeOverride; dispatched: boolean }
  /** this person had overridden this freeze already: nothing changed */
  | { kind: 'duplicate'; deploymentId: string; until: string };

function refuse(code: ErrorCode, message: string): never {
  throw new OverrideRefusedError(code, message);
}

/** How many distinct approvers an override of `d` needs: as many as its approval. */
export function overrideRequired(d: ApproversKey, approvers: ApproversConfig): number {
  return Math.max(1, (Object.hasOwn(approvers, d.environment) ? approvers[d.environment]?.required : 1) ?? 1);
}

/**
 * One approver's freeze override of a deployment waiting in a freeze (issue 13, item 6): the same
 * authorisation and four-eyes rule as an approval vote, a written reason, one conditional write per
 * vote; the deciding vote moves the deployment through the lifecycle (`freeze-override`), which
 * dispatches it. Every attempt is audited, refusals included.
 */
export async function overrideFreeze(
  deps: FreezeOverrideDeps,
  input: FreezeOverrideInput,
): Promise<FreezeOverrideOutcome> {
  const d = await deps.store.getDeployment(input.deploymentId);
  if (!d) refuse('not_found', `no deployment ${input.deploymentId}`);
  const approvers = deps.approvers(d);
  const actor = identify(input.voter, approvers[d.environment]).label;
  const at = deps.clock.now().toISOString();
  const written = overrideReason(input.reason);
  try {
    const outcome = await decideOverride(deps, input, d, approvers);
    if (outcome.kind !== 'overridden')
      await deps.store.appendAudit({
        deploymentId: d.id,
        at,
        actor,
        via: input.via,
        action: 'freeze-override',
        outcome: outcome.kind,
        detail:
          outcome.kind === 'recorded'
            ? `${outcome.votes} of ${outcome.required} overrides of the freeze until ${outcome.until}; reason: ${written.ok ? written.reason : ''}`
            : `already overridden the freeze until ${outcome.until}`,
      });
    return outcome;
  } catch (e) {
    if (e instanceof HelmgateError)
      await deps.store
        .appendAudit({
          deploymentId: d.id,
          at,
          actor,
          via: input.via,
          action: 'freeze-override',
          outcome: `refused: ${e.code}`,
          detail: e.message,
        })
        .catch(() => undefined);
    throw e;
  }
}

async function decideOverride(
  deps: FreezeOverrideDeps,
  input: FreezeOverrideInput,
  d: Deployment,
  approvers: ApproversConfig,
): Promise<FreezeOverrideOutcome> {
  const now = deps.clock.now();
  const auth = authorize(input.voter, d.environment, approvers);
  if (!auth.ok) refuse('forbidden', auth.reason.replace('to approve', 'to approve or override'));
  const until = d.frozenUntil;
  let read = until ? await deps.store.getFreezeOverrideVotes(d.id, until) : undefined;
  if (until && read?.votes[auth.identity.key]) return { kind: 'duplicate', deploymentId: d.id, until };
  const refused = overrideRefusal(d, now);
  if (refused || !until) refuse('conflict', refused ?? `deployment ${d.id} does not wait in a freeze window`);
  const self = selfApprovalRefusal(auth.identity, auth.config, involvedIn(d), d.environment);
  if (self)
    refuse(
      'forbidden',
      self.replace("needs someone else's approval", 'needs someone else to override its freeze'),
    );
  const reason = overrideReason(input.reason);
  if (!reason.ok) refuse('bad_request', reason.why);

  const required = overrideRequired(d, approvers);
  const vote: FreezeOverrideVote = {
    login: auth.identity.login,
    label: auth.identity.label,
    via: input.via,
    at: now.toISOString(),
    reason: reason.reason,
  };
  for (let attempt = 0; attempt < 100; attempt++) {
    const count = read?.voteCount ?? 0;
    const final = count + 1 >= required;
    const ok = await deps.store.recordFreezeOverrideVote(d.id, {
      until,
      voterKey: auth.identity.key,
      vote,
      expectedCount: count,
      final,
    });
    if (ok) {
      if (!final) return { kind: 'recorded', deploymentId: d.id, votes: count + 1, required, until };
      const override: FreezeOverride = {
        until,
        required,
        votes: [...Object.values(read?.votes ?? {}), vote].sort((a, b) => a.at.localeCompare(b.at)),
        completedAt: vote.at,
      };
      return {
        kind: 'overridden',
        deploymentId: d.id,
        override,
        dispatched: await start(deps, d, override, input.via),
      };
    }
    const again: FreezeOverrideVotes | undefined = await deps.store.getFreezeOverrideVotes(d.id, until);
    if (again?.votes[auth.identity.key]) return { kind: 'duplicate', deploymentId: d.id, until };
    if (again?.completedAt) refuse('conflict', `the freeze of ${d.id} was overridden already`);
    read = again; // someone else's vote landed first: count again
  }
  refuse('conflict', 'too many concurrent overrides; try again');
}

/** The deciding override: the lifecycle's `freeze-override` (queued → queued with the override, then dispatch). */
async function start(
  deps: FreezeOverrideDeps,
  d: Deployment,
  override: FreezeOverride,
  via: string,
): Promise<boolean> {
  const last = override.votes[override.votes.length - 1];
  const [out] = await handle(deps, {
    type: 'freeze-override',
    target: d,
    override,
    audit: {
      actor: last?.label ?? 'system',
      via,
      action: 'freeze-override',
      outcome: 'overridden',
      detail: `${override.votes.length} of ${override.required}: starts before the freeze ends at ${override.until}; reasons: ${override.votes.map((v) => `${v.label}: ${v.reason}`).join('; ')}`,
    },
  });
  if (out?.kind === 'moved') return true;
  deps.logger?.warn('overridden deployment was no longer waiting in the freeze', { deploymentId: d.id });
  return false;
}
