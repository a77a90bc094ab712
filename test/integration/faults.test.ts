import { type FaultOutcome, runFaultCase, SMALL_FAULT_MATRIX, startFaultWorld } from '../scenarios/faults';

/**
 * A few rows of the bench's fault matrix (bench/faults.ts runs them all), against the real runner:
 * real helm and the Kubernetes API stand-in, DynamoDB through the throttling stand-in. Each row must
 * heal, or fail at once naming the cause, and leave no lock held past its lease.
 */

let world: Awaited<ReturnType<typeof startFaultWorld>>;

beforeAll(async () => {
  world = await startFaultWorld();
}, 60_000);

afterAll(async () => {
  await world?.close();
});

const byName = (name: string) => {
  const c = SMALL_FAULT_MATRIX.find((x) => x.name === name);
  if (!c) throw new Error(`no fault case ${name}`);
  return c;
};

const clean = (o: FaultOutcome) => {
  expect(o.lockHeld).toBe(false);
  expect(o.expiredLocks).toBe(0);
  expect(o.injected).toBeGreaterThanOrEqual(1); // the fault really happened
};

test('a 503 from the API server on the first apply is retried and the deployment succeeds', async () => {
  const o = await runFaultCase(world, byName('API 503 unable to handle the request'));
  expect(o).toMatchObject({ status: 'succeeded', web: { status: 'succeeded' }, ok: true });
  expect(o.web?.attempts).toBe(2);
  clean(o);
});

test('a 403 forbidden fails the release at once, naming the cause, without a retry', async () => {
  const o = await runFaultCase(world, byName('API 403 forbidden (permanent control)'));
  expect(o).toMatchObject({ status: 'failed', web: { status: 'failed', attempts: 1 }, ok: true });
  expect(o.web?.reason).toMatch(/^forbidden/);
  clean(o);
});

test('a run killed mid-upgrade: the sweeper frees its expired lock, the redispatched run rolls the pending release back and deploys', async () => {
  const o = await runFaultCase(world, byName('runner killed mid-upgrade → sweeper'));
  expect(o).toMatchObject({ status: 'succeeded', rollbacks: 1, ok: true });
  const history = world.kube.helmReleases('web', 'web').map((r) => r.info?.status);
  expect(history.at(-1)).toBe('deployed');
  // the revision the dead run left pending was rolled back over, then upgraded past
  expect(history.lastIndexOf('pending-upgrade')).toBeLessThan(history.length - 2);
  clean(o);
});

test('DynamoDB throttling of the lock write and reads is healed by the SDK retries', async () => {
  const o = await runFaultCase(world, byName('DynamoDB throttling: PutItem (lock) ×2 + GetItem ×2'));
  expect(o).toMatchObject({ status: 'succeeded', ok: true });
  expect(o.injected).toBe(4);
  expect(world.db.throttle.throttled.get('DynamoDB_20120810.PutItem')).toBeGreaterThanOrEqual(2);
  clean(o);
});
