/**
 * `npm run bench:drift` (issue 13, item 4): the runner's drift check of an environment of 8 releases
 * (real helm 4, Kubernetes API stand-in, dynalite), in ms per release — in line, and with one Deployment
 * edited by hand — against, in the same run, reading helm's state alone: one metadata-only list of helm's
 * release records (skip-unchanged's read) and a bare `helm list` process.
 */
import './lib/esm';
import { type DriftResult, measureDrift } from '../test/scenarios/drift';
import { fmt } from './lib';
import { type BenchRow, benchTable, machine, row } from './lib/table';

const B = 'drift';

export function driftRows(r: DriftResult): BenchRow[] {
  const per = (ms: number) => Number((ms / r.releases).toFixed(1));
  return [
    row(B, `drift check, ${r.releases} releases in line, per release (median of 5)`, per(r.inLineMs), {
      unit: 'ms',
      baseline: per(r.helmListMs),
      ratio: r.inLineMs / r.helmListMs,
      note: `whole check ${Math.round(r.inLineMs)} ms: ${Math.round(r.inLinePrepareMs)} ms fetching and planning the commit, secrets, cluster; ${Math.round(r.inLineCompareMs)} ms comparing; ${r.helmCalls} helm processes; baseline: a bare helm list, per release`,
    }),
    row(B, 'of it: the comparison (records + live objects), per release', per(r.inLineCompareMs), {
      unit: 'ms',
      baseline: per(r.recordListMs),
      ratio: r.inLineCompareMs / r.recordListMs,
      note: "baseline: one list of helm's release records (the helm-level half alone), per release",
    }),
    row(B, `drift check, one Deployment edited by hand, per release (median of 3)`, per(r.driftedMs), {
      unit: 'ms',
      baseline: per(r.inLineMs),
      ratio: r.driftedMs / r.inLineMs,
      note: 'stores the drift and reports it (console); baseline: the in-line check',
    }),
    row(B, 'one list of helm release records (metadata only), per release', per(r.recordListMs), {
      unit: 'ms',
      note: `${fmt(r.recordListMs, 1)} ms for the environment: what skip-unchanged reads; the helm-level half of the drift check`,
    }),
  ];
}

export async function run(): Promise<BenchRow[]> {
  return driftRows(await measureDrift());
}

if (require.main === module) {
  measureDrift().then(
    (r) => {
      console.log(`\nmachine: ${machine()}`);
      console.log(benchTable(driftRows(r)));
    },
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
}
