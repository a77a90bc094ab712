import { PAGE_HEADERS, renderMessagePage } from '../lib/approval/approval-page';
import { approvalCsrfPurpose } from '../lib/approval/approval-page-state';
import type { ApproversConfig } from '../lib/approval/approval-port';
import type { ApproversKey } from '../lib/approval/approval-service';
import { type CookieSettings, csrfToken, newSession, sessionCookie } from '../lib/auth/session';
import { requestSession, type SessionRegistry } from '../lib/auth/session-registry';
import type { Clock } from '../lib/clock';
import { composeAws } from '../lib/compose/aws';
import { lazyHandler } from '../lib/compose/lazy';
import type { DeploymentStatus } from '../lib/deploy/deployment';
import { HelmgateError } from '../lib/errors';
import {
  errorResponse,
  guardHttp,
  type HttpEvent,
  type HttpHandler,
  type HttpResult,
  header,
  html,
  json,
  STATUS_BY_CODE,
} from '../lib/http/lambda-http';
import { withLambdaContext } from '../lib/log/lambda-logger';
import type { Logger } from '../lib/log/logger';
import { lookup } from '../lib/lookup';
import { doraFigures } from '../lib/metrics/dora';
import type { Random } from '../lib/random';
import {
  type DashboardReadDeps,
  deploymentDetail,
  type HistoryQuery,
  historyPage,
  overviewCards,
  readable,
  type Viewer,
} from '../lib/web/dashboard-data';
import { deploymentActionCsrfPurpose, renderDeploymentPage } from '../lib/web/deployment-page';
import { renderHistory, STATUSES } from '../lib/web/history';
import { escapeHtml } from '../lib/web/html';
import { pageHeaders, renderLayout, STYLESHEET, STYLESHEET_PATH } from '../lib/web/layout';
import { PERIODS, type Period, renderMetricsPage } from '../lib/web/metrics-page';
import { type PageContext, renderOverview } from '../lib/web/overview';
import { makeDeploymentsHandler } from './deployments';

/** Single-use login links for the local stack (the Jupyter-style token URL `npm start` prints). */
export interface OneTimeLogin {
  /** the identity the token logs in as, once; undefined for an unknown or spent token */
  consume(token: string): { login: string; teams: string[] } | undefined;
}

/** Who reads (the shape of the read-access decision of lib/auth): an API token or a GitHub login. */
export type DashboardReader = { kind: 'token' } | { kind: 'github'; login: string; teams: string[] };

/**
 * The read-access decision the pages go through: who the request is (a bad bearer token throws), and
 * whether that reader may see a repository's deployments.
 */
export interface DashboardReadAccess {
  authenticate(event: HttpEvent): Promise<DashboardReader | undefined>;
  mayRead(reader: DashboardReader, repository: string): Promise<boolean>;
}

export interface DashboardDeps extends Omit<DashboardReadDeps, 'approvers'> {
  /** read access; without it any valid GitHub session reads everything */
  readAccess?: DashboardReadAccess;
  /** from the operator's policy, per deployment (see ApprovalServiceDeps.approvers) */
  approvers: ApproversConfig | ((d: ApproversKey) => ApproversConfig);
  /** HMAC key of the session cookie (`helmgate/approval-signing-key`) */
  signingKey: () => Promise<string>;
  cookies: CookieSettings;
  clock: Clock;
  random: Random;
  logger: Logger;
  githubWebUrl: string;
  /** the JSON answers of `/deployments[/{id}]` (API clients, the CLI) */
  json: HttpHandler;
  oneTimeLogin?: OneTimeLogin;
  /** server-side session records: a logged-out session reads nothing; one-time logins are registered */
  sessions?: SessionRegistry;
  /** login lifetime (HELMGATE_SESSION_TTL_MINUTES) */
  sessionTtlMs?: number;
}

const FLASH: Record<string, { ok: boolean; text: string }> = {
  approved: { ok: true, text: 'Approved: the deployment is queued.' },
  recorded: { ok: true, text: 'Your approval is recorded; more approvals are needed.' },
  rejected: { ok: true, text: 'Rejected: the deployment will not run.' },
  duplicate: { ok: true, text: 'You had already voted; nothing changed.' },
  retried: { ok: true, text: 'Retry created: this is the new deployment of the same commit and plan.' },
  'already-retried': {
    ok: true,
    text: 'That deployment had been retried already: this is its retry (nothing new was created).',
  },
  'override-recorded': {
    ok: true,
    text: 'Your override is recorded; more approvers must override the freeze before it starts.',
  },
  'override-overridden': { ok: true, text: 'Freeze overridden: the deployment starts now.' },
  'override-duplicate': { ok: true, text: 'You had overridden this freeze already; nothing changed.' },
};

const HISTORY_PAGE_SIZE = 25;

/** A browser asks for HTML; API clients and the CLI (any Accept without text/html) get JSON as before. */
export function wantsHtml(event: HttpEvent): boolean {
  if (event.queryStringParameters?.format === 'json') return false;
  const accept = header(event, 'accept') ?? '';
  return /\btext\/html\b/i.test(accept);
}

function page(status: number, body: string, nonce?: string): HttpResult {
  return html(status, body, pageHeaders(nonce));
}

function loginPage(path: string): HttpResult {
  const body = `<h1>Log in</h1>
<p class="state" id="state" data-state="login">The dashboard shows who deployed what; log in to see it.</p>
<p><a id="login" href="${escapeHtml(`/auth/github/login?return=${encodeURIComponent(path)}`)}">Log in with GitHub</a></p>
<p class="muted">On a local stack without a GitHub OAuth app, open the one-time login link <code>npm start</code> printed.</p>`;
  return html(401, renderLayout({ title: 'helmgate: log in', body }), { ...PAGE_HEADERS });
}

function parsePeriod(raw: string | undefined): Period {
  const n = Number(raw ?? 30);
  return (PERIODS as readonly number[]).includes(n) ? (n as Period) : 30;
}

function parseHistoryQuery(q: Record<string, string | undefined>): HistoryQuery {
  const str = (v: string | undefined, max: number) => (v?.trim() ? v.trim().slice(0, max) : undefined);
  const status = STATUSES.includes(q.status as DeploymentStatus) ? (q.status as DeploymentStatus) : undefined;
  const commit = str(q.commit, 40);
  const out: HistoryQuery = { limit: HISTORY_PAGE_SIZE };
  const environment = str(q.environment, 100);
  const repository = str(q.repository, 201);
  if (repository && /^[\w.-]+\/[\w.-]+$/.test(repository)) out.repository = repository;
  const person = str(q.person, 100);
  const cursor = str(q.cursor, 2048);
  if (environment) out.environment = environment;
  if (status) out.status = status;
  if (commit && /^[0-9a-f]+$/i.test(commit)) out.commit = commit;
  if (person) out.person = person;
  if (cursor) out.cursor = cursor;
  return out;
}

/**
 * The dashboard: `/` (overview), `/deployments` and `/deployments/{id}` for browsers (JSON otherwise,
 * unchanged), `/metrics` (DORA figures), the stylesheet, and the local one-time login link. Pages need
 * a GitHub session; votes go through the approval routes.
 */
export function makeDashboardHandler(deps: DashboardDeps): HttpHandler {
  const approvers = (d: ApproversKey) =>
    typeof deps.approvers === 'function' ? deps.approvers(d) : deps.approvers;
  const read: DashboardReadDeps = { ...deps, approvers };
  return async (event: HttpEvent) => {
    const path = event.rawPath ?? event.requestContext?.http?.path ?? '/';
    const q = event.queryStringParameters ?? {};
    const log = deps.logger.child({ route: 'dashboard' });
    try {
      if (path === STYLESHEET_PATH)
        return {
          statusCode: 200,
          headers: {
            'content-type': 'text/css; charset=utf-8',
            'cache-control': 'public, max-age=86400',
            'x-content-type-options': 'nosniff',
          },
          body: STYLESHEET,
        };
      if (path === '/auth/local') return await localLogin(q.token);
      const html = path === '/' || path === '/metrics' || wantsHtml(event);
      if (!html) return await deps.json(event);

      const now = deps.clock.now();
      const session = await requestSession(deps, event, now);
      const claimed: DashboardReader | undefined = deps.readAccess
        ? await deps.readAccess.authenticate(event)
        : session && { kind: 'github', login: session.login, teams: session.teams };
      // a GitHub reader is a live session: a logged-out (revoked) cookie reads nothing
      const reader = claimed?.kind === 'github' && session?.login !== claimed.login ? undefined : claimed;
      if (!reader)
        return loginPage(
          path === '/' ? '/' : `${path}${event.rawQueryString ? `?${event.rawQueryString}` : ''}`,
        );
      const access = deps.readAccess;
      // only a GitHub session votes (its CSRF secret signs the forms); an API token reads only
      const voter = reader.kind === 'github' && session?.login === reader.login ? session : undefined;
      const viewer: Viewer = {
        login: reader.kind === 'github' ? reader.login : 'API token',
        teams: reader.kind === 'github' ? reader.teams : [],
        canVote: voter !== undefined,
        ...(access ? { mayRead: (repository: string) => access.mayRead(reader, repository) } : {}),
      };
      const nonce = deps.random.bytes(16).toString('base64');
      // own properties only: `?result=constructor` finds nothing
      const flash = lookup(FLASH, q.result);
      const ctx: PageContext = {
        login: viewer.login,
        now,
        githubWebUrl: deps.githubWebUrl,
        nonce,
        csrfFor: (id) => (voter ? csrfToken(voter, approvalCsrfPurpose(id)) : ''),
        ...(voter
          ? { actionCsrf: (action, id) => csrfToken(voter, deploymentActionCsrfPurpose(action, id)) }
          : {}),
        ...(flash ? { flash } : {}),
      };

      if (path === '/') return page(200, renderOverview(await overviewCards(read, viewer), ctx), nonce);
      if (path === '/metrics') {
        const period = parsePeriod(q.days);
        const all = await readable(
          viewer,
          await deps.store.listDeployments({ limit: deps.scanLimit ?? 1000 }),
        );
        const report = doraFigures(all, {
          now,
          days: period,
          byRepository: new Set(all.map((d) => d.repository)).size > 1,
          ...(deps.allowRendered ? { allowRendered: true } : {}),
        });
        if (/\bapplication\/json\b/.test(header(event, 'accept') ?? '') || q.format === 'json')
          return json(200, report);
        return page(200, renderMetricsPage(report, { login: viewer.login, period }));
      }
      if (path === '/deployments') {
        const hq = parseHistoryQuery(q);
        return page(200, renderHistory(await historyPage(read, viewer, hq), hq, ctx));
      }
      const id = event.pathParameters?.id;
      if (id && path.startsWith('/deployments/')) {
        const detail = await deploymentDetail(read, viewer, id, now);
        if (!detail) throw new HelmgateError('not_found', `no deployment ${id}`);
        return page(200, renderDeploymentPage(detail, ctx), nonce);
      }
      throw new HelmgateError('not_found', 'no such page');
    } catch (e) {
      if (e instanceof HelmgateError && STATUS_BY_CODE[e.code] < 500)
        return html(
          STATUS_BY_CODE[e.code],
          renderMessagePage({ title: e.code === 'not_found' ? 'Not found' : 'Not done', message: e.message }),
          { ...PAGE_HEADERS },
        );
      log.error('dashboard request failed', { err: e });
      return errorResponse(e, log);
    }
  };

  async function localLogin(token: string | undefined): Promise<HttpResult> {
    const who = token && deps.oneTimeLogin ? deps.oneTimeLogin.consume(token) : undefined;
    if (!who)
      throw new HelmgateError(
        'forbidden',
        'this login link is not valid or was used already; restart the local stack for a new one',
      );
    const now = deps.clock.now();
    const session = newSession(who, deps.random, now, deps.sessionTtlMs);
    await deps.sessions?.register(session);
    deps.logger.info('logged in with the one-time link', { login: who.login });
    return {
      statusCode: 302,
      headers: { location: '/', 'cache-control': 'no-store' },
      cookies: [sessionCookie(await deps.signingKey(), session, deps.cookies, now)],
    };
  }
}

/** AWS: the deployments function serves the dashboard and, for API clients, the JSON as before. */
export const handler = withLambdaContext(
  guardHttp(
    lazyHandler(async () => {
      const graph = composeAws();
      return makeDashboardHandler({
        ...(await graph.dashboard()),
        json: makeDeploymentsHandler(await graph.deployments()),
      });
    }),
    { hsts: true },
  ),
);
