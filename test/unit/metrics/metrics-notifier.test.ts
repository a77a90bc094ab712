import type { Deployment } from '../../../lib/deploy/deployment';
import { MetricsNotifier } from '../../../lib/metrics/metrics-notifier';

interface Emf {
  _aws: {
    CloudWatchMetrics: Array<{
      Namespace: string;
      Dimensions: string[][];
      Metrics: Array<{ Name: string; Unit: string }>;
    }>;
  };
  [key: string]: unknown;
}

const base: Deployment = {
  id: 'abc1234-production-1',
  repository: 'idr/deployment',
  environment: 'production',
  sha: 'abc1234'.padEnd(40, '0'),
  ref: 'refs/heads/main',
  status: 'failed',
  approval: 'required',
  createdAt: '2026-01-01T10:00:00.000Z',
  updatedAt: '2026-01-01T10:30:00.000Z',
  startedAt: '2026-01-01T10:20:00.000Z',
  finishedAt: '2026-01-01T10:21:30.000Z',
  releases: [
    { name: 'jupyterhub-public', namespace: 'jh', status: 'failed', attempts: 3, chart: 'x' },
    { name: 'grafana', namespace: 'mon', status: 'succeeded', attempts: 2, chart: 'y' },
    { name: 'prometheus', namespace: 'mon', status: 'skipped', attempts: 0, chart: 'z' },
    { name: 'website', namespace: 'web', status: 'cancelled', attempts: 0, chart: 'w' },
  ],
};

function capture() {
  const lines: Emf[] = [];
  const n = new MetricsNotifier({
    namespace: 'Helmgate',
    service: 'helmgate',
    write: (l) => lines.push(JSON.parse(l)),
  });
  return { n, lines };
}

test('a failed production deploy emits DeploymentFailed with exactly service and environment, the alarm’s dimensions', async () => {
  const { n, lines } = capture();
  await n.deploymentChanged(base);
  const env = lines[0] as Emf;
  const meta = env._aws.CloudWatchMetrics[0];
  expect(meta?.Namespace).toBe('Helmgate');
  expect(meta?.Dimensions).toEqual([['service', 'environment']]);
  expect(env).toMatchObject({ service: 'helmgate', environment: 'production', DeploymentFailed: 1 });
  expect(env.DeploymentDuration).toBe(90_000);
  expect(env.ReleaseRetries).toBe(3); // 2 retries of one release + 1 of another
  expect(meta?.Metrics.map((m) => m.Name).sort()).toEqual([
    'DeploymentDuration',
    'DeploymentFailed',
    'ReleaseRetries',
  ]);
  // one line per finished release, cancelled ones are not outcomes of their own
  const perRelease = lines
    .slice(1)
    .map((l) => [l.release, Object.keys(l).find((k) => k.startsWith('Release'))]);
  expect(perRelease).toEqual([
    ['jupyterhub-public', 'ReleaseFailed'],
    ['grafana', 'ReleaseSucceeded'],
    ['prometheus', 'ReleaseSkipped'],
  ]);
  expect(lines[1]?._aws.CloudWatchMetrics[0]?.Dimensions).toEqual([['service', 'environment', 'release']]);
});

test('approval wait is measured when an approval queues the deployment; running states emit nothing', async () => {
  const { n, lines } = capture();
  await n.deploymentChanged({ ...base, status: 'running', releases: [] });
  expect(lines).toHaveLength(0);
  const { startedAt: _s, finishedAt: _f, ...waiting } = base;
  await n.deploymentChanged({ ...waiting, status: 'queued', updatedAt: '2026-01-01T10:15:00.000Z' });
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatchObject({ ApprovalWait: 900, environment: 'production' });
  // a hand-off back to queued (already started) is not an approval
  await n.deploymentChanged({ ...base, status: 'queued' });
  expect(lines).toHaveLength(1);
});

test('a success counts as DeploymentSucceeded', async () => {
  const { n, lines } = capture();
  await n.deploymentChanged({ ...base, environment: 'staging', status: 'succeeded', releases: [] });
  expect(lines[0]).toMatchObject({ DeploymentSucceeded: 1, environment: 'staging' });
  expect(lines[0]).not.toHaveProperty('DeploymentFailed');
});

test('a deployment that failed without running is counted as blocked, not as a failed deploy', async () => {
  const { n, lines } = capture();
  const { startedAt: _s, ...neverRan } = base;
  await n.deploymentChanged({
    ...neverRan,
    status: 'failed',
    reason: 'staging failed for abc1234',
    releases: [],
  });
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatchObject({ DeploymentBlocked: 1, environment: 'production' });
  expect(lines[0]).not.toHaveProperty('DeploymentFailed');
});
