import type { Deployment, FreezeOverride, FreezeOverrideVote } from './lifecycle';

/**
 * Freeze override (issue 13, item 6), the pure rules. An approved deployment that waits `queued` in a
 * freeze window (the runner set `frozenUntil`) may start before the window ends when the environment's
 * required number of approvers — distinct GitHub logins, under the same four-eyes rule as approval —
 * each override it with a written reason.
 *
 * Decisions:
 * - Only after the approval is complete: an override is about *when* an approved plan starts, so it is
 *   given to a deployment that is `queued` and frozen, never to one still awaiting approval (votes of
 *   the two kinds never mix, and nobody waives a freeze for a plan nobody approved yet).
 * - It is bound to the freeze it was given in: the votes and the completed override name that freeze's
 *   end (`frozenUntil` when they were given). Partial votes lapse when that freeze ends; a completed
 *   override holds until then, so a deployment still waiting (its environment busy) when a later freeze
 *   begins needs a new override for that one. Precisely: it lets the deployment start only while
 *   now < its `until` AND the freeze in effect now ends no later than `until` — a freeze the operator
 *   extended or added after it was given (ending later) is not the one it was given for, so the
 *   deployment waits and a new override, for that freeze's end, is needed (security review, issue 13).
 */

/** Longest written reason, in characters (after whitespace is collapsed). */
export const OVERRIDE_REASON_MAX = 500;

export type ReasonCheck = { ok: true; reason: string } | { ok: false; why: string };

/**
 * A reason as people wrote it: whitespace collapsed, control characters dropped, and Unicode format
 * characters (\p{Cf}: bidi overrides such as U+202E, zero-width spaces and joiners, soft hyphens) removed,
 * since they make the same text read differently in a terminal, Slack and the audit; not empty, bounded.
 */
export function overrideReason(raw: string | undefined | null): ReasonCheck {
  const text = (raw ?? '')
    .replace(/\p{Cf}+/gu, '')
    .replace(/\p{Cc}+/gu, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  if (text.length === 0) return { ok: false, why: 'an override needs a written reason' };
  if (text.length > OVERRIDE_REASON_MAX)
    return {
      ok: false,
      why: `the reason is ${text.length} characters long; at most ${OVERRIDE_REASON_MAX} are kept`,
    };
  return { ok: true, reason: text };
}

/** Why `d` cannot be overridden now (a conflict), or undefined when it can. */
export function overrideRefusal(d: Deployment, now: Date): string | undefined {
  if (d.status === 'awaiting_approval')
    return `deployment ${d.id} still awaits approval: a freeze is overridden only after the approval is complete`;
  if (d.status !== 'queued')
    return `deployment ${d.id} is ${d.status}: only a deployment waiting in a freeze is overridden`;
  if (!d.frozenUntil) return `deployment ${d.id} does not wait in a freeze window`;
  if (Date.parse(d.frozenUntil) <= now.getTime())
    return `the freeze ${d.id} waited in ended at ${d.frozenUntil}; it starts without an override`;
  if (overrideHolds(d.freezeOverride, now, d.frozenUntil))
    return `the freeze of ${d.id} was overridden already`;
  return undefined;
}

/**
 * Does this override let the deployment start now, inside the freeze that ends at `freezeEnd`? Only
 * before the end of the freeze it was given in, and only for a freeze that ends no later than that: a
 * longer freeze (extended, or added since) needs its own override.
 */
export function overrideHolds(
  o: FreezeOverride | undefined,
  now: Date,
  freezeEnd: Date | string | undefined,
): boolean {
  if (o === undefined) return false;
  const until = Date.parse(o.until);
  if (!(now.getTime() < until)) return false;
  if (freezeEnd === undefined) return true;
  const end = typeof freezeEnd === 'string' ? Date.parse(freezeEnd) : freezeEnd.getTime();
  return Number.isFinite(end) && end <= until;
}

/** One line for people: who overrode, and why. */
export function describeOverride(o: FreezeOverride): string {
  return `freeze until ${o.until} overridden by ${o.votes.map((v) => `${v.label} ("${v.reason}")`).join(', ')}`;
}

/** The override votes given so far for one deployment and one freeze (the store's record). */
export interface FreezeOverrideVotes {
  deploymentId: string;
  /** the end of the freeze the votes are for */
  until: string;
  /** by voter key (`github:<login>`) */
  votes: Record<string, FreezeOverrideVote>;
  voteCount: number;
  /** set by the deciding vote */
  completedAt?: string;
}

/** One override vote, written as ONE conditional write (see DeploymentStore.recordFreezeOverrideVote). */
export interface FreezeOverrideVoteWrite {
  until: string;
  voterKey: string;
  vote: FreezeOverrideVote;
  /** the vote count read before: nobody else may have voted since (exactly one vote decides) */
  expectedCount: number;
  /** this vote completes the override */
  final: boolean;
}
