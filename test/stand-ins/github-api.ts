import { verify as cryptoVerify, generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One recorded REST call. */
export interface GithubCall {
  method: string;
  /** path without the query string, e.g. /repos/o/r/deployments */
  path: string;
  query: Record<string, string>;
  body: any;
  authorization: string | undefined;
  accept: string | undefined;
}

export interface StandInDeployment {
  id: number;
  repository: string;
  ref: string;
  sha: string;
  environment: string;
  payload: unknown;
  production_environment: boolean;
  transient_environment: boolean;
  request: any;
  statuses: Array<{
    id: number;
    state: string;
    description?: string;
    log_url?: string;
    environment_url?: string;
  }>;
}

type Route =
  | 'create_deployment'
  | 'create_status'
  | 'contents'
  | 'tarball'
  | 'permission'
  | 'ref'
  | 'compare';

/** Something that answers the requests this stand-in does not (e.g. the OAuth stand-in's `/user`). */
export interface GithubDelegate {
  serve(req: IncomingMessage, res: ServerResponse): Promise<void>;
}

/**
 * A loopback GitHub REST API for tests: the Deployments API (create a deployment → id, create and
 * list its statuses), contents (`GET /repos/{o}/{r}/contents/{path}?ref=`, served raw as with
 * `application/vnd.github.raw+json`), tarballs (`GET /repos/{o}/{r}/tarball/{ref}`, the bytes you
 * give it), collaborator permissions (`GET /repos/{o}/{r}/collaborators/{login}/permission`), branch
 * heads (`GET /repos/{o}/{r}/git/ref/heads/{branch}`) and ancestry (`GET /repos/{o}/{r}/compare/{base}...{head}`
 * → `status` ahead/behind/diverged/identical over the commits you add). Records every request. Point
 * Octokit at it with `baseUrl: stand.url`.
 *
 * With `app`, it is GitHub for a GitHub App: App JWTs are verified (RS256 with the App's public key,
 * `iss`, lifetime); `GET /repos/{o}/{r}/installation` and `GET /orgs/{org}/installation` answer which
 * installation serves them (404 when none); `POST /app/installations/{id}/access_tokens` issues tokens,
 * narrowed to the named `repositories` or `permissions`; a token reaches only its installation's (and
 * its narrowed) repositories (else 404), a token narrowed to `permissions` without `contents` cannot read
 * a repository's code (403), and a token is refused once expired (401); team memberships for
 * `teamMembers`. Always: GitHub's App-manifest flow — `POST /settings/apps/new?state=` (or
 * `/organizations/{org}/settings/apps/new`) with the form field `manifest` redirects to its
 * `redirect_url` with a code and the state, as if the person clicked "Create GitHub App";
 * `POST /app-manifests/{code}/conversions` converts a code once, within an hour (else 404), into a new
 * App (id, slug, pem, webhook_secret, client_id, client_secret) whose JWTs are then accepted.
 */
/** An installation of the stand-in's App: on one account, for some or all of its repositories. */
export interface StandInInstallation {
  id: number;
  /** the user or organization it is installed on */
  account: string;
  /** `owner/name` of the repositories it may reach, or `all` of the account's */
  repositories: string[] | 'all';
}

/** A GitHub App the stand-in knows: it checks App JWTs with `publicKey` and issues installation tokens. */
export interface GithubAppStandInOptions {
  id: number;
  publicKey: string;
  /** the one installation, reaching every repository of every account (older tests) */
  installationId?: number;
  /** installations with their accounts and repositories */
  installations?: StandInInstallation[];
  /** the App's slug and name (GET /app) */
  slug?: string;
  /** the App's webhook configuration (GET/PATCH /app/hook/config); the secret is never returned */
  hook?: { url: string; content_type?: string; secret?: string; insecure_ssl?: string };
  /** how long an installation token lives; GitHub: one hour */
  tokenTtlMs?: number;
  now?: () => number;
}

/** An App made through the manifest flow: what GitHub's conversion returned. */
export interface StandInManifestApp {
  id: number;
  slug: string;
  owner: string;
  manifest: any;
  pem: string;
  webhook_secret: string;
  client_id: string;
  client_secret: string;
}

/** how long a manifest code may be converted (GitHub: one hour) */
export const MANIFEST_CODE_TTL_MS = 3_600_000;

interface IssuedToken {
  expiresAt: number;
  installationId: number;
  /** names of the repositories it was narrowed to; undefined = all of the installation's */
  repositories: string[] | undefined;
  permissions: Record<string, string> | undefined;
}

export class GithubApiStandIn {
  readonly calls: GithubCall[] = [];
  readonly deployments: StandInDeployment[] = [];
  /** commit statuses created (`POST /repos/{o}/{r}/statuses/{sha}`), with their repository and sha */
  readonly commitStatuses: Array<Record<string, unknown> & { repository: string; sha: string }> = [];
  private readonly files = new Map<string, string | Buffer>();
  private readonly tarballs = new Map<string, Buffer>();
  private readonly failures = new Map<
    Route,
    Array<{ status: number; message: string; headers: Record<string, string> }>
  >();
  private readonly holds = new Map<
    Route,
    { count: number; arrived: number; all: Promise<void>; release: () => void }
  >();
  private server: Server | undefined;
  private nextId = 1000;
  port = 0;
  /** the token requests must carry (`token x` or `bearer x`); undefined accepts any */
  token: string | undefined;
  /** `owner/name:login` → GitHub permission (`admin`, `write`, `read`…); absent = not a collaborator (404) */
  readonly permissions = new Map<string, string>();
  private readonly delegate: GithubDelegate | undefined;

  /** `delegate` serves every path outside `/repos/` (one API base URL for OAuth identity and REST). */
  /** GitHub App installation tokens this stand-in issued, with when they expire (ms) */
  readonly installationTokens = new Map<string, number>();
  /** what each installation token may reach */
  readonly issuedTokens = new Map<string, IssuedToken>();
  /** Apps created through the manifest flow, by id */
  readonly manifestApps = new Map<number, StandInManifestApp>();
  /** manifest codes handed to the browser: code → the App it converts to, when it was issued, used? */
  private readonly manifestCodes = new Map<
    string,
    { manifest: any; owner: string; at: number; used: boolean }
  >();
  /** manifest forms posted (what a browser sent to /settings/apps/new) */
  readonly manifestForms: Array<{ path: string; state: string | null; manifest: any }> = [];
  /** why each App JWT or installation token was refused, in order */
  readonly appRefusals: string[] = [];
  private readonly app: GithubAppStandInOptions | undefined;
  /** every PATCH of the App's webhook configuration, in order (field names only: it may carry the secret) */
  readonly appHookWrites: Array<{ fields: string[] }> = [];

  constructor(
    opts: {
      token?: string;
      delegate?: GithubDelegate;
      app?: GithubAppStandInOptions;
      /** the stand-in's time (manifest codes expire on it) when there is no `app.now` */
      now?: () => number;
    } = {},
  ) {
    this.clockNow = opts.now;
    this.token = opts.token;
    this.delegate = opts.delegate;
    this.app = opts.app;
    if (opts.app) this.appKeys.set(opts.app.id, opts.app.publicKey);
  }

  /** App id → public key of every App whose JWT is accepted (the configured one and manifest-made ones) */
  private readonly appKeys = new Map<number, string>();

  private get installations(): StandInInstallation[] {
    const app = this.app;
    if (!app) return [];
    return [
      ...(app.installationId !== undefined
        ? [{ id: app.installationId, account: '*', repositories: 'all' as const }]
        : []),
      ...(app.installations ?? []),
    ];
  }

  private covers(inst: StandInInstallation, repository: string): boolean {
    const [owner] = repository.split('/');
    if (inst.repositories === 'all')
      return inst.account === '*' || inst.account.toLowerCase() === owner?.toLowerCase();
    return inst.repositories.some((r) => r.toLowerCase() === repository.toLowerCase());
  }

  private readonly clockNow: (() => number) | undefined;

  private now(): number {
    return this.app?.now?.() ?? this.clockNow?.() ?? Date.now();
  }

  /** the `iss` claim of a bearer JWT, unverified (to pick the key that verifies it) */
  private jwtIss(authorization: string): unknown {
    const p = /^(?:bearer|Bearer) [^.]+\.([^.]+)\./.exec(authorization)?.[1];
    try {
      return p ? (JSON.parse(Buffer.from(p, 'base64url').toString()) as { iss?: unknown }).iss : undefined;
    } catch {
      return undefined;
    }
  }

  /** Checks an App JWT as GitHub does: RS256 by the App's key, `iss` the App id, not expired, ≤ 10 min. */
  private appJwtProblem(authorization: string, appId = this.app?.id): string | undefined {
    const jwt = /^(?:bearer|Bearer) (.+)$/.exec(authorization)?.[1];
    if (!jwt) return 'no bearer JWT';
    const [h, p, sig] = jwt.split('.');
    if (!h || !p || !sig) return 'not a JWT';
    let header: { alg?: string };
    let payload: { iss?: unknown; iat?: number; exp?: number };
    try {
      header = JSON.parse(Buffer.from(h, 'base64url').toString());
      payload = JSON.parse(Buffer.from(p, 'base64url').toString());
    } catch {
      return 'not a JWT';
    }
    if (header.alg !== 'RS256') return 'not RS256';
    const publicKey = this.appKeys.get(Number(payload.iss));
    if (publicKey === undefined || Number(payload.iss) !== appId) return 'iss is not the App id';
    if (!cryptoVerify('RSA-SHA256', Buffer.from(`${h}.${p}`), publicKey, Buffer.from(sig, 'base64url')))
      return 'signature does not match the App key';
    // JWTs are signed with the real time (universal-github-app-jwt); tokens expire on app.now
    const now = Date.now() / 1000;
    if (typeof payload.exp !== 'number' || payload.exp <= now) return 'JWT expired';
    if (typeof payload.iat !== 'number' || payload.exp - payload.iat > 660)
      return 'JWT lives longer than 10 minutes';
    return undefined;
  }

  /** the App's webhook configuration as it stands (with its secret, for assertions) */
  get appHook(): GithubAppStandInOptions['hook'] {
    return this.app?.hook ? { ...this.app.hook } : undefined;
  }

  /** `org/slug` (lower-case) → logins (lower-case) of its active members, for App team-membership checks */
  readonly teamMembers = new Map<string, Set<string>>();

  setPermission(repository: string, login: string, permission: string): void {
    this.permissions.set(`${repository}:${login.toLowerCase()}`, permission);
  }

  /** branch heads (`owner/name:branch` → sha) and the commit graph (sha → parents) for refs and compare */
  readonly heads = new Map<string, string>();
  readonly parents = new Map<string, string[]>();

  /** Moves `branch` to `sha` (a push, forced or not). */
  setHead(repository: string, branch: string, sha: string): void {
    this.heads.set(`${repository}:${branch}`, sha);
  }

  /** Records a commit and its parents, so compare can tell ancestry. */
  addCommit(sha: string, parents: string[] = []): void {
    this.parents.set(sha, parents);
  }

  private ancestors(sha: string): Set<string> {
    const seen = new Set<string>();
    const todo = [sha];
    while (todo.length > 0) {
      const c = todo.pop() as string;
      if (seen.has(c)) continue;
      seen.add(c);
      todo.push(...(this.parents.get(c) ?? []));
    }
    return seen;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  async close(): Promise<void> {
    const s = this.server;
    if (!s) return;
    await new Promise<void>((resolve) => s.close(() => resolve()));
    s.closeAllConnections?.();
  }

  setFile(repository: string, ref: string, path: string, content: string | Buffer): void {
    this.files.set(`${repository}@${ref}:${path}`, content);
  }

  setTarball(repository: string, ref: string, tarGz: Buffer): void {
    this.tarballs.set(`${repository}@${ref}`, tarGz);
  }

  /**
   * The next `times` requests of a route answer `status` with GitHub's error shape (and `headers`,
   * e.g. `retry-after` for a secondary rate limit).
   */
  failNext(
    route: Route,
    status: number,
    message = 'stand-in failure',
    times = 1,
    headers: Record<string, string> = {},
  ): void {
    const list = this.failures.get(route) ?? [];
    for (let i = 0; i < times; i++) list.push({ status, message, headers });
    this.failures.set(route, list);
  }

  /**
   * Holds requests of a route until `count` of them have arrived, then answers them all. The promise
   * settles when the last one arrives: proof that a client sent them concurrently.
   */
  hold(route: Route, count: number): Promise<void> {
    let release = () => {};
    const all = new Promise<void>((resolve) => {
      release = resolve;
    });
    this.holds.set(route, { count, arrived: 0, all, release });
    return all;
  }

  private async barrier(route: Route): Promise<void> {
    const h = this.holds.get(route);
    if (!h) return;
    h.arrived++;
    if (h.arrived >= h.count) {
      this.holds.delete(route);
      h.release();
    }
    await h.all;
  }

  /** Statuses posted to the deployments of one environment, in order. */
  statesOf(environment: string): string[] {
    return this.deployments
      .filter((d) => d.environment === environment)
      .flatMap((d) => d.statuses.map((s) => s.state));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const ours =
      path.startsWith('/repos/') ||
      (this.app !== undefined && path === '/app') ||
      path.startsWith('/app/') ||
      path.startsWith('/app-manifests/') ||
      (this.app !== undefined && path.startsWith('/orgs/')) ||
      /^\/(?:organizations\/[^/]+\/)?settings\/apps\/new$/.test(path);
    if (this.delegate && !ours) return this.delegate.serve(req, res);
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', 'http://local');
    const method = req.method ?? 'GET';
    let body: any;
    try {
      body = raw ? JSON.parse(raw) : undefined;
    } catch {
      body = raw;
    }
    this.calls.push({
      method,
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      body,
      authorization: req.headers.authorization,
      accept: req.headers.accept,
    });

    const send = (status: number, payload: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { ...headers, 'content-type': 'application/json; charset=utf-8' });
      res.end(JSON.stringify(payload));
    };
    const notFound = () =>
      send(404, { message: 'Not Found', documentation_url: 'https://docs.github.com/rest' });
    const fail = (route: Route) => {
      const f = this.failures.get(route)?.shift();
      if (f)
        send(f.status, { message: f.message, documentation_url: 'https://docs.github.com/rest' }, f.headers);
      return f !== undefined;
    };

    // GitHub's App-manifest flow (web side): the browser posts the form; as if the user clicked
    // "Create GitHub App", the answer redirects to the manifest's redirect_url with a code and the state
    const form = /^\/(?:organizations\/([^/]+)\/)?settings\/apps\/new$/.exec(url.pathname);
    if (form && method === 'POST') {
      const fields = new URLSearchParams(raw);
      let manifest: any;
      try {
        manifest = JSON.parse(fields.get('manifest') ?? '');
      } catch {
        res.writeHead(422, { 'content-type': 'text/html; charset=utf-8' });
        res.end('<p>Invalid GitHub App configuration: the manifest is not JSON</p>');
        return;
      }
      const state = url.searchParams.get('state');
      this.manifestForms.push({ path: url.pathname, state, manifest });
      if (typeof manifest?.url !== 'string' || typeof manifest?.redirect_url !== 'string') {
        res.writeHead(422, { 'content-type': 'text/html; charset=utf-8' });
        res.end('<p>Invalid GitHub App configuration: url and redirect_url are required</p>');
        return;
      }
      const code = randomBytes(10).toString('hex');
      this.manifestCodes.set(code, {
        manifest,
        owner: form[1] ? decodeURIComponent(form[1]) : 'stand-in-user',
        at: this.now(),
        used: false,
      });
      const back = new URL(manifest.redirect_url);
      back.searchParams.set('code', code);
      if (state !== null) back.searchParams.set('state', state);
      res.writeHead(302, { location: back.toString() });
      res.end();
      return;
    }
    const conversion = /^\/app-manifests\/([^/]+)\/conversions$/.exec(url.pathname);
    if (conversion && method === 'POST') {
      const code = decodeURIComponent(conversion[1] ?? '');
      const grant = this.manifestCodes.get(code);
      // GitHub: a code converts once, within an hour; otherwise 404
      if (!grant || grant.used || this.now() - grant.at > MANIFEST_CODE_TTL_MS) return notFound();
      grant.used = true;
      const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
      const id = this.nextId++;
      const slug = String(grant.manifest.name ?? `app-${id}`)
        .toLowerCase()
        .replace(/[^a-z0-9]+/g, '-')
        .replace(/^-+|-+$/g, '');
      const created: StandInManifestApp = {
        id,
        slug,
        owner: grant.owner,
        manifest: grant.manifest,
        pem: privateKey.export({ type: 'pkcs1', format: 'pem' }).toString(),
        webhook_secret: randomBytes(20).toString('hex'),
        client_id: `Iv23li${randomBytes(7).toString('hex')}`,
        client_secret: randomBytes(20).toString('hex'),
      };
      this.manifestApps.set(id, created);
      this.appKeys.set(id, publicKey.export({ type: 'spki', format: 'pem' }).toString());
      return send(201, {
        id,
        slug,
        node_id: `A_${id}`,
        owner: { login: grant.owner, type: 'User' },
        name: grant.manifest.name ?? slug,
        description: grant.manifest.description ?? '',
        external_url: grant.manifest.url,
        html_url: `${this.url}/apps/${slug}`,
        permissions: grant.manifest.default_permissions ?? {},
        events: grant.manifest.default_events ?? [],
        client_id: created.client_id,
        client_secret: created.client_secret,
        webhook_secret: created.webhook_secret,
        pem: created.pem,
      });
    }

    const jwtRefused = (problem: string) => {
      this.appRefusals.push(problem);
      return send(401, {
        message: 'A JSON web token could not be decoded',
        documentation_url: 'https://docs.github.com/rest',
      });
    };
    // an App made through the manifest flow has no installations: its JWT is checked, then 404
    const lookup =
      /^\/(?:repos\/[^/]+\/[^/]+|orgs\/[^/]+)\/installation$/.test(url.pathname) && method === 'GET';
    if (lookup && this.manifestApps.size > 0) {
      const iss = Number(this.jwtIss(req.headers.authorization ?? ''));
      if (this.manifestApps.has(iss)) {
        const problem = this.appJwtProblem(req.headers.authorization ?? '', iss);
        return problem ? jwtRefused(problem) : notFound();
      }
    }

    // an App made through the manifest flow describes itself to its own JWT: GET /app and its webhook
    // configuration (URL and events from the manifest, the secret GitHub generated; never returned)
    if ((url.pathname === '/app' || url.pathname === '/app/hook/config') && this.manifestApps.size > 0) {
      const iss = Number(this.jwtIss(req.headers.authorization ?? ''));
      const made = this.manifestApps.get(iss);
      if (made) {
        const problem = this.appJwtProblem(req.headers.authorization ?? '', iss);
        if (problem) return jwtRefused(problem);
        if (url.pathname === '/app' && method === 'GET')
          return send(200, {
            id: made.id,
            slug: made.slug,
            name: made.manifest.name ?? made.slug,
            owner: { login: made.owner },
            permissions: made.manifest.default_permissions ?? {},
            events: made.manifest.default_events ?? [],
          });
        if (url.pathname === '/app/hook/config' && method === 'GET')
          return send(200, {
            url: made.manifest.hook_attributes?.url ?? '',
            content_type: 'json',
            insecure_ssl: '0',
            ...(made.webhook_secret ? { secret: '********' } : {}),
          });
        return notFound();
      }
    }

    if (this.app) {
      const app = this.app;
      const auth = req.headers.authorization ?? '';
      const repoInstallation = /^\/repos\/([^/]+)\/([^/]+)\/installation$/.exec(url.pathname);
      const orgInstallation = /^\/orgs\/([^/]+)\/installation$/.exec(url.pathname);
      if ((repoInstallation || orgInstallation) && method === 'GET') {
        const problem = this.appJwtProblem(auth);
        if (problem) return jwtRefused(problem);
        const inst = repoInstallation
          ? this.installations.find((i) =>
              this.covers(
                i,
                `${decodeURIComponent(repoInstallation[1] ?? '')}/${decodeURIComponent(repoInstallation[2] ?? '')}`,
              ),
            )
          : this.installations.find(
              (i) =>
                i.account === '*' ||
                i.account.toLowerCase() === decodeURIComponent(orgInstallation?.[1] ?? '').toLowerCase(),
            );
        if (!inst) return notFound();
        return send(200, {
          id: inst.id,
          app_id: app.id,
          account: { login: inst.account, type: 'Organization' },
          repository_selection: inst.repositories === 'all' ? 'all' : 'selected',
          permissions: { contents: 'read', deployments: 'write', statuses: 'write', metadata: 'read' },
          events: ['push'],
        });
      }
      const exchange = /^\/app\/installations\/(\d+)\/access_tokens$/.exec(url.pathname);
      if (exchange && method === 'POST') {
        const inst = this.installations.find((i) => i.id === Number(exchange[1]));
        const problem = this.appJwtProblem(auth) ?? (inst ? undefined : "not this App's installation");
        if (problem) return jwtRefused(problem);
        const installation = inst as StandInInstallation;
        const names: string[] | undefined = Array.isArray(body?.repositories)
          ? body.repositories.map(String)
          : undefined;
        // GitHub: every named repository must be one this installation reaches, on its account
        if (
          names &&
          !names.every((n) =>
            installation.account === '*' ? true : this.covers(installation, `${installation.account}/${n}`),
          )
        )
          return send(422, {
            message:
              'There is at least one repository that does not exist or is not accessible to the parent installation.',
            documentation_url: 'https://docs.github.com/rest',
          });
        const token = `ghs_${randomBytes(18).toString('hex')}`;
        const expiresAt = this.now() + (app.tokenTtlMs ?? 3_600_000);
        this.installationTokens.set(token, expiresAt);
        this.issuedTokens.set(token, {
          expiresAt,
          installationId: installation.id,
          repositories: names,
          permissions: body?.permissions,
        });
        return send(201, {
          token,
          expires_at: new Date(expiresAt).toISOString().replace(/\.\d{3}Z$/, 'Z'),
          permissions: body?.permissions ?? {
            contents: 'read',
            deployments: 'write',
            statuses: 'write',
            metadata: 'read',
          },
          repository_selection: names ? 'selected' : 'all',
          ...(names ? { repositories: names.map((name, i) => ({ id: 9000 + i, name })) } : {}),
        });
      }
      if (url.pathname === '/app' || url.pathname === '/app/hook/config') {
        const problem = this.appJwtProblem(auth);
        if (problem) {
          this.appRefusals.push(problem);
          return send(401, {
            message: 'A JSON web token could not be decoded',
            documentation_url: 'https://docs.github.com/rest',
          });
        }
        if (url.pathname === '/app' && method === 'GET')
          return send(200, {
            id: app.id,
            slug: app.slug ?? 'helmgate',
            name: app.slug ?? 'helmgate',
            owner: { login: 'example-org' },
            permissions: { contents: 'read', deployments: 'write', statuses: 'write', metadata: 'read' },
            events: ['push'],
          });
        const hookView = () => ({
          url: app.hook?.url ?? '',
          content_type: app.hook?.content_type ?? 'form',
          insecure_ssl: app.hook?.insecure_ssl ?? '0',
          ...(app.hook?.secret ? { secret: '********' } : {}),
        });
        if (method === 'GET') return send(200, hookView());
        if (method === 'PATCH') {
          const fields = Object.keys(body ?? {}).filter((k) =>
            ['url', 'content_type', 'secret', 'insecure_ssl'].includes(k),
          );
          if (body?.url !== undefined && !/^https?:\/\/./.test(String(body.url)))
            return send(422, { message: 'Invalid request: url is not a URL' });
          if (body?.content_type !== undefined && !['json', 'form'].includes(String(body.content_type)))
            return send(422, { message: 'Invalid request: content_type' });
          app.hook = {
            url: app.hook?.url ?? '',
            ...app.hook,
            ...(body?.url !== undefined ? { url: String(body.url) } : {}),
            ...(body?.content_type !== undefined ? { content_type: String(body.content_type) } : {}),
            ...(body?.secret !== undefined ? { secret: String(body.secret) } : {}),
            ...(body?.insecure_ssl !== undefined ? { insecure_ssl: String(body.insecure_ssl) } : {}),
          };
          this.appHookWrites.push({ fields });
          return send(200, hookView());
        }
        return notFound();
      }
      const token = /^(?:token|bearer|Bearer) (ghs_\w+)$/.exec(auth)?.[1];
      const issued = token ? this.issuedTokens.get(token) : undefined;
      const refused =
        issued === undefined
          ? 'not an installation token'
          : issued.expiresAt <= this.now()
            ? 'installation token expired'
            : undefined;
      if (refused) {
        this.appRefusals.push(refused);
        return send(401, { message: 'Bad credentials', documentation_url: 'https://docs.github.com/rest' });
      }
      // a token reaches only its installation's repositories (and those it was narrowed to): else 404
      const target = /^\/repos\/([^/]+)\/([^/]+)\//.exec(url.pathname);
      if (target && issued) {
        const repository = `${decodeURIComponent(target[1] ?? '')}/${decodeURIComponent(target[2] ?? '')}`;
        const inst = this.installations.find((i) => i.id === issued.installationId);
        const name = repository.split('/')[1]?.toLowerCase();
        if (
          !inst ||
          !this.covers(inst, repository) ||
          (issued.repositories && !issued.repositories.some((n) => n.toLowerCase() === name))
        ) {
          this.appRefusals.push(`token of installation ${issued.installationId} used on ${repository}`);
          return notFound();
        }
        // a token narrowed to `permissions` has only those: reading a repository's code needs `contents`
        const rest = url.pathname.slice(target[0].length);
        if (
          issued.permissions &&
          issued.permissions.contents === undefined &&
          /^(?:git|contents|tarball|zipball|commits|compare)\b/.test(rest)
        ) {
          this.appRefusals.push(`token without contents permission used on ${repository}`);
          return send(403, { message: 'Resource not accessible by integration' });
        }
      }
    } else if (this.token !== undefined) {
      const auth = req.headers.authorization ?? '';
      if (
        auth !== `token ${this.token}` &&
        auth !== `bearer ${this.token}` &&
        auth !== `Bearer ${this.token}`
      )
        return send(401, { message: 'Bad credentials', documentation_url: 'https://docs.github.com/rest' });
    }

    const membership = /^\/orgs\/([^/]+)\/teams\/([^/]+)\/memberships\/([^/]+)$/.exec(url.pathname);
    if (membership && method === 'GET' && this.app) {
      const [, org, slug, login] = membership.map((x) => decodeURIComponent(x)) as [
        string,
        string,
        string,
        string,
      ];
      const token = /^(?:token|bearer|Bearer) (ghs_\w+)$/.exec(req.headers.authorization ?? '')?.[1];
      const issued = token ? this.issuedTokens.get(token) : undefined;
      const inst = this.installations.find((i) => i.id === issued?.installationId);
      if (!inst || (inst.account !== '*' && inst.account.toLowerCase() !== org.toLowerCase()))
        return notFound();
      if (issued?.permissions && issued.permissions.members === undefined)
        return send(403, { message: 'Resource not accessible by integration' });
      return this.teamMembers.get(`${org}/${slug}`.toLowerCase())?.has(login.toLowerCase())
        ? send(200, { state: 'active', role: 'member' })
        : notFound();
    }

    const m = /^\/repos\/([^/]+)\/([^/]+)\/(.*)$/.exec(url.pathname);
    if (!m) return notFound();
    const repository = `${decodeURIComponent(m[1] ?? '')}/${decodeURIComponent(m[2] ?? '')}`;
    const rest = m[3] ?? '';

    if (method === 'POST' && rest === 'deployments') {
      await this.barrier('create_deployment');
      if (fail('create_deployment')) return;
      if (!body?.ref) return send(422, { message: 'Invalid request: ref is required' });
      const d: StandInDeployment = {
        id: this.nextId++,
        repository,
        ref: body.ref,
        sha: /^[0-9a-f]{40}$/.test(body.ref) ? body.ref : '0'.repeat(40),
        environment: body.environment ?? 'production',
        payload: body.payload ?? {},
        production_environment: body.production_environment ?? body.environment === 'production',
        transient_environment: body.transient_environment ?? false,
        request: body,
        statuses: [],
      };
      this.deployments.push(d);
      return send(201, {
        id: d.id,
        url: `${this.url}/repos/${repository}/deployments/${d.id}`,
        sha: d.sha,
        ref: d.ref,
        environment: d.environment,
        payload: d.payload,
        task: body.task ?? 'deploy',
      });
    }
    const statusPath = /^deployments\/(\d+)\/statuses$/.exec(rest);
    if (statusPath) {
      const d = this.deployments.find((x) => x.id === Number(statusPath[1]) && x.repository === repository);
      if (!d) return notFound();
      if (method === 'GET') return send(200, d.statuses);
      if (method !== 'POST') return notFound();
      if (fail('create_status')) return;
      const states = ['error', 'failure', 'inactive', 'in_progress', 'queued', 'pending', 'success'];
      if (!states.includes(body?.state)) return send(422, { message: `Invalid state ${body?.state}` });
      if (typeof body.description === 'string' && body.description.length > 140)
        return send(422, { message: 'description is too long (maximum is 140 characters)' });
      const status = {
        id: this.nextId++,
        state: body.state,
        ...(body.description !== undefined ? { description: body.description } : {}),
        ...(body.log_url !== undefined ? { log_url: body.log_url } : {}),
        ...(body.environment_url !== undefined ? { environment_url: body.environment_url } : {}),
      };
      d.statuses.push(status);
      return send(201, status);
    }
    // commit statuses (`POST /repos/{o}/{r}/statuses/{sha}`): validated as GitHub does, then recorded
    const commitStatus = /^statuses\/([0-9a-f]{40})$/.exec(rest);
    if (method === 'POST' && commitStatus) {
      if (!['error', 'failure', 'pending', 'success'].includes(body?.state))
        return send(422, { message: `Invalid state ${body?.state}` });
      if (typeof body.description === 'string' && body.description.length > 140)
        return send(422, { message: 'description is too long (maximum is 140 characters)' });
      const status = { id: this.nextId++, repository, sha: commitStatus[1] as string, ...body };
      this.commitStatuses.push(status);
      return send(201, status);
    }
    const refPath = /^git\/ref\/heads\/(.+)$/.exec(decodeURIComponent(rest));
    if (method === 'GET' && refPath) {
      if (fail('ref')) return;
      const sha = this.heads.get(`${repository}:${refPath[1]}`);
      if (sha === undefined) return notFound();
      return send(200, {
        ref: `refs/heads/${refPath[1]}`,
        object: { sha, type: 'commit', url: `${this.url}/repos/${repository}/git/commits/${sha}` },
      });
    }
    const comparePath = /^compare\/([0-9a-f]{40})\.\.\.([0-9a-f]{40})$/.exec(decodeURIComponent(rest));
    if (method === 'GET' && comparePath) {
      if (fail('compare')) return;
      const [, base, head] = comparePath as unknown as [string, string, string];
      if (!this.parents.has(base) || !this.parents.has(head)) return notFound();
      const status =
        base === head
          ? 'identical'
          : this.ancestors(head).has(base)
            ? 'ahead'
            : this.ancestors(base).has(head)
              ? 'behind'
              : 'diverged';
      return send(200, { status, ahead_by: 0, behind_by: 0, total_commits: 0, commits: [], files: [] });
    }
    const permissionPath = /^collaborators\/([^/]+)\/permission$/.exec(rest);
    if (method === 'GET' && permissionPath) {
      if (fail('permission')) return;
      const login = decodeURIComponent(permissionPath[1] ?? '');
      const permission = this.permissions.get(`${repository}:${login.toLowerCase()}`);
      if (permission === undefined) return notFound();
      return send(200, { permission, role_name: permission, user: { login } });
    }
    const contentsPath = /^contents\/(.+)$/.exec(rest);
    if (method === 'GET' && contentsPath) {
      if (fail('contents')) return;
      const ref = url.searchParams.get('ref') ?? 'HEAD';
      const file = this.files.get(`${repository}@${ref}:${decodeURIComponent(contentsPath[1] ?? '')}`);
      if (file === undefined) return notFound();
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(file);
      return;
    }
    const tarballPath = /^tarball\/(.+)$/.exec(rest);
    if (method === 'GET' && tarballPath) {
      if (fail('tarball')) return;
      const tar = this.tarballs.get(`${repository}@${decodeURIComponent(tarballPath[1] ?? '')}`);
      if (!tar) return notFound();
      res.writeHead(200, { 'content-type': 'application/x-gzip', 'content-length': String(tar.length) });
      res.end(tar);
      return;
    }
    return notFound();
  }
}
