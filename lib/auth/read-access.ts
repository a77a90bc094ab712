import { createHash, timingSafeEqual } from 'node:crypto';
import type { ApproversConfig } from '../approval/approval-port';
import { isApproverAnywhere } from '../approval/approver-policy';
import type { Clock } from '../clock';
import { HelmgateError } from '../errors';
import { type HttpEvent, type HttpResult, header, json } from '../http/lambda-http';
import type { Logger } from '../log/logger';
import { type CookieSettings, type Session, safeReturnPath } from './session';
import { requestSession, type SessionRegistry } from './session-registry';

/** Who is reading: an operator API token (reads everything) or a GitHub login from the session cookie. */
export type Reader = { kind: 'token' } | { kind: 'github'; login: string; teams: string[] };

/** GitHub's permission levels on a repository (collaborators API); `none` = cannot read it. */
export type RepositoryPermission = 'admin' | 'maintain' | 'write' | 'triage' | 'read' | 'none';

export interface ReadAccessDeps {
  /** the accepted API tokens (`helmgate/api-tokens`: several while rotating), cached by the caller */
  apiTokens: () => Promise<string[]>;
  /** HMAC key of the session cookie (`helmgate/approval-signing-key`) */
  signingKey: () => Promise<string>;
  cookies: CookieSettings;
  /** server-side session records: a logged-out (revoked) session reads nothing */
  sessions?: SessionRegistry | undefined;
  clock: Clock;
  logger: Logger;
  /**
   * helmgate's approvers: an approver of any environment of a repository reads its deployments. A
   * function when they differ per repository (the operator's policy).
   */
  approvers: ApproversConfig | ((repository: string) => ApproversConfig);
  /**
   * The login's permission on `owner/name`, from GitHub (`GET /repos/{o}/{r}/collaborators/{login}/permission`
   * with helmgate's own token). Absent when no GitHub token is configured: then only approvers and
   * API tokens read.
   */
  repositoryPermission?: (repository: string, login: string) => Promise<RepositoryPermission>;
  /** how long a GitHub answer is reused; default 60 s */
  cacheMs?: number;
}

/** Hashing both sides first makes the comparison constant-time whatever the lengths. */
function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

/** True when `candidate` is one of `tokens`; every token is compared, with no early exit. */
export function matchesApiToken(candidate: string, tokens: readonly string[]): boolean {
  const given = digest(candidate);
  let ok = false;
  for (const t of tokens) {
    if (t === '') continue;
    if (timingSafeEqual(given, digest(t))) ok = true;
  }
  return ok;
}

/**
 * `helmgate/api-tokens`: a plain string (one token), or JSON `{"tokens": [...]}` (rotation: old and
 * new side by side), or a JSON array of strings.
 */
export function parseApiTokens(raw: string | undefined): string[] {
  if (raw === undefined || raw.trim() === '') return [];
  try {
    const parsed = JSON.parse(raw) as unknown;
    const list = Array.isArray(parsed)
      ? parsed
      : parsed && typeof parsed === 'object' && Array.isArray((parsed as { tokens?: unknown }).tokens)
        ? (parsed as { tokens: unknown[] }).tokens
        : undefined;
    if (list) return list.filter((s): s is string => typeof s === 'string' && s.trim() !== '');
  } catch {
    // not JSON: the string itself is the token
  }
  return [raw.trim()];
}

const READABLE: ReadonlySet<RepositoryPermission> = new Set(['admin', 'maintain', 'write', 'triage', 'read']);

/**
 * Who may read deployments (GET /deployments, GET /deployments/{id}, approval pages, the dashboard):
 * a bearer API token, or a GitHub session of an approver or of someone GitHub says can read the
 * repository. Anonymous requests are refused; a wrong bearer token never falls back to the cookie.
 */
export class ReadAccess {
  static readonly ANONYMOUS =
    'log in with GitHub or send Authorization: Bearer <token> (a token from helmgate/api-tokens)';
  private readonly cache = new Map<string, { at: number; readable: boolean }>();

  constructor(private readonly deps: ReadAccessDeps) {}

  private approvers(repository: string): ApproversConfig {
    return typeof this.deps.approvers === 'function' ? this.deps.approvers(repository) : this.deps.approvers;
  }

  /** The reader behind the request, or undefined when anonymous. A bad bearer token is an error. */
  async authenticate(event: HttpEvent): Promise<Reader | undefined> {
    const authorization = header(event, 'authorization');
    if (authorization !== undefined) {
      const m = /^Bearer\s+(\S{1,512})\s*$/i.exec(authorization);
      if (!m?.[1] || !matchesApiToken(m[1], await this.deps.apiTokens())) {
        this.deps.logger.warn('read refused: bad bearer token');
        throw new HelmgateError('unauthenticated', 'the bearer token is not valid');
      }
      return { kind: 'token' };
    }
    const session = await requestSession(this.deps, event, this.deps.clock.now());
    return session ? fromSession(session) : undefined;
  }

  /** The reader, or `unauthenticated` (401). */
  async require(event: HttpEvent): Promise<Reader> {
    const reader = await this.authenticate(event);
    if (!reader) throw new HelmgateError('unauthenticated', ReadAccess.ANONYMOUS);
    return reader;
  }

  /** May this reader see the deployments of `repository`? */
  async mayRead(reader: Reader, repository: string): Promise<boolean> {
    if (reader.kind === 'token') return true;
    if (isApproverAnywhere(reader.login, reader.teams, this.approvers(repository))) return true;
    const lookup = this.deps.repositoryPermission;
    if (!lookup) return false;
    const key = `${repository.toLowerCase()}\0${reader.login.toLowerCase()}`;
    const now = this.deps.clock.now().getTime();
    const hit = this.cache.get(key);
    if (hit && now - hit.at < (this.deps.cacheMs ?? 60_000)) return hit.readable;
    try {
      const readable = READABLE.has(await lookup(repository, reader.login));
      this.cache.set(key, { at: now, readable });
      if (this.cache.size > 1000) this.cache.delete(this.cache.keys().next().value as string);
      return readable;
    } catch (e) {
      // GitHub unreachable: refuse (fail closed), and do not remember the refusal
      this.deps.logger.warn('repository permission lookup failed', { repository, err: e });
      return false;
    }
  }

  /** The reader of `repository`, or 401 (anonymous) / 403 (logged in without read access). */
  async requireRepository(event: HttpEvent, repository: string): Promise<Reader> {
    const reader = await this.require(event);
    if (!(await this.mayRead(reader, repository)))
      throw new HelmgateError('forbidden', `${describeReader(reader)} may not read ${repository}`);
    return reader;
  }
}

export function describeReader(r: Reader): string {
  return r.kind === 'token' ? 'the API token' : r.login;
}

function fromSession(s: Session): Reader {
  return { kind: 'github', login: s.login, teams: s.teams };
}

/** GitHub's collaborators permission API through an Octokit-like client; 404 means no access. */
export function githubRepositoryPermission(octokit: {
  request: (route: string, params: Record<string, unknown>) => Promise<{ data: unknown }>;
}): (repository: string, login: string) => Promise<RepositoryPermission> {
  return async (repository, login) => {
    const [owner, repo] = repository.split('/');
    try {
      const res = await octokit.request('GET /repos/{owner}/{repo}/collaborators/{username}/permission', {
        owner,
        repo,
        username: login,
      });
      const p = (res.data as { permission?: unknown }).permission;
      return typeof p === 'string' && READABLE.has(p as RepositoryPermission)
        ? (p as RepositoryPermission)
        : 'none';
    } catch (e) {
      if ((e as { status?: number }).status === 404) return 'none';
      throw e;
    }
  };
}

/**
 * The answer to an anonymous read: a browser (it asks for HTML) is sent to the GitHub login and back
 * here; an API client gets 401 JSON with a `WWW-Authenticate: Bearer` challenge.
 */
export function anonymousReadResponse(event: HttpEvent, message: string): HttpResult {
  const accept = header(event, 'accept') ?? '';
  const path = event.rawPath ?? event.requestContext?.http?.path ?? '/';
  const query = event.rawQueryString ? `?${event.rawQueryString}` : '';
  const back = safeReturnPath(`${path}${query}`);
  if (accept.includes('text/html'))
    return {
      statusCode: 302,
      headers: {
        location: `/auth/github/login?return=${encodeURIComponent(back)}`,
        'cache-control': 'no-store',
      },
      body: '',
    };
  return json(
    401,
    { error: 'unauthenticated', message, login: `/auth/github/login?return=${encodeURIComponent(back)}` },
    { 'www-authenticate': 'Bearer realm="helmgate"' },
  );
}
