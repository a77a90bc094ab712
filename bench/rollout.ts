/**
 * `npm run bench:rollout` (issue 3): the same releases — 6 independent web releases plus a db → app
 * chain — deployed by our scheduler (concurrency 4) and one after another (concurrency 1) in the same
 * run; a no-op redeploy (skip-unchanged) against a forced one; our overhead per deploy excluding the
 * time inside helm processes. Real helm 4 against the loopback Kubernetes API stand-in.
 */
import './lib/esm';
import { type RolloutResult, rolloutOnce } from '../test/scenarios/rollout';
import { fmt, table } from './lib';
import { type BenchRow, benchTable, machine, row } from './lib/table';

const B = 'rollout';

export function rolloutRows(r: RolloutResult): BenchRow[] {
  return [
    row(B, `scheduler (concurrency 4), ${r.releases} releases`, Math.round(r.parallel.wallMs), {
      unit: 'ms',
      baseline: Math.round(r.sequential.wallMs),
      ratio: r.parallel.wallMs / r.sequential.wallMs,
      note: `baseline: the same releases one after another (concurrency 1), fresh installs; speed-up ${fmt(r.parallelSpeedup, 2)}×`,
    }),
    row(B, 'no-op redeploy (all skipped as unchanged; median of 5)', Math.round(r.noop.wallMs), {
      unit: 'ms',
      baseline: Math.round(r.forced.wallMs),
      ratio: r.noop.wallMs / r.forced.wallMs,
      note: `baseline: forced redeploy of the same commit, median of 3 (${r.forced.upgrades} helm upgrades vs ${r.noop.upgrades}); speed-up ${fmt(r.skipSpeedup, 1)}×`,
    }),
    row(
      B,
      'no-op redeploy of a new commit changing nothing deployed (median of 3)',
      Math.round(r.noopNewCommit.wallMs),
      {
        unit: 'ms',
        baseline: Math.round(r.forced.wallMs),
        ratio: r.noopNewCommit.wallMs / r.forced.wallMs,
        note: `a README-only commit each time: the tree is fetched again (git archive), not held from the same commit's earlier run; ${r.noopNewCommit.upgrades} helm upgrades; baseline: the forced redeploy above`,
      },
    ),
    row(B, 'our overhead per release (sequential run)', Number(r.overheadPerReleaseMs.toFixed(1)), {
      unit: 'ms',
      baseline: Number((r.sequential.helmMs / r.releases).toFixed(1)),
      ratio: r.overheadPerReleaseMs / (r.sequential.helmMs / r.releases),
      note: `wall ${Math.round(r.sequential.wallMs)} ms − ${Math.round(r.sequential.helmMs)} ms inside ${r.sequential.helmCalls} helm processes, / ${r.releases} releases; baseline: helm time per release`,
    }),
    row(B, 'our overhead per deployment (sequential run)', Math.round(r.overheadPerDeploymentMs), {
      unit: 'ms',
      note: 'git archive of the commit, plan, secrets pre-flight, Secret sync, DynamoDB writes, scheduling',
    }),
  ];
}

export async function run(): Promise<BenchRow[]> {
  return rolloutRows(await rolloutOnce());
}

if (require.main === module) {
  rolloutOnce().then(
    (r) => {
      console.log(
        `\nrollout: ${r.independent} independent web releases + db → app, real helm, stand-in cluster`,
      );
      console.log(
        table(
          [r.sequential, r.parallel, r.noop, r.forced, r.noopNewCommit].map((t, i) => ({
            run: [
              'one after another',
              'scheduler',
              'no-op redeploy',
              'forced redeploy',
              'no-op, new README-only commit',
            ][i] as string,
            concurrency: t.concurrency,
            'wall ms': t.wallMs.toFixed(0),
            'in helm ms (sum)': t.helmMs.toFixed(0),
            'helm busy ms': t.helmBusyMs.toFixed(0),
            'helm calls': t.helmCalls,
            upgrades: t.upgrades,
          })),
        ),
      );
      console.log(
        "\none more no-op redeploy, every call to the runner's ports timed (ms from the run's start)",
      );
      console.log(
        table(
          [...r.noopSteps]
            .sort((a, b) => a.startMs - b.startMs)
            .map((s) => ({ step: s.step, 'start ms': s.startMs.toFixed(1), ms: s.ms.toFixed(1) })),
        ),
      );
      console.log(`\nmachine: ${machine()}`);
      console.log(benchTable(rolloutRows(r)));
    },
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
}
