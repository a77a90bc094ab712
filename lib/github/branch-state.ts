import { HelmgateError } from '../errors';
import type { Git } from '../exec/git';
import { splitRepo } from './github-contents';

/**
 * How commit `head` relates to commit `base` (GitHub's compare statuses): `ahead` — base is an
 * ancestor of head (a fast-forward); `behind` — head is an ancestor of base (moving back: a rollback);
 * `diverged` — neither (a forced push onto another line); `identical` — the same commit.
 */
export type Ancestry = 'ahead' | 'behind' | 'diverged' | 'identical';

/**
 * Port: the repository as it is now, not as a webhook body says it was. A push is only acted on when
 * its commit is still the head of its branch, and a rollback is recognised by ancestry, not by time.
 */
export interface BranchState {
  /** The commit `branch` points at now; undefined when the branch does not exist. */
  head(repository: string, branch: string): Promise<string | undefined>;
  /**
   * How `head` relates to `base` (both full SHAs). A commit the repository does not know is
   * `diverged`: nothing proves it moves forward, so it is treated like a rollback.
   */
  compare(repository: string, base: string, head: string): Promise<Ancestry>;
}

const SHA = /^[0-9a-f]{40}$/;
const BRANCH = /^(?!-)(?!.*\.\.)[\w./-]{1,255}$/;

function checkSha(sha: string): void {
  if (!SHA.test(sha)) throw new HelmgateError('bad_request', `not a commit SHA: ${sha.slice(0, 50)}`);
}

function checkBranch(branch: string): void {
  if (!BRANCH.test(branch))
    throw new HelmgateError('bad_request', `not a branch name helmgate accepts: ${branch.slice(0, 80)}`);
}

/** An Octokit-like client: only `request` is used. */
export interface GithubRequester {
  request(route: string, params: Record<string, unknown>): Promise<{ data: unknown }>;
}

/**
 * GitHub: `GET /repos/{o}/{r}/git/ref/heads/{branch}` (404 = no such branch) and
 * `GET /repos/{o}/{r}/compare/{base}...{head}` (its `status`). Other failures are `source_unavailable`:
 * the push is answered 502 and not recorded, so GitHub may deliver it again.
 */
export class GithubBranchState implements BranchState {
  constructor(private readonly octokit: GithubRequester) {}

  async head(repository: string, branch: string): Promise<string | undefined> {
    checkBranch(branch);
    const [owner, repo] = splitRepo(repository);
    try {
      const res = await this.octokit.request('GET /repos/{owner}/{repo}/git/ref/{ref}', {
        owner,
        repo,
        ref: `heads/${branch}`,
      });
      const sha = (res.data as { object?: { sha?: unknown } }).object?.sha;
      if (typeof sha !== 'string' || !SHA.test(sha))
        throw new HelmgateError('source_unavailable', `GitHub answered no commit for ${branch}`);
      return sha;
    } catch (e) {
      if ((e as { status?: number }).status === 404) return undefined;
      if (e instanceof HelmgateError) throw e;
      throw new HelmgateError('source_unavailable', `GitHub did not say where ${branch} points`, {
        cause: e,
      });
    }
  }

  async compare(repository: string, base: string, head: string): Promise<Ancestry> {
    checkSha(base);
    checkSha(head);
    if (base === head) return 'identical';
    const [owner, repo] = splitRepo(repository);
    try {
      const res = await this.octokit.request('GET /repos/{owner}/{repo}/compare/{basehead}', {
        owner,
        repo,
        basehead: `${base}...${head}`,
        per_page: 1,
      });
      const status = (res.data as { status?: unknown }).status;
      if (status === 'ahead' || status === 'behind' || status === 'diverged' || status === 'identical')
        return status;
      throw new HelmgateError('source_unavailable', `GitHub's compare answered status ${String(status)}`);
    } catch (e) {
      if (e instanceof HelmgateError) throw e;
      if ((e as { status?: number }).status === 404) return 'diverged';
      throw new HelmgateError('source_unavailable', `GitHub could not compare ${base} with ${head}`, {
        cause: e,
      });
    }
  }
}

/**
 * The local stack: the checkout in `repoDir` is the repository. `git rev-parse --verify` for a branch
 * head, `git merge-base --is-ancestor` (exit 0 yes, 1 no) both ways for ancestry; through the git
 * port (the command runner: argv only, an allow-listed environment).
 */
export class LocalBranchState implements BranchState {
  constructor(
    private readonly repoDir: string,
    private readonly gitPort: Git,
  ) {}

  private git(args: string[]) {
    return this.gitPort.run(this.repoDir, args, { timeoutMs: 30_000 });
  }

  async head(_repository: string, branch: string): Promise<string | undefined> {
    checkBranch(branch);
    const r = await this.git(['rev-parse', '--verify', '--quiet', `refs/heads/${branch}^{commit}`]);
    if (r.code === 1 || (r.code !== 0 && r.stdout.trim() === '')) return undefined;
    const sha = r.stdout.trim();
    if (r.code !== 0 || !SHA.test(sha))
      throw new HelmgateError('source_unavailable', `git rev-parse of ${branch} failed`);
    return sha;
  }

  async compare(_repository: string, base: string, head: string): Promise<Ancestry> {
    checkSha(base);
    checkSha(head);
    if (base === head) return 'identical';
    const known = async (sha: string) => (await this.git(['cat-file', '-e', `${sha}^{commit}`])).code === 0;
    if (!(await known(base)) || !(await known(head))) return 'diverged';
    const isAncestor = async (a: string, b: string): Promise<boolean> => {
      const r = await this.git(['merge-base', '--is-ancestor', a, b]);
      if (r.code === 0) return true;
      if (r.code === 1) return false;
      throw new HelmgateError('source_unavailable', `git merge-base failed for ${a.slice(0, 12)}`);
    };
    if (await isAncestor(base, head)) return 'ahead';
    if (await isAncestor(head, base)) return 'behind';
    return 'diverged';
  }
}
