import { Readable } from 'node:stream';
import type { Octokit } from '@octokit/core';
import { HelmgateError } from '../errors';
import { GithubContentsSource, splitRepo } from './github-contents';
import type { FetchedTree, RepoSource } from './repo-source';
import { extractSafely } from './source-tree';
import {
  parseTreeSnapshot,
  snapshotReader,
  type TreeSnapshot,
  TreeSnapshotCache,
  writeSnapshot,
} from './tree-snapshot';

export interface GithubSourceOptions {
  /** largest tarball accepted, bytes */
  maxTarballBytes?: number;
  fetch?: typeof fetch;
  /** plain trees of recent commits (fetchTree); default: a small one of this source's own */
  cache?: TreeSnapshotCache;
}

/**
 * RepoSource over the GitHub REST API: contents for one file (GithubContentsSource), the tarball for
 * the whole tree. Only the runner needs the tarball; the webhook uses GithubContentsSource, so its
 * bundle carries no tar.
 */
export class GithubRepoSource extends GithubContentsSource implements RepoSource {
  private readonly cache: TreeSnapshotCache;
  constructor(
    octokit: Pick<Octokit, 'request'>,
    private readonly opts: GithubSourceOptions = {},
  ) {
    super(octokit);
    this.cache = opts.cache ?? new TreeSnapshotCache();
  }

  async extractTree(repository: string, sha: string, dest: string, signal?: AbortSignal): Promise<void> {
    await this.extractTarball(await this.tarball(repository, sha, signal), dest, signal);
  }

  /** The tarball, planned from memory when the tree is a plain one (tree-snapshot.ts), written only when needed. */
  async fetchTree(
    repository: string,
    sha: string,
    opts: { scratchDir: string; signal?: AbortSignal },
  ): Promise<FetchedTree> {
    const held = (snapshot: TreeSnapshot): FetchedTree => ({
      reader: snapshotReader(snapshot),
      writeTo: (dest) => writeSnapshot(snapshot, dest),
    });
    const cached = this.cache.get(repository, sha);
    if (cached) return held(cached);
    const data = await this.tarball(repository, sha, opts.signal);
    const snapshot = parseTreeSnapshot(data, {
      stripTopDir: true,
      maxBytes: this.opts.maxTarballBytes ?? 256 * 1024 * 1024,
    });
    if (snapshot) {
      this.cache.set(repository, sha, snapshot);
      return held(snapshot);
    }
    return { writeTo: (dest, signal) => this.extractTarball(data, dest, signal) };
  }

  private async tarball(repository: string, sha: string, signal?: AbortSignal): Promise<Buffer> {
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
    return Buffer.from(data);
  }

  private extractTarball(data: Buffer, dest: string, signal?: AbortSignal): Promise<void> {
    return extractSafely(Readable.from(data), dest, {
      stripTopDir: true,
      maxBytes: this.opts.maxTarballBytes ?? 256 * 1024 * 1024,
      ...(signal ? { signal } : {}),
    });
  }
}

/** Kept here for existing imports: the checks live in source-tree.ts. */
export { extractSafely } from './source-tree';
