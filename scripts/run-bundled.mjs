#!/usr/bin/env node
// Runs a TypeScript entry point of this project the way Lambda runs the handlers: bundled by esbuild
// (so ESM-only dependencies such as Octokit load as they do in the Lambda bundles), then required.
// Usage: node scripts/run-bundled.mjs <entry.ts> [args...]
// dynalite stays external: it loads native LevelDB bindings at runtime.
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const [entry, ...rest] = process.argv.slice(2);
if (!entry) {
  process.stderr.write('usage: node scripts/run-bundled.mjs <entry.ts> [args...]\n');
  process.exit(2);
}
const outfile = path.join(root, '.helmgate', 'build', `${path.basename(entry, '.ts')}.cjs`);
await build({
  entryPoints: [path.resolve(root, entry)],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  sourcemap: 'inline',
  external: ['dynalite', 'esbuild', '@aws-cdk/lambda-layer-kubectl-v35'],
  logLevel: 'warning',
});
process.argv = [process.argv[0], outfile, ...rest];
createRequire(import.meta.url)(outfile);
