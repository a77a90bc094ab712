import {
  type ApprovalPageState,
  PAGE_HEADERS,
  renderApprovalPage,
  renderMessagePage,
} from '../lib/approval/approval-page';
import type { ApproversConfig } from '../lib/approval/approval-port';
import type { ApprovalService } from '../lib/approval/approval-service';
import { verifyApprovalToken } from '../lib/approval/approval-token';
import { authorize } from '../lib/approval/approver-policy';
import { approvalHandlerDeps, approvalWiring } from '../lib/approval/aws-wiring';
import { type CookieSettings, csrfToken, type Session, verifyCsrf } from '../lib/auth/session';
import { readActiveSession, type SessionRegistry } from '../lib/auth/session-registry';
import { approverTeams, type TeamMembership } from '../lib/auth/team-membership';
import type { Clock } from '../lib/clock';
import { HelmgateError } from '../lib/errors';
import {
  guardHttp,
  type HttpEvent,
  type HttpHandler,
  type HttpResult,
  html,
  lookup,
  rawBody,
  STATUS_BY_CODE,
} from '../lib/http/lambda-http';
import type { Logger } from '../lib/log/logger';
import { lazyHandler } from '../lib/wiring/lazy';

export interface ApprovalHandlerDeps {
  approvals: Pick<ApprovalService, 'vote' | 'view'>;
  approvers: ApproversConfig | (() => ApproversConfig);
  /** HMAC key for the session cookie (`helmgate/approval-signing-key`) */
  signingKey: () => Promise<string>;
  cookies: CookieSettings;
  clock: Clock;
  logger: Logger;
  /** form bodies are tiny; default 8 KiB */
  maxBodyBytes?: number;
  /** server-side session records: a logged-out (revoked) session is no session */
  sessions?: SessionRegistry;
  /** team membership asked when a vote is cast; absent: the teams read at login */
  teamMembership?: TeamMembership;
}

const FLASH: Record<string, string> = {
  approved: 'Approved: the deployment is queued.',
  recorded: 'Your approval is recorded; more approvals are needed.',
  rejected: 'Rejected: the deployment will not run.',
  duplicate: 'You had already voted; nothing changed.',
};

function page(status: number, body: string): HttpResult {
  return html(status, body, { ...PAGE_HEADERS });
}

function message(status: number, title: string, text: string): HttpResult {
  return page(status, renderMessagePage({ title, message: text }));
}

function csrfPurpose(deploymentId: string): string {
  return `approval:${deploymentId}`;
}

/**
 * GET /approvals/{id}?token=… shows the approval (never changes state: link scanners open it);
 * POST /approvals/{id}/approve and /reject vote as the logged-in GitHub user, with the link's token
 * and a CSRF token bound to the session, then 303 back to the page. 401 not logged in, 403 not
 * allowed or a bad token, 410 expired or superseded, 409 already decided, 400 bad CSRF.
 */
export function makeApprovalHandler(deps: ApprovalHandlerDeps): HttpHandler {
  const approvers = () => (typeof deps.approvers === 'function' ? deps.approvers() : deps.approvers);
  return async (event: HttpEvent) => {
    const id = event.pathParameters?.id ?? '';
    const log = deps.logger.child({ deploymentId: id, route: 'approval' });
    try {
      const now = deps.clock.now();
      const session = await readActiveSession({
        key: await deps.signingKey(),
        event,
        cookies: deps.cookies,
        now,
        registry: deps.sessions,
      });
      const method = event.requestContext?.http?.method ?? 'GET';
      if (method === 'GET') return await show(id, event, session);
      const path = event.rawPath ?? event.requestContext?.http?.path ?? '';
      const decision = path.endsWith('/approve')
        ? 'approve'
        : path.endsWith('/reject')
          ? 'reject'
          : undefined;
      if (method !== 'POST' || !decision) throw new HelmgateError('not_found', 'no such approval route');
      if (!session)
        throw new HelmgateError('unauthenticated', 'log in with GitHub first (open the approval link again)');
      const body = rawBody(event);
      if (body.length > (deps.maxBodyBytes ?? 8192))
        throw new HelmgateError('payload_too_large', 'form too large');
      const form = new URLSearchParams(body.toString('utf8'));
      if (!verifyCsrf(session, csrfPurpose(id), form.get('csrf') ?? undefined))
        throw new HelmgateError(
          'bad_request',
          'the form expired or did not come from this page (CSRF check failed); reload and try again',
        );
      const token = form.get('token') ?? '';
      const outcome = await deps.approvals.vote({
        deploymentId: id,
        voter: {
          kind: 'github',
          id: session.login,
          // membership now, not as it was at login: leaving a team ends its approvals at once
          teams: deps.teamMembership
            ? await deps.teamMembership(session.login, approverTeams(approvers()))
            : session.teams,
        },
        via: 'web',
        decision,
        token,
        rollback: form.get('rollback') === '1',
      });
      log.info('web vote', { decision, outcome: outcome.kind, login: session.login });
      const location = `/approvals/${encodeURIComponent(id)}?token=${encodeURIComponent(token)}&result=${outcome.kind}`;
      return { statusCode: 303, headers: { location, 'cache-control': 'no-store' }, body: '' };
    } catch (e) {
      if (e instanceof HelmgateError && (STATUS_BY_CODE[e.code] < 500 || e.code === 'unavailable'))
        return message(
          STATUS_BY_CODE[e.code],
          e.code === 'unauthenticated' ? 'Not logged in' : 'Not done',
          e.message,
        );
      log.error('approval request failed', { err: e });
      return message(500, 'Internal error', 'Something went wrong on our side; see the logs.');
    }
  };

  async function show(id: string, event: HttpEvent, session: Session | undefined): Promise<HttpResult> {
    const view = await deps.approvals.view(id);
    const token = event.queryStringParameters?.token;
    const req = view?.request;
    if (!view || !req || !verifyApprovalToken(token, req.tokenHash))
      return message(
        403,
        'Link not valid',
        'This approval link is not valid. Use the newest link from the notification.',
      );
    const d = view.deployment;
    const now = deps.clock.now();
    const flashKey = event.queryStringParameters?.result;
    const flash = lookup(FLASH, flashKey);
    let state: ApprovalPageState;
    let status = 200;
    const auth = session
      ? authorize({ kind: 'github', id: session.login, teams: session.teams }, d.environment, approvers())
      : undefined;
    if (d.status === 'superseded') {
      state = { kind: 'superseded', by: d.supersededBy ?? 'a newer commit' };
      status = 410;
    } else if (
      req.status === 'expired' ||
      d.status === 'expired' ||
      (req.status === 'pending' && now.getTime() >= req.expiresAtMs)
    ) {
      state = { kind: 'expired', expiresAt: req.expiresAt };
      status = 410;
    } else if (req.status === 'void') {
      state = { kind: 'void', reason: req.reason ?? 'the plan changed' };
      status = 409;
    } else if (req.status !== 'pending' || d.status !== 'awaiting_approval') {
      state = {
        kind: 'decided',
        status: req.status !== 'pending' ? req.status : d.status,
        ...(req.decidedBy ? { by: req.decidedBy } : {}),
        ...(req.decidedAt ? { at: req.decidedAt } : {}),
      };
    } else if (!session) {
      const back = `/approvals/${encodeURIComponent(id)}?token=${encodeURIComponent(token ?? '')}`;
      state = { kind: 'login', loginUrl: `/auth/github/login?return=${encodeURIComponent(back)}` };
    } else if (auth && !auth.ok) {
      state = { kind: 'forbidden', login: session.login, reason: auth.reason };
      status = 403;
    } else {
      const s = session as Session;
      const key = `github:${s.login.toLowerCase()}`;
      state = {
        kind: 'open',
        login: s.login,
        csrf: csrfToken(s, csrfPurpose(id)),
        token: token ?? '',
        rollbackNeeded: view.newerRunning !== undefined,
        votes: req.voteCount,
        required: view.required,
        alreadyVoted: req.votes[key] !== undefined,
      };
    }
    return page(
      status,
      renderApprovalPage({
        state,
        deployment: d,
        request: req,
        audit: view.audit,
        ...(view.previousStage ? { previousStage: view.previousStage } : {}),
        ...(view.newerRunning ? { newerRunning: view.newerRunning } : {}),
        ...(flash ? { flash } : {}),
      }),
    );
  }
}

export const handler = guardHttp(
  lazyHandler(async () => makeApprovalHandler(approvalHandlerDeps(await approvalWiring()))),
  { hsts: true },
);
