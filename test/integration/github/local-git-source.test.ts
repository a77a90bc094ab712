import { randomBytes } from 'node:crypto';
import { mkdtempSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { LocalGitSource } from '../../../lib/github/local-git-source';
import { testGit } from '../../helpers/git';
import { makeGitRepo } from '../../helpers/git-repo';

/** Issue 12: `git archive` of a hostile commit — the extraction fails promptly, naming the path. */

const tmp = path.resolve(__dirname, '../../../.tmp');

/** A repository whose chart holds a symlink to an absolute path outside it, and enough bytes after it to fill a pipe. */
function hostileRepo(link: string) {
  const repo = makeGitRepo({
    'deploy.yaml': 'apiVersion: helmgate/v1\n',
    'charts/web/Chart.yaml': 'apiVersion: v2\nname: web\nversion: 0.1.0\n',
    // sorted after the link in the archive: git blocks on a full pipe once tar stops reading
    'charts/web/zz-large.txt': randomBytes(512 * 1024).toString('base64'),
  });
  symlinkSync(link, path.join(repo.dir, 'charts/web/templates-link.yaml'));
  const sha = repo.commit({}, 'a symlink out of the repository');
  return { repo, sha };
}

test('a symlink to an absolute path outside the repository fails extraction promptly, naming the path', async () => {
  const { repo, sha } = hostileRepo('/etc/hostname');
  const dest = mkdtempSync(path.join(tmp, 'src-'));
  const started = Date.now();
  const err = await new LocalGitSource(repo.dir, testGit, { timeoutMs: 20_000 })
    .extractTree('local/x', sha, dest)
    .then(
      () => undefined,
      (e: unknown) => e,
    );
  expect(Date.now() - started).toBeLessThan(10_000);
  expect(err).toBeInstanceOf(Error);
  expect((err as Error).message).toMatch(/charts\/web\/templates-link\.yaml/);
  expect((err as { code?: string }).code).toBe('unsafe_source');
}, 30_000);

test('a relative symlink that climbs out of the repository is refused too', async () => {
  const { repo, sha } = hostileRepo('../../../../../../../../etc/hostname');
  const dest = mkdtempSync(path.join(tmp, 'src-'));
  await expect(new LocalGitSource(repo.dir, testGit).extractTree('local/x', sha, dest)).rejects.toThrow(
    /templates-link\.yaml/,
  );
}, 30_000);

test('git archive is stopped when it runs past its deadline', async () => {
  const repo = makeGitRepo({ 'a.txt': 'a' });
  const dest = mkdtempSync(path.join(tmp, 'src-'));
  // a deadline already spent: the child is killed and the error says so
  await expect(
    new LocalGitSource(repo.dir, testGit, { timeoutMs: 0 }).extractTree('local/x', repo.first, dest),
  ).rejects.toThrow(/deadline|timed out/);
}, 30_000);
