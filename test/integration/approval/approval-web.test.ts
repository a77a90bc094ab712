import type { Server } from 'node:http';
import { makeApprovalHandler } from '../../../handlers/approval';
import { makeAuthHandler } from '../../../handlers/auth';
import type { ApproversConfig } from '../../../lib/approval/approval-port';
import { ReadAccess } from '../../../lib/auth/read-access';
import { cookieSettingsFor, csrfToken, readSession } from '../../../lib/auth/session';
import { createLocalHttpServer, listen } from '../../../lib/http/local-adapter';
import { cryptoRandom } from '../../../lib/random';
import { startDynalite, type TestDynamo } from '../../helpers/dynalite';
import { Browser, field } from '../../helpers/form-browser';
import { GithubOAuthStandIn } from '../../stand-ins/github-oauth';
import { deployment, makeService, NEWER_SHA, offered, plan, REPO } from './approval-fixtures';

let db: TestDynamo;
let github: GithubOAuthStandIn;
let server: Server;
let base: string;
let ctx: ReturnType<typeof makeService>;

const SIGNING_KEY = 'k'.repeat(64);

beforeAll(async () => {
  db = await startDynalite();
  github = await new GithubOAuthStandIn('client-1', 'client-secret-1').start();
  ctx = makeService(db);
  const cookies = cookieSettingsFor('http://127.0.0.1:3000');
  const approval = makeApprovalHandler({
    approvals: ctx.service,
    approvers: ctx.deps.approvers,
    // approvers read everything; `reader` may read org/charts as GitHub says (a stand-in function here)
    readAccess: new ReadAccess({
      apiTokens: async () => [],
      signingKey: async () => SIGNING_KEY,
      cookies,
      clock: ctx.clock,
      logger: ctx.deps.logger,
      approvers: ctx.deps.approvers as ApproversConfig,
      repositoryPermission: async (repository, login) =>
        repository === REPO && login === 'reader' ? 'read' : 'none',
    }),
    signingKey: async () => SIGNING_KEY,
    cookies,
    clock: ctx.clock,
    logger: ctx.deps.logger,
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
  });
  server = createLocalHttpServer([
    { method: 'GET', path: '/auth/github/login', handler: auth },
    { method: 'GET', path: '/auth/github/callback', handler: auth },
    { method: 'GET', path: '/approvals/{id}', handler: approval },
    { method: 'POST', path: '/approvals/{id}/approve', handler: approval },
    { method: 'POST', path: '/approvals/{id}/reject', handler: approval },
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

describe('approval over HTTP with GitHub login (stand-in)', () => {
  test('the OAuth flow logs in through the stand-in, keeps no access token, and the page then offers the forms', async () => {
    const d = deployment({ commitMessage: 'hostile <script>alert(1)</script>' });
    const { url } = await offered(db, ctx.service, d);
    const page = `/approvals/${d.id}`;
    expect(url).toBe(`https://helmgate.example.org${page}`);
    const b = new Browser(base);
    const anon = await b.get(page);
    expect(anon.res.status).toBe(200);
    expect(anon.text).toContain('id="login"');
    // anonymous: nothing of the deployment (no token guards the page any more: a login does)
    expect(anon.text).not.toContain('hostile');
    expect(anon.text).not.toContain(REPO);
    expect(anon.res.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(anon.res.headers.get('referrer-policy')).toBe('no-referrer');

    github.user = { login: 'dora', teams: ['org/platform'] };
    const loginHref = /id="login" href="([^"]+)"/.exec(anon.text)?.[1]?.replace(/&amp;/g, '&') as string;
    const start = await b.get(loginHref);
    expect(start.res.status).toBe(302);
    const authorize = new URL(start.location as string);
    expect(authorize.origin + authorize.pathname).toBe(`${github.url}/login/oauth/authorize`);
    expect(authorize.searchParams.get('client_id')).toBe('client-1');
    expect(authorize.searchParams.get('state')).toMatch(/^[\w-]{43}$/);
    const back = await b.get(start.location as string); // GitHub redirects back with code + state
    const cb = await b.get(back.location as string);
    expect(cb.res.status).toBe(302);
    expect(cb.location).toBe(page);
    const exchange = github.calls.find((c) => c.path === '/login/oauth/access_token');
    expect(exchange?.body.client_secret).toBe('client-secret-1');
    const sessionCookie = b.jar.get('helmgate_session') ?? '';
    expect(sessionCookie).not.toBe('');
    for (const t of github.issuedTokens)
      expect(Buffer.from(sessionCookie.split('.')[0] as string, 'base64url').toString()).not.toContain(t);
    expect(github.calls.filter((c) => c.path === '/user/teams')).toHaveLength(1);

    const open = await b.get(page);
    expect(open.res.status).toBe(200);
    expect(open.text).not.toContain('<script>');
    expect(open.text).toContain('&lt;script&gt;');
    expect(open.text).toContain('id="approve"');
    expect(open.text).toContain('id="reject"');
    const before = await db.store.getDeployment(d.id);
    const auditBefore = await db.store.listAudit(d.id);
    // GET never changes state, however often a link scanner opens it
    for (let i = 0; i < 3; i++) await b.get(page);
    expect(await db.store.getDeployment(d.id)).toEqual(before);
    expect(await db.store.listAudit(d.id)).toEqual(auditBefore);
    expect(ctx.dispatcher.jobs.filter((j) => j.deploymentId === d.id)).toHaveLength(0);

    expect(field(open.text, 'plan')).toBe('plan-digest-1');
    const approve = await b.post(`/approvals/${d.id}/approve`, {
      plan: field(open.text, 'plan'),
      csrf: field(open.text, 'csrf'),
    });
    expect(approve.res.status).toBe(303);
    expect(approve.location).toBe(`${page}?result=approved`);
    expect((await db.store.getDeployment(d.id))?.status).toBe('queued');
    const after = await b.get(approve.location as string);
    expect(after.text).toContain('Already approved by github:dora');
    expect(after.text).toContain('id="audit"');
    // already decided
    const again = await b.post(`/approvals/${d.id}/reject`, {
      plan: 'plan-digest-1',
      csrf: field(open.text, 'csrf'),
    });
    expect(again.res.status).toBe(409);
  });

  test('a callback whose state does not match the cookie is refused', async () => {
    const b = new Browser(base);
    github.user = { login: 'alice', teams: [] };
    const start = await b.get(`/auth/github/login?return=${encodeURIComponent('/approvals/abc')}`);
    const back = await b.get(start.location as string);
    const forged = new URL(back.location as string);
    forged.searchParams.set('state', 'attacker-state');
    const r = await b.get(forged.toString());
    expect(r.res.status).toBe(403);
    expect(r.text).toContain('login state mismatch');
    expect(b.jar.has('helmgate_session')).toBe(false);
    // and with no state cookie at all (another browser)
    const other = new Browser(base);
    expect((await other.get(back.location as string)).res.status).toBe(403);
  });

  test('the return path cannot send the browser elsewhere', async () => {
    const b = new Browser(base);
    github.user = { login: 'alice', teams: [] };
    const start = await b.get(
      `/auth/github/login?return=${encodeURIComponent('//evil.example/approvals/x')}`,
    );
    const back = await b.get(start.location as string);
    const cb = await b.get(back.location as string);
    expect(cb.location).toBe('/');
  });

  async function login(b: Browser, user: string, teams: string[] = []) {
    github.user = { login: user, teams };
    const start = await b.get('/auth/github/login');
    const back = await b.get(start.location as string);
    await b.get(back.location as string);
    expect(b.jar.has('helmgate_session')).toBe(true);
  }

  test('POST without a session is 401; without the plan or with a bad CSRF token 400; nothing changes', async () => {
    const d = deployment();
    const { planDigest } = await offered(db, ctx.service, d);
    const anon = new Browser(base);
    expect((await anon.post(`/approvals/${d.id}/approve`, { plan: planDigest, csrf: 'x' })).res.status).toBe(
      401,
    );
    const b = new Browser(base);
    await login(b, 'alice');
    const open = await b.get(`/approvals/${d.id}`);
    const csrf = field(open.text, 'csrf');
    const bad = await b.post(`/approvals/${d.id}/approve`, {
      plan: planDigest,
      csrf: `${csrf.slice(0, -2)}xx`,
    });
    expect(bad.res.status).toBe(400);
    expect(bad.text).toContain('CSRF');
    // a CSRF token from another approval's page does not fit this one
    const other = deployment();
    await offered(db, ctx.service, other);
    const otherCsrf = field((await b.get(`/approvals/${other.id}`)).text, 'csrf');
    expect(
      (await b.post(`/approvals/${d.id}/approve`, { plan: planDigest, csrf: otherCsrf })).res.status,
    ).toBe(400);
    expect((await b.post(`/approvals/${d.id}/approve`, { csrf })).res.status).toBe(400);
    expect((await db.store.getDeployment(d.id))?.status).toBe('awaiting_approval');
  });

  test('the plan the page showed is what is approved: a re-offered plan refuses the stale form with 409', async () => {
    const d = deployment();
    await offered(db, ctx.service, d);
    const b = new Browser(base);
    await login(b, 'alice');
    const open = await b.get(`/approvals/${d.id}`);
    const shown = field(open.text, 'plan');
    // meanwhile the plan changed: the request went void and a new one was offered for the new plan
    expect(await db.store.closeApprovalRequest(d.id, 'void', ctx.clock.now(), 'the plan changed')).toBe(true);
    const again = await ctx.service.offer(d.id, { plan: plan({ digest: 'plan-digest-2' }) });
    expect(again.offered).toBe(true);
    expect(field((await b.get(`/approvals/${d.id}`)).text, 'plan')).toBe('plan-digest-2');
    const stale = await b.post(`/approvals/${d.id}/approve`, { plan: shown, csrf: field(open.text, 'csrf') });
    expect(stale.res.status).toBe(409);
    expect(stale.text).toContain('the plan changed since it was shown to you');
    expect((await db.store.getDeployment(d.id))?.status).toBe('awaiting_approval');
    expect(ctx.dispatcher.jobs.filter((j) => j.deploymentId === d.id)).toHaveLength(0);
  });

  test('a GitHub user who can read the repository sees the page without forms; POST is refused 403', async () => {
    const d = deployment();
    const { planDigest } = await offered(db, ctx.service, d);
    const b = new Browser(base);
    await login(b, 'reader');
    const page = await b.get(`/approvals/${d.id}`);
    expect(page.res.status).toBe(403);
    expect(page.text).toContain('may not approve');
    expect(page.text).toContain('What will change');
    expect(page.text).not.toContain('id="approve"');
    // no CSRF token from the page, but even a valid-looking POST is refused by the core
    const session = readSession(
      SIGNING_KEY,
      { headers: { cookie: `helmgate_session=${b.jar.get('helmgate_session')}` } },
      { secure: false },
      ctx.clock.now(),
    );
    const csrf = csrfToken(session!, `approval:${d.id}`);
    expect((await b.post(`/approvals/${d.id}/approve`, { plan: planDigest, csrf })).res.status).toBe(403);
    expect((await db.store.getDeployment(d.id))?.status).toBe('awaiting_approval');
  });

  test('a logged-in stranger (no approver, no read access) learns nothing from the page', async () => {
    const d = deployment({ commitMessage: 'secret-ish message' });
    await offered(db, ctx.service, d);
    const b = new Browser(base);
    await login(b, 'mallory');
    const page = await b.get(`/approvals/${d.id}`);
    expect(page.res.status).toBe(403);
    expect(page.text).not.toContain('secret-ish message');
    expect(page.text).not.toContain(d.sha);
    expect(page.text).not.toContain('id="approve"');
  });

  test('expired → 410 saying when; superseded → 410 saying by which commit; unknown → 404', async () => {
    const b = new Browser(base);
    await login(b, 'alice');
    const s = deployment();
    await offered(db, ctx.service, s);
    await db.store.transition(
      s.id,
      ['awaiting_approval'],
      'superseded',
      { supersededBy: NEWER_SHA },
      new Date(),
    );
    const sp = await b.get(`/approvals/${s.id}`);
    expect(sp.res.status).toBe(410);
    expect(sp.text).toContain(`Superseded by ${NEWER_SHA}`);
    expect((await b.get('/approvals/no-such-deployment')).res.status).toBe(404);

    const e = deployment();
    const et = await offered(db, ctx.service, e);
    ctx.clock.advance(25 * 3600_000);
    try {
      await login(b, 'alice'); // the first session has expired too
      const session = readSession(
        SIGNING_KEY,
        { headers: { cookie: `helmgate_session=${b.jar.get('helmgate_session')}` } },
        { secure: false },
        ctx.clock.now(),
      );
      const form = { plan: et.planDigest, csrf: csrfToken(session!, `approval:${e.id}`) };
      const ep = await b.get(`/approvals/${e.id}`);
      expect(ep.res.status).toBe(410);
      expect(ep.text).toContain('expired at 2026-01-02T01:00:00.000Z');
      const post = await b.post(`/approvals/${e.id}/approve`, form);
      expect(post.res.status).toBe(410);
      expect(post.text).toContain('approval expired at 2026-01-02T01:00:00.000Z');
    } finally {
      ctx.clock.advance(-25 * 3600_000);
    }
  });
});
