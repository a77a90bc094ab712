import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { fixedClock } from '../../../lib/clock';
import type { Deployment } from '../../../lib/deploy/lifecycle';
import { RecordingDispatcher } from '../../../lib/dispatch/dispatcher';
import { handle } from '../../../lib/lifecycle/apply';
import {
  type DeploymentStore,
  LifecycleEdgeError,
  StoreConflictError,
} from '../../../lib/store/deployment-store';
import { MemoryDeploymentStore } from '../../fakes/memory-store';
import { startDynalite, type TestDynamo } from '../../helpers/dynalite';

/** The store port's lifecycle contract, the same through both implementations. */
let dynamo: TestDynamo;
beforeAll(async () => {
  dynamo = await startDynalite();
});
afterAll(async () => {
  await dynamo.close();
});

const NOW = new Date('2026-01-01T00:00:00.000Z');
let n = 0;
function dep(status: Deployment['status']): Deployment {
  return {
    id: `port-${++n}`,
    repository: 'org/charts',
    environment: 'staging',
    sha: 'a'.repeat(40),
    ref: 'refs/heads/main',
    status,
    approval: 'none',
    createdAt: NOW.toISOString(),
    updatedAt: NOW.toISOString(),
  };
}

function countRequests(client: DynamoDBClient): () => number {
  let count = 0;
  client.middlewareStack.add(
    (next) => async (args) => {
      count++;
      return next(args);
    },
    { step: 'initialize', name: `countForTest${++n}` },
  );
  return () => count;
}

describe.each([
  ['dynalite', () => dynamo.store as DeploymentStore],
  ['memory store', () => new MemoryDeploymentStore() as DeploymentStore],
])('the store port (%s)', (_name, storeOf) => {
  it('returns the current item on a lost conditional move, and writes nothing', async () => {
    const store = storeOf();
    const d = dep('running');
    await store.createDeployment(d);
    const lost = await store.transition(d.id, ['queued'], 'running', {}, NOW).catch((e: unknown) => e);
    expect(lost).toBeInstanceOf(StoreConflictError);
    expect((lost as StoreConflictError).current).toMatchObject({ id: d.id, status: 'running' });
    expect((await store.getDeployment(d.id))?.updatedAt).toBe(NOW.toISOString());
  });

  it('refuses a move that is not an edge before writing anything', async () => {
    const store = storeOf();
    const d = dep('succeeded');
    await store.createDeployment(d);
    await expect(store.transition(d.id, ['succeeded'], 'queued', {}, NOW)).rejects.toBeInstanceOf(
      LifecycleEdgeError,
    );
    // a from-list with one non-edge is refused whole, even if the item is in a state that has the edge
    const q = dep('queued');
    await store.createDeployment(q);
    await expect(store.transition(q.id, ['queued', 'running'], 'superseded', {}, NOW)).rejects.toBeInstanceOf(
      LifecycleEdgeError,
    );
    expect((await store.getDeployment(q.id))?.status).toBe('queued');
  });

  it('apply reports a lost write as `lost` with the current deployment, without notifying or dispatching', async () => {
    const store = storeOf();
    const d = dep('queued');
    await store.createDeployment(d);
    const changes: Deployment[] = [];
    const deps = {
      store,
      notifier: { deploymentChanged: async (x: Deployment) => void changes.push(x) },
      dispatcher: new RecordingDispatcher(),
      clock: fixedClock(NOW),
    };
    // two runners read `queued` and both try to start it: one wins, the other learns what it is now
    const [a, b] = await Promise.all([
      handle(deps, { type: 'run-started', target: d }),
      handle(deps, { type: 'run-started', target: d }),
    ]);
    const results = [a?.[0]?.kind, b?.[0]?.kind].sort();
    expect(results).toEqual(['lost', 'moved']);
    const lost = [a?.[0], b?.[0]].find((x) => x?.kind === 'lost');
    expect(lost?.kind === 'lost' && lost.current?.status).toBe('running');
    expect(changes.map((c) => c.status)).toEqual(['running']);
  });

  it('getItems answers every key in order, undefined where there is no item, as getItem would', async () => {
    const store = storeOf();
    const tag = `items-${++n}`;
    await store.putItem('RELSTATE', `${tag}#org/charts#staging#web`, { digest: 'd1', revision: 3 });
    await store.putItem('RELSTATE', `${tag}#org/charts#staging#db`, { digest: 'd2', revision: 1 });
    await store.putItem('PLANSNAP', `${tag}#org/charts#staging`, { snapshotJson: '{}' });
    const keys = [
      { kind: 'RELSTATE', id: `${tag}#org/charts#staging#db` },
      { kind: 'RELSTATE', id: `${tag}#org/charts#staging#missing` },
      { kind: 'PLANSNAP', id: `${tag}#org/charts#staging` },
      { kind: 'RELSTATE', id: `${tag}#org/charts#staging#web` },
      // the same key twice: both answered
      { kind: 'RELSTATE', id: `${tag}#org/charts#staging#db` },
    ];
    const got = await store.getItems(keys);
    expect(got).toEqual(await Promise.all(keys.map((k) => store.getItem(k.kind, k.id))));
    expect(got).toEqual([
      { digest: 'd2', revision: 1 },
      undefined,
      { snapshotJson: '{}' },
      { digest: 'd1', revision: 3 },
      { digest: 'd2', revision: 1 },
    ]);
    expect(await store.getItems([])).toEqual([]);
  });
});

it('getItems reads 8 release records in one DynamoDB request, and more than 100 keys in batches of 100', async () => {
  const count = countRequests(dynamo.client);
  const tag = `batch-${++n}`;
  for (let i = 0; i < 105; i++) await dynamo.store.putItem('RELSTATE', `${tag}#${i}`, { revision: i });
  const before = count();
  const eight = await dynamo.store.getItems<{ revision: number }>(
    Array.from({ length: 8 }, (_, i) => ({ kind: 'RELSTATE', id: `${tag}#${i}` })),
  );
  expect(count() - before).toBe(1);
  expect(eight.map((x) => x?.revision)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  const all = await dynamo.store.getItems<{ revision: number }>(
    Array.from({ length: 105 }, (_, i) => ({ kind: 'RELSTATE', id: `${tag}#${i}` })),
  );
  expect(count() - before).toBe(3);
  expect(all.map((x) => x?.revision)).toEqual(Array.from({ length: 105 }, (_, i) => i));
});

it('dynalite gives no item on a failed condition, so the Dynamo store re-reads exactly once', async () => {
  const requests = countRequests(dynamo.client);
  const d = dep('running');
  await dynamo.store.createDeployment(d);
  const before = requests();
  await dynamo.store.transition(d.id, ['queued'], 'running', {}, NOW).catch(() => undefined);
  // the conditional update, then one GetItem
  expect(requests() - before).toBe(2);
});

it('with DynamoDB’s ALL_OLD item on the failed condition, the Dynamo store does not re-read', async () => {
  // dynalite ignores ReturnValuesOnConditionCheckFailure; this client adds the item to the error the
  // way DynamoDB does (read through a second client, so only the store's own requests are counted)
  const { DynamoDBClient, GetItemCommand } = await import('@aws-sdk/client-dynamodb');
  const { DynamoDbDeploymentStore } = await import('../../../lib/store/dynamodb-deployment-store');
  const options = {
    endpoint: dynamo.endpoint,
    region: 'local',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  };
  const side = new DynamoDBClient(options);
  const client = new DynamoDBClient(options);
  client.middlewareStack.add(
    (next) => async (args) => {
      try {
        return await next(args);
      } catch (e) {
        const input = args.input as {
          ReturnValuesOnConditionCheckFailure?: string;
          Key: Record<string, unknown>;
          TableName?: string;
        };
        // the document client may not have marshalled the key yet at this step
        const rawKey = (k: Record<string, unknown>) =>
          Object.fromEntries(
            Object.entries(k).map(([n, v]) => [n, typeof v === 'string' ? { S: v } : v]),
          ) as never;
        if (
          (e as Error).name === 'ConditionalCheckFailedException' &&
          input.ReturnValuesOnConditionCheckFailure === 'ALL_OLD'
        )
          Object.assign(e as object, {
            Item: (
              await side.send(new GetItemCommand({ TableName: input.TableName, Key: rawKey(input.Key) }))
            ).Item,
          });
        throw e;
      }
    },
    { step: 'initialize', name: 'allOldLikeDynamoDb' },
  );
  const requests = countRequests(client);
  const store = new DynamoDbDeploymentStore(client, dynamo.table);
  const d = {
    ...dep('running'),
    releases: [{ name: 'web', namespace: 'w', status: 'running' as const, attempts: 1 }],
  };
  await store.createDeployment(d);
  const before = requests();
  const lost = await store.transition(d.id, ['queued'], 'running', {}, NOW).catch((e: unknown) => e);
  expect(requests() - before).toBe(1);
  expect(lost).toBeInstanceOf(StoreConflictError);
  expect((lost as StoreConflictError).current).toEqual(d);
  side.destroy();
  client.destroy();
});
