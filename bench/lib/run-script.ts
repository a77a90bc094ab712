/**
 * `node <tsx flags> bench/lib/run-script.ts <script.ts> [args…]`: runs a bench script as the main
 * module (its `require.main === module` block runs) with the ESM-only resolver installed first.
 */
import './esm';
import Module from 'node:module';
import path from 'node:path';

const script = process.argv[2];
if (!script) {
  console.error('usage: run-script.ts <script.ts> [args…]');
  process.exit(2);
}
process.argv.splice(1, 2, path.resolve(script));
(Module as unknown as { runMain(): void }).runMain();
