import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface OAuthCall {
  method: string;
  path: string;
  query: Record<string, string>;
  body: Record<string, string>;
  authorization: string | undefined;
}

export interface StandInUser {
  login: string;
  /** `org/slug` */
  teams: string[];
}

/**
 * A loopback GitHub for the OAuth web flow: `GET /login/oauth/authorize` redirects straight back to
 * `redirect_uri` with a one-time code and the given state (as if the user clicked "Authorize");
 * `POST /login/oauth/access_token` checks client id, secret and code (answering 200
 * `{"error":"bad_verification_code"}` as GitHub does); `GET /user` and `GET /user/teams` answer for
 * the token. Serves both the web and the API base URL. Records every request.
 */
export class GithubOAuthStandIn {
  readonly calls: OAuthCall[] = [];
  private server: Server | undefined;
  private readonly codes = new Map<string, { login: string; clientId: string }>();
  private readonly tokens = new Map<string, string>();
  port = 0;
  /** the user who "authorizes" next */
  user: StandInUser = { login: 'alice', teams: [] };
  readonly users = new Map<string, StandInUser>();
  /** helmgate's own token (not a user's): may ask `GET /orgs/{org}/teams/{slug}/memberships/{user}` */
  readonly serviceToken = `ghs_${randomBytes(12).toString('hex')}`;

  constructor(
    readonly clientId: string,
    readonly clientSecret: string,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** tokens handed out so far (a test can check none of them leaks into a cookie) */
  get issuedTokens(): string[] {
    return [...this.tokens.keys()];
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.serve(req, res));
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

  /** Answers one request (also when another stand-in delegates its non-REST paths here). */
  async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.url);
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const body: Record<string, string> = {};
    if (raw) {
      const ct = req.headers['content-type'] ?? '';
      const entries = ct.includes('json')
        ? Object.entries(JSON.parse(raw) as Record<string, string>)
        : [...new URLSearchParams(raw)];
      for (const [k, v] of entries) body[k] = String(v);
    }
    this.calls.push({
      method: req.method ?? 'GET',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      body,
      authorization: req.headers.authorization,
    });
    const json = (status: number, v: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
      res.end(JSON.stringify(v));
    };

    if (req.method === 'GET' && url.pathname === '/login/oauth/authorize') {
      const clientId = url.searchParams.get('client_id') ?? '';
      const redirect = url.searchParams.get('redirect_uri');
      if (clientId !== this.clientId || !redirect) return json(404, { message: 'Not Found' });
      const code = randomBytes(10).toString('hex');
      this.users.set(this.user.login, this.user);
      this.codes.set(code, { login: this.user.login, clientId });
      const back = new URL(redirect);
      back.searchParams.set('code', code);
      back.searchParams.set('state', url.searchParams.get('state') ?? '');
      res.writeHead(302, { location: back.toString() });
      res.end();
      return;
    }
    if (req.method === 'POST' && url.pathname === '/login/oauth/access_token') {
      const grant = this.codes.get(body.code ?? '');
      if (body.client_id !== this.clientId || body.client_secret !== this.clientSecret)
        return json(200, { error: 'incorrect_client_credentials' });
      if (!grant || grant.clientId !== body.client_id) return json(200, { error: 'bad_verification_code' });
      this.codes.delete(body.code ?? '');
      const token = `gho_${randomBytes(16).toString('hex')}`;
      this.tokens.set(token, grant.login);
      return json(200, { access_token: token, token_type: 'bearer', scope: 'read:org' });
    }
    const auth = req.headers.authorization ?? '';
    const membership = /^\/orgs\/([^/]+)\/teams\/([^/]+)\/memberships\/([^/]+)$/.exec(url.pathname);
    if (req.method === 'GET' && membership && auth.replace(/^(token|bearer)\s+/i, '') === this.serviceToken) {
      const [, org, slug, who] = membership;
      const u = this.users.get(decodeURIComponent(who ?? ''));
      return u?.teams.map((t) => t.toLowerCase()).includes(`${org}/${slug}`.toLowerCase())
        ? json(200, { state: 'active', role: 'member' })
        : json(404, { message: 'Not Found' });
    }
    const login = this.tokens.get(auth.replace(/^(token|bearer)\s+/i, ''));
    if (!login) return json(401, { message: 'Bad credentials' });
    const user = this.users.get(login) as StandInUser;
    if (req.method === 'GET' && url.pathname === '/user')
      return json(200, { login: user.login, id: 1, type: 'User' });
    if (req.method === 'GET' && url.pathname === '/user/teams')
      return json(
        200,
        user.teams.map((t, i) => {
          const [org, slug] = t.split('/');
          return { id: i + 1, slug, name: slug, organization: { login: org, id: 100 + i } };
        }),
      );
    return json(404, { message: 'Not Found' });
  }
}
