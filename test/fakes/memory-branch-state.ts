import { HelmgateError } from '../../lib/errors';
import type { Ancestry, BranchState } from '../../lib/github/branch-state';

/**
 * BranchState in memory: branch heads you set, a commit graph you add to. `fallbackHead` answers for
 * branches nobody set (default: the branch does not exist). Can be told to fail.
 */
export class MemoryBranchState implements BranchState {
  readonly heads = new Map<string, string>();
  readonly parents = new Map<string, string[]>();
  readonly calls: string[] = [];
  failNext = 0;

  constructor(private readonly fallbackHead?: (repository: string, branch: string) => string | undefined) {}

  setHead(repository: string, branch: string, sha: string): this {
    this.heads.set(`${repository}:${branch}`, sha);
    return this;
  }

  addCommit(sha: string, parents: string[] = []): this {
    this.parents.set(sha, parents);
    return this;
  }

  private maybeFail(): void {
    if (this.failNext > 0) {
      this.failNext--;
      throw new HelmgateError('source_unavailable', 'branch state stand-in failure');
    }
  }

  async head(repository: string, branch: string): Promise<string | undefined> {
    this.calls.push(`head ${repository} ${branch}`);
    this.maybeFail();
    return this.heads.get(`${repository}:${branch}`) ?? this.fallbackHead?.(repository, branch);
  }

  async compare(repository: string, base: string, head: string): Promise<Ancestry> {
    this.calls.push(`compare ${repository} ${base} ${head}`);
    this.maybeFail();
    if (base === head) return 'identical';
    if (!this.parents.has(base) || !this.parents.has(head)) return 'diverged';
    if (this.ancestors(head).has(base)) return 'ahead';
    if (this.ancestors(base).has(head)) return 'behind';
    return 'diverged';
  }

  private ancestors(sha: string): Set<string> {
    const seen = new Set<string>();
    const todo = [sha];
    while (todo.length > 0) {
      const c = todo.pop() as string;
      if (seen.has(c)) continue;
      seen.add(c);
      todo.push(...(this.parents.get(c) ?? []));
    }
    return seen;
  }
}
