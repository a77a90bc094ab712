import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { Header } from 'tar';
import { HelmgateError } from '../../lib/errors';
import { extractSafely, verifyTree } from '../../lib/github/source-tree';
import { parseTreeSnapshot, snapshotReader, writeSnapshot } from '../../lib/github/tree-snapshot';
import { directorySourceReader } from '../../lib/runner/source-reader';
import { checkProperty, type PropertyOptions, type PropertyReport, tally } from './harness';

/**
 * Hostile source trees (issue 12): generated tar archives — symlinks and hard links with chained,
 * absolute and climbing targets, FIFOs and devices, setuid and unreadable modes, odd names — extracted
 * with `extractSafely` and then read through the runner's source reader. Never an escape: nothing is
 * written outside the tree, nothing outside it (a sentinel file beside the tree, the host's
 * /etc/hostname) is ever read back, a tree that is accepted is closed, and every refusal is our own
 * error, promptly. A tree the runner holds in memory instead (tree-snapshot.ts, issue 13) is one the
 * extractor accepts, reads the same, and is written to disk exactly as the extractor writes it.
 */

const BASE = path.resolve(__dirname, '../../.tmp/property-trees');
const SENTINEL = 'sentinel-outside-the-tree-3f9c1b7e';
const HOSTNAME = (() => {
  try {
    return readFileSync('/etc/hostname', 'utf8').trim();
  } catch {
    return '';
  }
})();
/** An extraction slower than this counts as a hang. */
const HANG_MS = 5000;

type EntryType = 'File' | 'Directory' | 'SymbolicLink' | 'Link' | 'FIFO' | 'CharacterDevice' | 'BlockDevice';
interface TarEntry {
  path: string;
  type: EntryType;
  body?: string;
  linkpath?: string;
  mode: number;
}

const segment = fc.oneof(
  {
    weight: 12,
    arbitrary: fc.constantFrom('a', 'b', 'd', 's', 'x', 'charts', 'values', 'ü', 'a b', 'n\nl', '-rf'),
  },
  { weight: 1, arbitrary: fc.constantFrom('..', '.') },
);
const relPath = fc.array(segment, { minLength: 1, maxLength: 4 }).map((s) => s.join('/'));
const linkTarget = fc.oneof(
  { weight: 3, arbitrary: relPath },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      '.',
      '..',
      '/',
      '/etc/hostname',
      '/proc/self/environ',
      '../outside/secret.txt',
      '../../outside/secret.txt',
      `${'s/'.repeat(8)}${'../'.repeat(8)}outside/secret.txt`,
      `${'s/'.repeat(10)}${'../'.repeat(10)}etc/hostname`,
      's/s/../../..',
    ),
  },
  // the sentinel's absolute path, filled in per case
  { weight: 1, arbitrary: fc.constant('@OUTSIDE@') },
);
const entry: fc.Arbitrary<TarEntry> = fc.record({
  path: relPath,
  type: fc.oneof(
    { weight: 8, arbitrary: fc.constantFrom<EntryType>('File', 'Directory') },
    { weight: 4, arbitrary: fc.constant<EntryType>('SymbolicLink') },
    { weight: 2, arbitrary: fc.constant<EntryType>('Link') },
    { weight: 1, arbitrary: fc.constantFrom<EntryType>('FIFO', 'CharacterDevice', 'BlockDevice') },
  ),
  body: fc.string({ maxLength: 20 }),
  linkpath: linkTarget,
  mode: fc.constantFrom(0o644, 0o755, 0o4755, 0o2755, 0o1777, 0o000, 0o777, 0o7777),
});

export const hostileTree = fc.record({
  stripTopDir: fc.boolean(),
  entries: fc.array(entry, { minLength: 1, maxLength: 8 }),
});

function tarOf(entries: readonly TarEntry[]): Buffer {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const body = Buffer.from(e.type === 'File' ? (e.body ?? '') : '');
    const linked = e.type === 'SymbolicLink' || e.type === 'Link';
    const h = new Header({
      path: e.path,
      type: e.type,
      size: body.length,
      mode: e.mode,
      mtime: new Date(0),
      ...(linked ? { linkpath: e.linkpath } : {}),
    });
    const hb = Buffer.alloc(512);
    h.encode(hb, 0);
    blocks.push(hb);
    if (body.length) {
      const padded = Buffer.alloc(Math.ceil(body.length / 512) * 512);
      body.copy(padded);
      blocks.push(padded);
    }
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

/** Every path under `dir` (links not followed), relative to it. */
function walk(dir: string, rel = ''): string[] {
  const out: string[] = [];
  for (const name of readdirSync(path.join(dir, rel))) {
    const r = rel ? `${rel}/${name}` : name;
    out.push(r);
    if (lstatSync(path.join(dir, r)).isDirectory()) out.push(...walk(dir, r));
  }
  return out;
}

async function checkTree(input: { stripTopDir: boolean; entries: TarEntry[] }, count: (k: string) => void) {
  const v: string[] = [];
  mkdirSync(BASE, { recursive: true });
  const parent = mkdtempSync(path.join(BASE, 'case-'));
  try {
    const outside = path.join(parent, 'outside');
    mkdirSync(outside);
    writeFileSync(path.join(outside, 'secret.txt'), SENTINEL);
    const dest = path.join(parent, 'tree');
    const entries = input.entries.map((e) => ({
      ...e,
      path: input.stripTopDir ? `top/${e.path}` : e.path,
      ...(e.linkpath === '@OUTSIDE@' ? { linkpath: path.join(outside, 'secret.txt') } : {}),
    }));
    let archive: Buffer;
    try {
      archive = tarOf(entries);
    } catch {
      count('unencodable');
      return v; // node-tar cannot encode it (a name too long): nothing to extract
    }
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      extractSafely(Readable.from(archive), dest, { stripTopDir: input.stripTopDir, maxBytes: 1e6 }).then(
        () => 'extracted' as const,
        (e: unknown) => e,
      ),
      new Promise<'hang'>((r) => {
        timer = setTimeout(() => r('hang'), HANG_MS);
      }),
    ]);
    clearTimeout(timer);
    if (outcome === 'hang') return [`extraction did not finish within ${HANG_MS} ms`];
    if (outcome !== 'extracted') {
      if (!(outcome instanceof HelmgateError))
        v.push(`threw ${outcome instanceof Error ? `${outcome.name}: ${outcome.message}` : String(outcome)}`);
      count(outcome instanceof HelmgateError ? outcome.code : 'other error');
    } else count('extracted');

    // nothing written beside the tree, the sentinel untouched
    const beside = readdirSync(parent).filter((n) => n !== 'tree' && n !== 'outside');
    if (beside.length) v.push(`wrote outside the tree: ${beside.join(', ')}`);
    const outsideNow = readdirSync(outside);
    if (outsideNow.length !== 1 || readFileSync(path.join(outside, 'secret.txt'), 'utf8') !== SENTINEL)
      v.push(`changed the directory beside the tree: ${outsideNow.join(', ')}`);
    // a tree held in memory: extraction accepts it, and it is the same tree through both doors
    const snapshot = parseTreeSnapshot(archive, { stripTopDir: input.stripTopDir, maxBytes: 1e6 });
    if (snapshot) {
      count('held in memory');
      if (outcome !== 'extracted') v.push('held in memory a tree that extraction refuses');
      else {
        const written = path.join(parent, 'written');
        await writeSnapshot(snapshot, written);
        const shape = (dir: string) =>
          walk(dir)
            .sort()
            .map((rel) => {
              const st = lstatSync(path.join(dir, rel));
              const body = st.isFile() ? readFileSync(path.join(dir, rel)).toString('base64') : '';
              return `${rel} ${(st.mode & 0o170777).toString(8)} ${body}`;
            });
        if (JSON.stringify(shape(written)) !== JSON.stringify(shape(dest)))
          v.push('a tree held in memory is written differently from its extraction');
        rmSync(written, { recursive: true, force: true });
        const fromDisk = directorySourceReader(dest);
        const fromMemory = snapshotReader(snapshot);
        const answer = (p: Promise<unknown>) =>
          p.then(
            (x) => JSON.stringify(x),
            (e: unknown) => `error ${e instanceof HelmgateError ? e.code : String(e)}`,
          );
        for (const rel of new Set(['.', ...walk(dest), ...input.entries.map((e) => e.path)]))
          for (const op of ['readFile', 'exists', 'listFiles'] as const) {
            // listing a file is nothing the planner asks (it lists chart directories): the directory
            // reader fails with the system's ENOTDIR there, the snapshot lists nothing
            if (op === 'listFiles' && lstatSync(path.join(dest, rel), { throwIfNoEntry: false })?.isFile())
              continue;
            const [a, b] = await Promise.all([answer(fromDisk[op](rel)), answer(fromMemory[op](rel))]);
            if (a !== b) v.push(`${op}(${JSON.stringify(rel)}): ${a} from disk, ${b} from memory`);
          }
      }
    }
    if (outcome !== 'extracted') return v;

    // an accepted tree is closed, and no read through the runner's reader returns what is outside it
    try {
      await verifyTree(dest);
    } catch (e) {
      v.push(`an accepted tree fails verifyTree: ${(e as Error).message}`);
    }
    const reader = directorySourceReader(dest);
    const candidates = new Set([...walk(dest), ...input.entries.map((e) => e.path)]);
    for (const rel of candidates) {
      const st = lstatSync(path.join(dest, rel), { throwIfNoEntry: false });
      if (st && !st.isSymbolicLink() && (st.mode & 0o7000 || st.mode & 0o077))
        v.push(`${JSON.stringify(rel)} kept mode ${(st.mode & 0o7777).toString(8)}`);
      if (st && !st.isFile() && !st.isDirectory() && !st.isSymbolicLink())
        v.push(`${JSON.stringify(rel)} is a special file`);
      let text: string | undefined;
      try {
        text = await reader.readFile(rel);
      } catch (e) {
        if (!(e instanceof HelmgateError))
          v.push(`reading ${JSON.stringify(rel)} threw ${(e as Error).message}`);
        continue;
      }
      if (text?.includes(SENTINEL))
        v.push(`read the sentinel outside the tree through ${JSON.stringify(rel)}`);
      if (HOSTNAME && text?.trim() === HOSTNAME && !input.entries.some((e) => e.body?.trim() === HOSTNAME))
        v.push(`read the host's /etc/hostname through ${JSON.stringify(rel)}`);
    }
    return v;
  } finally {
    rmSync(parent, { recursive: true, force: true });
  }
}

export async function sourceTreeProperties(opts: PropertyOptions): Promise<PropertyReport[]> {
  const t = tally();
  const report = await checkProperty(
    'hostile source trees: generated links, hard links, devices, modes and names → never an escape',
    hostileTree,
    (input) => checkTree(input, (k) => t.add(k)),
    opts,
  );
  return [t.into(report)];
}
