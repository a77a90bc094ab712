import path from 'node:path';
import type { SourceReader } from '../../../lib/deploy/plan';

/** An in-memory repository tree at one commit: repository-relative path -> file text. */
export function memorySource(files: Record<string, string>): SourceReader & { reads: string[] } {
  const norm = (p: string) => path.posix.normalize(p).replace(/\/+$/, '');
  const reads: string[] = [];
  return {
    reads,
    async readFile(p) {
      reads.push(norm(p));
      return Object.hasOwn(files, norm(p)) ? files[norm(p)] : undefined;
    },
    async exists(p) {
      const n = norm(p);
      return Object.hasOwn(files, n) || Object.keys(files).some((f) => f.startsWith(`${n}/`));
    },
    async listFiles(dir) {
      const n = norm(dir);
      return Object.keys(files)
        .filter((f) => n === '.' || f.startsWith(`${n}/`))
        .sort();
    },
  };
}
