import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { SourceReader } from '../deploy/plan';
import { HelmgateError } from '../errors';

/** A SourceReader over an extracted tree; paths may not leave it. */
export function directorySourceReader(root: string): SourceReader {
  const abs = path.resolve(root);
  const resolve = (rel: string) => {
    const p = path.resolve(abs, rel);
    if (p !== abs && !p.startsWith(abs + path.sep))
      throw new HelmgateError('invalid_deploy_config', `path ${rel} leaves the repository`);
    return p;
  };
  return {
    async readFile(rel: string) {
      try {
        return await readFile(resolve(rel), 'utf8');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'EISDIR')
          return undefined;
        throw e;
      }
    },
    async exists(rel: string) {
      try {
        await stat(resolve(rel));
        return true;
      } catch {
        return false;
      }
    },
    async listFiles(dir: string) {
      const out: string[] = [];
      const walk = async (d: string) => {
        for (const entry of await readdir(resolve(d), { withFileTypes: true })) {
          const rel = path.posix.join(d, entry.name);
          if (entry.isDirectory()) await walk(rel);
          else if (entry.isFile()) out.push(rel);
        }
      };
      await walk(dir);
      return out.sort();
    },
  } as SourceReader;
}
