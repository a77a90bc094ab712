import { existsSync, mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { c as createTar } from 'tar';
import { GithubRepoSource } from '../../../lib/github/github-source';
import { createGithubClient } from '../../../lib/github/octokit';
import { GithubApiStandIn } from '../../stand-ins/github-api';

/**
 * Issue 12 through the GitHub tarball path: the symlink chain that once passed (`d/s -> .`,
 * `d/x -> s/s/…/../../etc/hostname`) is refused, naming `d/x`, and nothing of the tree is left.
 */

const REPO = 'octocat/Hello-World';
const SHA = '7fd1a60b01f91b314f59955a4e4d4e80d8edf11d';
const tmp = path.resolve(__dirname, '../../../.tmp');

test('a tarball whose symlink chain leads to the host is refused, naming the link', async () => {
  const github = await new GithubApiStandIn().start();
  try {
    mkdirSync(tmp, { recursive: true });
    const work = mkdtempSync(path.join(tmp, 'gh-chain-'));
    const top = path.join(work, 'Hello-World-7fd1a60');
    mkdirSync(path.join(top, 'd'), { recursive: true });
    writeFileSync(path.join(top, 'deploy.yaml'), 'x: 1\n');
    symlinkSync('.', path.join(top, 'd/s'));
    symlinkSync(`${'s/'.repeat(12)}${'../'.repeat(12)}etc/hostname`, path.join(top, 'd/x'));
    const chunks: Buffer[] = [];
    for await (const c of createTar({ gzip: true, cwd: work, portable: true }, ['Hello-World-7fd1a60']))
      chunks.push(Buffer.from(c as Buffer));
    github.setTarball(REPO, SHA, Buffer.concat(chunks));
    const dest = path.join(work, 'out');
    const err = await new GithubRepoSource(createGithubClient({ baseUrl: github.url, retryAfterBaseMs: 1 }))
      .extractTree(REPO, SHA, dest)
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect((err as { code?: string }).code).toBe('unsafe_source');
    expect((err as Error).message).toMatch(
      /^refused repository tree: d\/x is a symbolic link to .*outside the tree$/,
    );
    expect(existsSync(dest)).toBe(false);
  } finally {
    await github.close();
  }
});
