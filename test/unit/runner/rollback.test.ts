import { systemClock } from '../../../lib/clock';
import type { PlannedRelease } from '../../../lib/deploy/plan';
import { createLogger, memorySink } from '../../../lib/log/logger';
import { Redactor } from '../../../lib/log/redact';
import { rollbackOnHealthFailure } from '../../../lib/policy/policy';
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
