import { mkdtemp, readdir, rm } from 'node:fs/promises';
import path from 'node:path';

/** The prefix of every directory a run makes under the work root; the sweep touches nothing else. */
const PREFIX = 'helmgate-';

/** Directories of runs alive in this process (several environments may run at once locally). */
const live = new Set<string>();

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes what earlier runs left under `root` (a run killed by Lambda's time limit, a crashed process):
 * directories of this process that no live run owns, and of processes that no longer exist. A warm
 * container's later invocations then never find an old kubeconfig or source tree (issue 12).
 */
export async function sweepWorkDirs(root: string): Promise<string[]> {
  const removed: string[] = [];
  let names: string[];
  try {
    names = await readdir(root);
  } catch {
    return removed;
  }
  for (const name of names) {
    const m = /^helmgate-(\d+)-/.exec(name);
    if (!m) continue;
    const dir = path.join(root, name);
    const pid = Number(m[1]);
    const stale = pid === process.pid ? !live.has(dir) : !isAlive(pid);
    if (!stale) continue;
    await rm(dir, { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}

/**
 * A private (0700) directory for one run under `root`, after sweeping stale ones. `remove` deletes it
 * with everything in it (source tree, kubeconfig, helm home); call it in `finally`.
 */
export async function openWorkDir(root: string): Promise<{ dir: string; remove(): Promise<void> }> {
  await sweepWorkDirs(root);
  const dir = await mkdtemp(path.join(root, `${PREFIX}${process.pid}-`));
  live.add(dir);
  return {
    dir,
    async remove() {
      try {
        await rm(dir, { recursive: true, force: true });
      } finally {
        live.delete(dir);
      }
    },
  };
}
