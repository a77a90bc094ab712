import { approvalRound, type RaceWorld, startRaceWorld, supersedeRound } from '../scenarios/races';

/**
 * Approval races through the real web and Slack handlers on one ApprovalService over dynalite, whose
 * dispatcher runs the real runner (real helm, Kubernetes API stand-in). bench/races.ts runs the same
 * rounds with 100 votes and more rounds.
 */

let rw: RaceWorld;

beforeAll(async () => {
  rw = await startRaceWorld();
}, 60_000);

afterAll(async () => {
  await rw?.close();
});

test('30 concurrent approvals by different people, web and Slack mixed, dispatch and run exactly one deploy', async () => {
  const r = await approvalRound(rw, 30, 'distinct');
  expect(r.deployDispatches).toBe(1);
  expect(r.runnerRuns).toBe(1);
  expect(r.status).toBe('succeeded');
  expect(r.outcomes.approved).toBe(1);
  // every vote was answered without a server error: web 303/409, Slack acknowledged 200
  expect(Object.keys(r.statuses).every((s) => Number(s) < 500)).toBe(true);
  expect(Object.values(r.outcomes).reduce((a, b) => a + b, 0)).toBe(30);
  // every voter is an allowed, mapped login: the losers lost the race, none was refused as a stranger
  expect(r.outcomes['refused: forbidden']).toBeUndefined();
});

test('30 concurrent approvals by one person through web and Slack dispatch exactly one deploy', async () => {
  const r = await approvalRound(rw, 30, 'same-person');
  expect(r.deployDispatches).toBe(1);
  expect(r.runnerRuns).toBe(1);
  expect(r.status).toBe('succeeded');
  expect(r.outcomes.approved).toBe(1);
});

test('approvals racing a superseding push never deploy the superseded commit', async () => {
  // a round where the approval and its run won before the push arrived never reaches the supersede
  // path; rounds go on until three of them did (at most ten), and fewer than three fails the test
  const winners: Record<string, number> = {};
  let superseding = 0;
  for (let i = 0; i < 10 && superseding < 3; i++) {
    const r = await supersedeRound(rw, 30);
    winners[r.winner] = (winners[r.winner] ?? 0) + 1;
    expect(r.violation).toBe(false);
    if (r.winner !== 'ran-before-push') {
      superseding++;
      expect(r.oldStatus).toBe('superseded');
      expect(r.oldRan).toBe(false);
      expect(r.clusterRunsOld).toBe(false);
    } else {
      // the approval landed and the runner started it before the push arrived: it ran to the end
      expect(r.oldStatus).toBe('succeeded');
    }
    expect(r.newStatus).toBe('awaiting_approval');
  }
  expect({ superseding, winners }).toEqual({ superseding: 3, winners: expect.any(Object) });
}, 120_000);
