import {
  type ApprovalPageState,
  PAGE_HEADERS,
  renderApprovalPage,
  renderLoginPage,
  renderMessagePage,
} from '../lib/approval/approval-page';
import type { ApproversConfig } from '../lib/approval/approval-port';
import type { ApprovalService } from '../lib/approval/approval-service';
import { authorize } from '../lib/approval/approver-policy';
import { approvalHandlerDeps, approvalWiring, awsReadAccess } from '../lib/approval/aws-wiring';
import type { ReadAccess } from '../lib/auth/read-access';
import { type CookieSettings, csrfToken, readSession, type Session, verifyCsrf } from '../lib/auth/session';
import type { Clock } from '../lib/clock';
import { HelmgateError } from '../lib/errors';
import {
  type HttpEvent,
  type HttpHandler,
  type HttpResult,
  html,
  rawBody,
  STATUS_BY_CODE,
} from '../lib/http/lambda-http';
import type { Logger } from '../lib/log/logger';
import { lazyHandler } from '../lib/wiring/lazy';

export interface ApprovalHandlerDeps {
  approvals: Pick<ApprovalService, 'vote' | 'view'>;
  approvers: ApproversConfig | (() => ApproversConfig);
  /** who may see the page at all: approvers, and GitHub users who can read the repository */
  readAccess: Pick<ReadAccess, 'mayRead'>;
  /** HMAC key for the session cookie (`helmgate/approval-signing-key`) */
  signingKey: () => Promise<string>;
  cookies: CookieSettings;
  clock: Clock;
  logger: Logger;
  /** form bodies are tiny; default 8 KiB */
  maxBodyBytes?: number;
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
 * GET /approvals/{id} shows the approval to a logged-in reader (never changes state: link scanners
 * open it); anonymous visitors get only a login link. The same URL comes from Slack, GitHub's
 * deployment status and the dashboard: it carries no token, because nothing but a GitHub login grants
 * anything. POST /approvals/{id}/approve and /reject vote as the logged-in GitHub user, with a CSRF
 * token bound to the session and this deployment and the plan digest the page showed, then 303 back
 * to the page. 401 not logged in, 403 not allowed, 410 expired or superseded, 409 already decided or
 * the plan changed, 400 bad CSRF.
 */
export function makeApprovalHandler(deps: ApprovalHandlerDeps): HttpHandler {
  const approvers = () => (typeof deps.approvers === 'function' ? deps.approvers() : deps.approvers);
  return async (event: HttpEvent) => {
    const id = event.pathParameters?.id ?? '';
    const log = deps.logger.child({ deploymentId: id, route: 'approval' });
    try {
      const now = deps.clock.now();
      const session = readSession(await deps.signingKey(), event, deps.cookies, now);
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
      const planDigest = form.get('plan');
      if (!planDigest)
        throw new HelmgateError(
          'bad_request',
          'the form does not say which plan you approve; reload the page',
        );
      const outcome = await deps.approvals.vote({
        deploymentId: id,
        voter: { kind: 'github', id: session.login, teams: session.teams },
        via: 'web',
        decision,
        planDigest,
        rollback: form.get('rollback') === '1',
      });
      log.info('web vote', { decision, outcome: outcome.kind, login: session.login });
      const location = `/approvals/${encodeURIComponent(id)}?result=${outcome.kind}`;
      return { statusCode: 303, headers: { location, 'cache-control': 'no-store' }, body: '' };
    } catch (e) {
      if (e instanceof HelmgateError && STATUS_BY_CODE[e.code] < 500)
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
    // anonymous: a login link and nothing else, not even whether this deployment exists
    if (!session)
      return page(
        200,
        renderLoginPage({
          loginUrl: `/auth/github/login?return=${encodeURIComponent(`/approvals/${encodeURIComponent(id)}`)}`,
        }),
      );
    const view = await deps.approvals.view(id);
    const req = view?.request;
    if (!view || !req)
      return message(404, 'No such approval', 'There is no approval for this deployment (or not yet).');
    const d = view.deployment;
    if (
      !(await deps.readAccess.mayRead(
        { kind: 'github', login: session.login, teams: session.teams },
        d.repository,
      ))
    )
      return message(
        403,
        'Not allowed',
        `You are logged in as ${session.login}, who may neither approve nor read deployments of this repository.`,
      );
    const now = deps.clock.now();
    const flashKey = event.queryStringParameters?.result;
    const flash = flashKey ? FLASH[flashKey] : undefined;
    let state: ApprovalPageState;
    let status = 200;
    const auth = authorize(
      { kind: 'github', id: session.login, teams: session.teams },
      d.environment,
      approvers(),
    );
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
    } else if (!auth.ok) {
      state = { kind: 'forbidden', login: session.login, reason: auth.reason };
      status = 403;
    } else {
      const key = `github:${session.login.toLowerCase()}`;
      state = {
        kind: 'open',
        login: session.login,
        csrf: csrfToken(session, csrfPurpose(id)),
        planDigest: req.planDigest,
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

export const handler = lazyHandler(async () => {
  const wiring = await approvalWiring();
  return makeApprovalHandler({
    ...approvalHandlerDeps(wiring),
    readAccess: await awsReadAccess(wiring.base),
  });
});
