import { Readable } from 'node:stream';
import type { Octokit } from '@octokit/core';
import { HelmgateError } from '../errors';
import { GithubContentsSource, splitRepo } from './github-contents';
import type { RepoSource } from './repo-source';
import { extractSafely } from './source-tree';

export interface GithubSourceOptions {
  /** largest tarball accepted, bytes */
  maxTarballBytes?: number;
  fetch?: typeof fetch;
}

/**
 * RepoSource over the GitHub REST API: contents for one file (GithubContentsSource), the tarball for
 * the whole tree. Only the runner needs the tarball; the webhook uses GithubContentsSource, so its
 * bundle carries no tar.
 */
export class GithubRepoSource extends GithubContentsSource implements RepoSource {
  constructor(
    octokit: Pick<Octokit, 'request'>,
    private readonly opts: GithubSourceOptions = {},
  ) {
    super(octokit);
  }

  async extractTree(repository: string, sha: string, dest: string, signal?: AbortSignal): Promise<void> {
    const [owner, repo] = splitRepo(repository);
    const max = this.opts.maxTarballBytes ?? 256 * 1024 * 1024;
    let data: ArrayBuffer;
    try {
      const res = await this.octokit.request('GET /repos/{owner}/{repo}/tarball/{ref}', {
        owner,
        repo,
        ref: sha,
        ...(signal ? { request: { signal } } : {}),
      });
      data = res.data as ArrayBuffer;
    } catch (e) {
      throw new HelmgateError('source_unavailable', `GitHub tarball ${repository}@${sha} failed`, {
        cause: e,
      });
    }
    if (data.byteLength > max) throw new HelmgateError('source_unavailable', `tarball exceeds ${max} bytes`);
    await extractSafely(Readable.from(Buffer.from(data)), dest, {
      stripTopDir: true,
      maxBytes: max,
      ...(signal ? { signal } : {}),
    });
  }
}

/** Kept here for existing imports: the checks live in source-tree.ts. */
export { extractSafely } from './source-tree';
