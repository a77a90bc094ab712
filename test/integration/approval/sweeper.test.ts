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

  describe('a deployment left awaiting approval with no approval request (the second line behind promotion)', () => {
    const HOUR = 3600_000;
    const uniqueRepo = (tag: string) => `${REPO}-${tag}-${Math.random().toString(36).slice(2, 8)}`;

    test('is expired once it waited the approval lifetime plus the margin, not before: audited and notified', async () => {
      const { clock, notifier, dispatcher, deps } = makeService(db);
      // created at 00:00, the clock starts at 01:00; approvals live 6 h here, the margin is 1 h
      const d = deployment({ repository: uniqueRepo('stranded') });
      await db.store.createDeployment(d);
      const sweeper = makeSweeperHandler({
        store: db.store,
        notifier,
        dispatcher,
        clock,
        logger: deps.logger,
        approvalTtlMs: 6 * HOUR,
      });

      clock.advance(6 * HOUR - 60_000); // 06:59: 6 h 59 min after it was created
      expect((await sweeper()).stranded).not.toContain(d.id);
      expect((await db.store.getDeployment(d.id))?.status).toBe('awaiting_approval');

      clock.advance(60_000); // 07:00
      expect((await sweeper()).stranded).toContain(d.id);
      const after = await db.store.getDeployment(d.id);
      expect(after?.status).toBe('expired');
      expect(after?.reason).toBe('waited 7 h without an approval request being opened; expired');
      expect(after?.finishedAt).toBe('2026-01-01T07:00:00.000Z');
      const audit = await db.store.listAudit(d.id);
      expect(audit).toEqual([
        expect.objectContaining({
          actor: 'system',
          action: 'expire',
          outcome: 'expired',
          detail: 'waited 7 h without an approval request being opened; expired',
        }),
      ]);
      expect(notifier.changes.filter((c) => c.id === d.id).map((c) => c.status)).toEqual(['expired']);
      expect(dispatcher.jobs).toEqual([]);
      expect((await sweeper()).stranded).not.toContain(d.id);
    });

    test('one with a pending approval request is left to that request’s own deadline', async () => {
      const { service, clock, notifier, dispatcher, deps } = makeService(db);
      const d = deployment({ repository: uniqueRepo('requested') });
      await offered(db, service, d); // its request expires 24 h after the offer
      clock.advance(10 * HOUR); // past the sweeper's 6 h lifetime plus margin, before the request's deadline
      const report = await makeSweeperHandler({
        store: db.store,
        notifier,
        dispatcher,
        clock,
        logger: deps.logger,
        approvalTtlMs: 6 * HOUR,
      })();
      expect(report.stranded).not.toContain(d.id);
      expect(report.expired).not.toContain(d.id);
      expect((await db.store.getDeployment(d.id))?.status).toBe('awaiting_approval');
      expect((await service.getRequest(d.id))?.status).toBe('pending');
    });

    test('one whose commit is still on its way through another environment (queued in a freeze) waits for it', async () => {
      const { clock, notifier, dispatcher, deps } = makeService(db);
      const repo = uniqueRepo('behind');
      const staging = deployment({
        repository: repo,
        environment: 'staging',
        status: 'queued',
        approval: 'none',
        frozenUntil: '2026-01-05T00:00:00.000Z',
      });
      const prod = deployment({ repository: repo });
      for (const x of [staging, prod]) await db.store.createDeployment(x);
      const sweeper = makeSweeperHandler({
        store: db.store,
        notifier,
        dispatcher,
        clock,
        logger: deps.logger,
      });
      clock.advance(48 * HOUR);
      expect((await sweeper()).stranded).not.toContain(prod.id);
      expect((await db.store.getDeployment(prod.id))?.status).toBe('awaiting_approval');
      // the staging run ends without promoting it (here: superseded): nothing will open its approval now
      await db.store.transition(staging.id, ['queued'], 'superseded', { reason: 'gone' }, clock.now());
      expect((await sweeper()).stranded).toContain(prod.id);
      expect((await db.store.getDeployment(prod.id))?.reason).toBe(
        'waited 49 h without an approval request being opened; expired',
      );
    });
  });
});
