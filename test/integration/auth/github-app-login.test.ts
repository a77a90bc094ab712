import type { Server } from 'node:http';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { makeAuthHandler } from '../../../handlers/auth';
import { fixedClock } from '../../../lib/clock';
import { authDepsFrom } from '../../../lib/compose/shared';
import { createLocalHttpServer, listen } from '../../../lib/http/local-adapter';
import { createLogger } from '../../../lib/log/logger';
import { Redactor } from '../../../lib/log/redact';
import { cryptoRandom } from '../../../lib/random';
import { SecretsManagerProvider } from '../../../lib/secrets/secrets-manager-provider';
import { SecretResolver } from '../../../lib/secrets/secrets-provider';
import { Browser } from '../../helpers/form-browser';
import { GithubOAuthStandIn } from '../../stand-ins/github-oauth';
import { SecretsManagerStandIn } from '../../stand-ins/secrets-manager';

// Issue 15 item 1: approvers log in through the GitHub App's user authorization (its client id and
// secret, the same /login/oauth/authorize + access_token exchange as an OAuth app, giving a
// user-to-server token). The client id and secret live in the login secret (`helmgate/github-oauth`,
// written there by `helmgate setup github` with "kind":"github-app"), never only in the App secret:
// the internet-facing login function must not read the App's private key. An OAuth app's client in
// the same secret is the fallback.
const APP_CLIENT = { id: 'Iv23liAppClient01', secret: 'app-client-secret-canary-4711' };
const OAUTH_CLIENT = { id: 'oauth-client-1', secret: 'oauth-client-secret-1' };
const PEM = '-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----\n';

describe('login through the GitHub App (real Secrets Manager client, loopback GitHub)', () => {
  let sm: SecretsManagerStandIn;
  let github: GithubOAuthStandIn;
  let server: Server;
  let base: string;
  const logs: string[] = [];

  const start = async (clientOfGithub: { id: string; secret: string }, secrets: Record<string, string>) => {
    sm = await new SecretsManagerStandIn(secrets).start();
    github = await new GithubOAuthStandIn(clientOfGithub.id, clientOfGithub.secret).start();
    const clock = fixedClock('2026-11-26T04:00:00Z');
    const redactor = new Redactor();
    const logger = createLogger({ redactor, clock, write: (l) => logs.push(l) });
    const provider = new SecretsManagerProvider(
      new SecretsManagerClient({
        region: 'eu-west-1',
        endpoint: sm.url,
        credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'test' },
      }),
    );
    let port = 0;
    const deps = authDepsFrom({
      publicUrl: 'http://127.0.0.1:1',
      githubWebUrl: github.url,
      githubApiUrl: github.url,
      secrets: new SecretResolver(provider, redactor),
      oauthSecretId: 'helmgate/github-oauth',
      redactor,
      signingKey: async () => 'k'.repeat(64),
      ttlMs: 60_000,
      clock,
      random: cryptoRandom,
      logger,
    });
    const auth = makeAuthHandler({
      ...deps,
      oauth: {
        ...deps.oauth,
        get redirectUri() {
          return `http://127.0.0.1:${port}/auth/github/callback`;
        },
      },
      cookies: { ...deps.cookies, secure: false },
    });
    server = createLocalHttpServer([
      { method: 'GET', path: '/auth/github/login', handler: auth },
      { method: 'GET', path: '/auth/github/callback', handler: auth },
    ]);
    port = await listen(server, 0);
    base = `http://127.0.0.1:${port}`;
  };

  afterEach(async () => {
    await new Promise<void>((r) => server.close(() => r()));
    server.closeAllConnections?.();
    await github.close();
    await sm.close();
    logs.length = 0;
  });

  const login = async () => {
    const b = new Browser(base);
    const start = await b.get('/auth/github/login?return=/deployments');
    expect(start.res.status).toBe(302);
    const authorize = new URL(start.location as string);
    const back = await b.get(authorize.toString());
    const cb = await b.get(back.location as string);
    return { b, authorize, cb };
  };

  it('uses the App’s client id and secret from the login secret, and never reads the App secret', async () => {
    await start(APP_CLIENT, {
      'helmgate/github-app': JSON.stringify({ appId: 1, privateKey: PEM, webhookSecret: 'whs' }),
      'helmgate/github-oauth': JSON.stringify({
        client_id: APP_CLIENT.id,
        client_secret: APP_CLIENT.secret,
        kind: 'github-app',
      }),
    });
    github.user = { login: 'alice', teams: ['acme/ops'] };
    const { b, authorize, cb } = await login();
    expect(authorize.pathname).toBe('/login/oauth/authorize');
    expect(authorize.searchParams.get('client_id')).toBe(APP_CLIENT.id);
    expect(cb.res.status).toBe(302);
    expect(cb.location).toBe('/deployments');
    expect(b.jar.has('helmgate_session')).toBe(true);
    const exchange = github.calls.find((c) => c.path === '/login/oauth/access_token');
    expect(exchange?.body).toMatchObject({ client_id: APP_CLIENT.id, client_secret: APP_CLIENT.secret });
    expect(sm.reads).toContain('helmgate/github-oauth');
    expect(sm.reads).not.toContain('helmgate/github-app');
    expect(logs.join('\n')).not.toContain(APP_CLIENT.secret);
  });

  it('ignores client credentials an older App secret still carries: the login secret decides', async () => {
    await start(OAUTH_CLIENT, {
      'helmgate/github-app': JSON.stringify({
        appId: 1,
        privateKey: PEM,
        clientId: APP_CLIENT.id,
        clientSecret: APP_CLIENT.secret,
      }),
      'helmgate/github-oauth': JSON.stringify({
        client_id: OAUTH_CLIENT.id,
        client_secret: OAUTH_CLIENT.secret,
      }),
    });
    const { b, authorize } = await login();
    expect(authorize.searchParams.get('client_id')).toBe(OAUTH_CLIENT.id);
    expect(b.jar.has('helmgate_session')).toBe(true);
    expect(sm.reads).not.toContain('helmgate/github-app');
  });

  it('without the login secret, login is not configured, even when an older App secret has client credentials', async () => {
    await start(APP_CLIENT, {
      'helmgate/github-app': JSON.stringify({
        appId: 1,
        privateKey: PEM,
        clientId: APP_CLIENT.id,
        clientSecret: APP_CLIENT.secret,
      }),
    });
    const r = await new Browser(base).get('/auth/github/login?return=/deployments');
    expect(r.res.status).toBe(503);
    expect(r.text).toContain('helmgate/github-oauth');
    expect(r.text).not.toContain(APP_CLIENT.secret);
    expect(github.calls).toEqual([]);
    expect(sm.reads).not.toContain('helmgate/github-app');
  });

  it('falls back to the OAuth app when there is no App at all', async () => {
    await start(OAUTH_CLIENT, {
      'helmgate/github-oauth': JSON.stringify({
        client_id: OAUTH_CLIENT.id,
        client_secret: OAUTH_CLIENT.secret,
      }),
    });
    const { b, authorize } = await login();
    expect(authorize.searchParams.get('client_id')).toBe(OAUTH_CLIENT.id);
    expect(b.jar.has('helmgate_session')).toBe(true);
  });
});
