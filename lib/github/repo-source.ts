import type { SourceReader } from '../deploy/plan';

/**
 * The tree at a commit, fetched once: readable for planning, written to disk only when something needs
 * it there (helm). See RepoSource.fetchTree.
 */
export interface FetchedTree {
  /**
   * The tree in memory (tree-snapshot.ts), when it is one that is held there: plan from it without
   * writing anything. Absent: call `writeTo` first and read the directory.
   */
  reader?: SourceReader;
  /**
   * Writes the tree into `dest` (created; it must not exist or be empty), refusing a tree that is not
   * closed (`UnsafeSourceError`, see source-tree.ts), as `extractTree` does.
   */
  writeTo(dest: string, signal?: AbortSignal): Promise<void>;
}

/**
 * Port: reads the repository at an exact commit. In AWS through the GitHub API (Octokit); locally
 * through git on the checkout.
 */
export interface RepoSource {
  /** The file's text at `sha`, or undefined when it does not exist there. */
  readFile(repository: string, sha: string, path: string): Promise<string | undefined>;
  /**
   * Writes the whole tree at `sha` into the empty directory `dest` (the runner's source), refusing a tree
   * that is not closed (`UnsafeSourceError`, see source-tree.ts). Stops when `signal` aborts.
   */
  extractTree(repository: string, sha: string, dest: string, signal?: AbortSignal): Promise<void>;
  /**
   * Fetches the tree at `sha` once, for the runner: planned from memory when it can be, written to disk
   * only when a release runs (a no-op redeploy writes nothing). `scratchDir` is a private directory for
   * temporary files. Optional: without it the runner extracts with `extractTree`.
   */
  fetchTree?(
    repository: string,
    sha: string,
    opts: { scratchDir: string; signal?: AbortSignal },
  ): Promise<FetchedTree>;
}
