import { systemClock } from '../../../lib/clock';
import type { PlannedRelease } from '../../../lib/deploy/plan';
import { createLogger, memorySink } from '../../../lib/log/logger';
import { Redactor } from '../../../lib/log/redact';
import { rollbackOnHealthFailure } from '../../../lib/policy/policy';
import { UNDO_RESERVE_MS, undoBudget } from '../../../lib/runner/helm-cluster';
import { describeRollback, rollbackEnvironment, rollbackOrder } from '../../../lib/runner/rollback';

const rel = (name: string, needs: string[] = []) => ({ name, needs }) as unknown as PlannedRelease;

test('rollback order undoes dependents before what they need, limited to the releases given', () => {
  const releases = [rel('app', ['db', 'cache']), rel('db'), rel('cache'), rel('web', ['app']), rel('other')];
  expect(rollbackOrder(releases, new Set(['db', 'app', 'web', 'cache']))).toEqual([
    'web',
    'app',
    'cache',
    'db',
  ]);
  expect(rollbackOrder(releases, new Set(['db', 'other']))).toEqual(['other', 'db']);
});

test('the default is rollback where approval is required and keep elsewhere; the policy word wins', () => {
  expect(rollbackOnHealthFailure({ approval: 'required' })).toBe('rollback');
  expect(rollbackOnHealthFailure({ approval: 'none' })).toBe('keep');
  expect(rollbackOnHealthFailure({ approval: 'auto' })).toBe('keep');
  expect(rollbackOnHealthFailure({ approval: 'required', rollback: 'keep' })).toBe('keep');
  expect(rollbackOnHealthFailure({ approval: 'none', rollback: 'rollback' })).toBe('rollback');
});

test('a first install is left in place, a failing rollback does not stop the others, and the summary says so', async () => {
  const calls: Array<[string, number]> = [];
  const session = {
    async releaseStatus(r: PlannedRelease) {
      return { status: 'deployed', revision: { db: 4, app: 9, new: 1 }[r.name] as number };
    },
    async rollbackRelease(r: PlannedRelease, revision: number) {
      calls.push([r.name, revision]);
      if (r.name === 'db') throw new Error('helm rollback failed');
    },
  };
  const steps = await rollbackEnvironment({
    session,
    releases: [rel('db'), rel('app', ['db']), rel('new', ['db'])],
    changed: new Map([
      ['db', 4],
      ['app', 9],
      ['new', 1],
    ]),
    deadline: Date.now() + 60_000,
    logger: createLogger({ redactor: new Redactor(), clock: systemClock, write: memorySink().write }),
  });
  expect(calls).toEqual([
    ['app', 8],
    ['db', 3],
  ]);
  expect(describeRollback(steps)).toBe(
    'rolled back to app r8; left in place: new (first install, nothing ran before); rollback FAILED for db to r3',
  );
});

test('a release whose latest revision is not the one this deployment made is left in place, with the reason', async () => {
  const calls: Array<[string, number]> = [];
  const latest: Record<string, number | undefined> = { db: 4, app: 10, gone: undefined };
  const session = {
    async releaseStatus(r: PlannedRelease) {
      const revision = latest[r.name];
      return revision === undefined ? undefined : { status: 'deployed', revision };
    },
    async rollbackRelease(r: PlannedRelease, revision: number) {
      calls.push([r.name, revision]);
    },
  };
  const steps = await rollbackEnvironment({
    session,
    releases: [rel('db'), rel('app', ['db']), rel('gone')],
    changed: new Map([
      ['db', 4],
      ['app', 9],
      ['gone', 3],
    ]),
    deadline: Date.now() + 60_000,
    logger: createLogger({ redactor: new Redactor(), clock: systemClock, write: memorySink().write }),
  });
  expect(calls).toEqual([['db', 3]]);
  expect(describeRollback(steps)).toBe(
    'rolled back to db r3; left in place: gone (no longer installed; this deployment made r3), app (its latest revision r10 is not r9, the one this deployment made)',
  );
});

test('the summary names a failed first install that was uninstalled, and a rollback that failed before it had a target', () => {
  expect(
    describeRollback([
      { release: 'front', outcome: 'uninstalled' },
      { release: 'base', to: 4, outcome: 'rolled-back' },
      { release: 'db', outcome: 'failed', reason: 'no earlier revision to return to' },
    ]),
  ).toBe('rolled back to base r4; uninstalled the failed first install of front; rollback FAILED for db');
  expect(describeRollback([{ release: 'front', outcome: 'uninstalled' }])).toBe(
    'uninstalled the failed first install of front',
  );
});

test('a failed upgrade is diagnosed and undone within the deadline: a third of what is left for the diagnosis, the rest for the rollback', () => {
  const now = 1_000_000;
  // plenty of time: the diagnosis gets its 30 s, the rollback the release's timeout
  expect(undoBudget({ deadline: now + 600_000, now, timeoutSeconds: 300 })).toEqual({
    diagnoseMs: 30_000,
    rollback: { timeoutSeconds: 300, processTimeoutMs: 310_000 },
  });
  // what the attempt's reserve leaves (UNDO_RESERVE_MS before the deadline): both end before it
  const tight = undoBudget({ deadline: now + UNDO_RESERVE_MS, now, timeoutSeconds: 300 });
  expect(tight.diagnoseMs).toBe(20_000);
  const rollbackFrom = now + tight.diagnoseMs;
  const afterDiagnosis = undoBudget({
    deadline: now + UNDO_RESERVE_MS,
    now: rollbackFrom,
    timeoutSeconds: 300,
  });
  expect(rollbackFrom + afterDiagnosis.rollback.processTimeoutMs).toBeLessThanOrEqual(now + UNDO_RESERVE_MS);
  // past the deadline: still a short rollback, ending well inside the runner's 60 s margin
  expect(undoBudget({ deadline: now, now: now + 5_000, timeoutSeconds: 300 }).rollback.processTimeoutMs).toBe(
    20_000,
  );
});
