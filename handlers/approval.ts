import {
  PAGE_HEADERS,
  renderApprovalPage,
  renderLoginPage,
  renderMessagePage,
} from '../lib/approval/approval-page';
import { approvalCsrfPurpose, approvalPageOutcome } from '../lib/approval/approval-page-state';
import type { ApproversConfig } from '../lib/approval/approval-port';
import type { ApprovalService, ApproversKey } from '../lib/approval/approval-service';
import type { ReadAccess } from '../lib/auth/read-access';
import { type CookieSettings, type Session, safeReturnPath, verifyCsrf } from '../lib/auth/session';
import { requestSession, type SessionRegistry } from '../lib/auth/session-registry';
import { approverTeams, type TeamMembership } from '../lib/auth/team-membership';
import type { Clock } from '../lib/clock';
import { composeAws } from '../lib/compose/aws';
import { lazyHandler } from '../lib/compose/lazy';
import { HelmgateError } from '../lib/errors';
import {
  errorPage,
  guardHttp,
  type HttpEvent,
  type HttpHandler,
  type HttpResult,
  html,
  rawBody,
  STATUS_BY_CODE,
} from '../lib/http/lambda-http';
import { withLambdaContext } from '../lib/log/lambda-logger';
import type { Logger } from '../lib/log/logger';
import { makeDeploymentActionsHandler } from './deployment-actions';

export interface ApprovalHandlerDeps {
  approvals: Pick<ApprovalService, 'vote' | 'view' | 'deployment'>;
  /** from the operator's policy, per deployment (see ApprovalServiceDeps.approvers) */
  approvers: ApproversConfig | ((d: ApproversKey) => ApproversConfig);
  /** who may see the page at all: approvers, and GitHub users who can read the repository */
  readAccess: Pick<ReadAccess, 'mayRead'>;
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

function page(status: number, body: string): HttpResult {
  return html(status, body, { ...PAGE_HEADERS });
}

function message(status: number, title: string, text: string): HttpResult {
  return page(status, renderMessagePage({ title, message: text }));
}

/**
 * GET /approvals/{id} shows the approval to a logged-in reader (never changes state: link scanners
 * open it); anonymous visitors get only a login link. The same URL comes from Slack, GitHub's
 * deployment status and the dashboard: it carries no token, because nothing but a GitHub login grants
 * anything. POST /approvals/{id}/approve and /reject vote as the logged-in GitHub user, with a CSRF
 * token bound to the session and this deployment and the plan digest the page showed, then 303 back
 * to the page (or the dashboard page in `return`). 401 not logged in, 403 not allowed, 410 expired or
 * superseded, 409 already decided or the plan changed, 400 bad CSRF or no plan.
 */
export function makeApprovalHandler(deps: ApprovalHandlerDeps): HttpHandler {
  const approvers = (d: ApproversKey | undefined) =>
    typeof deps.approvers === 'function' ? (d ? deps.approvers(d) : {}) : deps.approvers;
  /** The approver teams of this deployment the voter belongs to now (asked of GitHub). */
  async function teamsNow(id: string, session: Session): Promise<string[]> {
    // the deployment alone (its environment names the approvers), not the page's whole view
    const d = typeof deps.approvers === 'function' ? await deps.approvals.deployment(id) : undefined;
    const candidates = approverTeams(approvers(d));
    return candidates.length === 0 ? [] : ((await deps.teamMembership?.(session.login, candidates)) ?? []);
  }
  return async (event: HttpEvent) => {
    const id = event.pathParameters?.id ?? '';
    const log = deps.logger.child({ deploymentId: id, route: 'approval' });
    try {
      const now = deps.clock.now();
      const session = await requestSession(deps, event, now);
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
      if (!verifyCsrf(session, approvalCsrfPurpose(id), form.get('csrf') ?? undefined))
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
        voter: {
          kind: 'github',
          id: session.login,
          // membership now, not as it was at login: leaving a team ends its approvals at once
          teams: deps.teamMembership ? await teamsNow(id, session) : session.teams,
        },
        via: 'web',
        decision,
        planDigest,
        rollback: form.get('rollback') === '1',
      });
      log.info('web vote', { decision, outcome: outcome.kind, login: session.login });
      // back to the page the form was on: the approval page, or a dashboard page (`return`)
      const returnTo = form.get('return');
      const back = returnTo ? safeReturnPath(returnTo) : `/approvals/${encodeURIComponent(id)}`;
      const location = `${back}${back.includes('?') ? '&' : '?'}result=${outcome.kind}`;
      return { statusCode: 303, headers: { location, 'cache-control': 'no-store' }, body: '' };
    } catch (e) {
      return errorPage(e, log, 'approval request failed', message);
    }
  };

  async function show(id: string, event: HttpEvent, session: Session | undefined): Promise<HttpResult> {
    // anonymous visitors learn nothing, not even whether the deployment exists: no read at all
    const view = session ? await deps.approvals.view(id) : undefined;
    const readable =
      session !== undefined &&
      view !== undefined &&
      (await deps.readAccess.mayRead(
        { kind: 'github', login: session.login, teams: session.teams },
        view.deployment.repository,
      ));
    const outcome = approvalPageOutcome({
      deploymentId: id,
      view,
      session,
      readable,
      approvers: approvers(view?.deployment),
      now: deps.clock.now(),
      ...(event.queryStringParameters?.result ? { result: event.queryStringParameters.result } : {}),
    });
    if (outcome.kind === 'login') return page(200, renderLoginPage({ loginUrl: outcome.loginUrl }));
    if (outcome.kind === 'message')
      return message(STATUS_BY_CODE[outcome.code], outcome.title, outcome.message);
    return page(outcome.code ? STATUS_BY_CODE[outcome.code] : 200, renderApprovalPage(outcome.input));
  }
}

/**
 * AWS: the approval function (it may write and dispatch) also serves the deployment page's buttons,
 * POST /deployments/{id}/retry and /override (handlers/deployment-actions.ts).
 */
export const handler = withLambdaContext(
  guardHttp(
    lazyHandler(async () => {
      const graph = composeAws();
      const approval = makeApprovalHandler(await graph.approval());
      const actions = makeDeploymentActionsHandler(await graph.deploymentActions());
      return (event: HttpEvent) =>
        (event.rawPath ?? event.requestContext?.http?.path ?? '').startsWith('/deployments/')
          ? actions(event)
          : approval(event);
    }),
    { hsts: true },
  ),
);
