import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { systemClock } from '../../lib/clock';
import type { Deployment, ReleaseResult } from '../../lib/deploy/deployment';
import { lockName } from '../../lib/deploy/lifecycle';
import { RecordingDispatcher } from '../../lib/dispatch/dispatcher';
import { sweep } from '../../lib/sweeper/sweeper';
import type { TestDynamo } from '../helpers/dynalite';
import { type DynamoThrottleStandIn, startThrottledDynamo } from '../stand-ins/dynamodb-throttle';
import type { KubeFault } from '../stand-ins/kube-api';
import { type RunnerWorld, startRunnerWorld } from './runner-env';

/**
 * The fault matrix of issue 7 over the real runner (real helm, Kubernetes API stand-in, DynamoDB
 * through a throttling proxy in front of dynalite). Each row injects one fault into a forced deploy
 * of `staging` (releases web and web2) and checks the outcome it must have: transient API errors heal
 * by retrying the release, permanent ones fail at once naming the cause, a run killed mid-upgrade is
 * recovered (rollback of the pending release, expired lock taken over or swept), DynamoDB throttling
 * heals inside the SDK's retries. After every row no lock may be held past its lease.
 */

export const FAULTS_DEPLOY_YAML = `apiVersion: helmgate/v1
environments:
  staging:
    approval: none
    cluster: { secret: test/cluster }
    releases:
      - name: web
        namespace: web
        chart: ./charts/web
      - name: web2
        namespace: web2
        chart: ./charts/web
`;

const WEB_APPLY = /\/namespaces\/web\/configmaps\/web-config$/;

export interface FaultCase {
  name: string;
  /** what the row expects */
  expect: 'heal' | 'fail';
  /** the classifier's reason the failure must name, for `fail` rows */
  reason?: RegExp;
  kube?: KubeFault;
  /** DynamoDB operations throttled and how many times each */
  throttle?: Record<string, number>;
  killed?: 'next-run' | 'sweeper';
}

const kubeFault = (status: number | 'reset', body?: string, headers?: Record<string, string>): KubeFault => ({
  method: 'PATCH',
  pathPattern: WEB_APPLY,
  status,
  ...(body !== undefined ? { body } : {}),
  ...(headers ? { headers } : {}),
  times: 1,
});

/** The full matrix; `smallFaultMatrix` is the `npm test` subset. */
export const FAULT_MATRIX: FaultCase[] = [
  // API priority and fairness answers 429 with Retry-After: client-go waits and retries by itself
  {
    name: 'API 429 with Retry-After (API priority and fairness)',
    expect: 'heal',
    kube: kubeFault(429, undefined, { 'retry-after': '1' }),
  },
  // a proxy or load balancer in front of the API may send 429 without it: helm then fails
  { name: 'API 429 without Retry-After', expect: 'heal', kube: kubeFault(429) },
  { name: 'API 500 etcdserver: request timed out', expect: 'heal', kube: kubeFault(500) },
  {
    name: 'API 500 etcdserver: leader changed',
    expect: 'heal',
    kube: kubeFault(500, 'etcdserver: leader changed'),
  },
  { name: 'API 503 unable to handle the request', expect: 'heal', kube: kubeFault(503) },
  { name: 'API 504 gateway timeout', expect: 'heal', kube: kubeFault(504) },
  { name: 'connection reset mid-request', expect: 'heal', kube: kubeFault('reset') },
  { name: 'API 409 the object has been modified', expect: 'heal', kube: kubeFault(409) },
  {
    name: 'API 403 forbidden (permanent control)',
    expect: 'fail',
    reason: /forbidden/i,
    kube: kubeFault(403, 'configmaps "web-config" is forbidden: User "helmgate" cannot patch resource'),
  },
  {
    name: 'API 422 invalid (permanent control)',
    expect: 'fail',
    reason: /invalid/i,
    kube: kubeFault(422, 'ConfigMap "web-config" is invalid: data: Invalid value'),
  },
  { name: 'runner killed mid-upgrade → next run', expect: 'heal', killed: 'next-run' },
  { name: 'runner killed mid-upgrade → sweeper', expect: 'heal', killed: 'sweeper' },
  {
    name: 'DynamoDB throttling: UpdateItem ×2',
    expect: 'heal',
    throttle: { UpdateItem: 2 },
  },
  {
    name: 'DynamoDB throttling: PutItem (lock) ×2 + GetItem ×2',
    expect: 'heal',
    throttle: { PutItem: 2, GetItem: 2 },
  },
  { name: 'DynamoDB throttling: Query ×2', expect: 'heal', throttle: { Query: 2 } },
];

export const SMALL_FAULT_MATRIX: FaultCase[] = FAULT_MATRIX.filter((c) =>
  [
    'API 503 unable to handle the request',
    'connection reset mid-request',
    'API 403 forbidden (permanent control)',
    'runner killed mid-upgrade → sweeper',
    'DynamoDB throttling: PutItem (lock) ×2 + GetItem ×2',
  ].includes(c.name),
);

export interface FaultOutcome {
  name: string;
  expect: FaultCase['expect'];
  /** the deployment's final status */
  status: Deployment['status'] | 'not run';
  web?: Pick<ReleaseResult, 'status' | 'attempts'> & { reason?: string };
  /** helm rollbacks of web (killed-runner recovery) */
  rollbacks: number;
  /** what the fault did: injected requests, throttled requests */
  injected: number;
  /** locks in the table whose lease had expired when the row ended */
  expiredLocks: number;
  /** the environment's lock after the row */
  lockHeld: boolean;
  /** the dead run's deployment (killed rows) */
  deadRun?: Deployment['status'];
  ms: number;
  ok: boolean;
  why: string;
}

type World = RunnerWorld & { db: TestDynamo & { throttle: DynamoThrottleStandIn } };

export async function startFaultWorld(): Promise<World> {
  const w = await startRunnerWorld({
    files: { 'deploy.yaml': FAULTS_DEPLOY_YAML },
    dynamo: startThrottledDynamo,
    // fast back-off so a row takes about a helm run, not the production 2 s base
    retry: { attempts: 4, baseMs: 50, capMs: 200 },
  });
  // a first deploy: web and web2 exist with a deployed revision (what a killed upgrade interrupts)
  const d = await w.h.queue(w.repo.head());
  const r = await w.h.run(d.id);
  const done = await w.db.store.getDeployment(d.id);
  if (r.kind !== 'finished' || done?.status !== 'succeeded')
    throw new Error(`fault world: first deploy ended ${done?.status}`);
  return w as World;
}

async function expiredLocks(db: TestDynamo): Promise<number> {
  const out = await db.store.documentClient.send(
    new ScanCommand({
      TableName: db.table,
      FilterExpression: 'begins_with(PK, :p) AND expiresAtMs < :now',
      ExpressionAttributeValues: { ':p': 'LOCK#', ':now': Date.now() },
    }),
  );
  return out.Count ?? 0;
}

export async function runFaultCase(w: World, c: FaultCase): Promise<FaultOutcome> {
  const t0 = performance.now();
  const { h, db, kube } = w;
  const callsFrom = h.calls.length;
  const reqsFrom = kube.requests.length;
  let deadRun: Deployment | undefined;
  let status: FaultOutcome['status'] = 'not run';
  let runError: string | undefined;
  const d = await h.queue(w.repo.head(), 'staging', { force: true });
  const lock = lockName(d);

  if (c.killed) {
    // what a Lambda killed mid-upgrade leaves: its deployment `running`, web `pending-upgrade`, and the
    // environment lock held by the dead invocation until its lease runs out (here: already run out)
    deadRun = await h.queue(w.repo.head(), 'staging', { force: true, status: 'running' });
    kube.markHelmReleasePending('web', 'web', 'pending-upgrade');
    const leaseMs = 120_000;
    await db.store.acquireLock(lock, 'dead-invocation', leaseMs, new Date(Date.now() - leaseMs - 1000));
  }
  if (c.kube) kube.inject(c.kube);
  if (c.throttle) for (const [op, n] of Object.entries(c.throttle)) db.throttle.throttle(op, n);
  const throttledBefore = [...db.throttle.throttled.values()].reduce((a, b) => a + b, 0);

  try {
    if (c.killed === 'sweeper') {
      const dispatcher = new RecordingDispatcher();
      const report = await sweep({
        store: db.store,
        notifier: h.notifier,
        dispatcher,
        clock: systemClock,
        logger: h.deps.logger,
      });
      if (!report.locksReleased.includes(lock)) throw new Error('the sweeper did not release the lock');
      for (const job of dispatcher.jobs) await h.run(job.deploymentId);
      if (!dispatcher.jobs.some((j) => j.deploymentId === d.id))
        throw new Error('the sweeper did not redispatch the queued deployment');
    } else {
      await h.run(d.id);
    }
    status = (await db.store.getDeployment(d.id))?.status ?? 'not run';
  } catch (e) {
    runError = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  }
  db.throttle.clear();

  const done = await db.store.getDeployment(d.id);
  const web = done?.releases?.find((r) => r.name === 'web');
  const rollbacks = h.calls
    .slice(callsFrom)
    .filter((x) => x.args[0] === 'rollback' && x.args[1] === 'web').length;
  // a kube fault answers the first matching request (times: 1): it was hit if that request came
  const injected = c.kube
    ? Math.min(
        1,
        kube.requests.slice(reqsFrom).filter((r) => r.method === 'PATCH' && WEB_APPLY.test(r.path)).length,
      )
    : c.throttle
      ? [...db.throttle.throttled.values()].reduce((a, b) => a + b, 0) - throttledBefore
      : c.killed
        ? 1
        : 0;
  const lockNow = await db.store.getLock(lock);
  const expired = await expiredLocks(db);
  const deadStatus = deadRun ? (await db.store.getDeployment(deadRun.id))?.status : undefined;

  const problems: string[] = [];
  if (runError) problems.push(`run threw ${runError}`);
  if (c.expect === 'heal') {
    if (status !== 'succeeded') problems.push(`status ${status}: ${done?.reason ?? ''}`);
    if (web?.status !== 'succeeded') problems.push(`web ${web?.status}`);
    if (c.killed && rollbacks !== 1) problems.push(`${rollbacks} rollbacks`);
    if (c.killed && deadStatus !== 'failed') problems.push(`the dead run's deployment is ${deadStatus}`);
  } else {
    if (status !== 'failed') problems.push(`status ${status}, expected failed`);
    if (web?.attempts !== 1) problems.push(`web attempts ${web?.attempts}, expected 1 (no retry)`);
    if (c.reason && !c.reason.test(`${web?.reason ?? ''} ${done?.reason ?? ''}`))
      problems.push(`reason "${web?.reason}" does not match ${c.reason}`);
  }
  if (injected < 1) problems.push('the fault was never hit');
  if (lockNow) problems.push(`lock still held by ${lockNow.holder}`);
  if (expired > 0) problems.push(`${expired} lock(s) held past their lease`);
  // heal the world for the next row: a failed row leaves web failed, the next forced deploy redeploys it
  return {
    name: c.name,
    expect: c.expect,
    status,
    ...(web
      ? {
          web: {
            status: web.status,
            attempts: web.attempts,
            ...(web.reason ? { reason: web.reason } : {}),
          },
        }
      : {}),
    rollbacks,
    injected,
    expiredLocks: expired,
    lockHeld: lockNow !== undefined,
    ...(deadStatus ? { deadRun: deadStatus } : {}),
    ms: performance.now() - t0,
    ok: problems.length === 0,
    why:
      problems.length > 0
        ? problems.join('; ')
        : c.expect === 'heal'
          ? healedHow(c, web?.attempts ?? 0, rollbacks)
          : `failed at once: ${web?.reason ?? done?.reason}`,
  };
}

function healedHow(c: FaultCase, attempts: number, rollbacks: number): string {
  if (c.killed) return `pending-upgrade rolled back (${rollbacks}×), then upgraded`;
  if (c.throttle) return 'healed inside the AWS SDK (its own retries)';
  return attempts > 1
    ? `healed by our retry (${attempts} helm attempts)`
    : 'healed inside helm (client-go retried the request)';
}

export async function runFaultMatrix(cases: FaultCase[] = FAULT_MATRIX): Promise<FaultOutcome[]> {
  const w = await startFaultWorld();
  try {
    const out: FaultOutcome[] = [];
    for (const c of cases) out.push(await runFaultCase(w, c));
    return out;
  } finally {
    await w.close();
  }
}
