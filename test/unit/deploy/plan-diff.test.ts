import { diffPlans, snapshotOf, summaryLines } from '../../../lib/deploy/plan-diff';
import { plan, release } from '../../integration/approval/approval-fixtures';

describe('plan diff', () => {
  const before = snapshotOf(
    plan({
      releases: [
        release('jupyterhub', {
          chart: { kind: 'repo', repository: 'jupyterhub', url: 'u', name: 'jupyterhub', version: '4.3.0' },
          mergedValues: { hub: { replicas: 1, image: 'a' } },
        }),
        release('grafana', { digest: 'g1' }),
        release('old', { digest: 'o1' }),
      ],
    }),
  );
  const next = plan({
    releases: [
      release('jupyterhub', {
        digest: 'j2',
        mergedValues: { hub: { replicas: 2, image: 'a' } },
        secretValues: [{ path: 'hub.secret', ref: { secret: 'idr/oauth-v2', key: 'client_secret' } }],
      }),
      release('grafana', { digest: 'g1' }),
      release('scratch', { chart: { kind: 'local', path: 'charts/scratch' }, secretValues: [] }),
    ],
  });

  test('per release: chart change, unified values diff, secret keys by path, unchanged, new and removed', () => {
    const changes = diffPlans(before, next);
    const hub = changes.find((c) => c.name === 'jupyterhub');
    expect(hub?.change).toBe('changed');
    expect(hub?.chart).toEqual({ from: 'jupyterhub/jupyterhub@4.3.0', to: 'jupyterhub/jupyterhub@4.4.0' });
    expect(hub?.valuesDiff).toContain('-  replicas: 1');
    expect(hub?.valuesDiff).toContain('+  replicas: 2');
    expect(hub?.secretKeysChanged).toEqual(['hub.secret']);
    expect(changes.find((c) => c.name === 'grafana')).toEqual({
      name: 'grafana',
      change: 'unchanged',
      secretKeysChanged: [],
    });
    expect(changes.find((c) => c.name === 'scratch')?.change).toBe('new');
    expect(changes.find((c) => c.name === 'old')?.change).toBe('removed');
    expect(summaryLines(changes)).toEqual([
      'jupyterhub: chart jupyterhub/jupyterhub@4.3.0 → jupyterhub/jupyterhub@4.4.0, values changed, secret keys changed: hub.secret',
      'grafana: unchanged',
      'scratch: new (./charts/scratch)',
      'old: removed from the plan (will be uninstalled where the policy allows pruning)',
    ]);
  });

  test('with nothing deployed before, every release is new; snapshots carry secret names, never values', () => {
    const changes = diffPlans(undefined, next);
    expect(changes.map((c) => c.change)).toEqual(['new', 'new', 'new']);
    expect(snapshotOf(next).releases[0]?.secretValues).toEqual([
      { path: 'hub.secret', secret: 'idr/oauth-v2#client_secret' },
    ]);
  });

  test('a digest change with the same merged values says so instead of showing nothing', () => {
    const same = plan({ releases: [release('grafana', { digest: 'g2' })] });
    const [c] = diffPlans(before, same);
    expect(c?.change).toBe('changed');
    expect(c?.valuesDiff).toBeUndefined();
    expect(c?.note).toMatch(/chart files or values file text changed/);
  });

  test('declaring or dropping helm test shows as such, not as an invisible change (issue 13 item 8)', () => {
    const tested = (on: boolean, digest: string) =>
      plan({
        releases: [release('grafana', { digest, health: { workloads: true, http: [], helmTest: on } })],
      });
    const added = diffPlans(before, tested(true, 'g3'));
    expect(added[0]).toMatchObject({ change: 'changed', note: 'helm test added' });
    expect(summaryLines(added)[0]).toBe('grafana: helm test added');
    expect(snapshotOf(tested(true, 'g3')).releases[0]?.helmTest).toBe(true);
    // a snapshot without tests has no field: snapshots stored before tests existed compare the same
    expect(snapshotOf(tested(false, 'g1')).releases[0]).not.toHaveProperty('helmTest');
    const dropped = diffPlans(snapshotOf(tested(true, 'g3')), tested(false, 'g1'));
    expect(dropped[0]).toMatchObject({ change: 'changed', note: 'helm test dropped' });
  });
});
