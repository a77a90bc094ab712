import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { finished } from 'node:stream/promises';
import { promisify } from 'node:util';
import { x as extractTar } from 'tar';
import { describeError, HelmgateError } from '../errors';
import type { RepoSource } from './repo-source';

const run = promisify(execFile);
const SHA = /^[0-9a-f]{7,40}$/;

/** The local stack's RepoSource: `git show` / `git archive` of the checkout, whatever its remote. */
export class LocalGitSource implements RepoSource {
  constructor(private readonly repoDir: string) {}

  async readFile(_repository: string, sha: string, path: string): Promise<string | undefined> {
    if (!SHA.test(sha)) throw new HelmgateError('bad_request', `not a commit SHA: ${sha}`);
    try {
      const { stdout } = await run('git', ['-C', this.repoDir, 'show', `${sha}:${path}`], {
        maxBuffer: 16 * 1024 * 1024,
        env: gitEnv(),
      });
      return stdout;
    } catch (e) {
      const stderr = String((e as { stderr?: string }).stderr ?? '');
      if (/does not exist|exists on disk, but not in|not in '/.test(stderr)) return undefined;
      if (/bad object|invalid object name|unknown revision|not a valid object/i.test(stderr))
        throw new HelmgateError('source_unavailable', `commit ${sha} is not in the local repository`, {
          cause: e,
        });
      throw new HelmgateError('source_unavailable', `git show ${sha}:${path} failed`, { cause: e });
    }
  }

  async extractTree(_repository: string, sha: string, dest: string): Promise<void> {
    if (!SHA.test(sha)) throw new HelmgateError('bad_request', `not a commit SHA: ${sha}`);
    const child = spawn('git', ['-C', this.repoDir, 'archive', '--format=tar', sha], {
      env: gitEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const sink = extractTar({ cwd: dest, strict: true });
    child.stdout.pipe(sink);
    let extractError: unknown;
    const [[code]] = await Promise.all([
      once(child, 'close'),
      finished(sink).catch((e: unknown) => {
        extractError = e;
      }),
    ]);
    if (extractError)
      throw new HelmgateError(
        'source_unavailable',
        `extracting ${sha} failed: ${describeError(extractError)}`,
      );
    if (code !== 0)
      throw new HelmgateError(
        'source_unavailable',
        `git archive ${sha} failed: ${stderr.trim().slice(0, 200)}`,
      );
  }
}

function gitEnv(): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/tmp',
    GIT_TERMINAL_PROMPT: '0',
  };
}
