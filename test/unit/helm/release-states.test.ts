import { releaseKey, releaseStatesFromRecords } from '../../../lib/helm/release-states';

const rec = (namespace: string, name: string, version: string, status: string, owner = 'helm') => ({
  namespace,
  name: `sh.helm.release.v1.${name}.v${version}`,
  labels: { owner, name, version, status },
});

test('the newest revision of each release wins, with its own status', () => {
  const states = releaseStatesFromRecords([
    rec('web', 'web', '2', 'deployed'),
    rec('web', 'web', '1', 'superseded'),
    rec('web', 'web', '10', 'failed'),
    rec('apps', 'db', '1', 'deployed'),
  ]);
  expect(states.get(releaseKey('web', 'web'))).toEqual({ status: 'failed', revision: 10 });
  expect(states.get(releaseKey('apps', 'db'))).toEqual({ status: 'deployed', revision: 1 });
  expect(states.size).toBe(2);
});

test('the same release name in two namespaces is two releases', () => {
  const states = releaseStatesFromRecords([
    rec('a', 'web', '3', 'deployed'),
    rec('b', 'web', '1', 'deployed'),
  ]);
  expect(states.get('a/web')?.revision).toBe(3);
  expect(states.get('b/web')?.revision).toBe(1);
});

test('records that are not helm release records are ignored', () => {
  const states = releaseStatesFromRecords([
    rec('web', 'web', '1', 'deployed', 'someone-else'),
    rec('web', 'web', 'x', 'deployed'),
    rec('web', 'web', '0', 'deployed'),
    { namespace: 'web', name: 'other', labels: {} },
    { name: 'no-namespace', labels: { owner: 'helm', name: 'web', version: '1' } },
  ]);
  expect(states.size).toBe(0);
});
