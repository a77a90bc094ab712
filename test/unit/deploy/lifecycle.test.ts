import { fixedClock } from '../../../lib/clock';
import {
  DEPLOYMENT_STATUSES,
  type Deployment,
  type DeploymentStatus,
  decide,
  EDGES,
  type LifecycleEvent,
  type LifecycleEventType,
  lockName,
  nextToRun,
  type Step,
  supersedeReason,
} from '../../../lib/deploy/lifecycle';
import { RecordingDispatcher } from '../../../lib/dispatch/dispatcher';
import { applyAll } from '../../../lib/lifecycle/apply';
import type { Notifier } from '../../../lib/notify/notifier';
import { LifecycleEdgeError } from '../../../lib/store/deployment-store';
import { MemoryDeploymentStore } from '../../fakes/memory-store';

const NOW = '2026-01-01T00:10:00.000Z';

function dep(id: string, status: DeploymentStatus, over: Partial<Deployment> = {}): Deployment {
  return {
    id,
    repository: 'org/charts',
    environment: 'production',
    sha: `${id}`.padEnd(40, '0'),
    ref: 'refs/heads/main',
    status,
    approval: 'required',
    createdAt: '2026-01-01T00:00:00.000Z',
    updatedAt: '2026-01-01T00:00:00.000Z',
    ...over,
  };
}

/**
 * The expected table, written out by hand (not derived from the module under test): for each event,
 * the state it may act in and the state it leads to. `stay` means: accepted, but no edge is taken.
 */
const EXPECTED: Record<string, Partial<Record<DeploymentStatus, DeploymentStatus | 'stay'>>> = {
  superseded: { awaiting_approval: 'superseded', queued: 'superseded' },
  'offer-opened': { awaiting_approval: 'stay' },
  'vote (deciding)': { awaiting_approval: 'queued' },
  'vote (not deciding)': { awaiting_approval: 'stay' },
  rejection: { awaiting_approval: 'rejected' },
  expiry: { awaiting_approval: 'expired' },
  unplannable: { awaiting_approval: 'failed' },
  promoted: { awaiting_approval: 'queued' },
  'run-started': { queued: 'running' },
  'run-finished (succeeded)': { running: 'succeeded' },
  'run-finished (rendered)': { running: 'rendered' },
  'run-finished (failed)': { running: 'failed' },
  'dead-run': { running: 'failed' },
  'hand-off': { running: 'queued' },
  // approvers overrode the freeze an approved deployment waits in: it stays queued and is dispatched
  'freeze-override': { queued: 'queued' },
  // an older deployment of the environment in this state, when a new one is created
  'created (older one)': { awaiting_approval: 'superseded', queued: 'superseded' },
  // a deployment in this state, when its environment is let go (only queued ones run next)
  'environment-free': { queued: 'stay' },
};

/** One event per table row, about a deployment `t` (for `created`: a newer one; `t` is the older). */
function eventFor(row: string, t: Deployment): { event: LifecycleEvent; environment?: Deployment[] } {
  const newer = dep('new', 'queued', { createdAt: '2026-01-01T00:05:00.000Z', approval: 'none' });
  switch (row) {
    case 'superseded':
      return { event: { type: 'superseded', target: t, by: newer } };
    case 'offer-opened':
      return { event: { type: 'offer-opened', target: t } };
    case 'vote (deciding)':
      return { event: { type: 'vote', target: t, final: true } };
    case 'vote (not deciding)':
      return { event: { type: 'vote', target: t, final: false } };
    case 'rejection':
      return { event: { type: 'rejection', target: t, by: 'alice', via: 'web' } };
    case 'expiry':
      return { event: { type: 'expiry', target: t, expiresAt: NOW } };
    case 'unplannable':
      return { event: { type: 'unplannable', target: t, reason: 'no plan' } };
    case 'promoted':
      return { event: { type: 'promoted', target: t, planDigest: 'p' } };
    case 'run-started':
      return { event: { type: 'run-started', target: t } };
    case 'run-finished (succeeded)':
      return { event: { type: 'run-finished', target: t, outcome: 'succeeded' } };
    case 'run-finished (rendered)':
      return { event: { type: 'run-finished', target: t, outcome: 'rendered' } };
    case 'run-finished (failed)':
      return { event: { type: 'run-finished', target: t, outcome: 'failed', reason: 'x' } };
    case 'dead-run':
      return { event: { type: 'dead-run', target: t, lockExpiredAt: NOW } };
    case 'hand-off':
      return { event: { type: 'hand-off', target: t, continuation: 1 } };
    case 'freeze-override': {
      const until = '2026-01-01T06:00:00.000Z';
      return {
        event: {
          type: 'freeze-override',
          target: { ...t, frozenUntil: until },
          override: {
            until,
            required: 1,
            votes: [{ login: 'alice', label: 'alice', via: 'web', at: NOW, reason: 'hotfix' }],
            completedAt: NOW,
          },
        },
      };
    }
    case 'created (older one)':
      return { event: { type: 'created', deployment: newer, offer: false }, environment: [newer, t] };
    case 'environment-free':
      return { event: { type: 'environment-free' }, environment: [t] };
    default:
      throw new Error(row);
  }
}

const silent: Notifier = { deploymentChanged: async () => {} };

describe('the deployment lifecycle: every (state, event) pair', () => {
  it('covers every event type of the module', () => {
    const covered = new Set(Object.keys(EXPECTED).map((row) => eventFor(row, dep('t', 'queued')).event.type));
    const all: LifecycleEventType[] = [
      'created',
      'superseded',
      'offer-opened',
      'vote',
      'rejection',
      'expiry',
      'unplannable',
      'promoted',
      'run-started',
      'run-finished',
      'dead-run',
      'hand-off',
      'freeze-override',
      'environment-free',
    ];
    expect([...covered].sort()).toEqual([...all].sort());
  });

  const cases = Object.keys(EXPECTED).flatMap((row) =>
    DEPLOYMENT_STATUSES.map((state) => [row, state] as const),
  );
  it.each(cases)('%s in %s: the allowed edge is taken, anything else is refused', async (row, state) => {
    const store = new MemoryDeploymentStore();
    const dispatcher = new RecordingDispatcher();
    const t = dep('t', state);
    await store.createDeployment(t);
    const { event, environment } = eventFor(row, t);
    const steps = decide(event, { now: NOW, ...(environment ? { environment } : {}) });
    const about = steps.filter(
      (s): s is Exclude<Step, { kind: 'dispatch' }> => s.kind !== 'dispatch' && s.id === 't',
    );
    for (const s of steps)
      if (s.kind === 'move') expect(EDGES[s.from[0] as DeploymentStatus]).toContain(s.to);

    const expected = EXPECTED[row]?.[state];
    const applied = await applyAll({ store, notifier: silent, dispatcher, clock: fixedClock(NOW) }, steps);
    const after = (await store.getDeployment('t'))?.status;
    if (expected === undefined) {
      // refused: no move of t, nothing dispatched for it, its status unchanged
      expect(about.every((s) => s.kind === 'refuse')).toBe(true);
      if (!row.startsWith('created') && row !== 'environment-free')
        expect(about.map((s) => s.kind)).toEqual(['refuse']);
      expect(dispatcher.jobs.filter((j) => j.deploymentId === 't')).toEqual([]);
      expect(after).toBe(state);
    } else if (expected === 'stay') {
      expect(about.every((s) => s.kind === 'none') || row === 'environment-free').toBe(true);
      expect(after).toBe(state);
      if (row === 'environment-free') expect(dispatcher.jobs).toEqual([{ deploymentId: 't' }]);
    } else {
      expect(about.map((s) => s.kind)).toEqual(['move']);
      expect(applied.some((a) => a.kind === 'moved' && a.deployment.id === 't')).toBe(true);
      expect(after).toBe(expected);
      expect(EDGES[state]).toContain(expected);
    }
  });
});

describe('the store refuses a move that is not an edge', () => {
  const pairs = DEPLOYMENT_STATUSES.flatMap((from) => DEPLOYMENT_STATUSES.map((to) => [from, to] as const));
  it.each(pairs)('%s → %s', async (from, to) => {
    const store = new MemoryDeploymentStore();
    await store.createDeployment(dep('t', from));
    const move = store.transition('t', [from], to, {}, new Date(NOW));
    if (EDGES[from].includes(to)) await expect(move).resolves.toMatchObject({ status: to });
    else {
      await expect(move).rejects.toBeInstanceOf(LifecycleEdgeError);
      expect((await store.getDeployment('t'))?.status).toBe(from);
    }
  });

  it('has no edge out of a terminal state and none into awaiting_approval', () => {
    for (const s of ['succeeded', 'rendered', 'failed', 'rejected', 'superseded', 'expired'] as const)
      expect(EDGES[s]).toEqual([]);
    for (const s of DEPLOYMENT_STATUSES) expect(EDGES[s]).not.toContain('awaiting_approval');
  });
});

describe('one rule each', () => {
  it('runs the NEWEST queued deployment next and supersedes the older queued ones', () => {
    const older = dep('a', 'queued', { createdAt: '2026-01-01T00:01:00.000Z' });
    const newest = dep('c', 'queued', { createdAt: '2026-01-01T00:03:00.000Z' });
    const middle = dep('b', 'queued', { createdAt: '2026-01-01T00:02:00.000Z' });
    const waiting = dep('d', 'awaiting_approval', { createdAt: '2026-01-01T00:04:00.000Z' });
    expect(nextToRun([older, newest, middle, waiting])).toEqual({
      next: newest,
      superseded: [middle, older],
    });
    const steps = decide({ type: 'environment-free' }, { now: NOW, environment: [older, newest, middle] });
    expect(steps).toEqual([
      expect.objectContaining({
        kind: 'move',
        id: 'b',
        to: 'superseded',
        patch: expect.objectContaining({ reason: supersedeReason(newest) }),
      }),
      expect.objectContaining({ kind: 'move', id: 'a', to: 'superseded' }),
      expect.objectContaining({ kind: 'dispatch', job: { deploymentId: 'c' } }),
    ]);
  });

  it('writes one supersede reason, with the id and the commit of the deployment that took the place', () => {
    expect(supersedeReason({ id: 'abc1234-production-0123456789', sha: 'f'.repeat(40) })).toBe(
      `superseded by abc1234-production-0123456789 (${'f'.repeat(12)})`,
    );
  });

  it('names the environment lock once', () => {
    expect(lockName({ repository: 'org/charts', environment: 'public' })).toBe('env:org/charts:public');
  });

  it('a deployment created after a newer one of its environment gives way itself and never runs', () => {
    const newer = dep('n', 'queued', { createdAt: '2026-01-01T00:05:00.000Z' });
    const late = dep('l', 'queued', { createdAt: '2026-01-01T00:01:00.000Z' });
    const steps = decide(
      { type: 'created', deployment: late, offer: false },
      { now: NOW, environment: [newer, late] },
    );
    expect(steps).toEqual([
      expect.objectContaining({
        kind: 'move',
        id: 'l',
        to: 'superseded',
        patch: expect.objectContaining({ reason: supersedeReason(newer) }),
      }),
    ]);
  });

  it('two deployments created in the same millisecond: exactly one gives way, whichever looks', () => {
    const a = dep('a', 'queued');
    const b = dep('b', 'queued');
    const byA = decide({ type: 'created', deployment: a, offer: false }, { now: NOW, environment: [a, b] });
    const byB = decide({ type: 'created', deployment: b, offer: false }, { now: NOW, environment: [a, b] });
    const loser = (steps: Step[]) => steps.flatMap((s) => (s.kind === 'move' ? [s.id] : []));
    expect(loser(byA)).toEqual(['a']);
    expect(loser(byB)).toEqual(['a']);
  });
});

describe('freeze override', () => {
  const until = '2026-01-01T06:00:00.000Z';
  const override = {
    until,
    required: 2,
    votes: [
      { login: 'alice', label: 'alice', via: 'web', at: NOW, reason: 'security fix' },
      { login: 'bob', label: 'bob (cli)', via: 'cli', at: NOW, reason: 'agreed' },
    ],
    completedAt: NOW,
  };

  it('moves a frozen queued deployment along queued → queued with the override, and dispatches it', async () => {
    const store = new MemoryDeploymentStore();
    const dispatcher = new RecordingDispatcher();
    const t = dep('t', 'queued', { frozenUntil: until });
    await store.createDeployment(t);
    await applyAll(
      { store, notifier: silent, dispatcher, clock: fixedClock(NOW) },
      decide({ type: 'freeze-override', target: t, override }, { now: NOW }),
    );
    const after = await store.getDeployment('t');
    expect(after?.freezeOverride).toEqual(override);
    expect(after?.reason).toBe(`freeze until ${until} overridden by alice, bob (cli): starts now`);
    expect(dispatcher.jobs).toEqual([{ deploymentId: 't' }]);
  });

  it('is refused for a queued deployment that does not wait in that freeze', () => {
    for (const frozenUntil of [undefined, '2026-01-02T06:00:00.000Z']) {
      const t = dep('t', 'queued', frozenUntil ? { frozenUntil } : {});
      const steps = decide({ type: 'freeze-override', target: t, override }, { now: NOW });
      expect(steps.map((s) => s.kind)).toEqual(['refuse']);
    }
  });
});
