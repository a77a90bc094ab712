import type { RepoSource } from '../../lib/github/repo-source';

/** An in-memory repository: files per commit SHA. For intake tests that only read one file. */
export class MemoryRepoSource implements RepoSource {
  readonly reads: Array<{ repository: string; sha: string; path: string }> = [];
  constructor(private readonly commits: Record<string, Record<string, string>> = {}) {}

  setCommit(sha: string, files: Record<string, string>): void {
    this.commits[sha] = files;
  }

  async readFile(repository: string, sha: string, path: string): Promise<string | undefined> {
    this.reads.push({ repository, sha, path });
    return this.commits[sha]?.[path];
  }

  async extractTree(): Promise<void> {
    throw new Error('MemoryRepoSource has no trees');
  }
}
