/**
 * `npm run bench:speed` (issue 7, item 6): push → first helm command started (our overhead, local
 * stack deploying to the Kubernetes API stand-in; helm seen through a recording wrapper), against the
 * webhook's own answer time measured on the same pushes; the parallel-rollout and skip-unchanged
 * ratios from bench/rollout.ts (the same measurement, taken once per process); each handler's bundle
 * size and cold import time (the building blocks bench/webhook.ts uses).
 */
import './lib/esm';
import { startFlowWorld } from '../test/scenarios/local-flow';
import { rolloutOnce } from '../test/scenarios/rollout';
import { fmt, summarize, table } from './lib';
import { handlerBundles } from './lib/bundles';
import { type BenchRow, benchTable, machine, row } from './lib/table';

const B = 'speed';
const PUSHES = Number(process.env.BENCH_SPEED_PUSHES ?? 7);

export async function pushToFirstHelm(pushes = PUSHES) {
  const w = await startFlowWorld();
  try {
    const firstHelm: number[] = [];
    const answered: number[] = [];
    for (let i = 0; i < pushes; i++) {
      w.repo.commit({ 'values/hello.yaml': `greeting: speed-${i}\n` }, `speed ${i}`);
      const before = w.helm.calls().length;
      const p = await w.push();
      if (p.status !== 202) throw new Error(`push answered ${p.status}`);
      await w.stack.idle();
      const first = w.helm.calls()[before];
      if (!first) throw new Error('no helm command after the push');
      firstHelm.push(first.startEpochMs - p.sentEpochMs);
      answered.push(p.answeredEpochMs - p.sentEpochMs);
    }
    // the first push pays for cold code paths (first git archive, first DynamoDB writes): kept apart
    const [coldFirst = Number.NaN, ...warm] = firstHelm;
    return { first: summarize(warm), coldFirst, answered: summarize(answered.slice(1)), n: warm.length };
  } finally {
    await w.close();
  }
}

export async function benchSpeed() {
  const push = await pushToFirstHelm();
  const rollout = await rolloutOnce();
  const bundles = await handlerBundles();
  return { push, rollout, bundles };
}

export function speedRows(r: Awaited<ReturnType<typeof benchSpeed>>): BenchRow[] {
  const { push, rollout, bundles } = r;
  return [
    row(B, 'push → first helm command started (p50)', Number(push.first.p50.toFixed(1)), {
      unit: 'ms',
      baseline: Number(push.answered.p50.toFixed(1)),
      ratio: push.first.p50 / push.answered.p50,
      note: `p99 ${fmt(push.first.p99, 1)} ms over ${push.n} warm pushes (first, cold: ${fmt(push.coldFirst, 0)} ms); baseline: the webhook's 202 answer on the same pushes; includes the helm wrapper's bash start`,
    }),
    row(B, 'parallel rollout speed-up (from rollout)', Number(rollout.parallelSpeedup.toFixed(2)), {
      unit: '×',
      note: `${Math.round(rollout.sequential.wallMs)} ms one after another / ${Math.round(rollout.parallel.wallMs)} ms scheduler, ${rollout.releases} releases`,
    }),
    row(B, 'skip-unchanged speed-up (from rollout)', Number(rollout.skipSpeedup.toFixed(1)), {
      unit: '×',
      note: `${Math.round(rollout.forced.wallMs)} ms forced / ${Math.round(rollout.noop.wallMs)} ms no-op redeploy`,
    }),
    ...bundles.handlers.map((h) =>
      row(B, `cold import ${h.name}`, Number(h.coldMs.toFixed(1)), {
        unit: 'ms',
        baseline: Number(bundles.bare.toFixed(1)),
        note: `beyond a bare node start (the baseline); bundle ${h.kb.toFixed(1)} KB, of which AWS SDK ${h.sdkKb.toFixed(1)} KB`,
      }),
    ),
  ];
}

export async function run(): Promise<BenchRow[]> {
  return speedRows(await benchSpeed());
}

if (require.main === module) {
  benchSpeed().then(
    (r) => {
      console.log('\npush → first helm command (local stack, stand-in cluster)');
      console.log(
        table([
          {
            measure: 'push → first helm spawn',
            'p50 ms': fmt(r.push.first.p50, 1),
            'p99 ms': fmt(r.push.first.p99, 1),
          },
          {
            measure: 'baseline: push → webhook 202',
            'p50 ms': fmt(r.push.answered.p50, 1),
            'p99 ms': fmt(r.push.answered.p99, 1),
          },
        ]),
      );
      console.log(`\nhandler bundles; bare node start ${fmt(r.bundles.bare, 1)} ms`);
      console.log(
        table(
          r.bundles.handlers.map((h) => ({
            handler: h.name,
            'bundle KB': h.kb.toFixed(1),
            'AWS SDK KB': h.sdkKb.toFixed(1),
            'cold import ms (minus bare node)': fmt(h.coldMs, 1),
          })),
        ),
      );
      console.log(`\nmachine: ${machine()}`);
      console.log(benchTable(speedRows(r)));
    },
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
}
