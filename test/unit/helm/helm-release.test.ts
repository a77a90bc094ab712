import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as tar from 'tar';
import { HELM_RELEASE, type HelmRelease, sha256, verifyHelmRelease } from '../../../lib/helm/helm-binary';

/** A release tarball laid out as helm's: linux-amd64/helm plus docs. */
function releaseTarball(files: Record<string, Buffer | { link: string }>): Buffer {
  const dir = mkdtempSync(path.join(tmpdir(), 'helm-release-test-'));
  try {
    for (const [name, content] of Object.entries(files)) {
      const p = path.join(dir, 'src', name);
      mkdirSync(path.dirname(p), { recursive: true });
      if (Buffer.isBuffer(content)) writeFileSync(p, content);
      else symlinkSync(content.link, p);
    }
    const out = path.join(dir, 'release.tar.gz');
    tar.c({ gzip: true, file: out, cwd: path.join(dir, 'src'), sync: true }, Object.keys(files));
    return readFileSync(out);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const BINARY = Buffer.from('\x7fELF helm v4 (test bytes)');

function recordFor(tarball: Buffer, binary = BINARY): HelmRelease {
  return {
    version: 'v4.1.4',
    tarballUrl: 'https://get.helm.sh/helm-v4.1.4-linux-amd64.tar.gz',
    tarballSha256: sha256(tarball),
    binaryPath: 'linux-amd64/helm',
    binarySha256: sha256(binary),
  };
}

describe('verifyHelmRelease', () => {
  const tarball = releaseTarball({
    'linux-amd64/helm': BINARY,
    'linux-amd64/LICENSE': Buffer.from('Apache'),
  });

  it('accepts the binary when the tarball has the published sha256 and holds exactly that binary', () => {
    expect(verifyHelmRelease({ tarball, binary: BINARY, release: recordFor(tarball) })).toEqual([]);
  });

  it('refuses a tarball whose sha256 is not the published one', () => {
    const other = releaseTarball({ 'linux-amd64/helm': BINARY, 'linux-amd64/README.md': Buffer.from('x') });
    const problems = verifyHelmRelease({ tarball: other, binary: BINARY, release: recordFor(tarball) });
    expect(problems).toEqual([expect.stringContaining('helm published')]);
  });

  it('refuses a shipped binary that differs from the one in the release', () => {
    const problems = verifyHelmRelease({
      tarball,
      binary: Buffer.from('patched helm'),
      release: recordFor(tarball),
    });
    expect(problems).toEqual([expect.stringContaining('the helm binary we ship has sha256')]);
  });

  it('refuses a release whose binary is not the recorded one, or is missing, or is a link', () => {
    expect(
      verifyHelmRelease({
        tarball,
        binary: BINARY,
        release: { ...recordFor(tarball), binarySha256: 'f'.repeat(64) },
      }),
    ).toEqual([expect.stringContaining('recorded')]);
    const noBinary = releaseTarball({ 'linux-amd64/LICENSE': Buffer.from('Apache') });
    expect(verifyHelmRelease({ tarball: noBinary, binary: BINARY, release: recordFor(noBinary) })).toEqual([
      expect.stringContaining('is not in the release tarball'),
    ]);
    const linked = releaseTarball({ 'linux-amd64/helm': { link: '/etc/hostname' } });
    expect(verifyHelmRelease({ tarball: linked, binary: BINARY, release: recordFor(linked) })).toEqual([
      expect.stringContaining('is not in the release tarball'),
    ]);
  });

  it("the record names helm's published checksum for the v4.1.4 linux-amd64 tarball", () => {
    expect(HELM_RELEASE).toMatchObject({
      version: 'v4.1.4',
      tarballUrl: 'https://get.helm.sh/helm-v4.1.4-linux-amd64.tar.gz',
      tarballSha256: '70b2c30a19da4db264dfd68c8a3664e05093a361cefd89572ffb36f8abfa3d09',
      binaryPath: 'linux-amd64/helm',
    });
  });
});
