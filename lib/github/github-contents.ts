import type { Octokit } from '@octokit/core';
import { HelmgateError } from '../errors';
import type { RepoSource } from './repo-source';

/** One file at a commit through the GitHub contents API: all the webhook needs. */
export class GithubContentsSource implements Pick<RepoSource, 'readFile'> {
  constructor(protected readonly octokit: Pick<Octokit, 'request'>) {}

  async readFile(repository: string, sha: string, filePath: string): Promise<string | undefined> {
    const [owner, repo] = splitRepo(repository);
    try {
      const res = await this.octokit.request('GET /repos/{owner}/{repo}/contents/{path}', {
        owner,
        repo,
        path: filePath,
        ref: sha,
        headers: { accept: 'application/vnd.github.raw+json' },
      });
      return typeof res.data === 'string'
        ? res.data
        : Buffer.from(res.data as unknown as ArrayBuffer).toString('utf8');
    } catch (e) {
      if ((e as { status?: number }).status === 404) return undefined;
      throw new HelmgateError(
        'source_unavailable',
        `GitHub contents ${repository}@${sha}:${filePath} failed`,
        { cause: e },
      );
    }
  }
}

export function splitRepo(repository: string): [string, string] {
  const [owner, repo, ...rest] = repository.split('/');
  if (!owner || !repo || rest.length > 0)
    throw new HelmgateError('bad_request', `not owner/name: ${repository}`);
  return [owner, repo];
}
