import { HelmgateError } from '../errors';
import { createGithubClient } from '../github/octokit';

/**
 * The credentials approvers log in with, from the login secret (`helmgate/github-oauth`, JSON
 * `{"client_id","client_secret","kind"?}`): the GitHub App's client id and secret (its user
 * authorization: the same /login/oauth/authorize and access_token exchange, giving a user-to-server
 * token; `helmgate setup github` writes them with `"kind":"github-app"`), or an OAuth app's, the
 * fallback. Never read from the App secret: the login function must not be able to read the App's
 * private key (issue 15).
 */
export interface OAuthClient {
  clientId: string;
  clientSecret: string;
  /** which registration they belong to */
  kind?: 'github-app' | 'oauth-app';
}

export interface GithubOAuthConfig {
  /** https://github.com (or GHES, or a stand-in) */
  githubWebUrl: string;
  /** https://api.github.com (or GHES `/api/v3`, or a stand-in) */
  githubApiUrl: string;
  /** our callback: `${publicUrl}/auth/github/callback` */
  redirectUri: string;
}

export interface GithubIdentity {
  login: string;
  /** `org/slug`, lower-case */
  teams: string[];
}

export class OAuthError extends HelmgateError {
  override name = 'OAuthError';
}

/** `read:org` is what `GET /user/teams` needs; nothing else is asked for. */
export const OAUTH_SCOPE = 'read:org';

/**
 * The OAuth app's credentials from their secret. Absent or malformed: GitHub login is not set up on
 * this installation, which the login route says plainly (503) instead of failing inside.
 */
export function parseOAuthClient(raw: string | undefined, secretId = 'helmgate/github-oauth'): OAuthClient {
  if (raw === undefined || raw === '')
    throw new HelmgateError(
      'not_configured',
      `GitHub login is not configured: the secret ${secretId} (JSON {"client_id","client_secret"} of the GitHub App, written by helmgate setup github, or of an OAuth app) does not exist`,
    );
  try {
    const v = JSON.parse(raw) as { client_id?: unknown; client_secret?: unknown; kind?: unknown };
    if (
      typeof v.client_id === 'string' &&
      v.client_id &&
      typeof v.client_secret === 'string' &&
      v.client_secret
    )
      return {
        clientId: v.client_id,
        clientSecret: v.client_secret,
        ...(v.kind === 'github-app' || v.kind === 'oauth-app' ? { kind: v.kind } : {}),
      };
  } catch {
    // fall through
  }
  throw new HelmgateError(
    'not_configured',
    `GitHub login is not configured: the secret ${secretId} must be JSON {"client_id","client_secret"}`,
  );
}

export function authorizeUrl(cfg: GithubOAuthConfig, clientId: string, state: string): string {
  const u = new URL('/login/oauth/authorize', cfg.githubWebUrl);
  u.searchParams.set('client_id', clientId);
  u.searchParams.set('redirect_uri', cfg.redirectUri);
  // a GitHub App ignores scopes (its permissions apply); an OAuth app needs read:org for /user/teams
  u.searchParams.set('scope', OAUTH_SCOPE);
  u.searchParams.set('state', state);
  u.searchParams.set('allow_signup', 'false');
  return u.toString();
}

/** Server-side code exchange. The token is returned to the caller, used for two reads, and dropped. */
export async function exchangeCode(
  cfg: GithubOAuthConfig,
  client: OAuthClient,
  code: string,
  fetchImpl: typeof fetch = fetch,
): Promise<string> {
  const res = await fetchImpl(new URL('/login/oauth/access_token', cfg.githubWebUrl), {
    method: 'POST',
    headers: { accept: 'application/json', 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      client_id: client.clientId,
      client_secret: client.clientSecret,
      code,
      redirect_uri: cfg.redirectUri,
    }).toString(),
  });
  let body: { access_token?: unknown; error?: unknown; error_description?: unknown };
  try {
    body = (await res.json()) as typeof body;
  } catch (e) {
    throw new OAuthError(
      'source_unavailable',
      `GitHub's token endpoint answered ${res.status} without JSON`,
      { cause: e },
    );
  }
  if (!res.ok || typeof body.access_token !== 'string' || body.access_token === '') {
    // GitHub answers 200 with {"error":"bad_verification_code"} for a stale or reused code
    const why = typeof body.error === 'string' ? body.error : `status ${res.status}`;
    throw new OAuthError('unauthenticated', `GitHub refused the login (${why}); try logging in again`);
  }
  return body.access_token;
}

/** Login and team memberships (`org/slug`) of the token's user. */
export async function fetchIdentity(
  cfg: GithubOAuthConfig,
  accessToken: string,
  fetchImpl?: typeof fetch,
): Promise<GithubIdentity> {
  const octokit = createGithubClient({
    auth: accessToken,
    baseUrl: cfg.githubApiUrl,
    ...(fetchImpl ? { fetch: fetchImpl } : {}),
  });
  const user = await octokit.request('GET /user');
  const teams: string[] = [];
  for (let page = 1; page <= 10; page++) {
    const res = await octokit.request('GET /user/teams', { per_page: 100, page });
    for (const t of res.data) teams.push(`${t.organization.login}/${t.slug}`.toLowerCase());
    if (res.data.length < 100) break;
  }
  return { login: user.data.login, teams };
}
