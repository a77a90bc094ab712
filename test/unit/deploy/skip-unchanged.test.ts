import { skipDecision } from '../../../lib/deploy/skip-unchanged';

const recorded = { digest: 'd1', revision: 4 };

test('skips only when the digest is the recorded one and helm still runs that revision, deployed', () => {
  expect(
    skipDecision({ force: false, digest: 'd1', recorded, live: { status: 'deployed', revision: 4 } }),
  ).toEqual({ skip: true, revision: 4 });
});

test('force, a first deploy and a changed digest deploy', () => {
  const live = { status: 'deployed', revision: 4 };
  expect(skipDecision({ force: true, digest: 'd1', recorded, live })).toMatchObject({
    skip: false,
    why: 'forced',
  });
  expect(skipDecision({ force: false, digest: 'd1', recorded: undefined, live })).toMatchObject({
    skip: false,
    why: 'first',
  });
  expect(skipDecision({ force: false, digest: 'd2', recorded, live })).toMatchObject({
    skip: false,
    why: 'changed',
  });
});

test.each([
  ['another revision (a hand-run rollback or upgrade)', { status: 'deployed', revision: 5 }, 'revision 5'],
  ['a failed revision', { status: 'failed', revision: 4 }, '(failed)'],
  ['a pending revision', { status: 'pending-upgrade', revision: 4 }, 'pending-upgrade'],
  ['no release at all (uninstalled)', undefined, 'no release'],
])('drift: %s is deployed again, with what was found', (_what, live, detail) => {
  const d = skipDecision({ force: false, digest: 'd1', recorded, live });
  expect(d).toMatchObject({ skip: false, why: 'drifted' });
  expect(d.skip === false && d.detail).toContain(detail);
});

test('a release the drift check marked is deployed again although helm still runs the recorded revision', () => {
  expect(
    skipDecision({
      force: false,
      digest: 'd1',
      recorded: { ...recorded, drifted: 'the drift check found: web: Deployment web/web: spec.replicas' },
      live: { status: 'deployed', revision: 4 },
    }),
  ).toEqual({
    skip: false,
    why: 'drifted',
    detail: 'the drift check found: web: Deployment web/web: spec.replicas',
  });
});
