import { verify as cryptoVerify, randomBytes } from 'node:crypto';
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
 */
/** A GitHub App the stand-in knows: it checks App JWTs with `publicKey` and issues installation tokens. */
export interface GithubAppStandInOptions {
  id: number;
  publicKey: string;
  installationId: number;
  /** how long an installation token lives; GitHub: one hour */
  tokenTtlMs?: number;
  now?: () => number;
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
  /** why each App JWT or installation token was refused, in order */
  readonly appRefusals: string[] = [];
  private readonly app: GithubAppStandInOptions | undefined;

  constructor(opts: { token?: string; delegate?: GithubDelegate; app?: GithubAppStandInOptions } = {}) {
    this.token = opts.token;
    this.delegate = opts.delegate;
    this.app = opts.app;
  }

  /** Checks an App JWT as GitHub does: RS256 by the App's key, `iss` the App id, not expired, ≤ 10 min. */
  private appJwtProblem(authorization: string): string | undefined {
    const app = this.app as GithubAppStandInOptions;
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
    if (!cryptoVerify('RSA-SHA256', Buffer.from(`${h}.${p}`), app.publicKey, Buffer.from(sig, 'base64url')))
      return 'signature does not match the App key';
    if (String(payload.iss) !== String(app.id)) return 'iss is not the App id';
    // JWTs are signed with the real time (universal-github-app-jwt); tokens expire on app.now
    const now = Date.now() / 1000;
    if (typeof payload.exp !== 'number' || payload.exp <= now) return 'JWT expired';
    if (typeof payload.iat !== 'number' || payload.exp - payload.iat > 660)
      return 'JWT lives longer than 10 minutes';
    return undefined;
  }

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
    if (this.delegate && !(req.url ?? '/').startsWith('/repos/')) return this.delegate.serve(req, res);
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
    if (this.app) {
      const app = this.app;
      const auth = req.headers.authorization ?? '';
      const exchange = /^\/app\/installations\/(\d+)\/access_tokens$/.exec(url.pathname);
      if (exchange && method === 'POST') {
        const problem =
          this.appJwtProblem(auth) ??
          (Number(exchange[1]) === app.installationId ? undefined : "not this App's installation");
        if (problem) {
          this.appRefusals.push(problem);
          return send(401, {
            message: 'A JSON web token could not be decoded',
            documentation_url: 'https://docs.github.com/rest',
          });
        }
        const token = `ghs_${randomBytes(18).toString('hex')}`;
        const expiresAt = (app.now?.() ?? Date.now()) + (app.tokenTtlMs ?? 3_600_000);
        this.installationTokens.set(token, expiresAt);
        return send(201, {
          token,
          expires_at: new Date(expiresAt).toISOString().replace(/\.\d{3}Z$/, 'Z'),
          permissions: { contents: 'read', deployments: 'write', metadata: 'read' },
          repository_selection: 'all',
        });
      }
      const token = /^(?:token|bearer|Bearer) (ghs_\w+)$/.exec(auth)?.[1];
      const expires = token ? this.installationTokens.get(token) : undefined;
      const refused =
        expires === undefined
          ? 'not an installation token'
          : expires <= (app.now?.() ?? Date.now())
            ? 'installation token expired'
            : undefined;
      if (refused) {
        this.appRefusals.push(refused);
        return send(401, { message: 'Bad credentials', documentation_url: 'https://docs.github.com/rest' });
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
