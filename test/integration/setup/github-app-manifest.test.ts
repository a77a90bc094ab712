import { generateKeyPairSync } from 'node:crypto';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { parseOAuthClient } from '../../../lib/auth/github-oauth';
import { fixedClock } from '../../../lib/clock';
import { parseGithubAppSecret } from '../../../lib/github/app-auth';
import { createGithubAppClient } from '../../../lib/github/octokit';
import { cryptoRandom } from '../../../lib/random';
import { SecretsManagerWriter } from '../../../lib/secrets/secrets-manager-provider';
import { createGithubAppViaManifest, type ManifestFlowDeps } from '../../../lib/setup/github-app';
import { submitManifestPage, visit } from '../../helpers/manifest-browser';
import { GithubApiStandIn, MANIFEST_CODE_TTL_MS } from '../../stand-ins/github-api';
import { SecretsManagerStandIn } from '../../stand-ins/secrets-manager';

// Issue 15 item 1: `helmgate setup github` creates the App through GitHub's manifest flow — a
// loopback page posts the manifest to GitHub's form, GitHub redirects back with a one-time code and
// the state, the code is converted, the credentials go to Secrets Manager (real SDK client, loopback
// stand-in) and only the install URL is printed. Two secrets: the App's (id, slug, key, webhook
// secret) and the login secret (client id and secret), so the login function never needs the key.
const PUBLIC_URL = 'https://hooks.example.org';

describe('createGithubAppViaManifest (loopback GitHub and Secrets Manager)', () => {
  let gh: GithubApiStandIn;
  let sm: SecretsManagerStandIn;
  const clock = fixedClock('2026-11-26T04:00:00Z');
  const printed: string[] = [];
  const pages: string[] = [];
  let opened: string[] = [];

  beforeEach(async () => {
    clock.set('2026-11-26T04:00:00Z');
    gh = await new GithubApiStandIn({ now: () => clock.now().getTime() }).start();
    sm = await new SecretsManagerStandIn().start();
    printed.length = 0;
    pages.length = 0;
    opened = [];
  });
  afterEach(async () => {
    await gh.close();
    await sm.close();
  });

  const deps = (openBrowser: (url: string) => Promise<void>): ManifestFlowDeps => ({
    secrets: new SecretsManagerWriter(
      new SecretsManagerClient({
        region: 'eu-west-1',
        endpoint: sm.url,
        credentials: { accessKeyId: 'AKIDSETUP', secretAccessKey: 'test' },
      }),
    ),
    githubWebUrl: gh.url,
    githubApiUrl: gh.url,
    openBrowser,
    print: (line) => printed.push(line),
    random: cryptoRandom,
  });

  /** a browser that does the whole round trip, as a person clicking "Create GitHub App" would */
  const wholeRoundTrip = async (url: string) => {
    opened.push(url);
    const sent = await submitManifestPage(url);
    pages.push(sent.html);
    const back = await visit(sent.location);
    pages.push(back.text);
  };

  it('creates the App with the stage’s URLs and permissions, stores its key apart from its login credentials, and prints only the install URL', async () => {
    const created = await createGithubAppViaManifest(deps(wholeRoundTrip), {
      stage: 'prod',
      publicUrl: PUBLIC_URL,
    });

    const [form] = gh.manifestForms;
    expect(form?.path).toBe('/settings/apps/new');
    expect(form?.state).toMatch(/^[\w-]{40,}$/);
    const redirect = new URL(form?.manifest.redirect_url);
    expect(redirect.origin).toBe(new URL(opened[0] as string).origin);
    expect(redirect.pathname).toBe('/callback');
    expect(form?.manifest).toMatchObject({
      name: 'helmgate-prod',
      url: PUBLIC_URL,
      hook_attributes: { url: `${PUBLIC_URL}/webhook`, active: true },
      callback_urls: [`${PUBLIC_URL}/auth/github/callback`],
      public: false,
      default_events: ['push'],
      default_permissions: { contents: 'read', deployments: 'write', statuses: 'write', metadata: 'read' },
    });
    expect(form?.manifest.default_permissions.members).toBeUndefined();

    const app = [...gh.manifestApps.values()][0];
    if (!app) throw new Error('no App was created');
    expect(created).toEqual({
      appId: app.id,
      slug: 'helmgate-prod',
      installUrl: `${gh.url}/apps/helmgate-prod/installations/new`,
      secretId: 'helmgate/github-app',
      secretWrite: 'created',
      loginSecretId: 'helmgate/github-oauth',
      loginSecretWrite: 'created',
    });
    expect(sm.writes).toEqual([
      { op: 'CreateSecret', name: 'helmgate/github-app' },
      { op: 'CreateSecret', name: 'helmgate/github-oauth' },
    ]);
    const appText = sm.secrets.get('helmgate/github-app') as string;
    const stored = parseGithubAppSecret(appText);
    expect(stored).toEqual({
      appId: app.id,
      slug: 'helmgate-prod',
      privateKey: app.pem,
      webhookSecret: app.webhook_secret,
    });
    // the App secret carries no login credential; the login secret carries nothing else
    expect(appText).not.toContain(app.client_secret);
    expect(appText).not.toContain(app.client_id);
    const loginText = sm.secrets.get('helmgate/github-oauth') as string;
    expect(JSON.parse(loginText)).toEqual({
      client_id: app.client_id,
      client_secret: app.client_secret,
      kind: 'github-app',
    });
    expect(parseOAuthClient(loginText)).toEqual({
      clientId: app.client_id,
      clientSecret: app.client_secret,
      kind: 'github-app',
    });
    expect(printed.join('\n')).toContain('log in through the App');
    expect(printed.join('\n')).toContain('helmgate/github-oauth');

    // canary: no credential in what was printed or shown in the browser
    const seen = [...printed, ...pages].join('\n');
    for (const secret of [app.pem, app.client_secret, app.webhook_secret, app.pem.split('\n')[1] as string])
      expect(seen).not.toContain(secret);
    expect(printed.join('\n')).toContain(created.installUrl);

    // the stored key signs an App JWT GitHub accepts (a 404 "not installed", not a 401)
    const client = createGithubAppClient({ baseUrl: gh.url, retries: 0, clock, app: stored });
    await expect(client.installations?.verify('acme/web')).rejects.toMatchObject({ code: 'forbidden' });
    expect(
      gh.calls.filter((c) => c.path === '/repos/acme/web/installation').map((c) => c.authorization),
    ).toEqual([expect.stringMatching(/^bearer [\w-]+\.[\w-]+\.[\w-]+$/)]);
    expect(gh.appRefusals).toEqual([]);
    // and a key it did not issue is refused
    const forged = createGithubAppClient({
      baseUrl: gh.url,
      retries: 0,
      clock,
      app: {
        ...stored,
        privateKey: generateKeyPairSync('rsa', { modulusLength: 2048 })
          .privateKey.export({ type: 'pkcs1', format: 'pem' })
          .toString(),
      },
    });
    await expect(forged.installations?.verify('acme/web')).rejects.toMatchObject({ code: 'invalid_config' });
    expect(gh.appRefusals).toEqual(['signature does not match the App key']);
  });

  it('posts to the organization’s form with --org, and asks for members: read when teams approve', async () => {
    await createGithubAppViaManifest(deps(wholeRoundTrip), {
      stage: 'staging',
      publicUrl: PUBLIC_URL,
      org: 'acme',
      teamApprovers: true,
      name: 'acme-helmgate',
    });
    expect(gh.manifestForms[0]?.path).toBe('/organizations/acme/settings/apps/new');
    expect(gh.manifestForms[0]?.manifest.default_permissions.members).toBe('read');
    expect([...gh.manifestApps.values()][0]?.owner).toBe('acme');
  });

  it('replaces an OAuth app’s credentials in an existing login secret (a new version), says so, and prints no value', async () => {
    const before = JSON.stringify({ client_id: 'oauth-client-1', client_secret: 'oauth-secret-canary-1' });
    await sm.close();
    sm = await new SecretsManagerStandIn({ 'helmgate/github-oauth': before }).start();
    const created = await createGithubAppViaManifest(deps(wholeRoundTrip), {
      stage: 'prod',
      publicUrl: PUBLIC_URL,
      loginSecretId: 'helmgate/github-oauth',
    });
    const app = [...gh.manifestApps.values()][0];
    if (!app) throw new Error('no App was created');
    expect(created).toMatchObject({ secretWrite: 'created', loginSecretWrite: 'updated' });
    expect(sm.writes).toEqual([
      { op: 'CreateSecret', name: 'helmgate/github-app' },
      { op: 'PutSecretValue', name: 'helmgate/github-oauth' },
    ]);
    expect(JSON.parse(sm.secrets.get('helmgate/github-oauth') as string)).toEqual({
      client_id: app.client_id,
      client_secret: app.client_secret,
      kind: 'github-app',
    });
    const out = printed.join('\n');
    expect(out).toMatch(
      /Approvers now log in through the App: .*replaced the previous login credentials in helmgate\/github-oauth/,
    );
    for (const secret of [app.client_secret, app.pem, app.webhook_secret, 'oauth-secret-canary-1'])
      expect([...printed, ...pages].join('\n')).not.toContain(secret);
  });

  it('refuses to put the login credentials into the App secret itself', async () => {
    await expect(
      createGithubAppViaManifest(deps(wholeRoundTrip), {
        stage: 'prod',
        publicUrl: PUBLIC_URL,
        secretId: 'helmgate/app',
        loginSecretId: 'helmgate/app',
      }),
    ).rejects.toMatchObject({ code: 'bad_request' });
    expect(opened).toEqual([]);
    expect(sm.writes).toEqual([]);
  });

  it('when the login secret cannot be written, says what to do (the App exists, its key is stored), without a value', async () => {
    const writer = deps(wholeRoundTrip).secrets;
    const failing: ManifestFlowDeps = {
      ...deps(wholeRoundTrip),
      secrets: {
        putSecret: async (name, value) => {
          if (name === 'helmgate/github-oauth') throw new Error('AccessDeniedException');
          return writer.putSecret(name, value);
        },
      },
    };
    const err = (await createGithubAppViaManifest(failing, { stage: 'prod', publicUrl: PUBLIC_URL }).then(
      () => undefined,
      (e: unknown) => e,
    )) as Error & { code?: string };
    const app = [...gh.manifestApps.values()][0];
    if (!app) throw new Error('no App was created');
    expect(err).toMatchObject({ code: 'unavailable' });
    expect(err.message).toMatch(
      /stored in helmgate\/github-app, but its client id and secret could not be stored in the login secret helmgate\/github-oauth/,
    );
    expect(err.message).not.toContain(app.client_secret);
    expect(sm.writes).toEqual([{ op: 'CreateSecret', name: 'helmgate/github-app' }]);
    expect(pages.join('\n')).not.toContain(app.client_secret);
  });

  it('refuses a callback whose state is not this setup’s, stores nothing, and still completes with the right one', async () => {
    const flow = createGithubAppViaManifest(
      deps(async (url) => {
        opened.push(url);
      }),
      { stage: 'prod', publicUrl: PUBLIC_URL },
    );
    while (opened.length === 0) await new Promise((r) => setTimeout(r, 5));
    const sent = await submitManifestPage(opened[0] as string);
    const genuine = new URL(sent.location);
    const forged = new URL(genuine);
    forged.searchParams.set('state', 'someone-elses-state');
    const refused = await visit(forged.toString());
    expect(refused.status).toBe(403);
    const missing = new URL(genuine);
    missing.searchParams.delete('state');
    expect((await visit(missing.toString())).status).toBe(403);
    expect(gh.calls.filter((c) => c.path.startsWith('/app-manifests/'))).toEqual([]);
    expect(sm.writes).toEqual([]);
    expect(printed.join('\n')).toMatch(/wrong state was refused/);

    const ok = await visit(genuine.toString());
    expect(ok.status).toBe(200);
    expect((await flow).slug).toBe('helmgate-prod');
    expect(sm.writes).toHaveLength(2);
  });

  it('a code converted already (or expired) is refused by GitHub, and the setup fails saying so, storing nothing', async () => {
    const flow = createGithubAppViaManifest(
      deps(async (url) => {
        opened.push(url);
      }),
      { stage: 'prod', publicUrl: PUBLIC_URL },
    );
    const failed = flow.catch((e: unknown) => e);
    while (opened.length === 0) await new Promise((r) => setTimeout(r, 5));
    const sent = await submitManifestPage(opened[0] as string);
    const code = new URL(sent.location).searchParams.get('code');
    // someone spends the code first
    const first = await fetch(`${gh.url}/app-manifests/${code}/conversions`, { method: 'POST' });
    expect(first.status).toBe(201);
    const again = await fetch(`${gh.url}/app-manifests/${code}/conversions`, { method: 'POST' });
    expect(again.status).toBe(404);

    const back = await visit(sent.location);
    expect(back.status).toBe(502);
    const err = await failed;
    expect(err).toMatchObject({
      code: 'expired',
      message: expect.stringMatching(/used already or is older than an hour/),
    });
    expect(sm.writes).toEqual([]);
    // the setup's server is gone: the callback cannot be replayed
    await expect(fetch(sent.location)).rejects.toThrow();
  });

  it('the stand-in lets a manifest code expire after an hour, as GitHub does', async () => {
    const sent = await fetch(`${gh.url}/settings/apps/new?state=s`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        manifest: JSON.stringify({ name: 'x', url: PUBLIC_URL, redirect_url: 'http://127.0.0.1:9/callback' }),
      }).toString(),
      redirect: 'manual',
    });
    const code = new URL(sent.headers.get('location') ?? '').searchParams.get('code');
    clock.advance(MANIFEST_CODE_TTL_MS + 1);
    expect((await fetch(`${gh.url}/app-manifests/${code}/conversions`, { method: 'POST' })).status).toBe(404);
  });

  it('gives up after its deadline when no App comes back, and closes its page', async () => {
    const err = await createGithubAppViaManifest(
      deps(async (url) => {
        opened.push(url);
      }),
      { stage: 'prod', publicUrl: PUBLIC_URL, timeoutMs: 100 },
    ).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'deadline_exceeded' });
    await expect(fetch(opened[0] as string)).rejects.toThrow();
    expect(sm.writes).toEqual([]);
  });

  it('a deadline that passes while a valid callback’s conversion and secret write run waits for them: the App’s credentials are not lost', async () => {
    const timeoutMs = 2_500;
    const started = Date.now();
    const base = deps(wholeRoundTrip);
    const writer = base.secrets;
    const slowWrites: ManifestFlowDeps = {
      ...base,
      secrets: {
        // the write ends only after the deadline has passed (GitHub has made the App by then)
        putSecret: async (name, value) => {
          await new Promise((r) => setTimeout(r, Math.max(0, started + timeoutMs + 300 - Date.now())));
          return writer.putSecret(name, value);
        },
      },
    };
    const created = await createGithubAppViaManifest(slowWrites, {
      stage: 'prod',
      publicUrl: PUBLIC_URL,
      timeoutMs,
    });
    expect(Date.now() - started).toBeGreaterThan(timeoutMs);
    const app = [...gh.manifestApps.values()][0];
    expect(created).toMatchObject({ appId: app?.id, slug: 'helmgate-prod', secretWrite: 'created' });
    expect(parseGithubAppSecret(sm.secrets.get('helmgate/github-app') as string).appId).toBe(app?.id);
    // the person's browser was told, too
    expect(pages.at(-1)).toContain('GitHub App created');
  });

  it('serves its page only at its unguessable path, and refuses bad names before listening', async () => {
    const flow = createGithubAppViaManifest(
      deps(async (url) => {
        opened.push(url);
      }),
      { stage: 'prod', publicUrl: PUBLIC_URL, timeoutMs: 300 },
    );
    const failed = flow.catch((e: unknown) => e);
    while (opened.length === 0) await new Promise((r) => setTimeout(r, 5));
    const origin = new URL(opened[0] as string).origin;
    const root = await fetch(`${origin}/`);
    expect(root.status).toBe(404);
    expect(await root.text()).not.toContain('manifest');
    const page = await fetch(opened[0] as string);
    expect(page.headers.get('content-security-policy')).toMatch(
      /form-action 'self' http:\/\/127\.0\.0\.1:\d+/,
    );
    expect((await failed) as Error).toMatchObject({ code: 'deadline_exceeded' });

    await expect(
      createGithubAppViaManifest(
        deps(async () => {}),
        { stage: 'x', publicUrl: PUBLIC_URL, name: 'n'.repeat(35) },
      ),
    ).rejects.toMatchObject({ code: 'bad_request' });
    await expect(
      createGithubAppViaManifest(
        deps(async () => {}),
        { stage: 'x', publicUrl: PUBLIC_URL, org: '../evil' },
      ),
    ).rejects.toMatchObject({ code: 'bad_request' });
  });
});
