import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import { promisify } from 'node:util';
import { HelmgateError } from '../errors';
import type { RepoSource } from './repo-source';
import { extractSafely, UnsafeSourceError } from './source-tree';

const run = promisify(execFile);
const SHA = /^[0-9a-f]{7,40}$/;

/** The local stack's RepoSource: `git show` / `git archive` of the checkout, whatever its remote. */
export interface LocalGitSourceOptions {
  /** `git archive` and its extraction together; default 120 s */
  timeoutMs?: number;
  /** largest tree accepted, bytes; default 256 MiB */
  maxBytes?: number;
}

export class LocalGitSource implements RepoSource {
  constructor(
    private readonly repoDir: string,
    private readonly opts: LocalGitSourceOptions = {},
  ) {}

  async readFile(_repository: string, sha: string, path: string): Promise<string | undefined> {
    if (!SHA.test(sha)) throw new HelmgateError('bad_request', `not a commit SHA: ${sha}`);
    try {
      const { stdout } = await run('git', ['-C', this.repoDir, 'show', `${sha}:${path}`], {
        maxBuffer: 16 * 1024 * 1024,
        env: gitEnv(),
        timeout: this.opts.timeoutMs ?? 120_000,
        killSignal: 'SIGKILL',
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

  /**
   * `git archive` of the commit, streamed through `extractSafely`. When the extraction refuses an entry
   * (or fails, or the deadline passes) git is killed: otherwise it blocks on a full pipe forever and the
   * run never ends (issue 12).
   */
  async extractTree(_repository: string, sha: string, dest: string, signal?: AbortSignal): Promise<void> {
    if (!SHA.test(sha)) throw new HelmgateError('bad_request', `not a commit SHA: ${sha}`);
    const timeoutMs = this.opts.timeoutMs ?? 120_000;
    const deadline = AbortSignal.timeout(Math.max(0, timeoutMs));
    const stop = signal ? AbortSignal.any([signal, deadline]) : deadline;
    const child = spawn('git', ['-C', this.repoDir, 'archive', '--format=tar', sha], {
      env: gitEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const closed = once(child, 'close').catch(() => [null]);
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      if (stderr.length < 4096) stderr += d.toString();
    });
    const kill = () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    };
    stop.addEventListener('abort', kill, { once: true });
    // piped at once: node discards the unread stdout of a child that has exited (child_process
    // flushStdio), so a small archive would be lost while extractSafely prepares the directory
    const archive = new PassThrough();
    child.stdout.pipe(archive);
    try {
      await extractSafely(archive, dest, {
        maxBytes: this.opts.maxBytes ?? 256 * 1024 * 1024,
        signal: stop,
      });
    } catch (e) {
      kill();
      child.stdout.unpipe(archive);
      child.stdout.destroy();
      archive.destroy();
      await closed;
      if (deadline.aborted && !(e instanceof UnsafeSourceError))
        throw new HelmgateError(
          'deadline_exceeded',
          `git archive ${sha} passed its deadline of ${timeoutMs} ms`,
          {
            cause: e,
          },
        );
      throw e;
    } finally {
      stop.removeEventListener('abort', kill);
    }
    const [code] = (await closed) as [number | null];
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
