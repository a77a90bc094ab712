/**
 * `npm run bench:faults` (issue 7, item 4): the fault matrix over the real runner — each transient
 * Kubernetes API error class, permanent controls, a runner killed mid-upgrade (next run / sweeper),
 * DynamoDB throttling from a stand-in — and for each row whether the deployment healed or failed with
 * the right reason, and that no lock stayed held past its lease.
 */
import './lib/esm';
import { type FaultOutcome, runFaultMatrix } from '../test/scenarios/faults';
import { table } from './lib';
import { type BenchRow, benchTable, machine, row } from './lib/table';

const B = 'faults';

function verdict(o: FaultOutcome): string {
  if (o.expect === 'heal') return o.ok ? 'healed' : 'NOT HEALED';
  return o.ok ? 'failed, right reason' : 'WRONG OUTCOME';
}

export function faultRows(out: FaultOutcome[]): BenchRow[] {
  const rows = out.map((o) =>
    row(B, o.name, verdict(o), {
      baseline: o.expect === 'heal' ? 'must heal' : 'must fail at once',
      note: `${o.why}; lock ${o.lockHeld ? 'STILL HELD' : 'released'}, ${o.expiredLocks} past lease${o.deadRun ? `; the dead run's deployment stays ${o.deadRun}` : ''}; ${Math.round(o.ms)} ms`,
    }),
  );
  const good = out.filter((o) => o.ok).length;
  rows.push(
    row(B, 'rows as expected', `${good} / ${out.length}`, {
      note: `locks held past their lease after any row: ${out.reduce((a, o) => a + o.expiredLocks, 0)}`,
    }),
  );
  return rows;
}

export async function run(): Promise<BenchRow[]> {
  return faultRows(await runFaultMatrix());
}

if (require.main === module) {
  runFaultMatrix().then(
    (out) => {
      console.log('\nfault matrix: real helm, Kubernetes API stand-in, DynamoDB through a throttling proxy');
      console.log(
        table(
          out.map((o) => ({
            fault: o.name,
            expected: o.expect,
            outcome: verdict(o),
            status: o.status,
            'web attempts': o.web?.attempts ?? '',
            rollbacks: o.rollbacks,
            'lock after': o.lockHeld ? 'held' : 'released',
            'past lease': o.expiredLocks,
            ms: Math.round(o.ms),
          })),
        ),
      );
      for (const o of out.filter((x) => !x.ok)) console.log(`\n${o.name}: ${o.why}`);
      console.log(`\nmachine: ${machine()}`);
      console.log(benchTable(faultRows(out)));
    },
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
}
