import { csrfToken, type Session } from '../auth/session';
import type { ErrorCode } from '../errors';
import { lookup } from '../lookup';
import type { ApprovalPageInput, ApprovalPageState } from './approval-page';
import type { ApproversConfig } from './approval-port';
import type { ApprovalView } from './approval-service';
import { authorize } from './approver-policy';

/**
 * What GET /approvals/{id} shows, decided from the session, the view and whether the viewer may read
 * the repository (pure). The link carries no token (issue 11): a GitHub login decides everything.
 */
export type ApprovalPageOutcome =
  /** anonymous: a login link and nothing else, not even whether the deployment exists */
  | { kind: 'login'; loginUrl: string }
  /** unknown, or not for this reader: a message page, nothing about the deployment */
  | { kind: 'message'; code: ErrorCode; title: string; message: string }
  /** the approval page; `code` is set when the page answers a refusal (its status comes from STATUS_BY_CODE) */
  | { kind: 'page'; code?: ErrorCode; input: ApprovalPageInput };

/** Messages for `?result=` after a vote redirected back to the page. */
const FLASH: Record<string, string> = {
  approved: 'Approved: the deployment is queued.',
  recorded: 'Your approval is recorded; more approvals are needed.',
  rejected: 'Rejected: the deployment will not run.',
  duplicate: 'You had already voted; nothing changed.',
};

/** The CSRF purpose of a vote form: the token is valid for this deployment's page only. */
export function approvalCsrfPurpose(deploymentId: string): string {
  return `approval:${deploymentId}`;
}

/**
 * Which state the approval page is in, and which error code (if any) its status reflects: superseded
 * and expired are gone (410), void conflicts (409), a voter not allowed is forbidden (403). Decided
 * here, once, so the handler only renders and maps the code through STATUS_BY_CODE.
 */
export function approvalPageOutcome(input: {
  deploymentId: string;
  view: ApprovalView | undefined;
  session: Session | undefined;
  /** may the session's login read the deployment's repository (approver, or GitHub read access)? */
  readable: boolean;
  approvers: ApproversConfig;
  now: Date;
  /** `?result=` of the redirect after a vote */
  result?: string;
}): ApprovalPageOutcome {
  const { deploymentId: id, view, session } = input;
  if (!session)
    return {
      kind: 'login',
      loginUrl: `/auth/github/login?return=${encodeURIComponent(`/approvals/${encodeURIComponent(id)}`)}`,
    };
  const req = view?.request;
  if (!view || !req)
    return {
      kind: 'message',
      code: 'not_found',
      title: 'No such approval',
      message: 'There is no approval for this deployment (or not yet).',
    };
  if (!input.readable)
    return {
      kind: 'message',
      code: 'forbidden',
      title: 'Not allowed',
      message: `You are logged in as ${session.login}, who may neither approve nor read deployments of this repository.`,
    };
  const d = view.deployment;
  // own properties only: `?result=constructor` must not print Object's constructor
  const flash = lookup(FLASH, input.result);
  let state: ApprovalPageState;
  let code: ErrorCode | undefined;
  const auth = authorize(
    { kind: 'github', id: session.login, teams: session.teams },
    d.environment,
    input.approvers,
  );
  if (d.status === 'superseded') {
    state = { kind: 'superseded', by: d.supersededBy ?? 'a newer commit' };
    code = 'superseded';
  } else if (
    req.status === 'expired' ||
    d.status === 'expired' ||
    (req.status === 'pending' && input.now.getTime() >= req.expiresAtMs)
  ) {
    state = { kind: 'expired', expiresAt: req.expiresAt };
    code = 'expired';
  } else if (req.status === 'void') {
    state = { kind: 'void', reason: req.reason ?? 'the plan changed' };
    code = 'conflict';
  } else if (req.status !== 'pending' || d.status !== 'awaiting_approval') {
    state = {
      kind: 'decided',
      status: req.status !== 'pending' ? req.status : d.status,
      ...(req.decidedBy ? { by: req.decidedBy } : {}),
      ...(req.decidedAt ? { at: req.decidedAt } : {}),
    };
  } else if (!auth.ok) {
    state = { kind: 'forbidden', login: session.login, reason: auth.reason };
    code = 'forbidden';
  } else {
    const key = `github:${session.login.toLowerCase()}`;
    state = {
      kind: 'open',
      login: session.login,
      csrf: csrfToken(session, approvalCsrfPurpose(id)),
      planDigest: req.planDigest,
      rollbackNeeded: view.newerRunning !== undefined,
      votes: req.voteCount,
      required: view.required,
      alreadyVoted: req.votes[key] !== undefined,
    };
  }
  return {
    kind: 'page',
    ...(code ? { code } : {}),
    input: {
      state,
      deployment: d,
      request: req,
      audit: view.audit,
      ...(view.previousStage ? { previousStage: view.previousStage } : {}),
      ...(view.newerRunning ? { newerRunning: view.newerRunning } : {}),
      ...(flash ? { flash } : {}),
    },
  };
}
