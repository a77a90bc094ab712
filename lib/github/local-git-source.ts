import { createReadStream } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { HelmgateError } from '../errors';
import type { Git } from '../exec/git';
import type { FetchedTree, RepoSource } from './repo-source';
import { extractSafely } from './source-tree';
import {
  IN_MEMORY_MAX_BYTES,
  parseTreeSnapshot,
  snapshotReader,
  type TreeSnapshot,
  TreeSnapshotCache,
  writeSnapshot,
} from './tree-snapshot';

const SHA = /^[0-9a-f]{7,40}$/;

export interface LocalGitSourceOptions {
  /** `git archive` of one commit; default 120 s */
  timeoutMs?: number;
  /** largest tree accepted, bytes; default 256 MiB */
  maxBytes?: number;
  /** plain trees of recent commits (fetchTree); default: a small one of this source's own */
  cache?: TreeSnapshotCache;
}

/** The local stack's RepoSource: `git show` / `git archive` of the checkout, whatever its remote. */
export class LocalGitSource implements RepoSource {
  private readonly cache: TreeSnapshotCache;
  constructor(
    private readonly repoDir: string,
    private readonly git: Git,
    private readonly opts: LocalGitSourceOptions = {},
  ) {
    this.cache = opts.cache ?? new TreeSnapshotCache();
  }

  async readFile(_repository: string, sha: string, path: string): Promise<string | undefined> {
    if (!SHA.test(sha)) throw new HelmgateError('bad_request', `not a commit SHA: ${sha}`);
    let r: Awaited<ReturnType<Git['run']>>;
    try {
      r = await this.git.run(this.repoDir, ['show', `${sha}:${path}`], {
        timeoutMs: this.opts.timeoutMs ?? 120_000,
      });
    } catch (e) {
      throw new HelmgateError('source_unavailable', `git show ${sha}:${path} failed`, { cause: e });
    }
    if (r.code === 0) return r.stdout;
    if (/does not exist|exists on disk, but not in|not in '/.test(r.stderr)) return undefined;
    if (/bad object|invalid object name|unknown revision|not a valid object/i.test(r.stderr))
      throw new HelmgateError('source_unavailable', `commit ${sha} is not in the local repository`);
    if (r.timedOut) throw new HelmgateError('deadline_exceeded', `git show ${sha}:${path} timed out`);
    throw new HelmgateError('source_unavailable', `git show ${sha}:${path} failed`);
  }

  /**
   * `git archive` of the commit into a private temp file beside `dest` (no pipe: git can never block on
   * a reader that stopped — the symlink hang of issue 12), then extracted through `extractSafely`, which
   * refuses a tree that is not closed (a link out of it, a device, a FIFO), naming the path.
   */
  async extractTree(_repository: string, sha: string, dest: string, signal?: AbortSignal): Promise<void> {
    if (!SHA.test(sha)) throw new HelmgateError('bad_request', `not a commit SHA: ${sha}`);
    const tmp = await mkdtemp(path.join(path.dirname(dest), '.git-archive-'));
    try {
      const file = path.join(tmp, 'tree.tar');
      await this.archive(sha, file);
      await this.extractFile(file, dest, signal);
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  }

  /**
   * The same archive, held in memory when the tree is a plain one (tree-snapshot.ts): the runner plans
   * from it and writes it only when a release runs. Otherwise it stays a file in `scratchDir` until
   * written (then removed; the runner's work directory goes in the end anyway).
   */
  async fetchTree(
    _repository: string,
    sha: string,
    opts: { scratchDir: string; signal?: AbortSignal },
  ): Promise<FetchedTree> {
    if (!SHA.test(sha)) throw new HelmgateError('bad_request', `not a commit SHA: ${sha}`);
    const held = (snapshot: TreeSnapshot): FetchedTree => ({
      reader: snapshotReader(snapshot),
      writeTo: (dest) => writeSnapshot(snapshot, dest),
    });
    // one checkout: the commit alone names the tree
    const cached = this.cache.get('', sha);
    if (cached) return held(cached);
    // the scratch directory is the run's own: one fixed name is enough
    const file = path.join(opts.scratchDir, `git-archive-${sha}.tar`);
    await this.archive(sha, file);
    if ((await stat(file)).size <= 2 * IN_MEMORY_MAX_BYTES) {
      const snapshot = parseTreeSnapshot(await readFile(file), {
        maxBytes: this.opts.maxBytes ?? 256 * 1024 * 1024,
      });
      if (snapshot) {
        await rm(file, { force: true });
        this.cache.set('', sha, snapshot);
        return held(snapshot);
      }
    }
    return {
      writeTo: async (dest, signal) => {
        try {
          await this.extractFile(file, dest, signal);
        } finally {
          await rm(file, { force: true });
        }
      },
    };
  }

  /**
   * `git archive` of the commit into a file (no pipe: git can never block on a reader that stopped — the
   * symlink hang of issue 12).
   */
  private async archive(sha: string, file: string): Promise<void> {
    const timeoutMs = this.opts.timeoutMs ?? 120_000;
    let r: Awaited<ReturnType<Git['run']>>;
    try {
      r = await this.git.run(this.repoDir, ['archive', '--format=tar', `--output=${file}`, sha], {
        timeoutMs,
      });
    } catch (e) {
      throw new HelmgateError('source_unavailable', `git archive ${sha} failed`, { cause: e });
    }
    if (r.timedOut)
      throw new HelmgateError(
        'deadline_exceeded',
        `git archive ${sha} passed its deadline of ${timeoutMs} ms`,
      );
    if (r.code !== 0)
      throw new HelmgateError(
        'source_unavailable',
        `git archive ${sha} failed: ${r.stderr.trim().slice(0, 200)}`,
      );
  }

  /** Extracted through `extractSafely`, which refuses a tree that is not closed, naming the path. */
  private extractFile(file: string, dest: string, signal?: AbortSignal): Promise<void> {
    return extractSafely(createReadStream(file), dest, {
      maxBytes: this.opts.maxBytes ?? 256 * 1024 * 1024,
      ...(signal ? { signal } : {}),
    });
  }
}
