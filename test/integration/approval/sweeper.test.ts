import { supersedeReason } from '../../../lib/deploy/lifecycle';
import type { DeploymentStore } from '../../../lib/store/deployment-store';
import { type SweeperDeps, sweep } from '../../../lib/sweeper/sweeper';
import { MemoryDeploymentStore } from '../../fakes/memory-store';
import { startDynalite, type TestDynamo } from '../../helpers/dynalite';
import { deployment, makeService, offered, REPO } from './approval-fixtures';

/** handlers/sweeper.ts wraps exactly this; importing it would load the AWS wiring (Octokit) too */
const makeSweeperHandler = (deps: SweeperDeps) => () => sweep(deps);

let dynamo: TestDynamo;
beforeAll(async () => {
  dynamo = await startDynalite();
});
afterAll(async () => {
  await dynamo.close();
});

// the same behaviour through both implementations of the store port: approvals, locks and sweeping
// need nothing beyond it
const stores: Array<[string, () => { store: DeploymentStore }]> = [
  ['dynalite', () => dynamo],
  ['memory store', () => ({ store: new MemoryDeploymentStore() })],
];

describe.each(stores)('sweeper (%s)', (_name, storeOf) => {
  let db: { store: DeploymentStore };
  beforeEach(() => {
    db = storeOf();
  });

  test('reminds once before expiry, then expires the approval and the deployment and tells the notifier', async () => {
    const { service, clock, notifier, dispatcher, deps } = makeService(db);
    const d = deployment();
    await offered(db, service, d);
    const sweeper = makeSweeperHandler({ store: db.store, notifier, dispatcher, clock, logger: deps.logger });

    expect((await sweeper()).reminded).toEqual([]);
    clock.advance(23 * 3600_000); // one hour before the deadline
    expect((await sweeper()).reminded).toEqual([d.id]);
    expect((await sweeper()).reminded).toEqual([]);
    expect(notifier.reminders).toHaveLength(1);

    clock.advance(3600_000);
    const report = await sweeper();
    expect(report.expired).toEqual([d.id]);
    const after = await db.store.getDeployment(d.id);
    expect(after?.status).toBe('expired');
    expect(after?.reason).toBe('approval expired at 2026-01-02T01:00:00.000Z');
    expect(notifier.changes.at(-1)?.status).toBe('expired');
    expect((await service.getRequest(d.id))?.status).toBe('expired');
    expect((await db.store.listAudit(d.id)).map((a) => a.action)).toContain('expire');
    expect((await sweeper()).expired).toEqual([]);
  });

  test('an approval decided before its deadline is never expired', async () => {
    const { service, clock, notifier, dispatcher, deps } = makeService(db);
    const d = deployment({ repository: `${REPO}-decided` });
    await offered(db, service, d);
    await service.vote({
      deploymentId: d.id,
      voter: { kind: 'github', id: 'alice' },
      via: 'web',
      decision: 'approve',
    });
    clock.advance(48 * 3600_000);
    const report = await makeSweeperHandler({
      store: db.store,
      notifier,
      dispatcher,
      clock,
      logger: deps.logger,
    })();
    expect(report.expired).not.toContain(d.id);
    expect((await db.store.getDeployment(d.id))?.status).toBe('queued');
  });

  test('releases an environment lock whose lease ran out and re-dispatches what waited; a live lock stays', async () => {
    const { clock, notifier, dispatcher, deps } = makeService(db);
    const repo = `${REPO}-locks`;
    const waiting = deployment({
      repository: repo,
      environment: 'staging',
      status: 'queued',
      approval: 'none',
    });
    await db.store.createDeployment(waiting);
    const dead = deployment({ repository: repo, environment: 'staging', status: 'running' });
    await db.store.createDeployment(dead);
    await db.store.createDeployment(deployment({ repository: repo, environment: 'live', status: 'running' }));
    await db.store.acquireLock(`env:${repo}:staging`, 'dead-run', 60_000, clock.now());
    await db.store.acquireLock(`env:${repo}:live`, 'live-run', 10 * 60_000, clock.now());
    clock.advance(2 * 60_000);
    const report = await makeSweeperHandler({
      store: db.store,
      notifier,
      dispatcher,
      clock,
      logger: deps.logger,
    })();
    expect(report.locksReleased).toEqual([`env:${repo}:staging`]);
    expect(await db.store.getLock(`env:${repo}:staging`)).toBeUndefined();
    expect((await db.store.getLock(`env:${repo}:live`))?.holder).toBe('live-run');
    expect(dispatcher.jobs).toEqual([{ deploymentId: waiting.id }]);
    // the dead run's deployment does not stay `running`: it fails with why; the live one is untouched
    expect(report.deadRuns).toEqual([dead.id]);
    const failed = await db.store.getDeployment(dead.id);
    expect(failed?.status).toBe('failed');
    expect(failed?.reason).toContain('the deploy runner died');
  });

  test('behind an expired lock the NEWEST queued deployment runs next and older queued ones are superseded', async () => {
    const { clock, notifier, dispatcher, deps } = makeService(db);
    const repo = `${REPO}-next-${Math.random().toString(36).slice(2, 8)}`;
    const older = deployment({
      repository: repo,
      environment: 'staging',
      status: 'queued',
      approval: 'none',
      createdAt: '2026-01-01T00:01:00.000Z',
    });
    const newer = deployment({
      repository: repo,
      environment: 'staging',
      status: 'queued',
      approval: 'none',
      sha: 'c'.repeat(40),
      createdAt: '2026-01-01T00:02:00.000Z',
    });
    for (const d of [older, newer]) await db.store.createDeployment(d);
    await db.store.acquireLock(`env:${repo}:staging`, 'dead-run', 60_000, clock.now());
    clock.advance(2 * 60_000);
    const report = await sweep({ store: db.store, notifier, dispatcher, clock, logger: deps.logger });
    expect(report.redispatched).toEqual([newer.id]);
    expect(dispatcher.jobs).toEqual([{ deploymentId: newer.id }]);
    expect(await db.store.getDeployment(older.id)).toMatchObject({
      status: 'superseded',
      supersededBy: newer.sha,
      reason: supersedeReason(newer),
    });
  });
});
