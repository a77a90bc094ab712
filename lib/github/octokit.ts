import { Octokit } from '@octokit/core';
import { retry } from '@octokit/plugin-retry';
import { type ThrottlingOptions, throttling } from '@octokit/plugin-throttling';
import type { Clock } from '../clock';
import type { Logger } from '../log/logger';
import { type GithubAppSecret, githubAppAuthOptions } from './app-auth';

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
  /** a GitHub App installation instead of a token (./app-auth.ts); wins over `auth` */
  app?: GithubAppSecret;
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
  return new ResilientOctokit({
    baseUrl: opts.baseUrl,
    ...(opts.app ? githubAppAuthOptions(opts.app, opts.clock) : opts.auth ? { auth: opts.auth } : {}),
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
}
