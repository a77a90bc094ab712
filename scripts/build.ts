/**
 * `npm run build`: one minified bundle per Lambda handler under dist/<handler>/index.js, plus a
 * metafile, with esbuild (the same bundler serverless-esbuild uses). The AWS SDK is bundled so the
 * pinned versions run in Lambda, not whatever the runtime ships.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { build, type Metafile } from 'esbuild';

export const HANDLERS = [
  'github-webhook',
  'deployments',
  'dashboard',
  'approval',
  'auth',
  'slack-interactions',
  'sweeper',
  'deploy-runner',
] as const;

export interface BuiltHandler {
  name: string;
  file: string;
  bytes: number;
  /** bytes of the bundled AWS SDK (@aws-sdk, @smithy and their helpers) within `bytes` */
  sdkBytes: number;
  inputs: string[];
}

const SDK_INPUT = /node_modules\/(@aws-sdk|@smithy|@aws-crypto|bowser|mnemonist|fast-xml-parser|strnum)\//;

export async function buildHandlers(
  outRoot = path.resolve(__dirname, '..', 'dist'),
): Promise<BuiltHandler[]> {
  const root = path.resolve(__dirname, '..');
  const built: BuiltHandler[] = [];
  for (const name of HANDLERS) {
    const entry = path.join(root, 'handlers', `${name}.ts`);
    if (!existsSync(entry)) continue;
    const outdir = path.join(outRoot, name);
    mkdirSync(outdir, { recursive: true });
    const result = await build({
      entryPoints: [entry],
      outfile: path.join(outdir, 'index.js'),
      bundle: true,
      minify: true,
      platform: 'node',
      target: 'node22',
      format: 'cjs',
      sourcemap: false,
      metafile: true,
      legalComments: 'none',
      logLevel: 'warning',
      // optional peers that the bundled libraries probe for and do without
      external: ['bufferutil', 'utf-8-validate', 'encoding'],
    });
    const meta = result.metafile as Metafile;
    writeFileSync(path.join(outdir, 'meta.json'), JSON.stringify(meta));
    const output = Object.entries(meta.outputs).find(([f]) => f.endsWith('index.js'));
    const sdkBytes = Object.entries(output?.[1].inputs ?? {})
      .filter(([f]) => SDK_INPUT.test(f))
      .reduce((n, [, v]) => n + v.bytesInOutput, 0);
    built.push({
      name,
      file: path.join(outdir, 'index.js'),
      bytes: output?.[1].bytes ?? 0,
      sdkBytes,
      inputs: Object.keys(meta.inputs),
    });
  }
  return built;
}

/** The operator CLI as one file, for `bin/helmgate.cjs` where dev dependencies (tsx) are omitted. */
export async function buildCli(outRoot = path.resolve(__dirname, '..', 'dist')): Promise<string> {
  const outfile = path.join(outRoot, 'cli', 'index.js');
  await build({
    entryPoints: [path.resolve(__dirname, '..', 'lib', 'cli', 'main.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    legalComments: 'none',
    logLevel: 'warning',
    external: ['bufferutil', 'utf-8-validate', 'encoding'],
  });
  return outfile;
}

if (require.main === module) {
  Promise.all([buildHandlers(), buildCli()]).then(
    ([built, cli]) => {
      console.log(`cli${' '.repeat(17)} ${cli}`);
      for (const b of built)
        console.log(
          `${b.name.padEnd(20)} ${(b.bytes / 1024).toFixed(1).padStart(8)} KB (AWS SDK ${(b.sdkBytes / 1024).toFixed(0)} KB)  ${b.file}`,
        );
    },
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
}
