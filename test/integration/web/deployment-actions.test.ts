import type { Server } from 'node:http';
import { makeDashboardHandler } from '../../../handlers/dashboard';
import { makeDeploymentActionsHandler } from '../../../handlers/deployment-actions';
import { makeDeploymentsHandler } from '../../../handlers/deployments';
import type { ApproversConfig } from '../../../lib/approval/approval-port';
import { ReadAccess } from '../../../lib/auth/read-access';
import { cookieSettingsFor, csrfToken, readSession } from '../../../lib/auth/session';
import type { Deployment } from '../../../lib/deploy/deployment';
import { createLocalHttpServer, listen } from '../../../lib/http/local-adapter';
import { retryIdOf } from '../../../lib/lifecycle/retry';
import { cryptoRandom } from '../../../lib/random';
import { startDynalite, type TestDynamo } from '../../helpers/dynalite';
import { Browser, field } from '../../helpers/form-browser';
import { deployment, makeService, offered } from '../approval/approval-fixtures';

/**
 * The deployment page's buttons over HTTP (local adapter, dynalite, the real approval service and
 * lifecycle): Retry for a failed deployment and the freeze override, each only for the environment's
 * approvers (a reader sees no button and a POST of theirs is 403, even with a valid CSRF token), CSRF
 * bound to session, action and deployment, a double click makes one retry, every decision audited.
 */

let db: TestDynamo;
let server: Server;
let base: string;
let ctx: ReturnType<typeof makeService>;
const tokens = new Map<string, { login: string; teams: string[] }>();
const SIGNING_KEY = 's'.repeat(64);
const cookies = cookieSettingsFor('http://127.0.0.1:3000');
const approvers: ApproversConfig = {
  production: {
    github: ['alice', 'bob', 'pusher'],
    githubTeams: [],
    cli: [],
    slack: [],
    required: 2,
    allowSelfApproval: false,
    slackToGithub: {},
    cliToGithub: {},
  },
};

beforeAll(async () => {
  db = await startDynalite();
  ctx = makeService(db, { approvers });
  const common = { signingKey: async () => SIGNING_KEY, cookies, clock: ctx.clock, logger: ctx.deps.logger };
  // approvers read everything; `reader` may read the repository (GitHub says so) but approves nothing
  const readAccess = new ReadAccess({
    ...common,
    apiTokens: async () => ['api-token'],
    approvers,
    repositoryPermission: async (_repo, login) => (login === 'reader' ? 'read' : 'none'),
  });
  const dashboard = makeDashboardHandler({
    store: db.store,
    approvals: ctx.service,
    approvers,
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
  const actions = makeDeploymentActionsHandler({
    store: db.store,
    notifier: ctx.notifier,
    dispatcher: ctx.dispatcher,
    approvers,
    approvalOf: (id) => ctx.service.getRequest(id),
    ...common,
  });
  server = createLocalHttpServer([
    { method: 'GET', path: '/deployments/{id}', handler: dashboard },
    { method: 'GET', path: '/auth/local', handler: dashboard },
    { method: 'POST', path: '/deployments/{id}/retry', handler: actions },
    { method: 'POST', path: '/deployments/{id}/override', handler: actions },
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
  expect((await b.get(`/auth/local?token=${token}`)).res.status).toBe(302);
  return b;
}

/** A valid CSRF token for this browser's own session (what a page would give it, had it a form). */
function ownCsrf(b: Browser, purpose: string): string {
  const cookie = [...b.jar].map(([k, v]) => `${k}=${v}`).join('; ');
  const session = readSession(SIGNING_KEY, { headers: { cookie } }, cookies, ctx.clock.now());
  if (!session) throw new Error('no session');
  return csrfToken(session, purpose);
}

const HTML = { accept: 'text/html' };
const pageOf = (b: Browser, id: string) => b.send(`/deployments/${id}`, { method: 'GET', headers: HTML });

let seq = 0;
/** A production deployment approved by alice and bob (plan-digest-1) that then failed while running. */
async function failedProduction(): Promise<Deployment> {
  const d = deployment({ id: `failed-${++seq}`, repository: `org/actions-${seq}` });
  const { planDigest } = await offered(db, ctx.service, d);
  for (const id of ['alice', 'bob'])
    await ctx.service.vote({
      deploymentId: d.id,
      voter: { kind: 'github', id },
      via: 'web',
      decision: 'approve',
      planDigest,
    });
  await db.store.transition(
    d.id,
    ['queued'],
    'running',
    { startedAt: ctx.clock.now().toISOString() },
    ctx.clock.now(),
  );
  await db.store.transition(d.id, ['running'], 'failed', { reason: 'web: i/o timeout' }, ctx.clock.now());
  ctx.dispatcher.jobs.length = 0;
  return (await db.store.getDeployment(d.id)) as Deployment;
}

describe('retry from the deployment page', () => {
  test('an approver sees the button; a reader sees none and is refused 403 even with a valid CSRF token', async () => {
    const d = await failedProduction();
    const alice = await loggedIn('alice');
    const page = await pageOf(alice, d.id);
    expect(page.res.status).toBe(200);
    expect(page.text).toContain(`action="/deployments/${d.id}/retry"`);
    expect(page.text).toContain('id="retry-button"');
    expect(page.text).toContain('Its approval holds: it starts at once.');

    const reader = await loggedIn('reader');
    const seen = await pageOf(reader, d.id);
    expect(seen.res.status).toBe(200);
    expect(seen.text).not.toContain('id="retry-button"');
    expect(seen.text).not.toContain('/retry"');
    expect(seen.text).toContain('Only approvers of production can retry it from here');
    const refused = await reader.post(`/deployments/${d.id}/retry`, {
      csrf: ownCsrf(reader, `retry:${d.id}`),
    });
    expect(refused.res.status).toBe(403);
    expect(refused.text).toContain('reader is not allowed to approve or retry production');
    // alice's token is hers: for anyone else it is a bad form (400), and without a session 401
    expect(
      (await reader.post(`/deployments/${d.id}/retry`, { csrf: field(page.text, 'csrf') })).res.status,
    ).toBe(400);
    expect((await new Browser(base).post(`/deployments/${d.id}/retry`, { csrf: 'x' })).res.status).toBe(401);
    expect(await db.store.getDeployment(retryIdOf(d))).toBeUndefined();
    expect((await db.store.listAudit(d.id)).map((a) => `${a.actor} ${a.action} ${a.outcome}`)).toContain(
      'reader retry refused: forbidden',
    );
  });

  test('a double click makes one retry, which keeps the approval of the same plan and starts at once', async () => {
    const d = await failedProduction();
    const alice = await loggedIn('alice');
    const csrf = field((await pageOf(alice, d.id)).text, 'csrf');
    const [one, two] = await Promise.all([
      alice.post(`/deployments/${d.id}/retry`, { csrf }),
      alice.post(`/deployments/${d.id}/retry`, { csrf }),
    ]);
    const retryId = retryIdOf(d);
    expect([one.res.status, two.res.status]).toEqual([303, 303]);
    expect([one.location, two.location].sort()).toEqual([
      `/deployments/${retryId}?result=already-retried`,
      `/deployments/${retryId}?result=retried`,
    ]);
    const envList = await db.store.listByEnvironment(d.repository, d.environment, { limit: 10 });
    expect(envList.map((x) => x.id).sort()).toEqual([d.id, retryId].sort());
    expect(await db.store.getDeployment(retryId)).toMatchObject({
      status: 'queued',
      sha: d.sha,
      planDigest: 'plan-digest-1',
      trigger: 'retry',
      retryOf: d.id,
      requestedBy: 'alice',
    });
    expect(ctx.dispatcher.jobs).toEqual([{ deploymentId: retryId }]);
    expect(
      (await db.store.listAudit(retryId)).map((a) => `${a.actor} ${a.via} ${a.action} ${a.outcome}`),
    ).toEqual(['alice web retry created']);

    // the failed deployment now names its retry instead of offering the button; a later press says so
    const after = await pageOf(alice, d.id);
    expect(after.text).not.toContain('id="retry-button"');
    expect(after.text).toContain(`Retried as <a href="/deployments/${retryId}">`);
    const again = await alice.post(`/deployments/${d.id}/retry`, { csrf });
    expect(again.location).toBe(`/deployments/${retryId}?result=already-retried`);
    const shown = await alice.send(again.location as string, { method: 'GET', headers: HTML });
    expect(shown.text).toContain('had been retried already: this is its retry');
    expect(shown.text).toContain(`Retry of</dt><dd><a href="/deployments/${d.id}">`);
  });

  test('a deployment that did not fail is a 409, an unknown one a 404, and CSRF binds the deployment', async () => {
    const d = await failedProduction();
    const waiting = deployment({ id: `waiting-${++seq}`, repository: `org/actions-${seq}` });
    await offered(db, ctx.service, waiting);
    const alice = await loggedIn('alice');
    const conflict = await alice.post(`/deployments/${waiting.id}/retry`, {
      csrf: ownCsrf(alice, `retry:${waiting.id}`),
    });
    expect(conflict.res.status).toBe(409);
    expect(conflict.text).toContain('only a failed one is retried');
    expect(
      (await alice.post('/deployments/nope/retry', { csrf: ownCsrf(alice, 'retry:nope') })).res.status,
    ).toBe(404);
    // a token for another deployment, or for the other action, does not retry this one
    for (const purpose of [`retry:${waiting.id}`, `override:${d.id}`])
      expect(
        (await alice.post(`/deployments/${d.id}/retry`, { csrf: ownCsrf(alice, purpose) })).res.status,
      ).toBe(400);
    expect(await db.store.getDeployment(retryIdOf(d))).toBeUndefined();
  });
  test('once a newer deployment of the environment exists the page shows why instead of the button, and a POST is a 409 (audited)', async () => {
    const d = await failedProduction();
    const alice = await loggedIn('alice');
    const csrf = field((await pageOf(alice, d.id)).text, 'csrf');
    const newer = deployment({
      id: `newer-${seq}`,
      repository: d.repository,
      sha: 'b'.repeat(40),
      status: 'awaiting_approval',
      createdAt: new Date(Date.parse(d.createdAt) + 60_000).toISOString(),
    });
    await offered(db, ctx.service, newer);
    const why = `a newer deployment ${newer.id} of production exists (${'b'.repeat(12)}, awaiting_approval); redeploy or roll back instead`;
    const page = await pageOf(alice, d.id);
    expect(page.text).not.toContain('id="retry-button"');
    expect(page.text).not.toContain('/retry"');
    expect(page.text).toContain(`<p class="muted" id="retry-refused">Not retried from here: ${why}.</p>`);
    // the form loaded before the newer push: refused, and the newer deployment keeps waiting
    const refused = await alice.post(`/deployments/${d.id}/retry`, { csrf });
    expect(refused.res.status).toBe(409);
    expect(refused.text).toContain(why);
    expect(await db.store.getDeployment(retryIdOf(d))).toBeUndefined();
    expect((await db.store.getDeployment(newer.id))?.status).toBe('awaiting_approval');
    expect(ctx.dispatcher.jobs).toEqual([]);
    expect((await db.store.listAudit(d.id)).map((a) => `${a.actor} ${a.via} ${a.outcome}`)).toContain(
      'alice web refused: conflict',
    );
  });
});

describe('freeze override from the deployment page', () => {
  async function frozen(): Promise<Deployment> {
    const d = deployment({
      id: `frozen-${++seq}`,
      repository: `org/actions-${seq}`,
      status: 'queued',
      pusher: 'pusher',
      planDigest: 'plan-digest-1',
      frozenUntil: '2026-01-01T06:00:00.000Z',
      reason: 'frozen until 2026-01-01T06:00:00.000Z (new year): starts when the freeze ends',
    });
    await db.store.createDeployment(d);
    ctx.dispatcher.jobs.length = 0;
    return d;
  }

  test('two approvers with reasons start it; the pusher and a reader see no form and are refused 403', async () => {
    const d = await frozen();
    const alice = await loggedIn('alice');
    const bob = await loggedIn('bob');
    const pusher = await loggedIn('pusher');
    const reader = await loggedIn('reader');
    const page = await pageOf(alice, d.id);
    expect(page.text).toContain('Frozen until');
    expect(page.text).toContain('0 of 2 overrides given');
    expect(page.text).toContain(`action="/deployments/${d.id}/override"`);

    const own = await pageOf(pusher, d.id);
    expect(own.text).not.toContain('/override"');
    expect(own.text).toContain('pushed, merged or wrote this change');
    const forbidden = await pusher.post(`/deployments/${d.id}/override`, {
      csrf: ownCsrf(pusher, `override:${d.id}`),
      reason: 'it is my change and it is fine',
    });
    expect(forbidden.res.status).toBe(403);
    const read = await pageOf(reader, d.id);
    expect(read.text).not.toContain('/override"');
    expect(read.text).toContain('Only approvers of production can override the freeze');
    expect(
      (
        await reader.post(`/deployments/${d.id}/override`, {
          csrf: ownCsrf(reader, `override:${d.id}`),
          reason: 'x',
        })
      ).res.status,
    ).toBe(403);

    const csrf = field(page.text, 'csrf');
    expect((await alice.post(`/deployments/${d.id}/override`, { csrf, reason: '   ' })).res.status).toBe(400);
    const first = await alice.post(`/deployments/${d.id}/override`, {
      csrf,
      reason: 'CVE fix, <b>urgent</b>',
    });
    expect(first.location).toBe(`/deployments/${d.id}?result=override-recorded`);
    const between = await pageOf(bob, d.id);
    expect(between.text).toContain('1 of 2 overrides given');
    expect(between.text).toContain('CVE fix, &lt;b&gt;urgent&lt;/b&gt;');
    expect(ctx.dispatcher.jobs).toEqual([]);
    expect((await db.store.getDeployment(d.id))?.freezeOverride).toBeUndefined();

    const second = await bob.post(`/deployments/${d.id}/override`, {
      csrf: field(between.text, 'csrf'),
      reason: 'agreed',
    });
    expect(second.location).toBe(`/deployments/${d.id}?result=override-overridden`);
    expect(ctx.dispatcher.jobs).toEqual([{ deploymentId: d.id }]);
    const done = await alice.send(second.location as string, { method: 'GET', headers: HTML });
    expect(done.text).toContain('Freeze overridden: the deployment starts now.');
    expect(done.text).toContain('was overridden by 2 of 2 required approvers');
    expect(done.text).not.toContain('/override"');
    const audit = (await db.store.listAudit(d.id)).filter((a) => a.action === 'freeze-override');
    expect(audit.map((a) => `${a.actor} ${a.outcome}`).sort()).toEqual([
      'alice recorded',
      'alice refused: bad_request',
      'bob overridden',
      'pusher refused: forbidden',
      'reader refused: forbidden',
    ]);
    expect(audit.find((a) => a.outcome === 'overridden')?.detail).toContain(
      'alice: CVE fix, <b>urgent</b>; bob: agreed',
    );
  });
});
