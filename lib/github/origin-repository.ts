import type { Git } from '../exec/git';

/** `owner/name` of a checkout's `origin` remote (SSH or HTTPS form), else `local/helmgate`. */
export async function originRepository(git: Git, repoDir: string): Promise<string> {
  try {
    const url = await git.output(repoDir, ['remote', 'get-url', 'origin']);
    const m = /[:/]([\w.-]+)\/([\w.-]+?)(?:\.git)?\/?$/.exec(url);
    if (m) return `${m[1]}/${m[2]}`;
  } catch {
    // no origin remote (or no git)
  }
  return 'local/helmgate';
}
