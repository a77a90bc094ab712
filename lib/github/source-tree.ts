import { lstat, mkdir, readdir, readlink, realpath, rm, stat, symlink } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { x as extractTar } from 'tar';
import { HelmgateError } from '../errors';

/**
 * The repository tree at a commit is hostile input (issue 12): every byte, link and mode of it was
 * chosen by whoever could push. A tree is *closed* when every entry is a regular file, a directory or a
 * symbolic link whose REAL target (after every link on the way) is a regular file or directory inside
 * the tree, and no regular file has a hard link outside it. Extraction enforces that, and a final walk
 * checks it again on disk (defence in depth); every later read resolves real paths too.
 */

export class UnsafeSourceError extends HelmgateError {
  override name = 'UnsafeSourceError';
  /** the offending path, relative to the tree */
  readonly path: string;
  constructor(rel: string, why: string) {
    super('unsafe_source', `refused repository tree: ${rel} ${why}`);
    this.path = rel;
  }
}

const FILE_TYPES = new Set(['File', 'OldFile', 'ContiguousFile']);

/** Prints a pusher-chosen name safely: control characters escaped, length bounded. */
export function shownPath(p: string): string {
  const s = JSON.stringify(p).slice(1, -1);
  return s.length > 200 ? `${s.slice(0, 199)}…` : s;
}

function isInside(root: string, p: string): boolean {
  return p === root || p.startsWith(root + path.sep);
}

/**
 * Extracts a tar stream into `dest` and verifies the result: absolute paths, `..`, device files, FIFOs,
 * unknown entry types, links whose real target leaves the tree, and archives that unpack beyond
 * `maxBytes` are refused with an `UnsafeSourceError` naming the entry (the tree is then removed).
 * Symbolic links are created only after every file is written, so no entry is ever written through a
 * link; file modes are reduced to 0600/0700 (no setuid, nothing unreadable to us).
 */
export async function extractSafely(
  input: NodeJS.ReadableStream,
  dest: string,
  opts: { stripTopDir?: boolean; maxBytes: number; signal?: AbortSignal },
): Promise<void> {
  await mkdir(dest, { recursive: true, mode: 0o700 });
  const root = await realpath(dest);
  let total = 0;
  let violation: UnsafeSourceError | undefined;
  const links: Array<{ rel: string; target: string }> = [];
  /** regular files accepted so far (absolute, textual): the only targets a hard link may have */
  const files = new Set<string>();
  const refuse = (rel: string, why: string) => {
    violation ??= new UnsafeSourceError(shownPath(rel), why);
    return false;
  };
  const strip = (p: string) => (opts.stripTopDir ? p.split('/').slice(1).join('/') : p);
  // (pipeline's own `signal` option loses data with node-tar's minipass streams: destroy the input instead)
  const abort = () =>
    (input as NodeJS.ReadableStream & { destroy?: (e?: Error) => void }).destroy?.(
      opts.signal?.reason instanceof Error ? opts.signal.reason : new Error('aborted'),
    );
  if (opts.signal?.aborted) abort();
  opts.signal?.addEventListener('abort', abort, { once: true });
  try {
    await pipeline(
      input,
      extractTar({
        cwd: root,
        strict: true,
        strip: opts.stripTopDir ? 1 : 0,
        preservePaths: false,
        preserveOwner: false,
        // directories tar makes on its own (a/ for a/b) are private too
        dmode: 0o700,
        fmode: 0o600,
        filter: (p, entry) => {
          if (violation) return false;
          const e = entry as { type?: string; linkpath?: string; size?: number; mode?: number };
          const rel = strip(p);
          if (rel === '' && e.type === 'Directory') return false; // the stripped top directory
          if (path.isAbsolute(p) || p.split(/[\\/]/).includes('..') || rel.includes('\0'))
            return refuse(rel || p, 'has an unsafe path');
          const type = e.type ?? 'File';
          // a path under a name the archive already made a file (or hard link): tar would replace the file
          // with a directory, and a hard link to that name would then point at its own parent (a hang)
          const abs = path.resolve(root, rel);
          for (let up = path.dirname(abs); up !== root && isInside(root, up); up = path.dirname(up))
            if (files.has(up)) return refuse(rel, 'is inside a name the archive made a file');
          if (type === 'SymbolicLink') {
            // created after every file, then checked against the real tree
            links.push({ rel, target: e.linkpath ?? '' });
            return false;
          }
          if (type === 'Link') {
            // no symbolic link exists yet, so a textual check of the target is exact here; and only a
            // regular file written earlier in this archive may be linked (node-tar 7.5 hangs forever on a
            // hard link to the entry's own parent directory)
            const target = path.resolve(root, strip(e.linkpath ?? ''));
            if (!e.linkpath || !isInside(root, target) || target === root)
              return refuse(rel, 'is a hard link that points outside the tree');
            if (!files.has(target) || target === path.resolve(root, rel))
              return refuse(rel, 'is a hard link to something that is not a file of the archive');
          } else if (type === 'CharacterDevice' || type === 'BlockDevice')
            return refuse(rel, 'is a device file');
          else if (type === 'FIFO') return refuse(rel, 'is a FIFO');
          else if (type !== 'Directory' && !FILE_TYPES.has(type))
            return refuse(rel, `has an unsupported entry type (${type})`);
          total += e.size ?? 0;
          if (total > opts.maxBytes)
            return refuse(rel, `makes the archive unpack beyond ${opts.maxBytes} bytes`);
          // no setuid/setgid/sticky bits, always readable by us, never writable by others
          if (FILE_TYPES.has(type)) files.add(path.resolve(root, rel));
          if (type === 'Directory') e.mode = 0o700;
          else if (typeof e.mode === 'number') e.mode = e.mode & 0o100 ? 0o700 : 0o600;
          return true;
        },
      }),
    );
    if (!violation) await createLinks(root, links, (rel, why) => refuse(rel, why));
    if (!violation) await verifyTree(root);
  } catch (e) {
    opts.signal?.removeEventListener('abort', abort);
    await removeTree(root);
    if (violation) throw violation;
    if (e instanceof UnsafeSourceError) throw e;
    if (opts.signal?.aborted) throw opts.signal.reason ?? e;
    // an entry the archive itself makes impossible (a file under a file, a name used twice): the tree is
    // refused, naming the entry; anything else (the download broke off) may be worth another try
    const err = e as { code?: unknown; path?: unknown; tarCode?: unknown };
    if (
      typeof err?.code === 'string' &&
      typeof err.path === 'string' &&
      isInside(root, path.resolve(err.path))
    )
      throw new UnsafeSourceError(
        shownPath(path.relative(root, path.resolve(err.path)) || '.'),
        `cannot be written as the archive says (${err.code})`,
      );
    throw new HelmgateError('source_unavailable', `extracting the repository archive failed: ${errText(e)}`, {
      cause: e,
    });
  }
  opts.signal?.removeEventListener('abort', abort);
  if (violation) {
    await removeTree(root);
    throw violation;
  }
}

/**
 * Removes a refused tree. node-tar may still be finishing writes of entries queued before the error, so
 * a removal can meet a directory that is not empty yet: retried, and never masking the refusal (the
 * run's work dir, which holds the tree, is removed in the end anyway).
 */
async function removeTree(root: string): Promise<void> {
  await rm(root, { recursive: true, force: true, maxRetries: 5, retryDelay: 20 }).catch(() => {});
}

function errText(e: unknown): string {
  const err = e as { code?: unknown; message?: unknown } | null;
  if (typeof err?.code === 'string') return err.code;
  return typeof err?.message === 'string' ? err.message.slice(0, 200) : String(e);
}

/**
 * Creates the archive's symbolic links in a tree that has none yet: the link's directory must be a real
 * directory of the tree (no link on the way), the link must not replace an entry, and its textual target
 * must stay inside. Whether the REAL target stays inside is checked by `verifyTree` once all exist.
 */
async function createLinks(
  root: string,
  links: ReadonlyArray<{ rel: string; target: string }>,
  refuse: (rel: string, why: string) => void,
): Promise<void> {
  for (const { rel, target } of links) {
    if (target === '' || target.includes('\0')) return refuse(rel, 'is a symbolic link with no target');
    const abs = path.resolve(root, rel);
    if (abs === root || !isInside(root, abs)) return refuse(rel, 'has an unsafe path');
    const textual = path.resolve(path.dirname(abs), target);
    if (path.isAbsolute(target) || !isInside(root, textual))
      return refuse(rel, `is a symbolic link to ${shownPath(target)}, outside the tree`);
    const dir = path.dirname(abs);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    if ((await realpath(dir)) !== dir) return refuse(rel, 'is inside a symbolic link');
    try {
      await symlink(target, abs);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') return refuse(rel, 'appears twice in the archive');
      throw e;
    }
  }
}

/**
 * Walks `dir` (default: the whole tree) without following links and checks every entry: regular files
 * (no hard link outside the tree), directories, and symbolic links whose real target is a regular file or
 * directory inside `root`. Anything else — a FIFO, socket or device, a dangling link, a link out — throws
 * `UnsafeSourceError` naming the entry.
 */
export async function verifyTree(rootDir: string, dir?: string): Promise<void> {
  const root = await realpath(rootDir);
  const start = dir === undefined ? root : path.resolve(root, dir);
  const links = new Map<string, { nlink: number; seen: number; rel: string }>();
  let dirLinks = 0;
  const check = async (abs: string): Promise<void> => {
    const rel = path.relative(root, abs) || '.';
    const st = await lstat(abs);
    if (st.isSymbolicLink()) {
      const real = await resolveLink(root, abs, rel);
      const target = await stat(real);
      if (!target.isFile() && !target.isDirectory())
        throw new UnsafeSourceError(shownPath(rel), 'is a symbolic link to something that is not a file');
      if (target.isDirectory()) dirLinks++;
      return;
    }
    if (st.isDirectory()) {
      for (const name of await readdir(abs)) await check(path.join(abs, name));
      return;
    }
    if (!st.isFile()) throw new UnsafeSourceError(shownPath(rel), `is a ${kindOf(st)}, not a file`);
    if (st.nlink > 1) {
      const key = `${st.dev}:${st.ino}`;
      const seen = links.get(key);
      if (seen) seen.seen++;
      else links.set(key, { nlink: st.nlink, seen: 1, rel });
    }
  };
  await check(start);
  // helm follows links inside a chart: a directory reachable from itself through links never ends
  if (dirLinks > 0) await noLinkLoops(root, start);
  // a hard link whose other names are not all in the tree shares its content with a file outside it
  if (dir === undefined)
    for (const l of links.values())
      if (l.seen < l.nlink)
        throw new UnsafeSourceError(shownPath(l.rel), 'is a hard link to a file outside the tree');
}

/**
 * Walks the tree the way a program that follows links would, and refuses a directory reachable from
 * itself (`d/loop -> .`, or two directories linking to each other) and a tree whose links open an
 * unreasonable number of paths (links fanning out to the same directories).
 */
async function noLinkLoops(root: string, start: string): Promise<void> {
  let budget = 20_000;
  const walk = async (real: string, rel: string, stack: Set<string>): Promise<void> => {
    if (--budget < 0)
      throw new UnsafeSourceError(shownPath(rel), 'opens too many paths through symbolic links');
    stack.add(real);
    for (const entry of await readdir(real, { withFileTypes: true })) {
      const childRel = rel === '.' ? entry.name : `${rel}/${entry.name}`;
      const child = path.join(real, entry.name);
      let dir: string | undefined;
      if (entry.isDirectory()) dir = child;
      else if (entry.isSymbolicLink() && (await stat(child)).isDirectory()) dir = await realpath(child);
      if (dir === undefined) continue;
      if (stack.has(dir))
        throw new UnsafeSourceError(
          shownPath(childRel),
          'is a symbolic link loop (it leads to a directory that contains it)',
        );
      await walk(dir, childRel, stack);
    }
    stack.delete(real);
  };
  await walk(start, path.relative(root, start) || '.', new Set());
}

async function resolveLink(root: string, abs: string, rel: string): Promise<string> {
  let real: string;
  try {
    real = await realpath(abs);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const target = await readlink(abs).catch(() => '?');
    throw new UnsafeSourceError(
      shownPath(rel),
      code === 'ELOOP'
        ? 'is a symbolic link loop'
        : `is a symbolic link to ${shownPath(target)}, which does not exist in the tree`,
    );
  }
  if (!isInside(root, real)) {
    const target = await readlink(abs).catch(() => '?');
    throw new UnsafeSourceError(
      shownPath(rel),
      `is a symbolic link to ${shownPath(target)}, outside the tree`,
    );
  }
  return real;
}

function kindOf(st: {
  isFIFO(): boolean;
  isSocket(): boolean;
  isCharacterDevice(): boolean;
  isBlockDevice(): boolean;
}): string {
  if (st.isFIFO()) return 'FIFO';
  if (st.isSocket()) return 'socket';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'device file';
  return 'special file';
}

/**
 * The real path of `rel` inside the tree at `root`, for reading: links are followed and the result must
 * stay inside. `undefined` when nothing is there. Throws `UnsafeSourceError` for a path that leaves the
 * tree (by text or by link).
 */
export async function resolveInTree(root: string, rel: string): Promise<string | undefined> {
  const realRoot = await realpath(root);
  const abs = path.resolve(realRoot, rel);
  if (!isInside(realRoot, abs)) throw new UnsafeSourceError(shownPath(rel), 'leaves the repository');
  let real: string;
  try {
    real = await realpath(abs);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    if (code === 'ELOOP') throw new UnsafeSourceError(shownPath(rel), 'is a symbolic link loop');
    throw e;
  }
  if (!isInside(realRoot, real))
    throw new UnsafeSourceError(shownPath(rel), 'resolves outside the repository (a symbolic link)');
  return real;
}
