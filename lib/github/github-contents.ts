import type { Octokit } from '@octokit/core';
import { systemClock } from '../clock';
import { HelmgateError } from '../errors';
import { cryptoRandom } from '../random';
import type { RepoSource } from './repo-source';

/**
 * How hard a read tries before giving up. The webhook reads deploy.yaml while GitHub waits for its
 * answer (10 s), so the whole budget, retries and back-off included, stays well under that.
 */
export interface ContentsRetryOptions {
  /** attempts in all; default 3 */
  attempts?: number;
  /** wait before the 2nd, 3rd… attempt (jittered ±25 %); default 250 ms, 1000 ms */
  backoffMs?: readonly number[];
  /** one attempt's time limit; default 2.5 s */
  attemptTimeoutMs?: number;
  /** the whole read's time limit; default 6 s */
  budgetMs?: number;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
  random?: () => number;
}

/** Worth another try: GitHub's 5xx and rate limits, a timeout, a connection that failed. */
export function isTransientGithubError(e: unknown): boolean {
  const err = e as {
    status?: number;
    name?: string;
    message?: string;
    response?: { headers?: Record<string, string | undefined> };
  };
  const status = err.status;
  if (status === undefined || status === 0) return true; // network error, abort, timeout
  if (status >= 500 || status === 429 || status === 408) return true;
  if (status === 403) {
    const remaining = err.response?.headers?.['x-ratelimit-remaining'];
    return remaining === '0' || /rate limit/i.test(err.message ?? '');
  }
  return false;
}

const sleepFor = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * One file at a commit through the GitHub contents API: all the webhook needs. Answers the file's
 * text, or undefined when GitHub says 404 (the commit has no such file: the commit's own fault, a
 * permanent failure). Any other failure is not the commit's fault: transient ones are retried with
 * back-off inside a small budget, and what still fails is `unavailable`, so the caller can refuse
 * the push without recording it and GitHub's redelivery works.
 */
export class GithubContentsSource implements Pick<RepoSource, 'readFile'> {
  constructor(
    protected readonly octokit: Pick<Octokit, 'request'>,
    private readonly retry: ContentsRetryOptions = {},
  ) {}

  async readFile(repository: string, sha: string, filePath: string): Promise<string | undefined> {
    const [owner, repo] = splitRepo(repository);
    const attempts = this.retry.attempts ?? 3;
    const backoff = this.retry.backoffMs ?? [250, 1000];
    const attemptTimeout = this.retry.attemptTimeoutMs ?? 2500;
    const budget = this.retry.budgetMs ?? 6000;
    const now = this.retry.now ?? (() => systemClock.now().getTime());
    const sleep = this.retry.sleep ?? sleepFor;
    const random = this.retry.random ?? cryptoRandom.fraction;
    const started = now();
    let last: unknown;
    let status: number | undefined;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      const left = budget - (now() - started);
      try {
        const res = await this.octokit.request('GET /repos/{owner}/{repo}/contents/{path}', {
          owner,
          repo,
          path: filePath,
          ref: sha,
          headers: { accept: 'application/vnd.github.raw+json' },
          request: { signal: AbortSignal.timeout(Math.max(1, Math.min(attemptTimeout, left))) },
        });
        return typeof res.data === 'string'
          ? res.data
          : Buffer.from(res.data as unknown as ArrayBuffer).toString('utf8');
      } catch (e) {
        status = (e as { status?: number }).status;
        if (status === 404) return undefined;
        last = e;
        if (!isTransientGithubError(e) || attempt === attempts) break;
        const base = backoff[Math.min(attempt - 1, backoff.length - 1)] ?? 1000;
        const wait = Math.round(base * (0.75 + random() * 0.5));
        // no time for another attempt worth having: stop now rather than overrun GitHub's wait
        if (now() - started + wait + Math.min(attemptTimeout, 500) > budget) break;
        await sleep(wait);
      }
    }
    throw new HelmgateError(
      'unavailable',
      `GitHub did not serve ${filePath} of ${repository}@${sha.slice(0, 12)}${status ? ` (status ${status})` : ''}; redeliver the push once GitHub answers`,
      { cause: last },
    );
  }
}

export function splitRepo(repository: string): [string, string] {
  const [owner, repo, ...rest] = repository.split('/');
  if (!owner || !repo || rest.length > 0)
    throw new HelmgateError('bad_request', `not owner/name: ${repository}`);
  return [owner, repo];
}
