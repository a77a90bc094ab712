import { type BranchState, GithubBranchState, LocalBranchState } from '../../../lib/github/branch-state';
import { createGithubClient } from '../../../lib/github/octokit';
import { testGit } from '../../helpers/git';
import { makeGitRepo } from '../../helpers/git-repo';
import { GithubApiStandIn } from '../../stand-ins/github-api';

/**
 * Where a branch points and how two commits relate, from GitHub's refs and compare APIs (REST
 * stand-in) and from a real git checkout (git rev-parse, git merge-base --is-ancestor): the same
 * answers for the same history  a → b → c on main, and a → x on a side line.
 */

const REPO = 'org/charts';
let api: GithubApiStandIn;
let repo: ReturnType<typeof makeGitRepo>;
const shas: Record<string, string> = {};

beforeAll(async () => {
  repo = makeGitRepo({ 'a.txt': 'a' });
  shas.a = repo.first;
  shas.b = repo.commit({ 'b.txt': 'b' }, 'b');
  shas.c = repo.commit({ 'c.txt': 'c' }, 'c');
  repo.git('checkout', '-q', '-b', 'side', shas.a);
  shas.x = repo.commit({ 'x.txt': 'x' }, 'x');
  repo.git('checkout', '-q', 'main');
  api = await new GithubApiStandIn({ token: 't0k' }).start();
  api.addCommit(shas.a, []);
  api.addCommit(shas.b, [shas.a]);
  api.addCommit(shas.c, [shas.b]);
  api.addCommit(shas.x, [shas.a]);
  api.setHead(REPO, 'main', shas.c);
  api.setHead(REPO, 'side', shas.x);
});

afterAll(async () => {
  await api.close();
});

/** the client helmgate builds (retries, rate-limit waits), with millisecond back-offs */
const client = () => createGithubClient({ auth: 't0k', baseUrl: api.url, retryAfterBaseMs: 1 });

const sides: Array<[string, () => BranchState]> = [
  ['GitHub (refs + compare APIs)', () => new GithubBranchState(client())],
  ['the local checkout (git)', () => new LocalBranchState(repo.dir, testGit)],
];

describe.each(sides)('branch state from %s', (_name, make) => {
  test('the head of a branch, and undefined for a branch that does not exist', async () => {
    const s = make();
    expect(await s.head(REPO, 'main')).toBe(shas.c);
    expect(await s.head(REPO, 'side')).toBe(shas.x);
    expect(await s.head(REPO, 'nope')).toBeUndefined();
  });

  test('ancestry: forward is ahead, back is behind (a rollback), another line is diverged', async () => {
    const s = make();
    expect(await s.compare(REPO, shas.a as string, shas.c as string)).toBe('ahead');
    expect(await s.compare(REPO, shas.c as string, shas.b as string)).toBe('behind');
    expect(await s.compare(REPO, shas.c as string, shas.x as string)).toBe('diverged');
    expect(await s.compare(REPO, shas.b as string, shas.b as string)).toBe('identical');
    // a commit the repository does not know proves nothing: treated like a rollback
    expect(await s.compare(REPO, 'f'.repeat(40), shas.c as string)).toBe('diverged');
  });

  test('refuses a branch name or SHA that could be read as an option or a path', async () => {
    const s = make();
    await expect(s.head(REPO, '--upload-pack=x')).rejects.toMatchObject({ code: 'bad_request' });
    await expect(s.head(REPO, 'a/../../b')).rejects.toMatchObject({ code: 'bad_request' });
    await expect(s.compare(REPO, '--all', shas.c as string)).rejects.toMatchObject({ code: 'bad_request' });
  });
});

test('GitHub failing is source_unavailable (the push is answered 502, not recorded)', async () => {
  const s = new GithubBranchState(client());
  // the production client retries a 5xx twice: three failures in a row reach us
  api.failNext('ref', 500, 'down', 3);
  await expect(s.head(REPO, 'main')).rejects.toMatchObject({ code: 'source_unavailable' });
  api.failNext('compare', 500, 'down', 3);
  await expect(s.compare(REPO, shas.a as string, shas.c as string)).rejects.toMatchObject({
    code: 'source_unavailable',
  });
  // Octokit sends the ref as one path segment, as GitHub's own clients do
  expect(api.calls.some((c) => c.path === `/repos/${REPO}/git/ref/heads%2Fmain`)).toBe(true);
});
