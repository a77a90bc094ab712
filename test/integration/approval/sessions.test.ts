import type { Server } from 'node:http';
import { Octokit } from '@octokit/core';
import { makeApprovalHandler } from '../../../handlers/approval';
import { makeAuthHandler } from '../../../handlers/auth';
import type { ApproversConfig } from '../../../lib/approval/approval-port';
import { cookieSettingsFor, csrfToken, newSession, sessionCookie } from '../../../lib/auth/session';
import { SessionRegistry } from '../../../lib/auth/session-registry';
import { githubTeamMembership } from '../../../lib/auth/team-membership';
import type { HttpEvent } from '../../../lib/http/lambda-http';
import { createLocalHttpServer, listen } from '../../../lib/http/local-adapter';
import { cryptoRandom } from '../../../lib/random';
import { startDynalite, type TestDynamo } from '../../helpers/dynalite';
import { Browser, field } from '../../helpers/form-browser';
import { GithubOAuthStandIn } from '../../stand-ins/github-oauth';
import { deployment, makeService, offered } from './approval-fixtures';

let db: TestDynamo;
let github: GithubOAuthStandIn;
let server: Server;
let base: string;
let ctx: ReturnType<typeof makeService>;

const SIGNING_KEY = 's'.repeat(64);
const TTL_MS = 10 * 60_000;

beforeAll(async () => {
  db = await startDynalite();
  github = await new GithubOAuthStandIn('client-1', 'client-secret-1').start();
  ctx = makeService(db);
  const cookies = cookieSettingsFor('http://127.0.0.1:3000');
  const sessions = new SessionRegistry(db.store);
  const approval = makeApprovalHandler({
    approvals: ctx.service,
    approvers: ctx.deps.approvers,
    signingKey: async () => SIGNING_KEY,
    cookies,
    clock: ctx.clock,
    logger: ctx.deps.logger,
    readAccess: { mayRead: async () => true },
    sessions,
    teamMembership: githubTeamMembership(new Octokit({ auth: github.serviceToken, baseUrl: github.url })),
  });
  let port = 0;
  const auth = makeAuthHandler({
    oauth: {
      githubWebUrl: github.url,
      githubApiUrl: github.url,
      get redirectUri() {
        return `http://127.0.0.1:${port}/auth/github/callback`;
      },
    },
    oauthClient: async () => ({ clientId: 'client-1', clientSecret: 'client-secret-1' }),
    signingKey: async () => SIGNING_KEY,
    cookies,
    clock: ctx.clock,
    random: cryptoRandom,
    logger: ctx.deps.logger,
    sessions,
    sessionTtlMs: TTL_MS,
  });
  server = createLocalHttpServer([
    { method: 'GET', path: '/auth/github/login', handler: auth },
    { method: 'GET', path: '/auth/github/callback', handler: auth },
    { method: 'POST', path: '/auth/logout', handler: auth },
    { method: 'GET', path: '/approvals/{id}', handler: approval },
    { method: 'POST', path: '/approvals/{id}/approve', handler: approval },
  ]);
  port = await listen(server, 0);
  base = `http://127.0.0.1:${port}`;
});

afterAll(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  server.closeAllConnections?.();
  await github.close();
  await db.close();
});

async function login(b: Browser, user: string, teams: string[] = []) {
  github.user = { login: user, teams };
  const start = await b.get('/auth/github/login');
  const back = await b.get(start.location as string);
  const cb = await b.get(back.location as string);
  expect(b.jar.has('helmgate_session')).toBe(true);
  return cb;
}

describe('sessions: lifetime, logout and revocation, team membership at vote time', () => {
  test('a login lasts the configured lifetime (the Max-Age of the cookie)', async () => {
    const b = new Browser(base);
    github.user = { login: 'alice', teams: [] };
    const start = await b.get('/auth/github/login');
    const back = await b.get(start.location as string);
    const u = new URL(back.location as string, base);
    const res = await fetch(u, {
      headers: { cookie: [...b.jar].map(([k, v]) => `${k}=${v}`).join('; ') },
      redirect: 'manual',
    });
    const set = res.headers.getSetCookie().find((c) => c.startsWith('helmgate_session='));
    expect(set).toMatch(/Max-Age=600\b/);
  });

  test('logout clears the cookie and revokes the session server-side: a replayed cookie is no session', async () => {
    const d = deployment();
    const { planDigest } = await offered(db, ctx.service, d);
    const b = new Browser(base);
    await login(b, 'alice');
    const stolen = b.jar.get('helmgate_session') as string;
    const open = await b.get(`/approvals/${d.id}`);
    expect(open.text).toContain('id="approve"');
    const csrf = field(open.text, 'csrf');

    expect(open.text).toContain('action="/auth/logout"');
    const out = await b.send('/auth/logout', { method: 'POST' });
    expect(out.res.status).toBe(200);
    expect(out.text).toContain('Logged out');
    expect(b.jar.has('helmgate_session')).toBe(false);

    // the same cookie, replayed by whoever copied it, opens nothing and votes nothing
    const replay = new Browser(base);
    replay.jar.set('helmgate_session', stolen);
    const page = await replay.get(`/approvals/${d.id}`);
    expect(page.text).toContain('id="login"');
    expect(page.text).not.toContain('id="approve"');
    const vote = await replay.post(`/approvals/${d.id}/approve`, { plan: planDigest, csrf });
    expect(vote.res.status).toBe(401);
    expect((await db.store.getDeployment(d.id))?.status).toBe('awaiting_approval');
  });

  test('GET /auth/logout changes nothing (logout is a POST)', async () => {
    const b = new Browser(base);
    await login(b, 'alice');
    const r = await b.get('/auth/logout');
    expect(r.res.status).toBe(405);
    expect(b.jar.has('helmgate_session')).toBe(true);
  });

  test('team membership is asked when the vote is cast: leaving the team after login ends the right to approve', async () => {
    const d = deployment();
    const { planDigest } = await offered(db, ctx.service, d);
    const b = new Browser(base);
    await login(b, 'dora', ['org/platform']);
    const open = await b.get(`/approvals/${d.id}`);
    expect(open.text).toContain('id="approve"');
    // dora leaves the team on GitHub; her session still says org/platform
    github.users.set('dora', { login: 'dora', teams: [] });
    const vote = await b.post(`/approvals/${d.id}/approve`, {
      plan: planDigest,
      csrf: field(open.text, 'csrf'),
    });
    expect(vote.res.status).toBe(403);
    expect((await db.store.getDeployment(d.id))?.status).toBe('awaiting_approval');
    expect(github.calls.some((c) => c.path === '/orgs/org/teams/platform/memberships/dora')).toBe(true);
  });

  test('a member at vote time approves', async () => {
    const d = deployment();
    const { planDigest } = await offered(db, ctx.service, d);
    const b = new Browser(base);
    await login(b, 'erin', ['org/platform']);
    const open = await b.get(`/approvals/${d.id}`);
    const vote = await b.post(`/approvals/${d.id}/approve`, {
      plan: planDigest,
      csrf: field(open.text, 'csrf'),
    });
    expect(vote.res.status).toBe(303);
    expect((await db.store.getDeployment(d.id))?.status).toBe('queued');
  });
});

describe('team check with approvers per deployment (the policy form)', () => {
  test('asks GitHub only about the approver teams of the deployment voted on', async () => {
    const asked: string[][] = [];
    const cookies = cookieSettingsFor('http://127.0.0.1:3000');
    const handler = makeApprovalHandler({
      approvals: ctx.service,
      approvers: (d) =>
        d.environment === 'production'
          ? {
              production: {
                ...(ctx.deps.approvers as ApproversConfig).production!,
                githubTeams: ['org/ops'],
              },
            }
          : {},
      signingKey: async () => SIGNING_KEY,
      cookies,
      clock: ctx.clock,
      logger: ctx.deps.logger,
      readAccess: { mayRead: async () => true },
      teamMembership: async (_login, teams) => {
        asked.push([...teams]);
        return [];
      },
    });
    const d = deployment();
    const { planDigest } = await offered(db, ctx.service, d);
    const session = newSession({ login: 'zed', teams: ['org/ops'] }, cryptoRandom, ctx.clock.now());
    const cookie = sessionCookie(SIGNING_KEY, session, cookies, ctx.clock.now()).split(';')[0] as string;
    const res = await handler({
      rawPath: `/approvals/${d.id}/approve`,
      pathParameters: { id: d.id },
      headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        plan: planDigest,
        csrf: csrfToken(session, `approval:${d.id}`),
      }).toString(),
      isBase64Encoded: false,
      requestContext: { http: { method: 'POST', path: `/approvals/${d.id}/approve` } },
    } as unknown as HttpEvent);
    expect(asked).toEqual([['org/ops']]);
    // zed is in no approver team now: refused
    expect(res.statusCode).toBe(403);
  });
});
