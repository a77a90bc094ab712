import path from 'node:path';
import { buildHandlers } from '../../scripts/build';
import { nodeStartMs } from '../lib';

/** Each handler's minified bundle (total and AWS SDK share) and cold import time beyond a bare node start. */
export async function handlerBundles(outDir = path.resolve(__dirname, '../../.tmp/bench-dist')) {
  const built = await buildHandlers(outDir);
  const bare = nodeStartMs(['-e', '']);
  return {
    bare,
    handlers: built.map((b) => ({
      name: b.name,
      kb: b.bytes / 1024,
      sdkKb: b.sdkBytes / 1024,
      coldMs: nodeStartMs(['-e', `require(${JSON.stringify(b.file)})`]) - bare,
      hasKubeClient: b.inputs.some((i) => i.includes('@kubernetes/client-node')),
    })),
  };
}
