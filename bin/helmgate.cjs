#!/usr/bin/env node
/**
 * `npx helmgate …`: the operator CLI (lib/cli/main.ts).
 *
 * Runs the TypeScript source through tsx's API (a devDependency, present in every checkout that ran
 * `npm ci`), so the CLI is never older than the code beside it. Where dev dependencies are omitted
 * (`npm ci --omit=dev`), it runs the esbuild bundle dist/cli/index.js instead, if one was built.
 */
'use strict';
const path = require('node:path');
const fs = require('node:fs');

// The AWS SDK prints a multi-line "node >= 22 from January 2027" notice on every call under Node 20.
// It tells an operator nothing they can act on from here; the SDK's documented switch turns it off
// (https://github.com/aws/aws-sdk-js-v3/issues/7983) — for this CLI only, never in Lambda.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

function load() {
  let tsx;
  try {
    tsx = require('tsx/cjs/api');
  } catch {
    const bundle = path.join(__dirname, '..', 'dist', 'cli', 'index.js');
    if (fs.existsSync(bundle)) return require(bundle);
    process.stderr.write(
      'helmgate: neither tsx (npm ci) nor dist/cli/index.js (npm run build) is available\n',
    );
    process.exit(1);
  }
  return tsx.require('../lib/cli/main.ts', __filename);
}

load()
  .main(process.argv.slice(2))
  .catch((e) => {
    process.stderr.write(`helmgate: ${e?.message ?? String(e)}\n`);
    process.exitCode = 1;
  });
