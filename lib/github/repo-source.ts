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
}
