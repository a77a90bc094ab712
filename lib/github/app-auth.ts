import { createAppAuth } from '@octokit/auth-app';
import * as z from 'zod';
import { type Clock, systemClock } from '../clock';
import { HelmgateError } from '../errors';

/**
 * One GitHub App instead of a personal access token (issue 15 item 1): the secret
 * `helmgate/github-app` holds `{"appId", "privateKey", "installationId"}`. Octokit authenticates as
 * the App (a JWT signed with the private key, 10 minutes), exchanges it for an installation token
 * (one hour, scoped to the App's permissions on the repositories it is installed on), caches it and
 * signs a new one before it expires (@octokit/auth-app: tokens are reused for 59 minutes).
 */
export const GithubAppSecret = z.strictObject({
  appId: z.union([z.number().int().positive(), z.string().regex(/^\d+$/)]).transform(Number),
  privateKey: z.string().includes('PRIVATE KEY'),
  installationId: z.union([z.number().int().positive(), z.string().regex(/^\d+$/)]).transform(Number),
});
export type GithubAppSecret = z.infer<typeof GithubAppSecret>;

/** Parses the App secret; errors name the field, never a value. */
export function parseGithubAppSecret(text: string, secretName = 'the GitHub App secret'): GithubAppSecret {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new HelmgateError(
      'invalid_config',
      `${secretName}: not JSON ({"appId", "privateKey", "installationId"})`,
    );
  }
  const parsed = GithubAppSecret.safeParse(json);
  if (!parsed.success)
    throw new HelmgateError(
      'invalid_config',
      `${secretName}: ${parsed.error.issues.map((i) => i.path.join('.') || '(root)').join(', ')} missing or invalid`,
    );
  // PEM in a JSON string often arrives with literal \n
  return { ...parsed.data, privateKey: parsed.data.privateKey.replace(/\\n/g, '\n') };
}

/** how long before its expiry an installation token is replaced */
export const INSTALLATION_TOKEN_MARGIN_MS = 5 * 60_000;

/**
 * @octokit/auth-app's token cache, keyed by installation, reading the `expires_at` GitHub returned
 * (its default keeps every token 59 minutes, whatever GitHub said): a token within five minutes of its
 * expiry — or one whose expiry cannot be read — is not returned, so a new one is exchanged.
 * auth-app stores `token|createdAt|expiresAt|…`.
 */
export function expiryAwareTokenCache(clock: Clock, marginMs = INSTALLATION_TOKEN_MARGIN_MS) {
  const entries = new Map<string, string>();
  return {
    get(key: string): string | undefined {
      const value = entries.get(key);
      if (value === undefined) return undefined;
      const expiresAt = Date.parse(value.split('|')[2] ?? '');
      if (!Number.isFinite(expiresAt) || expiresAt - marginMs <= clock.now().getTime()) {
        entries.delete(key);
        return undefined;
      }
      return value;
    },
    set(key: string, value: string): void {
      entries.set(key, value);
    },
  };
}

/** The Octokit options that authenticate as the App's installation. */
export function githubAppAuthOptions(
  app: GithubAppSecret,
  clock: Clock = systemClock,
): {
  authStrategy: typeof createAppAuth;
  auth: {
    appId: number;
    privateKey: string;
    installationId: number;
    cache: ReturnType<typeof expiryAwareTokenCache>;
  };
} {
  return {
    authStrategy: createAppAuth,
    auth: {
      appId: app.appId,
      privateKey: app.privateKey,
      installationId: app.installationId,
      cache: expiryAwareTokenCache(clock),
    },
  };
}
