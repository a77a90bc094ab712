import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as z from 'zod';
import { HelmgateError } from '../errors';
import type { GithubAppSecret } from '../github/app-auth';
import { createGithubClient } from '../github/octokit';
import type { Random } from '../random';
import { escapeHtml } from '../web/html';

/**
 * `helmgate setup github` (issue 15 item 1): creates helmgate's GitHub App through GitHub's
 * App-manifest flow (https://docs.github.com/en/apps/sharing-github-apps/registering-a-github-app-from-a-manifest),
 * so nobody copies ids and keys by hand:
 *
 * 1. a loopback page (127.0.0.1, an unguessable path) posts the manifest — permissions, the push
 *    event, the stage's webhook and login callback URLs — to GitHub's "new App" form, with a random
 *    `state`;
 * 2. the person confirms on GitHub, which redirects to the loopback callback with a one-time `code`
 *    and the `state`; a callback with any other state is refused (it could carry someone else's App);
 * 3. the code is converted (`POST /app-manifests/{code}/conversions`, single use, within an hour)
 *    into the App's id, slug, private key, webhook secret and client credentials, stored in two
 *    Secrets Manager secrets and never printed: the App secret (`helmgate/github-app`: id, slug,
 *    private key, webhook secret) and the login secret (`helmgate/github-oauth`: the client id and
 *    secret, `{"client_id","client_secret","kind":"github-app"}`). Two, so the internet-facing login
 *    function reads the client credentials without being able to read the private key, which mints
 *    installation tokens for every repository the App is installed on;
 * 4. the App's installation URL is printed: installing it on the repositories is the person's choice.
 */

/** Stores a secret: creates it, or adds a new current version when it exists. */
export interface SecretWriter {
  putSecret(name: string, value: string): Promise<'created' | 'updated'>;
}

export interface ManifestFlowDeps {
  secrets: SecretWriter;
  /** GitHub's web URL: https://github.com, a GHES host, or a stand-in */
  githubWebUrl: string;
  /** GitHub's API URL: https://api.github.com, GHES `/api/v3`, or a stand-in */
  githubApiUrl: string;
  /** opens the loopback page in the person's browser (tests: a scripted browser) */
  openBrowser: (url: string) => Promise<void>;
  /** progress for the person; never given a secret */
  print: (line: string) => void;
  /** the state, the page's path and the script nonce */
  random: Random;
  fetch?: typeof fetch;
}

export interface ManifestFlowOptions {
  /** the helmgate stage the App serves (its default name: `helmgate-<stage>`) */
  stage: string;
  /** the stage's public API URL: webhook `<publicUrl>/webhook`, login `<publicUrl>/auth/github/callback` */
  publicUrl: string;
  /** the App's name on GitHub (unique on GitHub, at most 34 characters); default `helmgate-<stage>` */
  name?: string;
  /** create the App in this organization (`/organizations/<org>/settings/apps/new`) */
  org?: string;
  /** approvers are named by GitHub team: the App may read organization members */
  teamApprovers?: boolean;
  /** where the App's page links to; default the public URL */
  homepageUrl?: string;
  /** the Secrets Manager secret the App's credentials go to; default `helmgate/github-app` */
  secretId?: string;
  /** the login secret the App's client id and secret go to (created, or updated); default `helmgate/github-oauth` */
  loginSecretId?: string;
  /** give up after this long without a valid callback; default 15 minutes */
  timeoutMs?: number;
  /** the loopback port; default any free one */
  port?: number;
}

export interface CreatedGithubApp {
  appId: number;
  slug: string;
  /** where the person installs the App on repositories */
  installUrl: string;
  /** the secret that holds the App's credentials (id, key, webhook secret) */
  secretId: string;
  secretWrite: 'created' | 'updated';
  /** the login secret that holds the App's client id and secret */
  loginSecretId: string;
  loginSecretWrite: 'created' | 'updated';
}

export class GithubAppSetupError extends HelmgateError {
  override name = 'GithubAppSetupError';
}

/** GitHub's limit on an App's name */
export const APP_NAME_MAX = 34;
const ORG = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$/;
const CODE = /^[A-Za-z0-9_-]{1,200}$/;

/** Pure: the App manifest for a stage (https://docs.github.com/en/apps/sharing-github-apps/registering-a-github-app-from-a-manifest#github-app-manifest-parameters). */
export function githubAppManifest(o: {
  name: string;
  publicUrl: string;
  homepageUrl?: string;
  redirectUrl: string;
  teamApprovers?: boolean;
}) {
  const base = o.publicUrl.replace(/\/+$/, '');
  return {
    name: o.name,
    url: o.homepageUrl ?? base,
    description: 'helmgate: deploys Helm releases on push, production after approval.',
    hook_attributes: { url: `${base}/webhook`, active: true },
    redirect_url: o.redirectUrl,
    callback_urls: [`${base}/auth/github/callback`],
    request_oauth_on_install: false,
    public: false,
    default_permissions: {
      contents: 'read',
      deployments: 'write',
      statuses: 'write',
      metadata: 'read',
      ...(o.teamApprovers ? { members: 'read' } : {}),
    },
    default_events: ['push'],
  };
}

/** What GitHub's conversion returns (the fields helmgate keeps). */
const Conversion = z.object({
  id: z.number().int().positive(),
  slug: z.string().regex(/^[a-z0-9][a-z0-9-]{0,99}$/),
  pem: z.string().includes('PRIVATE KEY'),
  webhook_secret: z.string().min(1),
  client_id: z.string().min(1),
  client_secret: z.string().min(1),
});

function sameSecret(a: string, b: string): boolean {
  const h = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(h(a), h(b));
}

function page(
  res: ServerResponse,
  status: number,
  title: string,
  body: string,
  extraCsp = '',
  nonce?: string,
) {
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
    'referrer-policy': 'no-referrer',
    'x-content-type-options': 'nosniff',
    'content-security-policy': `default-src 'none'; style-src 'unsafe-inline'; ${
      nonce ? `script-src 'nonce-${nonce}'; ` : ''
    }${extraCsp}frame-ancestors 'none'`,
  });
  res.end(
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>` +
      `<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 3rem auto">` +
      `<h1>${escapeHtml(title)}</h1>${body}</body></html>`,
  );
}

/**
 * Runs the manifest flow to the end: returns once the App exists and its credentials are stored
 * (or throws: timeout, a refused conversion, a failed write). Only the state-matching callback counts;
 * others are answered 403 and the flow keeps waiting.
 */
export async function createGithubAppViaManifest(
  deps: ManifestFlowDeps,
  opts: ManifestFlowOptions,
): Promise<CreatedGithubApp> {
  const name = opts.name ?? `helmgate-${opts.stage}`;
  if (name.length === 0 || name.length > APP_NAME_MAX)
    throw new GithubAppSetupError(
      'bad_request',
      `the App name must be 1 to ${APP_NAME_MAX} characters: ${name}`,
    );
  if (opts.org !== undefined && !ORG.test(opts.org))
    throw new GithubAppSetupError('bad_request', `not a GitHub organization name: ${opts.org}`);
  let publicUrl: URL;
  try {
    publicUrl = new URL(opts.publicUrl);
    if (publicUrl.protocol !== 'https:' && publicUrl.protocol !== 'http:') throw new Error('scheme');
  } catch {
    throw new GithubAppSetupError('bad_request', `the public URL must be an http(s) URL: ${opts.publicUrl}`);
  }
  const secretId = opts.secretId ?? 'helmgate/github-app';
  const loginSecretId = opts.loginSecretId ?? 'helmgate/github-oauth';
  if (loginSecretId === secretId)
    throw new GithubAppSetupError(
      'bad_request',
      `the login secret must not be the App secret (${secretId}): the login function may not read the App's private key`,
    );
  const web = deps.githubWebUrl.replace(/\/+$/, '');
  const state = deps.random.bytes(32).toString('base64url');
  const pagePath = `/${deps.random.bytes(16).toString('base64url')}`;
  const action = `${web}${opts.org ? `/organizations/${encodeURIComponent(opts.org)}` : ''}/settings/apps/new?state=${encodeURIComponent(state)}`;

  let settle: { resolve: (v: CreatedGithubApp) => void; reject: (e: unknown) => void } | undefined;
  const done = new Promise<CreatedGithubApp>((resolve, reject) => {
    settle = { resolve, reject };
  });
  // awaited only once the browser is open: a failure before that must not be an unhandled rejection
  done.catch(() => {});
  let busy = false;
  let finished = false;
  let redirectUrl = '';

  const convert = async (code: string): Promise<CreatedGithubApp> => {
    // no retries: a code converts once, and a retried POST could spend it without our seeing the answer
    const github = createGithubClient({
      baseUrl: deps.githubApiUrl,
      retries: 0,
      ...(deps.fetch ? { fetch: deps.fetch } : {}),
    });
    let data: unknown;
    try {
      data = (await github.request('POST /app-manifests/{code}/conversions', { code })).data;
    } catch (e) {
      const status = (e as { status?: number }).status;
      throw new GithubAppSetupError(
        status === 404 ? 'expired' : 'unavailable',
        status === 404
          ? 'GitHub did not convert the App code (it was used already or is older than an hour): run the setup again'
          : `GitHub's App-manifest conversion failed${status ? ` (status ${status})` : ''}`,
        { cause: e },
      );
    }
    const parsed = Conversion.safeParse(data);
    if (!parsed.success)
      throw new GithubAppSetupError(
        'unavailable',
        `GitHub's conversion answer lacks ${parsed.error.issues.map((i) => i.path.join('.')).join(', ')}`,
      );
    const c = parsed.data;
    // no clientId/clientSecret here: they go to the login secret, which the login function reads
    const secret: GithubAppSecret = {
      appId: c.id,
      slug: c.slug,
      privateKey: c.pem,
      webhookSecret: c.webhook_secret,
    };
    let secretWrite: 'created' | 'updated';
    try {
      secretWrite = await deps.secrets.putSecret(secretId, JSON.stringify(secret));
    } catch (e) {
      throw new GithubAppSetupError(
        'unavailable',
        `the GitHub App ${c.slug} (id ${c.id}) was created, but its credentials could not be stored in ${secretId}: delete the App on GitHub and run the setup again`,
        { cause: e },
      );
    }
    let loginSecretWrite: 'created' | 'updated';
    try {
      loginSecretWrite = await deps.secrets.putSecret(
        loginSecretId,
        JSON.stringify({ client_id: c.client_id, client_secret: c.client_secret, kind: 'github-app' }),
      );
    } catch (e) {
      throw new GithubAppSetupError(
        'unavailable',
        `the GitHub App ${c.slug} (id ${c.id}) was created and its credentials stored in ${secretId}, but its client id and secret could not be stored in the login secret ${loginSecretId}: on the App's settings page on GitHub, generate a new client secret and store {"client_id","client_secret","kind":"github-app"} in ${loginSecretId} (docs/github-app.md)`,
        { cause: e },
      );
    }
    return {
      appId: c.id,
      slug: c.slug,
      installUrl: `${web}/apps/${encodeURIComponent(c.slug)}/installations/new`,
      secretId,
      secretWrite,
      loginSecretId,
      loginSecretWrite,
    };
  };

  const serve = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (req.method !== 'GET') return page(res, 405, 'Not allowed', '<p>Only GET is served here.</p>');
    if (url.pathname === pagePath) {
      const manifest = githubAppManifest({
        name,
        publicUrl: publicUrl.toString(),
        ...(opts.homepageUrl ? { homepageUrl: opts.homepageUrl } : {}),
        redirectUrl,
        ...(opts.teamApprovers ? { teamApprovers: true } : {}),
      });
      const nonce = deps.random.bytes(16).toString('base64url');
      return page(
        res,
        200,
        `Create the GitHub App ${name}`,
        `<p>This sends helmgate's App manifest to GitHub${opts.org ? ` (organization ${escapeHtml(opts.org)})` : ''}, where you confirm the App.</p>` +
          `<form id="manifest" method="post" action="${escapeHtml(action)}">` +
          `<input type="hidden" name="manifest" value="${escapeHtml(JSON.stringify(manifest))}">` +
          `<button type="submit">Continue to GitHub</button></form>` +
          `<script nonce="${nonce}">document.getElementById('manifest').submit();</script>`,
        // 'self': GitHub's answer ends at our /callback (a browser checks redirects of a form post too)
        `form-action 'self' ${new URL(web).origin}; `,
        nonce,
      );
    }
    if (url.pathname !== '/callback') return page(res, 404, 'Not found', '<p>Nothing here.</p>');
    const code = url.searchParams.get('code') ?? '';
    const got = url.searchParams.get('state') ?? '';
    if (finished || busy)
      return page(res, 409, 'Already handled', '<p>This setup has already received its App.</p>');
    if (!sameSecret(got, state)) {
      deps.print('A callback with a wrong state was refused (still waiting for the App from this setup).');
      return page(
        res,
        403,
        'Refused',
        '<p>This callback does not belong to the setup that is running (state mismatch). Nothing was stored.</p>',
      );
    }
    if (!CODE.test(code)) return page(res, 400, 'Refused', '<p>The callback carries no valid code.</p>');
    busy = true;
    try {
      const created = await convert(code);
      finished = true;
      page(
        res,
        200,
        'GitHub App created',
        `<p>The App <strong>${escapeHtml(created.slug)}</strong> exists and its credentials are stored in Secrets Manager. ` +
          `Now install it on the repositories helmgate deploys: <a href="${escapeHtml(created.installUrl)}">${escapeHtml(created.installUrl)}</a>.</p>`,
      );
      settle?.resolve(created);
    } catch (e) {
      finished = true;
      page(res, 502, 'Setup failed', `<p>${escapeHtml((e as Error).message)}</p>`);
      settle?.reject(e);
    } finally {
      busy = false;
    }
  };

  const server: Server = createServer((req, res) => {
    serve(req, res).catch((e) => {
      if (!res.headersSent) page(res, 500, 'Error', '<p>Unexpected error.</p>');
      settle?.reject(e);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  redirectUrl = `http://127.0.0.1:${port}/callback`;
  const timeoutMs = opts.timeoutMs ?? 15 * 60_000;
  const timer = setTimeout(() => {
    // a valid callback came back in time and its conversion runs: GitHub may have made the App already,
    // so the flow waits for the conversion and the secret write (each bounded by its client's timeout)
    // rather than report a failure and lose the credentials
    if (busy || finished) return;
    settle?.reject(
      new GithubAppSetupError(
        'deadline_exceeded',
        `no GitHub App came back within ${Math.round(timeoutMs / 1000)} s: run the setup again`,
      ),
    );
  }, timeoutMs);
  try {
    const startUrl = `http://127.0.0.1:${port}${pagePath}`;
    deps.print(
      `Opening ${startUrl} to create the GitHub App ${name} on GitHub (open it yourself if no browser appears).`,
    );
    await deps.openBrowser(startUrl).catch(() => {
      deps.print('Could not open a browser: open the address above yourself.');
    });
    const created = await done;
    deps.print(
      `Created the GitHub App ${created.slug} (id ${created.appId}); its credentials are in ${created.secretId}.`,
    );
    deps.print(
      created.loginSecretWrite === 'updated'
        ? `Approvers now log in through the App: its client id and secret replaced the previous login credentials in ${created.loginSecretId} (a new version; the login function picks it up within minutes).`
        : `Approvers log in through the App: its client id and secret are in ${created.loginSecretId}.`,
    );
    deps.print(`Install it on the repositories helmgate deploys: ${created.installUrl}`);
    return created;
  } finally {
    clearTimeout(timer);
    server.closeAllConnections?.();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
