import type { Server } from 'node:http';
import { makeApprovalHandler } from '../../../handlers/approval';
import { makeDashboardHandler } from '../../../handlers/dashboard';
import { makeDeploymentsHandler } from '../../../handlers/deployments';
import type { ApproversConfig } from '../../../lib/approval/approval-port';
import { ReadAccess, type Reader } from '../../../lib/auth/read-access';
import { cookieSettingsFor } from '../../../lib/auth/session';
import type { HttpEvent } from '../../../lib/http/lambda-http';
import { createLocalHttpServer, listen } from '../../../lib/http/local-adapter';
import { cryptoRandom } from '../../../lib/random';
import { STYLESHEET_PATH } from '../../../lib/web/layout';
import { startDynalite, type TestDynamo } from '../../helpers/dynalite';
import { Browser, field } from '../../helpers/form-browser';
import { deployment, makeService, offered, plan } from '../approval/approval-fixtures';

/**
 * The dashboard's routes over HTTP (the local adapter, dynalite, the real approval service): JSON for
 * API clients as before, pages only with a session, the one-time login link, and votes from a page
 * that go through the approval route bound to the plan the page showed.
 */

let db: TestDynamo;
let server: Server;
let base: string;
let ctx: ReturnType<typeof makeService>;
const tokens = new Map<string, { login: string; teams: string[] }>();
const SIGNING_KEY = 'k'.repeat(64);
const API_TOKEN = 'dashboard-routes-api-token';

beforeAll(async () => {
  db = await startDynalite();
  ctx = makeService(db);
  const cookies = cookieSettingsFor('http://127.0.0.1:3000');
  const common = { signingKey: async () => SIGNING_KEY, cookies, clock: ctx.clock, logger: ctx.deps.logger };
  // lib/auth's decision: the API token reads all, approvers read all, nobody else (no GitHub client)
  const readAccess = new ReadAccess({
    ...common,
    apiTokens: async () => [API_TOKEN],
    approvers: ctx.deps.approvers as ApproversConfig,
  });
  const approval = makeApprovalHandler({
    approvals: ctx.service,
    approvers: ctx.deps.approvers,
    readAccess,
    ...common,
  });
  const dashboard = makeDashboardHandler({
    store: db.store,
    approvals: ctx.service,
    approvers: ctx.deps.approvers,
    random: cryptoRandom,
    githubWebUrl: 'https://github.example.org',
    json: makeDeploymentsHandler({ store: db.store, logger: ctx.deps.logger, readAccess }),
    readAccess,
    oneTimeLogin: {
      consume: (t) => {
        const who = tokens.get(t);
        tokens.delete(t);
        return who;
      },
    },
    ...common,
  });
  server = createLocalHttpServer([
    { method: 'GET', path: '/', handler: dashboard },
    { method: 'GET', path: '/deployments', handler: dashboard },
    { method: 'GET', path: '/deployments/{id}', handler: dashboard },
    { method: 'GET', path: '/metrics', handler: dashboard },
    { method: 'GET', path: STYLESHEET_PATH, handler: dashboard },
    { method: 'GET', path: '/auth/local', handler: dashboard },
    { method: 'POST', path: '/approvals/{id}/approve', handler: approval },
    { method: 'POST', path: '/approvals/{id}/reject', handler: approval },
  ]);
  base = `http://127.0.0.1:${await listen(server, 0)}`;
});

afterAll(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  server.closeAllConnections?.();
  await db.close();
});

async function loggedIn(login: string): Promise<Browser> {
  const b = new Browser(base);
  const token = `t-${login}-${Math.random().toString(36).slice(2)}`;
  tokens.set(token, { login, teams: [] });
  const r = await b.get(`/auth/local?token=${token}`);
  expect(r.res.status).toBe(302);
  expect(r.location).toBe('/');
  return b;
}

const HTML = { accept: 'text/html,application/xhtml+xml' };

describe('dashboard routes', () => {
  test('API clients get JSON with the API token (401 without); browsers without a session get the login page, never data', async () => {
    const d = deployment({ status: 'succeeded', commitMessage: 'secret-ish message' });
    await db.store.createDeployment(d);
    const anonymous = await fetch(`${base}/deployments`);
    expect(anonymous.status).toBe(401);
    expect(await anonymous.text()).not.toContain('secret-ish message');
    const bearer = { authorization: `Bearer ${API_TOKEN}` };
    const list = await fetch(`${base}/deployments`, { headers: bearer });
    expect(list.headers.get('content-type')).toContain('application/json');
    expect(((await list.json()) as { deployments: { id: string }[] }).deployments.map((x) => x.id)).toContain(
      d.id,
    );
    const one = await fetch(`${base}/deployments/${d.id}`, {
      headers: { accept: 'application/json', ...bearer },
    });
    expect(((await one.json()) as { id: string; audit: unknown[] }).id).toBe(d.id);
    for (const path of ['/', '/deployments', `/deployments/${d.id}`, '/metrics']) {
      const page = await fetch(`${base}${path}`, { headers: HTML });
      expect(page.status).toBe(401);
      const text = await page.text();
      expect(text).toContain('Log in with GitHub');
      expect(text).not.toContain('secret-ish message');
      expect(page.headers.get('content-security-policy')).toContain("default-src 'none'");
    }
  });

  test('the one-time login link works once', async () => {
    const b = new Browser(base);
    tokens.set('once', { login: 'alice', teams: [] });
    expect((await b.get('/auth/local?token=once')).res.status).toBe(302);
    expect((await new Browser(base).get('/auth/local?token=once')).res.status).toBe(403);
    expect((await new Browser(base).get('/auth/local')).res.status).toBe(403);
    const page = await b.get('/');
    expect(page.res.status).toBe(200);
    expect(page.text).toContain('Logged in as <strong>alice</strong>');
  });

  test('the page carries one script whose nonce matches its CSP, fresh per response', async () => {
    const b = await loggedIn('alice');
    const one = await b.get('/');
    const two = await b.get('/');
    const nonceOf = (r: typeof one) =>
      /'nonce-([^']+)'/.exec(r.res.headers.get('content-security-policy') ?? '')?.[1];
    expect(nonceOf(one)).toBeTruthy();
    expect(one.text).toContain(`<script nonce="${nonceOf(one)}">`);
    expect(nonceOf(one)).not.toBe(nonceOf(two));
    const css = await fetch(`${base}${STYLESHEET_PATH}`);
    expect(css.headers.get('content-type')).toContain('text/css');
    expect(await css.text()).toContain('prefers-color-scheme:dark');
  });

  test('a vote from the overview goes through the approval route, bound to the plan the page showed', async () => {
    const d = deployment();
    await offered(db, ctx.service, d);
    const alice = await loggedIn('alice');
    const page = await alice.get('/');
    expect(page.text).toContain(`action="/approvals/${d.id}/approve"`);
    const csrf = field(page.text, 'csrf');
    const planDigest = field(page.text, 'plan');
    expect(planDigest).toBe(plan().digest);

    // a page that showed another plan is refused; so is a form without the plan
    const stale = await alice.post(`/approvals/${d.id}/approve`, { csrf, plan: 'other-digest', return: '/' });
    expect(stale.res.status).toBe(409);
    expect(stale.text).toContain('the plan changed since it was shown to you');
    expect((await alice.post(`/approvals/${d.id}/approve`, { csrf, return: '/' })).res.status).toBe(400);
    // someone else's CSRF token does not work
    const eve = await loggedIn('eve');
    const forged = await eve.post(`/approvals/${d.id}/approve`, { csrf, plan: planDigest, return: '/' });
    expect(forged.res.status).toBe(400);
    expect((await db.store.getDeployment(d.id))?.status).toBe('awaiting_approval');

    const ok = await alice.post(`/approvals/${d.id}/approve`, {
      csrf,
      plan: planDigest,
      return: '//evil.example',
    });
    expect(ok.res.status).toBe(303);
    expect(ok.location).toBe('/?result=approved');
    expect((await db.store.getDeployment(d.id))?.status).toBe('queued');
    expect(ctx.dispatcher.jobs.map((j) => j.deploymentId)).toContain(d.id);
    const audit = await db.store.listAudit(d.id);
    expect(audit.map((a) => `${a.actor} ${a.via} ${a.action} ${a.outcome}`)).toEqual(
      expect.arrayContaining(['alice web approve refused: conflict', 'alice web approve approved']),
    );
    const back = await alice.get('/?result=approved');
    expect(back.text).toContain('Approved: the deployment is queued.');
  });

  test('the deployment page returns to itself after a vote, and unknown ids are a 404 page', async () => {
    const d = deployment();
    await offered(db, ctx.service, d);
    const bob = await loggedIn('bob');
    const page = await bob.send(`/deployments/${d.id}`, { method: 'GET', headers: HTML });
    expect(page.res.status).toBe(200);
    const r = await bob.post(`/approvals/${d.id}/reject`, {
      csrf: field(page.text, 'csrf'),
      plan: field(page.text, 'plan'),
      return: field(page.text, 'return'),
    });
    expect(r.location).toBe(`/deployments/${d.id}?result=rejected`);
    expect((await db.store.getDeployment(d.id))?.status).toBe('rejected');
    const missing = await bob.send('/deployments/nope', { method: 'GET', headers: HTML });
    expect(missing.res.status).toBe(404);
  });
});

describe('history paging', () => {
  test('a filter no index answers reads on through the store pages; the cursor never repeats or skips a row', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 60; i++) {
      const d = deployment({
        id: `hist-${String(i).padStart(3, '0')}`,
        environment: 'history-env',
        status: 'succeeded',
        pusher: i % 3 === 0 ? 'carol' : 'dan',
        createdAt: new Date(Date.parse('2025-06-01T00:00:00.000Z') + i * 60_000).toISOString(),
      });
      await db.store.createDeployment(d);
      if (i % 3 === 0) ids.push(d.id);
    }
    const alice = await loggedIn('alice');
    const seen: string[] = [];
    let url: string | undefined = '/deployments?environment=history-env&repository=org%2Fcharts&person=carol';
    for (let i = 0; url && i < 10; i++) {
      const page = await alice.send(url, { method: 'GET', headers: HTML });
      expect(page.res.status).toBe(200);
      seen.push(...[...page.text.matchAll(/<tr data-id="([^"]+)"/g)].map((m) => m[1] as string));
      const next = /id="next-page" rel="next" href="([^"]+)"/.exec(page.text)?.[1];
      url = next?.replace(/&amp;/g, '&');
    }
    expect(seen).toEqual([...ids].reverse());
    // a cursor made for another query is refused, not misread
    const first = await alice.send('/deployments?environment=history-env&repository=org%2Fcharts', {
      method: 'GET',
      headers: HTML,
    });
    const cursor = /cursor=([^"&]+)/.exec(first.text)?.[1] as string;
    const wrong = await alice.send(`/deployments?status=failed&cursor=${cursor}`, {
      method: 'GET',
      headers: HTML,
    });
    expect(wrong.res.status).toBe(400);
  });
});

describe('dashboard behind a read-access decision', () => {
  let server2: Server;
  let base2: string;
  beforeAll(async () => {
    const cookies = cookieSettingsFor('http://127.0.0.1:3000');
    // a stand-in for lib/auth's decision: `Bearer reader-token` reads all; alice may not read org/secret
    const standIn = {
      authenticate: async (event: HttpEvent): Promise<Reader | undefined> => {
        const auth = event.headers?.authorization;
        if (auth === 'Bearer reader-token') return { kind: 'token' };
        const m = /helmgate_session=([^;]+)/.exec(event.headers?.cookie ?? '');
        if (!m) return undefined;
        const s = JSON.parse(Buffer.from((m[1] as string).split('.')[0] as string, 'base64url').toString());
        return { kind: 'github', login: s.login, teams: s.teams };
      },
      mayRead: async (reader: Reader, repository: string) =>
        reader.kind === 'token' || repository !== 'org/secret',
    };
    const dashboard = makeDashboardHandler({
      store: db.store,
      approvals: ctx.service,
      approvers: ctx.deps.approvers,
      random: cryptoRandom,
      githubWebUrl: 'https://github.example.org',
      json: makeDeploymentsHandler({ store: db.store, logger: ctx.deps.logger, readAccess: standIn }),
      signingKey: async () => SIGNING_KEY,
      cookies,
      clock: ctx.clock,
      logger: ctx.deps.logger,
      oneTimeLogin: {
        consume: (t) => {
          const who = tokens.get(t);
          tokens.delete(t);
          return who;
        },
      },
      readAccess: standIn,
    });
    server2 = createLocalHttpServer([
      { method: 'GET', path: '/', handler: dashboard },
      { method: 'GET', path: '/deployments/{id}', handler: dashboard },
      { method: 'GET', path: '/metrics', handler: dashboard },
      { method: 'GET', path: '/auth/local', handler: dashboard },
    ]);
    base2 = `http://127.0.0.1:${await listen(server2, 0)}`;
  });
  afterAll(async () => {
    await new Promise<void>((r) => server2.close(() => r()));
    server2.closeAllConnections?.();
  });

  test('a reader sees only repositories they may read; an API token reads all but cannot vote', async () => {
    const hidden = deployment({ repository: 'org/secret', environment: 'vault', status: 'succeeded' });
    await db.store.createDeployment(hidden);
    const waiting = deployment();
    await offered(db, ctx.service, waiting);

    const alice = new Browser(base2);
    tokens.set('alice-2', { login: 'alice', teams: [] });
    await alice.get('/auth/local?token=alice-2');
    const overview = await alice.get('/');
    expect(overview.res.status).toBe(200);
    expect(overview.text).not.toContain('org/secret');
    expect(overview.text).not.toContain('data-environment="vault"');
    expect(overview.text).toContain(`action="/approvals/${waiting.id}/approve"`);
    const forbidden = await alice.send(`/deployments/${hidden.id}`, { method: 'GET', headers: HTML });
    expect(forbidden.res.status).toBe(403);
    expect((await alice.get('/metrics?format=json')).text).not.toContain('vault');

    const token = await fetch(`${base2}/`, { headers: { authorization: 'Bearer reader-token' } });
    const text = await token.text();
    expect(token.status).toBe(200);
    expect(text).toContain('data-environment="vault"');
    expect(text).not.toContain('data-vote="approve"');
    expect(text).toContain('an API token reads only');
    expect((await fetch(`${base2}/`)).status).toBe(401);
  });
});
