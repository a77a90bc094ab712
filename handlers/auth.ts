import { PAGE_HEADERS, renderMessagePage } from '../lib/approval/approval-page';
import {
  authorizeUrl,
  exchangeCode,
  fetchIdentity,
  type GithubOAuthConfig,
  type OAuthClient,
} from '../lib/auth/github-oauth';
import {
  type CookieSettings,
  clearCookie,
  newSession,
  readSession,
  readState,
  STATE_TTL_MS,
  safeReturnPath,
  sessionCookie,
  sessionCookieName,
  stateCookie,
  stateCookieName,
} from '../lib/auth/session';
import type { SessionRegistry } from '../lib/auth/session-registry';
import type { Clock } from '../lib/clock';
import { composeAws } from '../lib/compose/aws';
import { lazyHandler } from '../lib/compose/lazy';
import { HelmgateError } from '../lib/errors';
import {
  errorResponse,
  guardHttp,
  type HttpEvent,
  type HttpHandler,
  type HttpResult,
  html,
  STATUS_BY_CODE,
} from '../lib/http/lambda-http';
import { withLambdaContext } from '../lib/log/lambda-logger';
import type { Logger } from '../lib/log/logger';
import type { Random } from '../lib/random';

export interface AuthDeps {
  oauth: GithubOAuthConfig;
  /** client id + secret from Secrets Manager (`helmgate/github-oauth`), cached by the caller */
  oauthClient: () => Promise<OAuthClient>;
  /** HMAC key for session and state cookies (`helmgate/approval-signing-key`) */
  signingKey: () => Promise<string>;
  cookies: CookieSettings;
  clock: Clock;
  random: Random;
  logger: Logger;
  fetch?: typeof fetch;
  /** server-side session records: logout revokes them (absent: cookies only, logout just clears) */
  sessions?: SessionRegistry;
  /** login lifetime; default SESSION_TTL_MS (HELMGATE_SESSION_TTL_MINUTES) */
  sessionTtlMs?: number;
}

function redirect(location: string, cookies: string[] = []): HttpResult {
  return { statusCode: 302, headers: { location, 'cache-control': 'no-store' }, cookies };
}

/**
 * GET /auth/github/login?return=/approvals/… and GET /auth/github/callback. The state is random, kept
 * in a short-lived signed HttpOnly cookie and compared on the way back; the code is exchanged
 * server-side; the access token serves two reads (/user, /user/teams) and is dropped. The session
 * cookie holds login, teams and a CSRF secret, HMAC-signed.
 */
export function makeAuthHandler(deps: AuthDeps): HttpHandler {
  return async (event: HttpEvent) => {
    const log = deps.logger.child({ route: 'auth' });
    try {
      const path = event.rawPath ?? event.requestContext?.http?.path ?? '';
      const key = await deps.signingKey();
      const now = deps.clock.now();
      if (path.endsWith('/login')) {
        const client = await deps.oauthClient();
        const state = deps.random.bytes(32).toString('base64url');
        const returnTo = safeReturnPath(event.queryStringParameters?.return);
        return redirect(authorizeUrl(deps.oauth, client.clientId, state), [
          stateCookie(key, { state, returnTo, exp: now.getTime() + STATE_TTL_MS }, deps.cookies),
        ]);
      }
      if (path.endsWith('/callback')) {
        const q = event.queryStringParameters ?? {};
        if (q.error)
          throw new HelmgateError('unauthenticated', `GitHub login was not completed (${q.error})`);
        const saved = readState(key, event, deps.cookies, now);
        if (!saved || !q.state || q.state !== saved.state) {
          log.warn('oauth state mismatch');
          throw new HelmgateError(
            'forbidden',
            'login state mismatch: this login did not start here or took too long; start again from the approval link',
          );
        }
        if (!q.code) throw new HelmgateError('bad_request', 'missing code');
        const token = await exchangeCode(deps.oauth, await deps.oauthClient(), q.code, deps.fetch);
        const identity = await fetchIdentity(deps.oauth, token, deps.fetch);
        const session = newSession(identity, deps.random, now, deps.sessionTtlMs);
        await deps.sessions?.register(session);
        log.info('logged in', { login: identity.login, teams: identity.teams.length });
        return redirect(saved.returnTo, [
          sessionCookie(key, session, deps.cookies, now),
          clearCookie(stateCookieName(deps.cookies), deps.cookies),
        ]);
      }
      if (path.endsWith('/logout')) {
        if ((event.requestContext?.http?.method ?? 'GET') !== 'POST')
          throw new HelmgateError('not_found', 'log out with POST /auth/logout');
        const session = readSession(key, event, deps.cookies, now);
        if (session) {
          await deps.sessions?.revoke(session, now);
          log.info('logged out', { login: session.login });
        }
        return html(
          200,
          renderMessagePage({ title: 'Logged out', message: 'You are logged out of helmgate.' }),
          { ...PAGE_HEADERS },
          [clearCookie(sessionCookieName(deps.cookies), deps.cookies)],
        );
      }
      throw new HelmgateError('not_found', 'no such auth route');
    } catch (e) {
      if (e instanceof HelmgateError && (STATUS_BY_CODE[e.code] < 500 || e.code === 'not_configured')) {
        if (e.code === 'not_configured') log.warn('github login is not configured', { err: e });
        return html(
          STATUS_BY_CODE[e.code],
          renderMessagePage({
            title: e.code === 'not_configured' ? 'GitHub login is not configured' : 'Login failed',
            message: e.message,
          }),
          { ...PAGE_HEADERS },
        );
      }
      return errorResponse(e, log);
    }
  };
}

export const handler = withLambdaContext(
  guardHttp(
    lazyHandler(async () => makeAuthHandler(await composeAws().auth())),
    { hsts: true },
  ),
);
