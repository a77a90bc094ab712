/**
 * `npx tsx bench/bad-input.ts`: the bad-input properties of test/property/ with large counts
 * (BENCH_PROPERTY_RUNS, default 5000 per property). Every case is checked (no stop at the first
 * failure); the figure is the number of failing cases, against a baseline of 0.
 */
import './lib/esm';
import { outcomesText, type PropertyReport } from '../test/property/harness';
import { type BenchRow, benchTable, machine, row } from './lib/table';

const RUNS = Number(process.env.BENCH_PROPERTY_RUNS ?? 5000);

const suites: Array<
  [string, () => Promise<(o: { numRuns: number; mode: 'count' }) => Promise<PropertyReport[]>>]
> = [
  ['webhook', async () => (await import('../test/property/webhook-properties')).webhookProperties],
  ['slack', async () => (await import('../test/property/slack-properties')).slackProperties],
  ['approval', async () => (await import('../test/property/approval-properties')).approvalProperties],
  [
    'deploy-config',
    async () => (await import('../test/property/deploy-config-properties')).deployConfigProperties,
  ],
  ['http', async () => (await import('../test/property/http-properties')).httpProperties],
  // issue 12: hostile repository content
  ['source-tree', async () => (await import('../test/property/source-tree-properties')).sourceTreeProperties],
  [
    'hostile-config',
    async () => (await import('../test/property/hostile-config-properties')).hostileConfigProperties,
  ],
];

export async function runReports(numRuns = RUNS): Promise<PropertyReport[]> {
  const out: PropertyReport[] = [];
  for (const [, load] of suites) out.push(...(await (await load())({ numRuns, mode: 'count' })));
  return out;
}

export function rowsOf(reports: readonly PropertyReport[]): BenchRow[] {
  return reports.map((r) =>
    row('bad-input', r.name, r.failures, {
      unit: 'failing',
      baseline: 0,
      note: `${r.runs} cases tried in ${(r.ms / 1000).toFixed(1)} s${r.outcomes ? ` (${outcomesText(r.outcomes)})` : ''}${r.examples[0] ? `; first: ${r.examples[0].slice(0, 160)}` : ''}`,
    }),
  );
}

export async function run(): Promise<BenchRow[]> {
  const reports = await runReports();
  for (const r of reports)
    for (const e of r.examples) console.error(`bad-input: "${r.name}" failing case: ${e}`);
  return rowsOf(reports);
}

if (require.main === module) {
  run().then(
    (rows) => {
      console.log(`\nbad input (fast-check, ${RUNS} cases per property) on ${machine()}`);
      console.log(benchTable(rows));
      process.exitCode = rows.some((r) => r.value !== 0) ? 1 : 0;
    },
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
}
