import { mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import { x as extractTar } from 'tar';
import { describeError, HelmgateError } from '../errors';
import type { Git } from '../exec/git';
import type { RepoSource } from './repo-source';

const SHA = /^[0-9a-f]{7,40}$/;

/** The local stack's RepoSource: `git show` / `git archive` of the checkout, whatever its remote. */
export class LocalGitSource implements RepoSource {
  constructor(
    private readonly repoDir: string,
    private readonly git: Git,
  ) {}

  async readFile(_repository: string, sha: string, path: string): Promise<string | undefined> {
    if (!SHA.test(sha)) throw new HelmgateError('bad_request', `not a commit SHA: ${sha}`);
    let r: Awaited<ReturnType<Git['run']>>;
    try {
      r = await this.git.run(this.repoDir, ['show', `${sha}:${path}`]);
    } catch (e) {
      throw new HelmgateError('source_unavailable', `git show ${sha}:${path} failed`, { cause: e });
    }
    if (r.code === 0) return r.stdout;
    if (/does not exist|exists on disk, but not in|not in '/.test(r.stderr)) return undefined;
    if (/bad object|invalid object name|unknown revision|not a valid object/i.test(r.stderr))
      throw new HelmgateError('source_unavailable', `commit ${sha} is not in the local repository`);
    throw new HelmgateError('source_unavailable', `git show ${sha}:${path} failed`);
  }

  /**
   * `git archive` of the commit into a private temp file beside `dest`, then extracted (strict: a
   * malformed or hostile archive entry fails the extraction).
   */
  async extractTree(_repository: string, sha: string, dest: string): Promise<void> {
    if (!SHA.test(sha)) throw new HelmgateError('bad_request', `not a commit SHA: ${sha}`);
    const tmp = await mkdtemp(path.join(path.dirname(dest), '.git-archive-'));
    try {
      const file = path.join(tmp, 'tree.tar');
      let r: Awaited<ReturnType<Git['run']>>;
      try {
        r = await this.git.run(this.repoDir, ['archive', '--format=tar', `--output=${file}`, sha]);
      } catch (e) {
        throw new HelmgateError('source_unavailable', `git archive ${sha} failed`, { cause: e });
      }
      if (r.code !== 0)
        throw new HelmgateError(
          'source_unavailable',
          `git archive ${sha} failed: ${r.stderr.trim().slice(0, 200)}`,
        );
      try {
        await extractTar({ file, cwd: dest, strict: true });
      } catch (e) {
        throw new HelmgateError('source_unavailable', `extracting ${sha} failed: ${describeError(e)}`);
      }
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  }
}
