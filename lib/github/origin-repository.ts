import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** `owner/name` of a checkout's `origin` remote (SSH or HTTPS form), else `local/helmgate`. */
export async function originRepository(repoDir: string): Promise<string> {
  try {
    const { stdout } = await run('git', ['-C', repoDir, 'remote', 'get-url', 'origin']);
    const m = /[:/]([\w.-]+)\/([\w.-]+?)(?:\.git)?\/?$/.exec(stdout.trim());
    if (m) return `${m[1]}/${m[2]}`;
  } catch {
    // no origin remote
  }
  return 'local/helmgate';
}
