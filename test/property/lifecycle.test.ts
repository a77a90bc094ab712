import fc from 'fast-check';
import { ApprovalRefusedError } from '../../lib/approval/approval-service';
import {
  type Deployment,
  type DeploymentStatus,
  deadRuns,
  initialStatus,
  lockName,
} from '../../lib/deploy/lifecycle';
import { handle } from '../../lib/lifecycle/apply';
import { sweep } from '../../lib/sweeper/sweeper';
import { MemoryDeploymentStore } from '../fakes/memory-store';
import { makeService, plan } from '../integration/approval/approval-fixtures';

/**
 * Any sequence of events — pushes, votes, rejections, expiry, runs starting, finishing, dying, handing
 * off, the sweeper — keeps at most one deployment per environment running, and never runs a
 * superseded deployment or a production deployment nobody approved. The entry points are the real
 * ones where they need no cluster (approval service, sweeper, decide + apply); a run is the runner's
 * protocol around the lock (take the lock, fail dead runs, start; finish, let go, run the next).
 */
type Command =
  | { c: 'push'; env: 'staging' | 'production' }
  | { c: 'approve'; pick: number }
  | { c: 'reject'; pick: number }
  | { c: 'start'; pick: number }
  | { c: 'finish'; pick: number; outcome: 'succeeded' | 'failed' }
  | { c: 'hand-off'; pick: number }
  | { c: 'die'; pick: number }
  | { c: 'tick'; ms: number }
  | { c: 'sweep' };

const command: fc.Arbitrary<Command> = fc.oneof(
  fc.record({
    c: fc.constant('push' as const),
    env: fc.constantFrom('staging' as const, 'production' as const),
  }),
  fc.record({ c: fc.constant('approve' as const), pick: fc.nat() }),
  fc.record({ c: fc.constant('reject' as const), pick: fc.nat() }),
  { weight: 4, arbitrary: fc.record({ c: fc.constant('start' as const), pick: fc.nat() }) },
  fc.record({
    c: fc.constant('finish' as const),
    pick: fc.nat(),
    outcome: fc.constantFrom('succeeded' as const, 'failed' as const),
  }),
  fc.record({ c: fc.constant('hand-off' as const), pick: fc.nat() }),
  fc.record({ c: fc.constant('die' as const), pick: fc.nat() }),
  fc.record({ c: fc.constant('tick' as const), ms: fc.constantFrom(1000, 60_000, 200_000, 25 * 3600_000) }),
  fc.record({ c: fc.constant('sweep' as const) }),
);

const LEASE_MS = 120_000;
/** how often the interesting paths ran, across all cases: a property that never ran them proves nothing */
const exercised = { productionRuns: 0, stagingRuns: 0, deadRuns: 0, superseded: 0 };

async function runSequence(
  commands: Command[],
  opts: { skipLockProtocol?: boolean } = {},
): Promise<string[]> {
  const store = new MemoryDeploymentStore();
  const { service, clock, notifier, dispatcher, deps } = makeService({ store });
  const lifecycle = { store, notifier, dispatcher, clock, logger: deps.logger };
  const violations: string[] = [];
  /** runs in progress: deployment id → the invocation holding the lock */
  const runs = new Map<string, string>();
  const superseded = new Set<string>();
  let pushes = 0;
  let invocations = 0;
  const all = async () => store.listDeployments({ limit: 1000 });
  const pick = async (n: number, statuses: DeploymentStatus[]) => {
    const ds = (await all()).filter((d) => statuses.includes(d.status));
    return ds.length ? ds[n % ds.length] : undefined;
  };

  for (const cmd of commands) {
    switch (cmd.c) {
      case 'push': {
        pushes++;
        const sha = pushes.toString(16).padStart(40, '0');
        const approval = cmd.env === 'staging' ? ('none' as const) : ('required' as const);
        const d: Deployment = {
          // zero-padded: same-millisecond deployments are ordered by id (lib/deploy/lifecycle.ts), as pushed
          id: `d${String(pushes).padStart(4, '0')}-${cmd.env}`,
          repository: 'org/charts',
          environment: cmd.env,
          sha,
          ref: 'refs/heads/main',
          status: initialStatus(approval),
          approval,
          pusher: 'pusher',
          createdAt: clock.now().toISOString(),
          updatedAt: clock.now().toISOString(),
        };
        await store.createDeployment(d);
        await handle(
          lifecycle,
          { type: 'created', deployment: d, offer: false },
          { environment: await store.listByEnvironment(d.repository, d.environment) },
        );
        if (approval === 'required') {
          const { after: _after, ...p } = plan({ sha, environment: cmd.env });
          // pushed in the same millisecond as another one, it may have given way already: then the
          // offer is refused, as the runner's offer job would find it no longer waiting
          await service.offer(d.id, { plan: p }).catch((e) => {
            if (!(e instanceof ApprovalRefusedError)) throw e;
          });
        }
        break;
      }
      case 'approve':
      case 'reject': {
        const d = await pick(cmd.pick, ['awaiting_approval', 'queued', 'superseded']);
        if (!d) break;
        await service
          .vote({
            deploymentId: d.id,
            voter: { kind: 'slack', id: 'U0CAROL' },
            via: 'slack',
            decision: cmd.c,
            rollback: true,
          })
          .catch((e) => {
            if (!(e instanceof ApprovalRefusedError)) throw e;
          });
        break;
      }
      case 'start': {
        // the runner: take the environment's lock, fail the dead runs it finds, then start
        const d = await pick(cmd.pick, ['queued']);
        if (!d) break;
        const holder = `inv-${++invocations}`;
        if (!opts.skipLockProtocol && !(await store.acquireLock(lockName(d), holder, LEASE_MS, clock.now())))
          break;
        const env = await store.listByEnvironment(d.repository, d.environment);
        if (!opts.skipLockProtocol)
          for (const dead of deadRuns(env, d.id))
            await handle(lifecycle, { type: 'dead-run', target: dead, takenOverBy: d.id });
        const [started] = await handle(lifecycle, { type: 'run-started', target: d });
        if (started?.kind !== 'moved') {
          await store.releaseLock(lockName(d), holder);
          break;
        }
        if (superseded.has(d.id)) violations.push(`${d.id} ran after it was superseded`);
        if (d.environment === 'production') {
          const req = await store.getApprovalRequest(d.id);
          if (req?.status !== 'approved') violations.push(`${d.id} ran without an approval (${req?.status})`);
        }
        runs.set(d.id, holder);
        exercised[d.environment === 'production' ? 'productionRuns' : 'stagingRuns']++;
        break;
      }
      case 'finish':
      case 'hand-off':
      case 'die': {
        const ids = [...runs.keys()];
        const id = ids[cmd.pick % Math.max(1, ids.length)];
        if (!id) break;
        const holder = runs.get(id) as string;
        runs.delete(id);
        if (cmd.c === 'die') break; // killed: the lock stays until its lease runs out
        const d = (await store.getDeployment(id)) as Deployment;
        if (cmd.c === 'hand-off') {
          await handle(
            lifecycle,
            { type: 'hand-off', target: d, continuation: 1 },
            {},
            { holdDispatch: true },
          );
          await store.releaseLock(lockName(d), holder);
          break;
        }
        const [done] = await handle(lifecycle, { type: 'run-finished', target: d, outcome: cmd.outcome });
        await store.releaseLock(lockName(d), holder);
        const finished = done?.kind === 'moved' ? done.deployment : d;
        await handle(
          lifecycle,
          { type: 'environment-free', exceptId: finished.id },
          { environment: await store.listByEnvironment(d.repository, d.environment) },
        );
        break;
      }
      case 'tick':
        clock.advance(cmd.ms);
        break;
      case 'sweep':
        await sweep({ store, notifier, dispatcher, clock, logger: deps.logger });
        break;
    }
    const now = await all();
    for (const d of now) if (d.status === 'superseded') superseded.add(d.id);
    exercised.superseded = Math.max(exercised.superseded, superseded.size);
    const running = new Map<string, number>();
    for (const d of now.filter((x) => x.status === 'running'))
      running.set(d.environment, (running.get(d.environment) ?? 0) + 1);
    for (const [env, n] of running)
      if (n > 1) violations.push(`${n} deployments of ${env} running after ${cmd.c}`);
  }
  return violations;
}

describe('the lifecycle under any sequence of events (fast-check)', () => {
  it('keeps at most one deployment per environment running and never runs a superseded or unapproved production deployment', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(command, { minLength: 10, maxLength: 60, size: 'max' }), async (commands) => {
        expect(await runSequence(commands)).toEqual([]);
      }),
      { numRuns: 300 },
    );
    expect(exercised.productionRuns).toBeGreaterThan(10);
    expect(exercised.stagingRuns).toBeGreaterThan(10);
    expect(exercised.superseded).toBeGreaterThan(0);
  });

  it('holds for the case fast-check found (same-millisecond pushes, one gives way before its offer)', async () => {
    const commands = [
      ...Array.from({ length: 8 }, () => ({ c: 'push', env: 'staging' })),
      { c: 'hand-off', pick: 0 },
      { c: 'push', env: 'production' },
      { c: 'start', pick: 0 },
      { c: 'push', env: 'production' },
      { c: 'reject', pick: 0 },
      { c: 'approve', pick: 0 },
      { c: 'tick', ms: 1000 },
      { c: 'push', env: 'staging' },
      { c: 'approve', pick: 0 },
      { c: 'sweep' },
    ] as Command[];
    expect(await runSequence(commands)).toEqual([]);
  });

  it('can fail: a runner that skips the lock and the dead-run rule leaves two deployments of an environment running', async () => {
    const commands: Command[] = [
      { c: 'push', env: 'staging' },
      { c: 'start', pick: 0 },
      { c: 'push', env: 'staging' },
      { c: 'start', pick: 0 },
    ];
    expect(await runSequence(commands)).toEqual([]);
    expect(await runSequence(commands, { skipLockProtocol: true })).toEqual([
      '2 deployments of staging running after start',
    ]);
  });
});
