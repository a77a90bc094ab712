import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** A throwaway git repository under the project's .tmp/, for the local stack and the runner. */
export function makeGitRepo(files: Record<string, string>, opts: { origin?: string } = {}) {
  const base = path.resolve(__dirname, '../../.tmp');
  mkdirSync(base, { recursive: true });
  const dir = mkdtempSync(path.join(base, 'repo-'));
  const git = (...args: string[]) =>
    execFileSync('git', ['-C', dir, ...args], {
      encoding: 'utf8',
      env: {
        ...process.env,
        GIT_AUTHOR_NAME: 'Test Pusher',
        GIT_AUTHOR_EMAIL: 't@example.org',
        GIT_COMMITTER_NAME: 'Test Pusher',
        GIT_COMMITTER_EMAIL: 't@example.org',
      },
    }).trim();
  git('init', '-q', '-b', 'main');
  if (opts.origin) git('remote', 'add', 'origin', opts.origin);
  const commit = (changes: Record<string, string>, message: string): string => {
    for (const [rel, content] of Object.entries(changes)) {
      const p = path.join(dir, rel);
      mkdirSync(path.dirname(p), { recursive: true });
      writeFileSync(p, content);
    }
    git('add', '-A');
    git('commit', '-q', '-m', message);
    return git('rev-parse', 'HEAD');
  };
  const first = commit(files, 'initial commit');
  return { dir, git, commit, head: () => git('rev-parse', 'HEAD'), first };
}
