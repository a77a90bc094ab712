import { pruneDecision } from '../../../lib/deploy/prune';

const previous = [
  { name: 'web', namespace: 'a' },
  { name: 'old', namespace: 'b' },
  { name: 'older', namespace: 'c' },
];
const planned = [{ name: 'web', namespace: 'a' }];
const base = { environment: 'production', previous, planned, approvedRemovals: undefined } as const;

test('nothing removed, nothing to prune; no snapshot, nothing to prune', () => {
  expect(pruneDecision({ ...base, previous: planned, prune: 'allow', approval: 'none' })).toEqual({
    uninstall: [],
    kept: [],
  });
  expect(pruneDecision({ ...base, previous: undefined, prune: 'allow', approval: 'none' })).toEqual({
    uninstall: [],
    kept: [],
  });
});

test('the default policy (forbid) keeps every removed release, saying why', () => {
  const d = pruneDecision({ ...base, prune: 'forbid', approval: 'none' });
  expect(d.uninstall).toEqual([]);
  expect(d.kept.map((k) => `${k.name}: ${k.why}`)).toEqual([
    'old: the policy of production does not allow pruning',
    'older: the policy of production does not allow pruning',
  ]);
});

test('without approval, allowed pruning uninstalls every removed release', () => {
  expect(pruneDecision({ ...base, prune: 'allow', approval: 'none' }).uninstall).toEqual([
    { name: 'old', namespace: 'b' },
    { name: 'older', namespace: 'c' },
  ]);
});

test('under approval, only the removals the approval showed are uninstalled', () => {
  const d = pruneDecision({ ...base, prune: 'allow', approval: 'required', approvedRemovals: ['old'] });
  expect(d.uninstall).toEqual([{ name: 'old', namespace: 'b' }]);
  expect(d.kept).toEqual([
    { name: 'older', namespace: 'c', why: 'its removal was not in view when this deployment was approved' },
  ]);
  expect(pruneDecision({ ...base, prune: 'allow', approval: 'required' }).uninstall).toEqual([]);
});
