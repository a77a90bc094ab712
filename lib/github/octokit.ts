import { Octokit } from '@octokit/core';
import { retry } from '@octokit/plugin-retry';
import { type ThrottlingOptions, throttling } from '@octokit/plugin-throttling';
import { type Clock, systemClock } from '../clock';
import type { Logger } from '../log/logger';
import {
  expiryAwareTokenCache,
  type GithubAppSecret,
  InstallationDirectory,
  type InstallationTarget,
  installationRoutingAuth,
} from './app-auth';

/**
 * Octokit with GitHub's recommended resilience: `@octokit/plugin-retry` retries 5xx and network
 * errors with a quadratic back-off, `@octokit/plugin-throttling` waits out primary and secondary
 * rate limits (403/429 with `retry-after` or `x-ratelimit-reset`). Every Octokit helmgate uses
 * is built here.
 */
export const ResilientOctokit = Octokit.plugin(retry, throttling);
export type ResilientOctokit = InstanceType<typeof ResilientOctokit>;

export interface GithubClientOptions {
  baseUrl: string;
  auth?: string;
  /**
   * a GitHub App instead of a token (./app-auth.ts); wins over `auth`: each repository's requests
   * carry a token of the installation that serves it
   */
  app?: GithubAppSecret;
  /** with `app`: share this directory of installations (the webhook verifies through it too) */
  installations?: InstallationDirectory;
  /** when installation tokens expire (tests move it) */
  clock?: Clock;
  /** where rate-limit waits are reported */
  logger?: Logger;
  /** retries of a 5xx or network failure; default 2 (waits 1 s, then 4 s) */
  retries?: number;
  /**
   * Longest rate-limit wait we accept before giving up, in seconds; default 10: GitHub gives a
   * webhook 10 s and API Gateway a request 30 s, and a skipped status is reported on the next
   * transition anyway.
   */
  maxRateLimitWaitSeconds?: number;
  /**
   * Milliseconds per second of back-off and of `retry-after` (both plugins); default 1000.
   * Tests set a few ms so that a retried request or a waited-out limit takes no real time.
   */
  retryAfterBaseMs?: number;
  fetch?: typeof fetch;
}

/**
 * The plugin spaces every write one second apart (GitHub's advice for bulk writes). helmgate writes a
 * few statuses per transition, inside a webhook GitHub gives 10 s: spacing would cost seconds on
 * every push. It waits out a secondary limit when GitHub asks instead. The option is typed as a
 * Bottleneck group; the plugin calls only `key(id).schedule(options, fn, ...args)`.
 */
const unspaced = {
  key: () => ({
    schedule: (...args: unknown[]) => {
      const at = typeof args[0] === 'function' ? 0 : 1;
      const fn = args[at] as (...a: unknown[]) => unknown;
      return Promise.resolve(fn(...args.slice(at + 1)));
    },
  }),
} as unknown as NonNullable<ThrottlingOptions['write']>;

export function createGithubClient(opts: GithubClientOptions): ResilientOctokit {
  return createGithubAppClient(opts).octokit;
}

/**
 * The GitHub client and, with `opts.app`, the directory of the App's installations its requests are
 * routed through (looked up with the App JWT through this same client, so retries and rate limits
 * apply to the look-ups too).
 */
export function createGithubAppClient(opts: GithubClientOptions): {
  octokit: ResilientOctokit;
  installations: InstallationDirectory | undefined;
} {
  const maxWait = opts.maxRateLimitWaitSeconds ?? 10;
  const base = opts.retryAfterBaseMs ?? 1000;
  const onLimit =
    (kind: 'primary' | 'secondary') =>
    (retryAfter: number, options: { method: string; url: string }, _octokit: unknown, retryCount: number) => {
      const wait = retryCount < 1 && retryAfter <= maxWait;
      opts.logger?.warn('github rate limit', {
        kind,
        method: options.method,
        route: options.url,
        retryAfterSeconds: retryAfter,
        willRetry: wait,
      });
      return wait;
    };
  const clock = opts.clock ?? systemClock;
  let octokit: ResilientOctokit | undefined;
  const installations = opts.app
    ? (opts.installations ??
      new InstallationDirectory({
        lookup: (target) => lookupInstallation(octokit as ResilientOctokit, target),
        clock,
        ...(opts.app.installationId !== undefined ? { pinned: opts.app.installationId } : {}),
        ...(opts.logger ? { logger: opts.logger } : {}),
      }))
    : undefined;
  octokit = new ResilientOctokit({
    baseUrl: opts.baseUrl,
    ...(opts.app && installations
      ? {
          authStrategy: installationRoutingAuth,
          auth: {
            appId: opts.app.appId,
            privateKey: opts.app.privateKey,
            installations,
            cache: expiryAwareTokenCache(clock),
          },
        }
      : opts.auth
        ? { auth: opts.auth }
        : {}),
    ...(opts.fetch ? { request: { fetch: opts.fetch } } : {}),
    retry: { retries: opts.retries ?? 2, retryAfterBaseValue: base },
    throttle: {
      retryAfterBaseValue: base,
      write: unspaced,
      notifications: unspaced,
      onRateLimit: onLimit('primary'),
      onSecondaryRateLimit: onLimit('secondary'),
    },
  });
  return { octokit, installations };
}

/** GitHub's answer to "which installation of this App covers the target" (JWT-authenticated). */
async function lookupInstallation(
  octokit: ResilientOctokit,
  target: InstallationTarget,
): Promise<number | undefined> {
  try {
    const res =
      target.kind === 'repository'
        ? await octokit.request('GET /repos/{owner}/{repo}/installation', {
            owner: target.owner,
            repo: target.repo,
          })
        : await octokit.request('GET /orgs/{org}/installation', { org: target.org });
    const id = (res.data as { id?: unknown }).id;
    return typeof id === 'number' && Number.isInteger(id) && id > 0 ? id : undefined;
  } catch (e) {
    if ((e as { status?: number }).status === 404) return undefined;
    throw e;
  }
}
