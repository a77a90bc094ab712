/**
 * `npm run bench:races` (issue 7, item 3): 100 concurrent approvals (web and Slack mixed; different
 * people, or one person through both) of one deployment → exactly one deploy dispatched and run; 100
 * approvals racing a superseding push → never the superseded commit deployed. Counts over N rounds
 * (BENCH_RACE_ROUNDS, default 10), through the real handlers, runner and helm.
 */
import './lib/esm';
import {
  type ApprovalRound,
  approvalRound,
  type SupersedeRound,
  startRaceWorld,
  supersedeRound,
} from '../test/scenarios/races';
import { table } from './lib';
import { type BenchRow, benchTable, machine, row } from './lib/table';

const B = 'races';
const ROUNDS = Number(process.env.BENCH_RACE_ROUNDS ?? 10);
const VOTES = Number(process.env.BENCH_RACE_VOTES ?? 100);

interface RaceResults {
  distinct: ApprovalRound[];
  same: ApprovalRound[];
  supersede: SupersedeRound[];
  ms: number;
}

export async function benchRaces(): Promise<RaceResults> {
  const t0 = performance.now();
  const rw = await startRaceWorld();
  try {
    const out: RaceResults = { distinct: [], same: [], supersede: [], ms: 0 };
    for (let i = 0; i < ROUNDS; i++) {
      out.distinct.push(await approvalRound(rw, VOTES, 'distinct'));
      out.same.push(await approvalRound(rw, VOTES, 'same-person'));
      out.supersede.push(await supersedeRound(rw, VOTES));
    }
    out.ms = performance.now() - t0;
    return out;
  } finally {
    await rw.close();
  }
}

function exactlyOne(rounds: ApprovalRound[]): number {
  return rounds.filter((r) => r.deployDispatches === 1 && r.runnerRuns === 1 && r.status === 'succeeded')
    .length;
}

function sum(rounds: ApprovalRound[]): string {
  const t: Record<string, number> = {};
  for (const r of rounds) for (const [k, v] of Object.entries(r.outcomes)) t[k] = (t[k] ?? 0) + v;
  return Object.entries(t)
    .map(([k, v]) => `${k}: ${v}`)
    .join(', ');
}

export function raceRows(r: RaceResults): BenchRow[] {
  const how = (w: SupersedeRound['winner']) => r.supersede.filter((s) => s.winner === w).length;
  const violations = r.supersede.filter((s) => s.violation).length;
  const dispatches = (rs: ApprovalRound[]) => rs.reduce((a, x) => a + x.deployDispatches, 0);
  return [
    row(
      B,
      `${VOTES} concurrent approvals, different people (web+Slack)`,
      `${exactlyOne(r.distinct)} / ${r.distinct.length}`,
      {
        baseline: 'every round: 1 dispatch, 1 run',
        note: `rounds with exactly one deploy; ${dispatches(r.distinct)} dispatches in all; votes ${sum(r.distinct)}`,
      },
    ),
    row(
      B,
      `${VOTES} concurrent approvals, one person (web+Slack)`,
      `${exactlyOne(r.same)} / ${r.same.length}`,
      {
        baseline: 'every round: 1 dispatch, 1 run',
        note: `${dispatches(r.same)} dispatches in all; votes ${sum(r.same)}`,
      },
    ),
    row(B, `${VOTES} approvals racing a superseding push`, `${violations} / ${r.supersede.length}`, {
      baseline: 0,
      note: `rounds that deployed a superseded commit; push first: ${how('push')}, approved + dispatched then superseded before the runner took it: ${how('approved-then-superseded')}, ran before the push (so not superseded): ${how('ran-before-push')}; ${Math.round(r.ms / 1000)} s in all`,
    }),
  ];
}

export async function run(): Promise<BenchRow[]> {
  return raceRows(await benchRaces());
}

if (require.main === module) {
  benchRaces().then(
    (r) => {
      console.log(`\napproval races: ${ROUNDS} rounds × ${VOTES} votes, real handlers, runner and helm`);
      console.log(
        table(
          [...r.distinct, ...r.same].map((x, i) => ({
            round: i % ROUNDS,
            voters: x.mix,
            'deploy dispatches': x.deployDispatches,
            'runner runs': x.runnerRuns,
            status: x.status ?? '',
            votes: Object.entries(x.outcomes)
              .map(([k, v]) => `${k} ${v}`)
              .join(', '),
          })),
        ),
      );
      console.log(
        table(
          r.supersede.map((s, i) => ({
            round: i,
            race: s.winner,
            'old commit': s.oldStatus ?? '',
            'new commit': s.newStatus ?? '',
            'old deploy jobs': s.oldDispatches,
            'old ran': s.oldRan ? 'yes' : 'no',
            'cluster runs old': s.clusterRunsOld ? 'yes' : 'no',
            violation: s.violation ? 'YES' : 'no',
          })),
        ),
      );
      console.log(`\nmachine: ${machine()}`);
      console.log(benchTable(raceRows(r)));
    },
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
}
