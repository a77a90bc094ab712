import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { Parser } from 'tar';
import type { SourceReader } from '../deploy/plan';
import { shownPath, UnsafeSourceError, verifyTree } from './source-tree';

/**
 * A repository tree held in memory, so a run can plan (and find that nothing changed) without writing
 * the tree to disk and removing it again; the tree is written only when helm needs it (issue 13 item 10).
 *
 * Only the plainest trees are held: regular files and directories with canonical relative paths, each
 * named once, no links of either kind, no other entry types, at most `IN_MEMORY_MAX_BYTES` of content.
 * Anything else gives `undefined`, and the caller extracts the archive to disk with `extractSafely`,
 * which refuses what must be refused (naming the entry) and handles links. So the rules about what a
 * pushed tree may hold stay in one place, and a tree held here reads and writes the same on disk: with
 * no links there is no path resolution to agree on.
 */
export interface TreeSnapshot {
  /** repository-relative path → content; executable as the archive's mode says */
  readonly files: ReadonlyMap<string, { content: Buffer; executable: boolean }>;
  /** every directory, including the ones only implied by a file's path; not '' (the root) */
  readonly dirs: ReadonlySet<string>;
  readonly bytes: number;
}

/** Trees larger than this are extracted to disk as before (deployment repositories are far smaller). */
export const IN_MEMORY_MAX_BYTES = 16 * 1024 * 1024;

const FILE_TYPES = new Set(['File', 'OldFile', 'ContiguousFile']);

/** Larger files are not read into memory for planning (the same bound as the directory reader). */
const MAX_READ_BYTES = 16 * 1024 * 1024;

/** `a/b/c` with no empty, `.` or `..` segment, no NUL or backslash, not absolute. */
function canonical(p: string): boolean {
  if (p === '' || p.includes('\0') || p.includes('\\')) return false;
  return p.split('/').every((s) => s !== '' && s !== '.' && s !== '..');
}

const GZIP = Buffer.from([0x1f, 0x8b]);

/**
 * The plain tar inside `archive` (a tar, or a gzipped one), at most `max` bytes, or undefined. Gzip is
 * undone here with a bound on its output, so a small archive that inflates without end costs at most
 * `max` bytes; anything that would make node-tar decompress on its own (a gzip or zstd header inside)
 * or that does not start with a ustar header is left to the streaming extraction.
 */
function plainTar(archive: Buffer, max: number): Buffer | undefined {
  let tar = archive;
  if (archive.subarray(0, 2).equals(GZIP)) {
    try {
      tar = gunzipSync(archive, { maxOutputLength: max });
    } catch {
      return undefined;
    }
  }
  if (tar.length > max || tar.length < 512 || tar.subarray(0, 2).equals(GZIP)) return undefined;
  if (tar.subarray(257, 262).toString('latin1') !== 'ustar') return undefined;
  return tar;
}

/**
 * Reads a tar (or tar.gz) archive into a snapshot, or `undefined` when the tree is not one this module
 * holds (see TreeSnapshot): the caller then extracts it to disk. Never throws for what the archive holds;
 * a broken archive also gives `undefined` (extraction then reports it).
 */
export function parseTreeSnapshot(
  archive: Buffer,
  opts: { stripTopDir?: boolean; maxBytes?: number } = {},
): TreeSnapshot | undefined {
  const limit = Math.min(opts.maxBytes ?? IN_MEMORY_MAX_BYTES, IN_MEMORY_MAX_BYTES);
  // headers and padding: a tree of many small files makes a tar larger than its content
  const tar = plainTar(archive, 2 * limit + 1024 * 1024);
  if (!tar) return undefined;
  const files = new Map<string, { content: Buffer; executable: boolean }>();
  const dirs = new Set<string>();
  let bytes = 0;
  let unfit = false;
  const parser = new Parser({
    strict: true,
    // a plain tar only (plainTar): never a decompression node-tar would start by itself
    zstd: false,
    brotli: false,
    onReadEntry: (entry) => {
      if (unfit) {
        entry.resume();
        return;
      }
      const type = entry.type;
      let rel = entry.path;
      if (opts.stripTopDir) rel = rel.split('/').slice(1).join('/');
      if (type === 'Directory') rel = rel.replace(/\/$/, '');
      const stop = () => {
        unfit = true;
        entry.resume();
        parser.abort(new Error('not held in memory'));
      };
      if (type === 'Directory' && rel === '' && opts.stripTopDir) {
        entry.resume();
        return;
      }
      if (!canonical(rel) || files.has(rel) || dirs.has(rel)) return stop();
      // a name under a file, or a file where a directory is: extraction decides (and refuses)
      const parts = rel.split('/');
      for (let i = 1; i < parts.length; i++) if (files.has(parts.slice(0, i).join('/'))) return stop();
      if (type === 'Directory') {
        for (let i = 1; i <= parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
        entry.resume();
        return;
      }
      if (!FILE_TYPES.has(type)) return stop();
      bytes += entry.size ?? 0;
      if (bytes > limit) return stop();
      for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
      const chunks: Buffer[] = [];
      entry.on('data', (c: Buffer) => chunks.push(c));
      entry.on('end', () => {
        if (!unfit)
          files.set(rel, { content: Buffer.concat(chunks), executable: ((entry.mode ?? 0) & 0o100) !== 0 });
      });
    },
  });
  let failed = false;
  parser.on('error', () => {
    failed = true;
  });
  parser.on('abort', () => {
    failed = true;
  });
  try {
    // node-tar parses a whole buffer synchronously: no event-loop turn per entry
    parser.end(tar);
  } catch {
    return undefined;
  }
  if (unfit || failed) return undefined;
  // a file and a directory of the same name (in either order)
  for (const f of files.keys()) if (dirs.has(f)) return undefined;
  return { files, dirs, bytes };
}

/**
 * The in-tree path `rel` names (lexically normalized, as the directory reader resolves it before asking
 * the disk), or undefined for the root; UnsafeSourceError when it leaves the tree.
 */
function inTree(rel: string): string | undefined {
  const n = path.posix.normalize(rel).replace(/\/+$/, '');
  if (path.posix.isAbsolute(rel) || n === '..' || n.startsWith('../') || rel.includes('\0'))
    throw new UnsafeSourceError(shownPath(rel), 'leaves the repository');
  return n === '.' || n === '' ? undefined : n;
}

/** A SourceReader over a snapshot: the directory reader's answers, with no disk behind them. */
export function snapshotReader(s: TreeSnapshot): SourceReader {
  return {
    async readFile(rel: string) {
      const p = inTree(rel);
      const f = p === undefined ? undefined : s.files.get(p);
      if (!f) return undefined;
      if (f.content.length > MAX_READ_BYTES)
        throw new UnsafeSourceError(shownPath(rel), `is larger than ${MAX_READ_BYTES} bytes`);
      return f.content.toString('utf8');
    },
    async exists(rel: string) {
      const p = inTree(rel);
      return p === undefined || s.files.has(p) || s.dirs.has(p);
    },
    async listFiles(dir: string) {
      const p = inTree(dir);
      if (p !== undefined && !s.dirs.has(p)) return [];
      const prefix = p === undefined ? '' : `${p}/`;
      const out: string[] = [];
      for (const f of s.files.keys())
        if (f.startsWith(prefix)) out.push(path.posix.join(dir, f.slice(prefix.length)));
      return out.sort();
    },
  };
}

/**
 * Writes a snapshot into `dest` (created, 0700; it must not exist or be empty): directories 0700, files
 * 0600 or 0700 (executable), each created exclusively, so nothing is written through anything that was
 * there. The result is walked once more with `verifyTree`, as an extracted tree is.
 */
export async function writeSnapshot(s: TreeSnapshot, dest: string): Promise<void> {
  await mkdir(dest, { recursive: true, mode: 0o700 });
  const dirs = [...s.dirs].sort((a, b) => a.split('/').length - b.split('/').length || a.localeCompare(b));
  // parents before children: one depth at a time, each depth in parallel
  let depth = 0;
  let level: string[] = [];
  const flush = async () => {
    await Promise.all(level.map((d) => mkdir(path.join(dest, d), { mode: 0o700 })));
    level = [];
  };
  for (const d of dirs) {
    const n = d.split('/').length;
    if (n !== depth) {
      await flush();
      depth = n;
    }
    level.push(d);
  }
  await flush();
  const files = [...s.files];
  for (let i = 0; i < files.length; i += 32)
    await Promise.all(
      files
        .slice(i, i + 32)
        .map(([rel, f]) =>
          writeFile(path.join(dest, rel), f.content, { flag: 'wx', mode: f.executable ? 0o700 : 0o600 }),
        ),
    );
  await verifyTree(dest);
}

/**
 * The last few snapshots by commit, in one process (a warm Lambda container, the local stack): a commit
 * SHA names its tree (git hashes the tree into the commit), so the same commit fetched again — a
 * retry, a redeploy, the next environment of a promotion — is not downloaded or archived again. Only a
 * full 40-hex SHA is a key (an abbreviation can come to name another commit); snapshots are never
 * modified after parsing, so sharing one is safe.
 */
export class TreeSnapshotCache {
  private readonly entries = new Map<string, TreeSnapshot>();
  constructor(
    private readonly maxEntries = 4,
    private readonly maxBytes = 2 * IN_MEMORY_MAX_BYTES,
  ) {}

  private static key(repository: string, sha: string): string | undefined {
    return /^[0-9a-f]{40}$/.test(sha) ? `${repository}@${sha}` : undefined;
  }

  get(repository: string, sha: string): TreeSnapshot | undefined {
    const key = TreeSnapshotCache.key(repository, sha);
    const hit = key === undefined ? undefined : this.entries.get(key);
    if (hit && key !== undefined) {
      // most recently used last
      this.entries.delete(key);
      this.entries.set(key, hit);
    }
    return hit;
  }

  set(repository: string, sha: string, snapshot: TreeSnapshot): void {
    const key = TreeSnapshotCache.key(repository, sha);
    if (key === undefined || snapshot.bytes > this.maxBytes) return;
    this.entries.delete(key);
    this.entries.set(key, snapshot);
    let total = 0;
    for (const s of this.entries.values()) total += s.bytes;
    for (const [k, s] of this.entries) {
      if (this.entries.size <= this.maxEntries && total <= this.maxBytes) break;
      this.entries.delete(k);
      total -= s.bytes;
    }
  }
}
