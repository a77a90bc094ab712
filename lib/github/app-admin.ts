import type { GithubAppAdmin } from '../bootstrap/bootstrap';
import type { Clock } from '../clock';
import { type GithubAppSecret, parseGithubAppSecret } from './app-auth';
import { createGithubClient } from './octokit';

/**
 * The App as its owner administers it: `/app` routes with the App's JWT (@octokit/auth-app signs one
 * for every `/app` request), the installation token by the exchange the runtime does. No secret reaches
 * a message: failures surface as Octokit's RequestError, whose status is all the caller reports.
 */
export function githubAppAdmin(
  appSecretText: string,
  opts: { baseUrl: string; secretName: string; clock?: Clock; fetch?: typeof fetch },
): GithubAppAdmin {
  const app: GithubAppSecret = parseGithubAppSecret(appSecretText, opts.secretName);
  const octokit = createGithubClient({
    baseUrl: opts.baseUrl,
    app,
    ...(opts.clock ? { clock: opts.clock } : {}),
    ...(opts.fetch ? { fetch: opts.fetch } : {}),
    // an operator at a terminal: one quick retry, no long rate-limit waits
    retries: 1,
    maxRateLimitWaitSeconds: 5,
  });
  return {
    async app() {
      const { data } = await octokit.request('GET /app');
      const got = data as {
        id?: number;
        slug?: string;
        permissions?: Record<string, string>;
        events?: string[];
      } | null;
      if (!got || got.id !== app.appId)
        throw Object.assign(new Error('GET /app answered for another App'), { status: 409 });
      return {
        id: got.id,
        slug: got.slug ?? 'app',
        permissions: { ...(got.permissions ?? {}) },
        events: [...(got.events ?? [])],
      };
    },
    async installationFor(repository) {
      const [owner, repo] = repository.split('/') as [string, string];
      try {
        const { data } = await octokit.request('GET /repos/{owner}/{repo}/installation', { owner, repo });
        return { id: (data as { id: number }).id };
      } catch (e) {
        if ((e as { status?: number }).status === 404) return undefined;
        throw e;
      }
    },
    async installationToken(installationId) {
      await octokit.auth({ type: 'installation', installationId, refresh: true });
    },
    async hookConfig() {
      const { data } = await octokit.request('GET /app/hook/config');
      const d = data as { url?: string; content_type?: string; secret?: string | null };
      return { url: d.url ?? '', contentType: d.content_type ?? 'form', hasSecret: !!d.secret };
    },
    async updateHookConfig(patch) {
      // `data` is the body: a `url` parameter would be taken as the request's own URL by Octokit
      await octokit.request('PATCH /app/hook/config', {
        data: {
          ...(patch.url !== undefined ? { url: patch.url } : {}),
          ...(patch.contentType !== undefined ? { content_type: patch.contentType } : {}),
          ...(patch.secret !== undefined ? { secret: patch.secret } : {}),
        },
      });
    },
  };
}
