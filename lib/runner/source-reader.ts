import { constants } from 'node:fs';
import { lstat, open, readdir } from 'node:fs/promises';
import path from 'node:path';
import type { SourceReader } from '../deploy/plan';
import { resolveInTree, shownPath, UnsafeSourceError } from '../github/source-tree';

/** Larger files are not read into memory for planning (values files, Chart.yaml are small). */
const MAX_READ_BYTES = 16 * 1024 * 1024;

/**
 * A SourceReader over an extracted tree. Every path is resolved to its REAL path (links followed) and
 * must stay inside the tree; only regular files are read (a FIFO would block the read forever, a device
 * would read the host). A path that breaks either rule throws `UnsafeSourceError` naming it.
 */
export function directorySourceReader(root: string): SourceReader {
  const abs = path.resolve(root);
  return {
    async readFile(rel: string) {
      const real = await resolveInTree(abs, rel);
      if (real === undefined) return undefined;
      const st = await lstat(real);
      if (st.isDirectory()) return undefined;
      if (!st.isFile()) throw new UnsafeSourceError(shownPath(rel), `is a ${kind(st)}, not a file`);
      if (st.size > MAX_READ_BYTES)
        throw new UnsafeSourceError(shownPath(rel), `is larger than ${MAX_READ_BYTES} bytes`);
      // O_NOFOLLOW on the real path: nothing swapped in between the check and the read is followed
      const fh = await open(real, constants.O_RDONLY | constants.O_NOFOLLOW);
      try {
        const again = await fh.stat();
        if (!again.isFile() || again.ino !== st.ino)
          throw new UnsafeSourceError(shownPath(rel), 'changed while it was read');
        return await fh.readFile('utf8');
      } finally {
        await fh.close();
      }
    },
    async exists(rel: string) {
      return (await resolveInTree(abs, rel)) !== undefined;
    },
    async listFiles(dir: string) {
      const out: string[] = [];
      const start = await resolveInTree(abs, dir);
      if (start === undefined) return out;
      const walk = async (d: string, rel: string) => {
        for (const entry of await readdir(d, { withFileTypes: true })) {
          const r = path.posix.join(rel, entry.name);
          // links are not followed when listing (a link to a directory could loop or lead out)
          if (entry.isDirectory()) await walk(path.join(d, entry.name), r);
          else if (entry.isFile()) out.push(r);
        }
      };
      await walk(start, dir);
      return out.sort();
    },
  } as SourceReader;
}

function kind(st: { isFIFO(): boolean; isSocket(): boolean }): string {
  if (st.isFIFO()) return 'FIFO';
  if (st.isSocket()) return 'socket';
  return 'special file';
}
