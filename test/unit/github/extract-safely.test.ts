import { existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { Header } from 'tar';
import { extractSafely } from '../../../lib/github/github-source';

const base = path.resolve(__dirname, '../../../.tmp');
mkdirSync(base, { recursive: true });

/** Builds a raw tar archive entry by entry, so hostile entries can be expressed exactly. */
function tarOf(
  entries: Array<{
    path: string;
    type?: 'File' | 'SymbolicLink' | 'Link' | 'Directory' | 'FIFO' | 'CharacterDevice' | 'BlockDevice';
    mode?: number;
    body?: string;
    linkpath?: string;
  }>,
): Buffer {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const body = Buffer.from(e.body ?? '');
    const h = new Header({
      path: e.path,
      type: e.type ?? 'File',
      size: e.type && e.type !== 'File' ? 0 : body.length,
      mode: e.mode ?? 0o644,
      mtime: new Date(0),
      ...(e.linkpath ? { linkpath: e.linkpath } : {}),
    });
    const hb = Buffer.alloc(512);
    h.encode(hb, 0);
    blocks.push(hb);
    if ((e.type ?? 'File') === 'File' && body.length) {
      const padded = Buffer.alloc(Math.ceil(body.length / 512) * 512);
      body.copy(padded);
      blocks.push(padded);
    }
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

describe('extractSafely (repository tarballs)', () => {
  it('extracts an ordinary GitHub tarball, stripping its top directory', async () => {
    const dest = mkdtempSync(path.join(base, 'x-'));
    await extractSafely(
      Readable.from(
        tarOf([
          { path: 'owner-repo-abc/deploy.yaml', body: 'a: 1\n' },
          { path: 'owner-repo-abc/charts/x/Chart.yaml', body: 'name: x\n' },
        ]),
      ),
      dest,
      { stripTopDir: true, maxBytes: 1e6 },
    );
    expect(readFileSync(path.join(dest, 'deploy.yaml'), 'utf8')).toBe('a: 1\n');
    expect(existsSync(path.join(dest, 'charts/x/Chart.yaml'))).toBe(true);
  });

  it.each([
    ['a .. path', [{ path: 'top/../../escape.txt', body: 'x' }], /unsafe path/],
    [
      'a symlink out of the tree',
      [{ path: 'top/link', type: 'SymbolicLink' as const, linkpath: '../../../etc/passwd' }],
      /outside the tree/,
    ],
    [
      'an absolute symlink',
      [{ path: 'top/link', type: 'SymbolicLink' as const, linkpath: '/etc/passwd' }],
      /outside the tree/,
    ],
  ])('refuses %s', async (_n, entries, message) => {
    const parent = mkdtempSync(path.join(base, 'x-'));
    const dest = path.join(parent, 'tree');
    await expect(
      extractSafely(Readable.from(tarOf(entries)), dest, { stripTopDir: true, maxBytes: 1e6 }),
    ).rejects.toThrow(message);
    expect(existsSync(path.join(parent, 'escape.txt'))).toBe(false);
  });

  it('refuses an archive that unpacks beyond the size cap', async () => {
    const dest = mkdtempSync(path.join(base, 'x-'));
    await expect(
      extractSafely(Readable.from(tarOf([{ path: 'top/big', body: 'x'.repeat(5000) }])), dest, {
        stripTopDir: true,
        maxBytes: 1000,
      }),
    ).rejects.toThrow(/beyond 1000 bytes/);
  });

  it('keeps links that stay inside the tree', async () => {
    const dest = mkdtempSync(path.join(base, 'x-'));
    writeFileSync(path.join(base, 'unused'), '');
    await extractSafely(
      Readable.from(
        tarOf([
          { path: 'top/a.txt', body: 'A' },
          { path: 'top/b.txt', type: 'SymbolicLink', linkpath: 'a.txt' },
        ]),
      ),
      dest,
      { stripTopDir: true, maxBytes: 1e6 },
    );
    expect(readFileSync(path.join(dest, 'b.txt'), 'utf8')).toBe('A');
  });

  // issue 12: the text of a link's target says nothing about where it leads once other links are followed
  const deep = `${'s/'.repeat(12)}${'../'.repeat(12)}etc/hostname`;

  it('refuses a symlink chain whose text stays inside but whose real target is the host (d/s -> ., d/x -> s/s/…/../../etc/hostname)', async () => {
    const parent = mkdtempSync(path.join(base, 'x-'));
    const dest = path.join(parent, 'tree');
    await expect(
      extractSafely(
        Readable.from(
          tarOf([
            { path: 'top/d/s', type: 'SymbolicLink', linkpath: '.' },
            { path: 'top/d/x', type: 'SymbolicLink', linkpath: deep },
          ]),
        ),
        dest,
        { stripTopDir: true, maxBytes: 1e6 },
      ),
    ).rejects.toThrow(/d\/x .*outside the tree/);
    expect(existsSync(dest)).toBe(false);
  });

  it('refuses a path under a name the archive made a file, before a hard link to it can hang node-tar', async () => {
    // found by the hostile-source-tree property (bench/bad-input): `x` a file, then `x/charts` a hard link
    // to `x` — tar would turn x into a directory and link to its own parent, and never finish
    const dest = path.join(mkdtempSync(path.join(base, 'x-')), 'tree');
    await expect(
      extractSafely(
        Readable.from(
          tarOf([
            { path: 'x', body: 'file' },
            { path: 'x/charts', type: 'Link', linkpath: 'x' },
          ]),
        ),
        dest,
        { stripTopDir: false, maxBytes: 1e6 },
      ),
    ).rejects.toThrow(/x\/charts.*inside a name the archive made a file/);
    expect(existsSync(dest)).toBe(false);
  });

  it('refuses a hard link routed through a symlink chain', async () => {
    const dest = path.join(mkdtempSync(path.join(base, 'x-')), 'tree');
    await expect(
      extractSafely(
        Readable.from(
          tarOf([
            { path: 'top/d/s', type: 'SymbolicLink', linkpath: '.' },
            { path: 'top/h', type: 'Link', linkpath: `top/d/${deep}` },
          ]),
        ),
        dest,
        { stripTopDir: true, maxBytes: 1e6 },
      ),
    ).rejects.toThrow(/refused repository tree|extracting/);
  });

  it('refuses a file written through a symlinked directory', async () => {
    const outside = mkdtempSync(path.join(base, 'outside-'));
    const dest = path.join(mkdtempSync(path.join(base, 'x-')), 'tree');
    await expect(
      extractSafely(
        Readable.from(
          tarOf([
            { path: 'top/d', type: 'SymbolicLink', linkpath: outside },
            { path: 'top/d/planted', body: 'x' },
          ]),
        ),
        dest,
        { stripTopDir: true, maxBytes: 1e6 },
      ),
    ).rejects.toThrow(/refused repository tree/);
    expect(existsSync(path.join(outside, 'planted'))).toBe(false);
  });

  it.each([
    ['a FIFO', 'FIFO' as const, /top-level-fifo is a FIFO/],
    ['a character device', 'CharacterDevice' as const, /top-level-fifo is a device file/],
    ['a block device', 'BlockDevice' as const, /top-level-fifo is a device file/],
  ])('refuses %s, naming it', async (_n, type, message) => {
    const dest = path.join(mkdtempSync(path.join(base, 'x-')), 'tree');
    await expect(
      extractSafely(
        Readable.from(
          tarOf([
            { path: 'top/a.txt', body: 'A' },
            { path: 'top/top-level-fifo', type },
          ]),
        ),
        dest,
        { stripTopDir: true, maxBytes: 1e6 },
      ),
    ).rejects.toThrow(message);
  });

  it('drops setuid bits and keeps every file readable by the runner', async () => {
    const dest = mkdtempSync(path.join(base, 'x-'));
    await extractSafely(
      Readable.from(
        tarOf([
          { path: 'top/suid', body: 'x', mode: 0o4755 },
          { path: 'top/unreadable', body: 'y', mode: 0o000 },
        ]),
      ),
      dest,
      { stripTopDir: true, maxBytes: 1e6 },
    );
    expect(statSync(path.join(dest, 'suid')).mode & 0o7777).toBe(0o700);
    expect(readFileSync(path.join(dest, 'unreadable'), 'utf8')).toBe('y');
  });
});

describe('symbolic link loops (helm follows links inside a chart)', () => {
  it.each([
    ['a link to its own directory', [{ path: 'top/d/loop', type: 'SymbolicLink' as const, linkpath: '.' }]],
    ['a link to an ancestor', [{ path: 'top/d/e/up', type: 'SymbolicLink' as const, linkpath: '../..' }]],
    [
      'two directories linking to each other',
      [
        { path: 'top/a/x', body: 'x' },
        { path: 'top/b/y', body: 'y' },
        { path: 'top/a/to-b', type: 'SymbolicLink' as const, linkpath: '../b' },
        { path: 'top/b/to-a', type: 'SymbolicLink' as const, linkpath: '../a' },
      ],
    ],
  ])('refuses %s', async (_n, entries) => {
    const dest = path.join(mkdtempSync(path.join(base, 'x-')), 'tree');
    await expect(
      extractSafely(Readable.from(tarOf(entries)), dest, { stripTopDir: true, maxBytes: 1e6 }),
    ).rejects.toThrow(/symbolic link loop/);
  });

  it('keeps a link to a sibling directory (no loop)', async () => {
    const dest = mkdtempSync(path.join(base, 'x-'));
    await extractSafely(
      Readable.from(
        tarOf([
          { path: 'top/shared/_helpers.tpl', body: 'x' },
          { path: 'top/charts/a/templates/shared', type: 'SymbolicLink', linkpath: '../../../shared' },
        ]),
      ),
      dest,
      { stripTopDir: true, maxBytes: 1e6 },
    );
    expect(readFileSync(path.join(dest, 'charts/a/templates/shared/_helpers.tpl'), 'utf8')).toBe('x');
  });
});
