import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { directorySourceReader } from '../../../lib/runner/source-reader';

/** Issue 12: every read of the extracted tree resolves real paths; nothing outside it is ever returned. */

const base = path.resolve(__dirname, '../../../.tmp');
mkdirSync(base, { recursive: true });

function tree() {
  const parent = mkdtempSync(path.join(base, 'reader-'));
  const root = path.join(parent, 'src');
  mkdirSync(path.join(root, 'd'), { recursive: true });
  writeFileSync(path.join(parent, 'secret.txt'), 'outside-the-tree');
  writeFileSync(path.join(root, 'a.txt'), 'A');
  return { parent, root };
}

test('a symlink chain that leads out of the tree is refused, naming the path', async () => {
  const { root } = tree();
  symlinkSync('.', path.join(root, 'd/s'));
  // textually root/d/secret.txt; really ../secret.txt
  symlinkSync(`${'s/'.repeat(6)}${'../'.repeat(2)}secret.txt`, path.join(root, 'd/x'));
  const reader = directorySourceReader(root);
  await expect(reader.readFile('d/x')).rejects.toThrow(/d\/x .*outside the repository/);
  await expect(reader.exists('d/x')).rejects.toThrow(/d\/x/);
});

test('an absolute symlink out of the tree is refused', async () => {
  const { root } = tree();
  symlinkSync('/etc/hostname', path.join(root, 'host'));
  await expect(directorySourceReader(root).readFile('host')).rejects.toThrow(/host/);
});

test('a FIFO is refused rather than read (a read would block forever)', async () => {
  const { root } = tree();
  execFileSync('mkfifo', [path.join(root, 'pipe')]);
  await expect(directorySourceReader(root).readFile('pipe')).rejects.toThrow(/pipe is a FIFO/);
});

test('listFiles does not descend through a link out of the tree', async () => {
  const { parent, root } = tree();
  symlinkSync(parent, path.join(root, 'd/up'));
  const files = await directorySourceReader(root).listFiles('.');
  expect(files).toEqual(['a.txt']);
});

test('links inside the tree still read, and missing files are undefined', async () => {
  const { root } = tree();
  symlinkSync('../a.txt', path.join(root, 'd/a-link'));
  const reader = directorySourceReader(root);
  expect(await reader.readFile('d/a-link')).toBe('A');
  expect(await reader.readFile('missing.txt')).toBeUndefined();
  expect(await reader.exists('d/a-link')).toBe(true);
  expect(await reader.exists('missing.txt')).toBe(false);
  await expect(reader.readFile('../secret.txt')).rejects.toThrow(/leaves the repository/);
});
