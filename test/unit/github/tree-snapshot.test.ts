import {
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { Header } from 'tar';
import { extractSafely, UnsafeSourceError } from '../../../lib/github/source-tree';
import {
  IN_MEMORY_MAX_BYTES,
  parseTreeSnapshot,
  snapshotReader,
  type TreeSnapshot,
  TreeSnapshotCache,
  writeSnapshot,
} from '../../../lib/github/tree-snapshot';
import { directorySourceReader } from '../../../lib/runner/source-reader';

const base = path.resolve(__dirname, '../../../.tmp');
mkdirSync(base, { recursive: true });

type Entry = {
  path: string;
  type?: 'File' | 'SymbolicLink' | 'Link' | 'Directory' | 'FIFO' | 'CharacterDevice';
  mode?: number;
  body?: string | Buffer;
  linkpath?: string;
};

/** A raw tar archive, entry by entry, so odd entries can be expressed exactly. */
function tarOf(entries: Entry[]): Buffer {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const body = Buffer.isBuffer(e.body) ? e.body : Buffer.from(e.body ?? '');
    const type = e.type ?? 'File';
    const h = new Header({
      path: e.path,
      type,
      size: type === 'File' ? body.length : 0,
      mode: e.mode ?? (type === 'Directory' ? 0o755 : 0o644),
      mtime: new Date(0),
      ...(e.linkpath ? { linkpath: e.linkpath } : {}),
    });
    const hb = Buffer.alloc(512);
    h.encode(hb, 0);
    blocks.push(hb);
    if (type === 'File' && body.length) {
      const padded = Buffer.alloc(Math.ceil(body.length / 512) * 512);
      body.copy(padded);
      blocks.push(padded);
    }
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

const PLAIN: Entry[] = [
  { path: 'deploy.yaml', body: 'apiVersion: helmgate/v1\n' },
  { path: 'charts/', type: 'Directory' },
  { path: 'charts/web/', type: 'Directory' },
  { path: 'charts/web/Chart.yaml', body: 'name: web\nversion: 1.0.0\n' },
  { path: 'charts/web/templates/cm.yaml', body: 'kind: ConfigMap\n' },
  // a file whose directory has no entry of its own
  { path: 'values/prod/web.yaml', body: 'greeting: hej — ünïcode\n' },
  { path: 'scripts/check.sh', body: '#!/bin/sh\n', mode: 0o755 },
  { path: 'empty/', type: 'Directory' },
];

async function extracted(tar: Buffer, opts: { stripTopDir?: boolean } = {}): Promise<string> {
  const dest = path.join(mkdtempSync(path.join(base, 'snap-')), 'src');
  await extractSafely(Readable.from(tar), dest, { maxBytes: 1e7, ...opts });
  return dest;
}

/** Every entry under `dir`: type, mode bits we set, content. */
function listing(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string, rel: string) => {
    for (const name of readdirSync(d).sort()) {
      const abs = path.join(d, name);
      const r = rel ? `${rel}/${name}` : name;
      const st = lstatSync(abs);
      const mode = (st.mode & 0o777).toString(8);
      if (st.isDirectory()) {
        out.push(`dir ${r} ${mode}`);
        walk(abs, r);
      } else if (st.isSymbolicLink()) out.push(`link ${r} -> ${readlinkSync(abs)}`);
      else out.push(`file ${r} ${mode} ${readFileSync(abs).toString('base64')}`);
    }
  };
  walk(dir, '');
  return out;
}

describe('parseTreeSnapshot', () => {
  it('holds a plain tree, and its reader answers exactly as the directory reader over the same tree extracted', async () => {
    const tar = tarOf(PLAIN);
    const snap = parseTreeSnapshot(tar) as TreeSnapshot;
    expect(snap).toBeDefined();
    expect([...snap.files.keys()].sort()).toEqual([
      'charts/web/Chart.yaml',
      'charts/web/templates/cm.yaml',
      'deploy.yaml',
      'scripts/check.sh',
      'values/prod/web.yaml',
    ]);
    const mem = snapshotReader(snap);
    const disk = directorySourceReader(await extracted(tar));
    const paths = [
      'deploy.yaml',
      './deploy.yaml',
      'charts/web/Chart.yaml',
      'charts/web/../web/Chart.yaml',
      'charts/web',
      'charts/web/',
      'values/prod/web.yaml',
      'values',
      'empty',
      'missing.yaml',
      'charts/missing/Chart.yaml',
      '.',
    ];
    for (const p of paths) {
      expect([p, await mem.readFile(p)]).toEqual([p, await disk.readFile(p)]);
      expect([p, await mem.exists(p)]).toEqual([p, await disk.exists(p)]);
    }
    for (const dir of ['charts/web', 'charts', '.', 'values/prod', 'empty', 'missing'])
      expect([dir, await mem.listFiles(dir)]).toEqual([dir, await disk.listFiles(dir)]);
    for (const leaving of ['../x', '..', '/etc/hostname', 'charts/../../x']) {
      await expect(mem.readFile(leaving)).rejects.toBeInstanceOf(UnsafeSourceError);
      await expect(disk.readFile(leaving)).rejects.toBeInstanceOf(UnsafeSourceError);
    }
  });

  it('reads a gzipped GitHub tarball, stripping its top directory, as extraction does', async () => {
    const tar = gzipSync(
      tarOf([
        { path: 'owner-repo-abc/', type: 'Directory' },
        ...PLAIN.map((e) => ({ ...e, path: `owner-repo-abc/${e.path}` })),
      ]),
    );
    const snap = parseTreeSnapshot(tar, { stripTopDir: true }) as TreeSnapshot;
    expect(snap.files.get('deploy.yaml')?.content.toString()).toBe('apiVersion: helmgate/v1\n');
    const dest = path.join(mkdtempSync(path.join(base, 'snap-')), 'src');
    await writeSnapshot(snap, dest);
    expect(listing(dest)).toEqual(listing(await extracted(tar, { stripTopDir: true })));
  });

  // anything but plain files and directories is left to extractSafely, which refuses or handles it
  it.each<[string, Entry[]]>([
    ['a symbolic link (even one that stays inside)', [{ path: 'a', type: 'SymbolicLink', linkpath: 'b' }]],
    [
      'a hard link',
      [
        { path: 'a', body: 'x' },
        { path: 'b', type: 'Link', linkpath: 'a' },
      ],
    ],
    ['a FIFO', [{ path: 'p', type: 'FIFO' }]],
    ['a device', [{ path: 'd', type: 'CharacterDevice' }]],
    [
      'a name given twice',
      [
        { path: 'a', body: 'one' },
        { path: 'a', body: 'two' },
      ],
    ],
    [
      'a name under a file',
      [
        { path: 'a', body: 'x' },
        { path: 'a/b', body: 'y' },
      ],
    ],
    [
      'a directory where a file is',
      [
        { path: 'a', body: 'x' },
        { path: 'a/', type: 'Directory' },
      ],
    ],
    [
      'a file where a directory is',
      [
        { path: 'a/b', body: 'y' },
        { path: 'a', body: 'x' },
      ],
    ],
    ['a parent segment', [{ path: 'a/../../etc/x', body: 'x' }]],
    ['an absolute path', [{ path: '/etc/x', body: 'x' }]],
    ['a dot segment', [{ path: 'a/./b', body: 'x' }]],
    ['a backslash', [{ path: 'a\\b', body: 'x' }]],
  ])('gives no snapshot for %s', (_what, entries) => {
    expect(parseTreeSnapshot(tarOf(entries))).toBeUndefined();
  });

  it('gives no snapshot for a tree beyond the in-memory bound, or for what is not an archive', () => {
    const big = Buffer.alloc(IN_MEMORY_MAX_BYTES / 2 + 1, 'a');
    expect(
      parseTreeSnapshot(
        tarOf([
          { path: 'a', body: big },
          { path: 'b', body: big },
        ]),
      ),
    ).toBeUndefined();
    expect(parseTreeSnapshot(tarOf([{ path: 'a', body: 'abc' }]), { maxBytes: 2 })).toBeUndefined();
    expect(parseTreeSnapshot(Buffer.from('this is not a tar archive'.repeat(40)))).toBeUndefined();
  });

  it('inflates a gzipped archive only up to its bound: a small archive that inflates without end is left to extraction', () => {
    // 40 MiB of one file, about 40 KiB gzipped: never inflated past the bound
    const bomb = gzipSync(tarOf([{ path: 'a', body: Buffer.alloc(40 * 1024 * 1024) }]), { level: 9 });
    expect(bomb.length).toBeLessThan(1024 * 1024);
    expect(parseTreeSnapshot(bomb)).toBeUndefined();
    // a tar whose first bytes look like gzip or zstd would make node-tar decompress by itself
    for (const magic of [
      [0x1f, 0x8b],
      [0x28, 0xb5, 0x2f, 0xfd],
    ]) {
      const tar = tarOf([{ path: 'xxxxname', body: 'x' }]);
      Buffer.from(magic).copy(tar, 0);
      expect(parseTreeSnapshot(tar)).toBeUndefined();
      expect(parseTreeSnapshot(gzipSync(tar))).toBeUndefined();
    }
  });
});

describe('writeSnapshot', () => {
  it('writes what extraction writes: the same names, contents and private modes', async () => {
    const tar = tarOf(PLAIN);
    const dest = path.join(mkdtempSync(path.join(base, 'snap-')), 'src');
    await writeSnapshot(parseTreeSnapshot(tar) as TreeSnapshot, dest);
    expect(listing(dest)).toEqual(listing(await extracted(tar)));
    expect(listing(dest)).toContain(
      `file scripts/check.sh 700 ${Buffer.from('#!/bin/sh\n').toString('base64')}`,
    );
  });

  it('writes nothing through what is already at a name (a link planted in the destination)', async () => {
    const dir = mkdtempSync(path.join(base, 'snap-'));
    const outside = path.join(dir, 'outside.txt');
    writeFileSync(outside, 'untouched');
    const dest = path.join(dir, 'src');
    mkdirSync(dest);
    symlinkSync(outside, path.join(dest, 'deploy.yaml'));
    await expect(writeSnapshot(parseTreeSnapshot(tarOf(PLAIN)) as TreeSnapshot, dest)).rejects.toMatchObject({
      code: 'EEXIST',
    });
    expect(readFileSync(outside, 'utf8')).toBe('untouched');
  });
});

describe('TreeSnapshotCache', () => {
  const snap = (bytes: number): TreeSnapshot => ({ files: new Map(), dirs: new Set(), bytes });
  const sha = (c: string) => c.repeat(40);

  it('keys on the repository and a full commit SHA only (an abbreviation can come to name another commit)', () => {
    const cache = new TreeSnapshotCache();
    const s = snap(1);
    cache.set('org/a', sha('a'), s);
    cache.set('org/a', 'abcdef1', snap(1));
    expect(cache.get('org/a', sha('a'))).toBe(s);
    expect(cache.get('org/b', sha('a'))).toBeUndefined();
    expect(cache.get('org/a', 'abcdef1')).toBeUndefined();
  });

  it('keeps the most recently used few, within its byte bound', () => {
    const cache = new TreeSnapshotCache(2, 100);
    cache.set('r', sha('a'), snap(10));
    cache.set('r', sha('b'), snap(10));
    cache.get('r', sha('a'));
    cache.set('r', sha('c'), snap(10));
    expect([sha('a'), sha('b'), sha('c')].map((s) => cache.get('r', s) !== undefined)).toEqual([
      true,
      false,
      true,
    ]);
    cache.set('r', sha('d'), snap(95));
    expect([sha('a'), sha('c'), sha('d')].map((s) => cache.get('r', s) !== undefined)).toEqual([
      false,
      false,
      true,
    ]);
    cache.set('r', sha('e'), snap(101));
    expect(cache.get('r', sha('e'))).toBeUndefined();
  });
});
