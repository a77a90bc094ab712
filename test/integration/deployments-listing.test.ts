import { CreateTableCommand, DeleteTableCommand, DescribeTableCommand } from '@aws-sdk/client-dynamodb';
import { makeDeploymentsHandler } from '../../handlers/deployments';
import { fixedClock } from '../../lib/clock';
import type { Deployment, DeploymentStatus } from '../../lib/deploy/deployment';
import type { HttpEvent } from '../../lib/http/lambda-http';
import { createLogger } from '../../lib/log/logger';
import { Redactor } from '../../lib/log/redact';
import type { DeploymentStore } from '../../lib/store/deployment-store';
import {
  DynamoDbDeploymentStore,
  ensureTable,
  TABLE_DEFINITION,
} from '../../lib/store/dynamodb-deployment-store';
import { MemoryDeploymentStore } from '../fakes/memory-store';
import { startDynalite, type TestDynamo } from '../helpers/dynalite';

/** A reader with an API token: may read every repository. */
const everything = {
  authenticate: async () => ({ kind: 'token' as const }),
  mayRead: async () => true,
};

const REPO = 'org/charts';
const OTHER = 'org/other';
let db: TestDynamo;
let handler: ReturnType<typeof makeDeploymentsHandler>;

function dep(n: number, environment: string, status: DeploymentStatus, repository = REPO): Deployment {
  const at = new Date(Date.UTC(2026, 0, 1, 0, n)).toISOString();
  return {
    id: `d${String(n).padStart(4, '0')}-${environment}`,
    repository,
    environment,
    sha: `${String(n).padStart(7, '0')}${'a'.repeat(33)}`,
    ref: 'refs/heads/main',
    status,
    approval: environment === 'production' ? 'required' : 'none',
    createdAt: at,
    updatedAt: at,
  };
}

function get(query: Record<string, string>): HttpEvent {
  return {
    rawPath: '/deployments',
    headers: {},
    queryStringParameters: query,
    requestContext: { http: { method: 'GET', path: '/deployments' } },
  } as unknown as HttpEvent;
}

async function list(query: Record<string, string>) {
  const res = await handler(get(query));
  return { status: res.statusCode, body: JSON.parse(res.body ?? '{}') as Record<string, unknown> };
}
const ids = (b: Record<string, unknown>) => (b.deployments as Deployment[]).map((d) => d.id);

describe.each(['dynamodb', 'memory'] as const)(
  "GET /deployments (%s store): environment and status are queries on the table's indexes, with a cursor",
  (kind) => {
    let store: DeploymentStore;
    beforeAll(async () => {
      db = await startDynalite();
      store = kind === 'dynamodb' ? db.store : new MemoryDeploymentStore();
      // one old production deployment under many newer staging ones
      await store.createDeployment(dep(1, 'production', 'succeeded'));
      for (let n = 2; n <= 80; n++)
        await store.createDeployment(dep(n, 'staging', n % 3 === 0 ? 'failed' : 'succeeded'));
      await store.createDeployment(dep(81, 'production', 'failed'));
      await store.createDeployment(dep(82, 'production', 'awaiting_approval', OTHER));
      handler = makeDeploymentsHandler({
        store,
        // the API token reads everything (read access is tested in test/integration/auth)
        readAccess: everything,
        logger: createLogger({
          redactor: new Redactor(),
          clock: fixedClock('2026-01-02T00:00:00Z'),
          write: () => {},
        }),
        repositories: [REPO],
      });
    });
    afterAll(async () => {
      await db.close();
    });

    it('finds the production deployment under many newer ones with limit=1, and pages on with the cursor', async () => {
      const first = await list({ environment: 'production', limit: '1' });
      expect(first.status).toBe(200);
      expect(ids(first.body)).toEqual(['d0081-production']);
      expect(typeof first.body.next).toBe('string');
      const second = await list({ environment: 'production', limit: '1', cursor: first.body.next as string });
      expect(ids(second.body)).toEqual(['d0001-production']);
      // the last page says so: no cursor
      expect(second.body.next).toBeUndefined();
    });

    it('lists by status across environments, newest first, page by page without gaps or repeats', async () => {
      const seen: string[] = [];
      let cursor: string | undefined;
      for (let page = 0; page < 20; page++) {
        const r = await list({ status: 'failed', limit: '7', ...(cursor ? { cursor } : {}) });
        expect(r.status).toBe(200);
        seen.push(...ids(r.body));
        cursor = r.body.next as string | undefined;
        if (!cursor) break;
      }
      const expected = [81, ...Array.from({ length: 79 }, (_, i) => 80 - i).filter((n) => n % 3 === 0)].map(
        (n) => `d${String(n).padStart(4, '0')}-${n === 81 ? 'production' : 'staging'}`,
      );
      expect(seen).toEqual(expected);
    });

    it('combines environment and status, still filling the page', async () => {
      const r = await list({ environment: 'staging', status: 'failed', limit: '3' });
      expect(ids(r.body)).toEqual(['d0078-staging', 'd0075-staging', 'd0072-staging']);
      const none = await list({ environment: 'production', status: 'running' });
      expect(ids(none.body)).toEqual([]);
    });

    it('names the repository when the environment should be read from another one', async () => {
      const r = await list({ environment: 'production', repository: OTHER });
      expect(ids(r.body)).toEqual(['d0082-production']);
    });

    it('refuses a cursor that is not one it gave, or was given for another query, with 400', async () => {
      for (const cursor of [
        'garbage',
        '!!',
        Buffer.from('{"PK":"DEP#x"}').toString('base64url'),
        'a'.repeat(5000),
      ])
        expect((await list({ environment: 'production', cursor })).status).toBe(400);
      const fromStatus = (await list({ status: 'failed', limit: '1' })).body.next as string;
      expect((await list({ environment: 'production', cursor: fromStatus })).status).toBe(400);
    });

    it('refuses an unknown status and a malformed environment with 400', async () => {
      expect((await list({ status: 'constructor' })).status).toBe(400);
      expect((await list({ environment: 'x'.repeat(300) })).status).toBe(400);
      expect((await list({ repository: 'not a repo', environment: 'production' })).status).toBe(400);
    });

    it('needs the repository for an environment when several are configured', async () => {
      const multi = makeDeploymentsHandler({
        store,
        readAccess: everything,
        logger: createLogger({
          redactor: new Redactor(),
          clock: fixedClock('2026-01-02T00:00:00Z'),
          write: () => {},
        }),
        repositories: [REPO, OTHER],
      });
      const res = await multi(get({ environment: 'production' }));
      expect(res.statusCode).toBe(400);
      expect(res.body).toContain('repository');
    });

    it('still lists everything newest first without filters', async () => {
      const r = await list({ limit: '2' });
      expect(ids(r.body)).toEqual(['d0082-production', 'd0081-production']);
      expect(typeof r.body.next).toBe('string');
    });
  },
);

describe('a local table made before the status index', () => {
  it('is rebuilt with every item and the new index by ensureTable', async () => {
    const old = await startDynalite('helmgate-old');
    try {
      // drop the table the helper made and recreate it as an older helmgate did: no GSI3
      await old.client.send(new DeleteTableCommand({ TableName: 'helmgate-old' }));
      const { GlobalSecondaryIndexes, AttributeDefinitions, ...rest } = structuredClone(TABLE_DEFINITION);
      await old.client.send(
        new CreateTableCommand({
          TableName: 'helmgate-old',
          ...rest,
          AttributeDefinitions: AttributeDefinitions.filter((a) => a.AttributeName !== 'status'),
          GlobalSecondaryIndexes: GlobalSecondaryIndexes.filter((i) => i.IndexName !== 'GSI3'),
        } as unknown as ConstructorParameters<typeof CreateTableCommand>[0]),
      );
      const store = new DynamoDbDeploymentStore(old.client, 'helmgate-old');
      await store.createDeployment(dep(5, 'staging', 'failed'));
      await store.recordDelivery('delivery-1', new Date('2026-01-01T00:00:00Z'), 3600);
      await ensureTable(old.client, 'helmgate-old');
      const described = await old.client.send(new DescribeTableCommand({ TableName: 'helmgate-old' }));
      expect(described.Table?.GlobalSecondaryIndexes?.map((i) => i.IndexName).sort()).toEqual([
        'GSI1',
        'GSI2',
        'GSI3',
      ]);
      expect((await store.queryDeployments({ status: 'failed' })).deployments.map((d) => d.id)).toEqual([
        'd0005-staging',
      ]);
      expect(await store.hasDelivery('delivery-1')).toBe(true);
    } finally {
      await old.close();
    }
  });
});
