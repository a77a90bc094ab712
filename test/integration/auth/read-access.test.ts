import type { Server } from 'node:http';
import { Octokit } from '@octokit/core';
import { makeAuthHandler } from '../../../handlers/auth';
import { makeDeploymentsHandler } from '../../../handlers/deployments';
import { ApproversConfig } from '../../../lib/approval/approval-port';
import { githubRepositoryPermission, ReadAccess } from '../../../lib/auth/read-access';
import { cookieSettingsFor } from '../../../lib/auth/session';
import { fixedClock } from '../../../lib/clock';
import { createLocalHttpServer, listen } from '../../../lib/http/local-adapter';
import { createLogger } from '../../../lib/log/logger';
import { Redactor } from '../../../lib/log/redact';
import { cryptoRandom } from '../../../lib/random';
import { startDynalite, type TestDynamo } from '../../helpers/dynalite';
import { Browser } from '../../helpers/form-browser';
import { GithubApiStandIn } from '../../stand-ins/github-api';
import { GithubOAuthStandIn } from '../../stand-ins/github-oauth';
import { deployment } from '../approval/approval-fixtures';

/**
 * Issue 11, "anyone can read": GET /deployments and GET /deployments/{id} through the real handlers,
 * with a GitHub login (OAuth stand-in), GitHub's collaborators permission API (REST stand-in) and
 * bearer tokens from `helmgate/api-tokens`.
 */

const SIGNING_KEY = 'k'.repeat(64);
const TOKENS = ['token-current-0123456789abcdef', 'token-previous-0123456789abcdef'];
const OPEN = 'org/open';
const CLOSED = 'org/closed';

let db: TestDynamo;
let oauth: GithubOAuthStandIn;
let api: GithubApiStandIn;
let server: Server;
let base: string;
const clock = fixedClock('2026-01-01T01:00:00.000Z');
const logs: string[] = [];

beforeAll(async () => {
  db = await startDynalite();
  oauth = await new GithubOAuthStandIn('client-r', 'secret-r').start();
  api = await new GithubApiStandIn({ token: 'helmgate-app-token', delegate: oauth }).start();
  api.setPermission(OPEN, 'reader', 'read');
  api.setPermission(OPEN, 'writer', 'write');
  api.setPermission(CLOSED, 'writer', 'none');
  const logger = createLogger({ redactor: new Redactor(), clock, write: (l) => logs.push(l) });
  const cookies = cookieSettingsFor('http://127.0.0.1:3000');
  const readAccess = new ReadAccess({
    apiTokens: async () => TOKENS,
    signingKey: async () => SIGNING_KEY,
    cookies,
    clock,
    logger,
    approvers: ApproversConfig.parse({ production: { github: ['Dora'], githubTeams: ['org/ops'] } }),
    repositoryPermission: githubRepositoryPermission(
      new Octokit({ auth: 'helmgate-app-token', baseUrl: api.url }),
    ),
  });
  let port = 0;
  const auth = makeAuthHandler({
    oauth: {
      githubWebUrl: oauth.url,
      githubApiUrl: api.url,
      get redirectUri() {
        return `http://127.0.0.1:${port}/auth/github/callback`;
      },
    },
    oauthClient: async () => ({ clientId: 'client-r', clientSecret: 'secret-r' }),
    signingKey: async () => SIGNING_KEY,
    cookies,
    clock,
    random: cryptoRandom,
    logger,
  });
  const deployments = makeDeploymentsHandler({ store: db.store, logger, readAccess });
  server = createLocalHttpServer([
    { method: 'GET', path: '/auth/github/login', handler: auth },
    { method: 'GET', path: '/auth/github/callback', handler: auth },
    { method: 'GET', path: '/deployments', handler: deployments },
    { method: 'GET', path: '/deployments/{id}', handler: deployments },
  ]);
  port = await listen(server, 0);
  base = `http://127.0.0.1:${port}`;
  await db.store.createDeployment(deployment({ id: 'dep-open', repository: OPEN }));
  await db.store.createDeployment(deployment({ id: 'dep-closed', repository: CLOSED }));
});

afterAll(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  server.closeAllConnections?.();
  await api.close();
  await oauth.close();
  await db.close();
});

async function login(user: string, teams: string[] = []): Promise<Browser> {
  const b = new Browser(base);
  oauth.user = { login: user, teams };
  const start = await b.get('/auth/github/login?return=/deployments');
  const back = await b.get(start.location as string);
  const cb = await b.get(back.location as string);
  expect(cb.location).toBe('/deployments');
  expect(b.jar.has('helmgate_session')).toBe(true);
  return b;
}

const ids = (text: string) =>
  (JSON.parse(text) as { deployments: Array<{ id: string }> }).deployments.map((d) => d.id).sort();

describe('reading deployments needs credentials', () => {
  test('anonymous: 401 for the list and the detail, and nothing of the deployment in the answer', async () => {
    for (const path of ['/deployments', '/deployments/dep-open']) {
      const r = await fetch(`${base}${path}`);
      expect(r.status).toBe(401);
      const text = await r.text();
      expect(text).not.toContain(OPEN);
      expect(text).not.toContain('bump hub');
      expect(text).not.toContain('pusher');
    }
  });

  test('every API token of the rotation reads everything; a wrong or malformed one is 401', async () => {
    for (const t of TOKENS) {
      const r = await fetch(`${base}/deployments`, { headers: { authorization: `Bearer ${t}` } });
      expect(r.status).toBe(200);
      expect(ids(await r.text())).toEqual(expect.arrayContaining(['dep-closed', 'dep-open']));
    }
    for (const bad of [`Bearer ${TOKENS[0]}x`, 'Bearer ', `Basic ${TOKENS[0]}`, `bearer${TOKENS[0]}`]) {
      const r = await fetch(`${base}/deployments/dep-open`, { headers: { authorization: bad } });
      expect(r.status).toBe(401);
    }
    expect(logs.join('\n')).not.toContain(TOKENS[0]);
  });

  test('an approver (by login, case-insensitive, or by team) reads every repository', async () => {
    for (const b of [await login('dora'), await login('erin', ['org/ops'])]) {
      const r = await b.get('/deployments');
      expect(r.res.status).toBe(200);
      expect(ids(r.text)).toEqual(expect.arrayContaining(['dep-closed', 'dep-open']));
      expect((await b.get('/deployments/dep-closed')).res.status).toBe(200);
    }
  });

  test('a GitHub user reads only the repositories GitHub says they can read, asked once per minute', async () => {
    const reader = await login('reader');
    const list = await reader.get('/deployments');
    expect(list.res.status).toBe(200);
    expect(ids(list.text)).toContain('dep-open');
    expect(ids(list.text)).not.toContain('dep-closed');
    expect((await reader.get('/deployments/dep-open')).res.status).toBe(200);
    const closed = await reader.get('/deployments/dep-closed');
    expect(closed.res.status).toBe(403);
    expect(closed.text).not.toContain('bump hub');
    const asked = () =>
      api.calls.filter((c) => c.path === `/repos/${OPEN}/collaborators/reader/permission`).length;
    expect(asked()).toBe(1);
    expect(api.calls.at(-1)?.authorization).toBe('token helmgate-app-token');
    clock.advance(61_000);
    await reader.get('/deployments/dep-open');
    expect(asked()).toBe(2);
  });

  test('permission `none` and strangers see nothing; GitHub failing refuses (fail closed)', async () => {
    const writer = await login('writer');
    expect((await writer.get('/deployments/dep-closed')).res.status).toBe(403);
    const stranger = await login('mallory');
    expect(ids((await stranger.get('/deployments')).text)).toEqual([]);
    expect((await stranger.get('/deployments/dep-open')).res.status).toBe(403);

    clock.advance(120_000); // past the cache
    api.failNext('permission', 502, 'bad gateway');
    const reader = await login('reader');
    expect((await reader.get('/deployments/dep-open')).res.status).toBe(403);
    // the failure was not remembered: the next request asks again and is let in
    expect((await reader.get('/deployments/dep-open')).res.status).toBe(200);
  });
});
