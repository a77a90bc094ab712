import path from 'node:path';
import { defaultHelmDir, ensureHelmBinary } from '../../lib/helm/helm-binary';

/** Extract the real helm binary once per test run; tests find it through HELMGATE_HELM_BIN. */
export default function globalSetup(): void {
  const root = path.resolve(__dirname, '../..');
  process.env.HELMGATE_HELM_BIN = ensureHelmBinary(defaultHelmDir(root));
  process.env.TMPDIR = path.join(root, '.tmp');
  require('node:fs').mkdirSync(process.env.TMPDIR, { recursive: true });
}
