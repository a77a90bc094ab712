import { createAppAuth } from '@octokit/auth-app';
import * as z from 'zod';
import type { Clock } from '../clock';
import { HelmgateError } from '../errors';
import type { Logger } from '../log/logger';

const positiveId = z.union([z.number().int().positive(), z.string().regex(/^\d+$/)]).transform(Number);

/**
 * One GitHub App instead of a token and a repository webhook (issue 15 item 1): the secret
 * `helmgate/github-app` holds `{"appId", "privateKey", "slug"?, "webhookSecret"?, "installationId"?}`
 * — what `helmgate setup github` stores from GitHub's App-manifest conversion. The App's client id
 * and secret go to the login secret (`helmgate/github-oauth`) instead, so the login function never
 * needs (nor may read) this one.
 *
 * - `appId` + `privateKey` sign the App JWT (10 minutes), which finds the installation of each
 *   repository (`GET /repos/{owner}/{repo}/installation`) and exchanges it for a short-lived
 *   installation token scoped to that one repository.
 * - `clientId` + `clientSecret` (older secrets only): still accepted, read by nothing; `helmgate
 *   bootstrap` copies them into the login secret when that does not exist.
 * - `webhookSecret` verifies the App's push webhooks (alongside `helmgate/github-webhook`, if any).
 * - `installationId` (older secrets): pins the one installation helmgate may use; a repository
 *   installed through another is refused.
 */
export const GithubAppSecret = z.strictObject({
  appId: positiveId,
  privateKey: z.string().includes('PRIVATE KEY'),
  installationId: positiveId.optional(),
  slug: z
    .string()
    .regex(/^[a-z0-9][a-z0-9-]{0,99}$/)
    .optional(),
  /** older secrets: parsed, no longer read (the login reads the login secret) */
  clientId: z.string().min(1).optional(),
  clientSecret: z.string().min(1).optional(),
  webhookSecret: z.string().min(1).optional(),
});
export type GithubAppSecret = z.infer<typeof GithubAppSecret>;

const SHAPE = '{"appId", "privateKey", "slug"?, "webhookSecret"?}';

/** Parses the App secret; errors name the field, never a value. */
export function parseGithubAppSecret(text: string, secretName = 'the GitHub App secret'): GithubAppSecret {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new HelmgateError('invalid_config', `${secretName}: not JSON (${SHAPE})`);
  }
  const parsed = GithubAppSecret.safeParse(json);
  if (!parsed.success)
    throw new HelmgateError(
      'invalid_config',
      `${secretName}: ${parsed.error.issues.map((i) => i.path.join('.') || '(root)').join(', ')} missing or invalid`,
    );
  // PEM in a JSON string often arrives with literal \n
  return { ...parsed.data, privateKey: parsed.data.privateKey.replace(/\\n/g, '\n') };
}

/** Every secret value inside the App secret (for the log redactor). */
export function githubAppSecretValues(app: GithubAppSecret): string[] {
  return [app.privateKey, app.clientSecret, app.webhookSecret].filter((v): v is string => !!v);
}

/** how long before its expiry an installation token is replaced */
export const INSTALLATION_TOKEN_MARGIN_MS = 5 * 60_000;

/**
 * @octokit/auth-app's token cache, keyed by installation (and, here, repository), reading the
 * `expires_at` GitHub returned (its default keeps every token 59 minutes, whatever GitHub said): a
 * token within five minutes of its expiry — or one whose expiry cannot be read — is not returned, so a
 * new one is exchanged. auth-app stores `token|createdAt|expiresAt|…`.
 */
export function expiryAwareTokenCache(clock: Clock, marginMs = INSTALLATION_TOKEN_MARGIN_MS) {
  const entries = new Map<string, string>();
  return {
    get(key: string): string | undefined {
      const value = entries.get(key);
      if (value === undefined) return undefined;
      const expiresAt = Date.parse(value.split('|')[2] ?? '');
      if (!Number.isFinite(expiresAt) || expiresAt - marginMs <= clock.now().getTime()) {
        entries.delete(key);
        return undefined;
      }
      return value;
    },
    set(key: string, value: string): void {
      entries.set(key, value);
    },
  };
}

/** What an installation token is for: one repository, or one organization (team membership). */
export type InstallationTarget =
  | { kind: 'repository'; owner: string; repo: string }
  | { kind: 'org'; org: string };

const targetKey = (t: InstallationTarget) =>
  (t.kind === 'repository' ? `repo:${t.owner}/${t.repo}` : `org:${t.org}`).toLowerCase();
const targetName = (t: InstallationTarget) =>
  t.kind === 'repository' ? `${t.owner}/${t.repo}` : `organization ${t.org}`;

/** how long a repository's installation is remembered (an uninstall is also noticed by its 404s) */
export const INSTALLATION_LOOKUP_TTL_MS = 10 * 60_000;

export interface InstallationDirectoryOptions {
  /**
   * Asks GitHub, authenticated as the App (JWT), which installation covers the target:
   * `GET /repos/{owner}/{repo}/installation` or `GET /orgs/{org}/installation`; undefined = 404.
   */
  lookup: (target: InstallationTarget) => Promise<number | undefined>;
  clock: Clock;
  /** an installation the operator pinned in the App secret: any other is refused */
  pinned?: number;
  ttlMs?: number;
  logger?: Logger;
}

/**
 * Which installation of the App serves which repository. Only GitHub, asked with the App's JWT,
 * decides: an installation id in a webhook body is a hint that at most makes the cached answer be
 * asked again, so nothing a payload says chooses the credentials used for a repository. Answers are
 * cached for ten minutes; a miss is not cached.
 */
export class InstallationDirectory {
  private readonly entries = new Map<string, { id: number; at: number }>();
  private readonly ttlMs: number;

  constructor(private readonly opts: InstallationDirectoryOptions) {
    this.ttlMs = opts.ttlMs ?? INSTALLATION_LOOKUP_TTL_MS;
  }

  /** The installation serving `target`; throws `forbidden` when the App is not installed there. */
  async installationFor(target: InstallationTarget, opts: { fresh?: boolean } = {}): Promise<number> {
    const key = targetKey(target);
    const now = this.opts.clock.now().getTime();
    const hit = this.entries.get(key);
    if (hit && !opts.fresh && now - hit.at < this.ttlMs) return hit.id;
    this.entries.delete(key);
    let id: number | undefined;
    try {
      id = await this.opts.lookup(target);
    } catch (e) {
      const status = (e as { status?: number }).status;
      if (status === 401)
        throw new HelmgateError(
          'invalid_config',
          'GitHub refused the App JWT: check appId and privateKey in the GitHub App secret',
          { cause: e },
        );
      throw new HelmgateError(
        'unavailable',
        `could not look up the GitHub App installation of ${targetName(target)}`,
        {
          cause: e,
        },
      );
    }
    if (id === undefined)
      throw new HelmgateError(
        'forbidden',
        `the GitHub App is not installed on ${targetName(target)}: install it there (its installation page lists the repositories it may read)`,
      );
    if (this.opts.pinned !== undefined && id !== this.opts.pinned)
      throw new HelmgateError(
        'forbidden',
        `${targetName(target)} is served by GitHub App installation ${id}, but the App secret pins installation ${this.opts.pinned}`,
      );
    this.entries.set(key, { id, at: now });
    return id;
  }

  /**
   * The installation of `repository` (`owner/name`) for a webhook delivery that named `hint`: a hint
   * that differs from the cached answer makes GitHub be asked again; GitHub's answer wins.
   */
  async verify(repository: string, hint?: number): Promise<number> {
    const [owner, repo, ...rest] = repository.split('/');
    if (!owner || !repo || rest.length > 0)
      throw new HelmgateError('bad_request', 'repository must be owner/name');
    const target: InstallationTarget = { kind: 'repository', owner, repo };
    let id = await this.installationFor(target);
    if (hint !== undefined && hint !== id) {
      id = await this.installationFor(target, { fresh: true });
      if (hint !== id)
        this.opts.logger?.warn('webhook installation id differs from GitHub', {
          repository,
          hinted: hint,
          installation: id,
        });
    }
    return id;
  }

  /** Forgets every cached answer (an installation was added, removed or changed its repositories). */
  forget(): void {
    this.entries.clear();
  }
}

const REPOSITORY_ROUTE = /^\/repos\/([^/]+)\/([^/?#]+)(\/[^?#]*)?/;
const ORG_ROUTE = /^\/orgs\/([^/]+)(\/[^?#]*)?/;

/** The target of a REST path, or undefined for routes that are not about one repository or organization. */
export function installationTargetOf(path: string | undefined): InstallationTarget | undefined {
  if (path === undefined) return undefined;
  const repo = REPOSITORY_ROUTE.exec(path);
  if (repo) {
    // the App's own lookup of the installation is authenticated with the JWT, not an installation
    if (repo[3] === '/installation') return undefined;
    return {
      kind: 'repository',
      owner: decodeURIComponent(repo[1] ?? ''),
      repo: decodeURIComponent(repo[2] ?? ''),
    };
  }
  const org = ORG_ROUTE.exec(path);
  if (org && org[2] !== '/installation') return { kind: 'org', org: decodeURIComponent(org[1] ?? '') };
  return undefined;
}

/**
 * The REST path of a request URL below the API base (GHES: `/api/v3`), with dot segments resolved as
 * fetch will resolve them, so the repository a token is chosen for is the one the request reaches.
 * Undefined when the URL leaves the base.
 */
export function requestPath(url: string, baseUrl: string): string | undefined {
  let full: URL;
  let base: URL;
  try {
    full = new URL(url);
    base = new URL(baseUrl);
  } catch {
    return undefined;
  }
  if (full.origin !== base.origin) return undefined;
  const prefix = base.pathname.replace(/\/+$/, '');
  if (prefix && !(full.pathname === prefix || full.pathname.startsWith(`${prefix}/`))) return undefined;
  return full.pathname.slice(prefix.length) || '/';
}

type RequestFn = ((route: unknown, parameters?: unknown) => Promise<unknown>) & {
  endpoint: {
    merge: (
      route: unknown,
      parameters?: unknown,
    ) => {
      url: string;
      baseUrl?: string;
      headers: Record<string, string>;
      [k: string]: unknown;
    };
    parse: (options: unknown) => { url: string };
    DEFAULTS: { baseUrl: string };
  };
  defaults: (o: unknown) => RequestFn;
};

export interface InstallationRoutingAuthOptions {
  appId: number;
  privateKey: string;
  installations: InstallationDirectory;
  cache: ReturnType<typeof expiryAwareTokenCache>;
  /** given by Octokit */
  request: RequestFn;
  log?: { warn: (...a: unknown[]) => void };
}

/**
 * The scope of an organization's token (team membership). auth-app keys both its token cache and its
 * module-wide map of exchanges in flight by `installationId|repositoryNames|permissions` with empty parts
 * dropped, so `{permissions: {members: 'read'}}` alone is `<installation>|members` — the key of the token
 * for a repository named `members`, which then got a token that cannot read its code (or the team check
 * one narrowed to that repository). Two permissions join with a comma, which no repository name holds,
 * so the keys of the two kinds cannot meet; `metadata: read` is granted to every App (and in our
 * manifest), so the token is no wider. A prefixing cache would not do: the in-flight map is keyed by
 * the same string and is not ours.
 */
const ORG_SCOPE = { permissions: { members: 'read', metadata: 'read' } } as const;

/**
 * An Octokit auth strategy for a GitHub App installed on several accounts: every request about a
 * repository (`/repos/{owner}/{repo}/…`) carries an installation token of the installation GitHub
 * says serves that repository, scoped to that repository alone; a request about an organization
 * (`/orgs/{org}/…`: team membership) one of that organization's installation, scoped to
 * `members: read` (and `metadata: read`, see ORG_SCOPE). The repository is read from the URL actually requested, never from a payload.
 * App routes (`/app/…`, the installation look-ups) are signed with the App JWT by @octokit/auth-app.
 */
export function installationRoutingAuth(options: InstallationRoutingAuthOptions) {
  const app = createAppAuth({
    appId: options.appId,
    privateKey: options.privateKey,
    // auth-app types its cache's get as never returning undefined; a miss is undefined in its code too
    cache: options.cache as never,
    request: options.request as never,
    ...(options.log ? { log: options.log as never } : {}),
  });
  const auth = (authOptions: Parameters<typeof app>[0]) => app(authOptions);
  const hook = async (request: RequestFn, route: unknown, parameters?: unknown): Promise<unknown> => {
    const endpoint = request.endpoint.merge(route, parameters);
    const target = installationTargetOf(
      requestPath(
        request.endpoint.parse(endpoint).url,
        endpoint.baseUrl ?? request.endpoint.DEFAULTS.baseUrl,
      ),
    );
    if (!target) return app.hook(request as never, route as never, parameters as never);
    const installationId = await options.installations.installationFor(target);
    const scope = target.kind === 'repository' ? { repositoryNames: [target.repo] } : ORG_SCOPE;
    const token = async (refresh: boolean) =>
      (await app({ type: 'installation', installationId, ...scope, ...(refresh ? { refresh } : {}) })).token;
    endpoint.headers.authorization = `token ${await token(false)}`;
    try {
      return await request(endpoint);
    } catch (e) {
      // a token revoked before its expiry (the installation's repositories changed): one fresh token
      if ((e as { status?: number }).status !== 401) throw e;
      endpoint.headers.authorization = `token ${await token(true)}`;
      return request(endpoint);
    }
  };
  return Object.assign(auth, { hook });
}
