/**
 * `npm run bench`: every bench module in bench/ (each `*.ts` but this one), in one run, and one
 * table of their figures with the machine they were measured on.
 *  - a module exporting `run(): Promise<BenchRow[]>` is imported and run in this process;
 *  - a script without `run` (guarded by `require.main === module`) is run as a child process and
 *    its own output is shown as it is;
 *  - anything else (helpers) is left alone.
 * BENCH_ONLY=webhook-load,bad-input runs a subset.
 */
import './lib/esm';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { type BenchRow, benchTable, machine, row } from './lib/table';

const HERE = __dirname;
/** the order first; newcomers after, alphabetically */
const ORDER = [
  'webhook',
  'webhook-load',
  'bad-input',
  'rollout',
  'drift',
  'races',
  'faults',
  'canary',
  'speed',
];

interface BenchModule {
  name: string;
  file: string;
  kind: 'run' | 'script';
}

export function discover(dir = HERE): BenchModule[] {
  const found: BenchModule[] = [];
  for (const f of readdirSync(dir)) {
    if (!f.endsWith('.ts') || f.endsWith('.d.ts') || f === 'all.ts') continue;
    const file = path.join(dir, f);
    const src = readFileSync(file, 'utf8');
    const name = f.slice(0, -'.ts'.length);
    if (/export\s+(async\s+)?function\s+run\s*\(|export\s+const\s+run\s*=/.test(src))
      found.push({ name, file, kind: 'run' });
    else if (/require\.main\s*===\s*module/.test(src)) found.push({ name, file, kind: 'script' });
  }
  const rank = (n: string) => {
    const i = ORDER.indexOf(n);
    return i < 0 ? ORDER.length : i;
  };
  return found.sort((a, b) => rank(a.name) - rank(b.name) || a.name.localeCompare(b.name));
}

/** Runs a script in a fresh node with this process's loader flags (tsx) and the ESM resolver. */
function runScript(file: string): Promise<{ code: number; output: string; ms: number }> {
  const started = performance.now();
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      [...process.execArgv, path.join(HERE, 'lib', 'run-script.ts'), file],
      { stdio: ['ignore', 'pipe', 'pipe'], env: process.env },
    );
    let output = '';
    child.stdout.on('data', (d: Buffer) => {
      output += d.toString('utf8');
    });
    child.stderr.on('data', (d: Buffer) => {
      output += d.toString('utf8');
    });
    child.on('close', (code) => resolve({ code: code ?? 1, output, ms: performance.now() - started }));
  });
}

/** Node's warning about the AWS SDK and Node 20 is noise here. */
function quiet(output: string): string {
  return output
    .split('\n')
    .filter(
      (l, i, all) =>
        !/NodeVersionSupportWarning|versions published after|will require node|To continue receiving|security updates please|More information can be found at: https:\/\/a\.co|--trace-warnings/.test(
          l,
        ) && !(l.trim() === '' && all[i - 1]?.trim() === ''),
    )
    .join('\n');
}

export async function runAll(only?: readonly string[]): Promise<{ rows: BenchRow[]; failed: string[] }> {
  const rows: BenchRow[] = [];
  const failed: string[] = [];
  for (const m of discover()) {
    if (only && only.length > 0 && !only.includes(m.name)) continue;
    const started = performance.now();
    console.error(`bench: ${m.name} …`);
    if (m.kind === 'run') {
      try {
        const mod = (await import(m.file)) as { run: () => Promise<BenchRow[]> };
        const got = await mod.run();
        rows.push(...got);
        console.error(`bench: ${m.name} done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
      } catch (e) {
        failed.push(m.name);
        console.error(`bench: ${m.name} failed:`, e);
        rows.push(
          row(m.name, 'run', 'FAILED', { note: e instanceof Error ? e.message.slice(0, 200) : String(e) }),
        );
      }
    } else {
      const r = await runScript(m.file);
      console.log(`\n── ${m.name} (its own output; it exports no run()) ──\n${quiet(r.output).trim()}`);
      if (r.code !== 0) failed.push(m.name);
      rows.push(
        row(m.name, 'run', r.code === 0 ? 'ok' : `FAILED (exit ${r.code})`, {
          note: `ran as a child process in ${(r.ms / 1000).toFixed(1)} s; its figures are printed above`,
        }),
      );
    }
  }
  return { rows, failed };
}

if (require.main === module) {
  const only = process.env.BENCH_ONLY?.split(',').map((s) => s.trim());
  runAll(only).then(
    ({ rows, failed }) => {
      console.log(`\nhelmgate bench suite — ${new Date().toISOString()}`);
      console.log(`machine: ${machine()}`);
      console.log(benchTable(rows));
      if (failed.length > 0) {
        console.log(`failed: ${failed.join(', ')}`);
        process.exitCode = 1;
      }
    },
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
}
