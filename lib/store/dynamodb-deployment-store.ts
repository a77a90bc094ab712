import {
  type AttributeValue,
  CreateTableCommand,
  DeleteTableCommand,
  DescribeTableCommand,
  type DynamoDBClient,
  PutItemCommand,
  ResourceInUseException,
  ScanCommand,
  type TableDescription,
} from '@aws-sdk/client-dynamodb';
import {
  BatchGetCommand,
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { ApprovalRequest, ApprovalVoteWrite, RejectionWrite } from '../approval/approval-request';
import type { Deployment, DeploymentStatus } from '../deploy/deployment';
import type { FreezeOverrideVotes, FreezeOverrideVoteWrite } from '../deploy/freeze-override';
import type { ManifestDiff } from '../deploy/manifest-diff';
import { cryptoRandom, type Random } from '../random';
import type { DeploymentPage, DeploymentQuery } from './deployment-query';
import {
  type AuditEntry,
  assertEdge,
  type DeploymentStore,
  type LockLease,
  StoreConflictError,
} from './deployment-store';
import { DynamoDbApprovalRequests } from './dynamodb-approval-requests';
import { queryDeploymentsTable } from './dynamodb-deployment-query';
import { isConditionFailure } from './dynamodb-errors';

const META = '#META';
/** freeze-override votes: one item per deployment and freeze */
const OVERRIDE = 'OVERRIDE';
const KEY_ATTRS = ['PK', 'SK', 'GSI1PK', 'GSI1SK', 'GSI2PK', 'GSI2SK', 'ttl', 'kind'] as const;

/** `SET #f<i> = :v<i>` clauses for the defined fields, with their attribute names and values. */
function setClauses(fields: Record<string, unknown>): {
  names: Record<string, string>;
  values: Record<string, unknown>;
  sets: string[];
} {
  const names: Record<string, string> = {};
  const values: Record<string, unknown> = {};
  const sets: string[] = [];
  Object.entries(fields).forEach(([k, v], i) => {
    if (v === undefined) return;
    names[`#f${i}`] = k;
    values[`:v${i}`] = v;
    sets.push(`#f${i} = :v${i}`);
  });
  return { names, values, sets };
}

/** A hash + range key schema, as DynamoDB and CloudFormation spell it. */
function keySchema<H extends string, R extends string>(hash: H, range: R) {
  return [
    { AttributeName: hash, KeyType: 'HASH' },
    { AttributeName: range, KeyType: 'RANGE' },
  ] as const;
}

/** The single table's key schema; serverless.yml declares the same (a test compares them). */
export const TABLE_DEFINITION = {
  AttributeDefinitions: [
    { AttributeName: 'PK', AttributeType: 'S' },
    { AttributeName: 'SK', AttributeType: 'S' },
    { AttributeName: 'GSI1PK', AttributeType: 'S' },
    { AttributeName: 'GSI1SK', AttributeType: 'S' },
    { AttributeName: 'GSI2PK', AttributeType: 'S' },
    { AttributeName: 'GSI2SK', AttributeType: 'S' },
    { AttributeName: 'status', AttributeType: 'S' },
  ],
  KeySchema: keySchema('PK', 'SK'),
  GlobalSecondaryIndexes: [
    { IndexName: 'GSI1', KeySchema: keySchema('GSI1PK', 'GSI1SK'), Projection: { ProjectionType: 'ALL' } },
    { IndexName: 'GSI2', KeySchema: keySchema('GSI2PK', 'GSI2SK'), Projection: { ProjectionType: 'ALL' } },
    // deployments by status, newest first: keyed on attributes every deployment item already has
    // (status, GSI2SK), so DynamoDB fills it for existing items and a transition moves an item
    // between partitions by itself; approval requests have a status but no GSI2SK: not indexed
    { IndexName: 'GSI3', KeySchema: keySchema('status', 'GSI2SK'), Projection: { ProjectionType: 'ALL' } },
  ],
  BillingMode: 'PAY_PER_REQUEST',
} as const;

/**
 * Creates the table if it is missing (local stack and tests; in AWS CloudFormation owns it). A table
 * made by an older helmgate that lacks an index of TABLE_DEFINITION is rebuilt with its items
 * (dynalite cannot add an index to an existing table; the local stack keeps its data under .helmgate/).
 */
export async function ensureTable(client: DynamoDBClient, tableName: string): Promise<void> {
  try {
    await client.send(
      new CreateTableCommand({
        TableName: tableName,
        ...structuredClone(TABLE_DEFINITION),
      } as unknown as ConstructorParameters<typeof CreateTableCommand>[0]),
    );
  } catch (e) {
    if (!(e instanceof ResourceInUseException) && (e as Error).name !== 'ResourceInUseException') throw e;
  }
  const table = await waitActive(client, tableName);
  const have = new Set((table.GlobalSecondaryIndexes ?? []).map((i) => i.IndexName));
  if (TABLE_DEFINITION.GlobalSecondaryIndexes.every((i) => have.has(i.IndexName))) return;
  await rebuildTable(client, tableName);
}

async function waitActive(client: DynamoDBClient, tableName: string): Promise<TableDescription> {
  for (let i = 0; i < 100; i++) {
    const t = await client.send(new DescribeTableCommand({ TableName: tableName }));
    if (t.Table?.TableStatus === 'ACTIVE') return t.Table;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`table ${tableName} did not become ACTIVE`);
}

/** Copies every item out, recreates the table with TABLE_DEFINITION, and writes them back unchanged. */
async function rebuildTable(client: DynamoDBClient, tableName: string): Promise<void> {
  const items: Record<string, AttributeValue>[] = [];
  let start: Record<string, AttributeValue> | undefined;
  do {
    const out = await client.send(new ScanCommand({ TableName: tableName, ExclusiveStartKey: start }));
    items.push(...(out.Items ?? []));
    start = out.LastEvaluatedKey;
  } while (start);
  await client.send(new DeleteTableCommand({ TableName: tableName }));
  for (let i = 0; i < 100; i++) {
    try {
      await client.send(new DescribeTableCommand({ TableName: tableName }));
    } catch {
      break;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  await client.send(
    new CreateTableCommand({
      TableName: tableName,
      ...structuredClone(TABLE_DEFINITION),
    } as unknown as ConstructorParameters<typeof CreateTableCommand>[0]),
  );
  await waitActive(client, tableName);
  for (const item of items) await client.send(new PutItemCommand({ TableName: tableName, Item: item }));
}

/** The few attribute types our items hold, read from a raw (not document-client) item. */
function fromAttribute(v: AttributeValue): unknown {
  if (v.S !== undefined) return v.S;
  if (v.N !== undefined) return Number(v.N);
  if (v.BOOL !== undefined) return v.BOOL;
  if (v.NULL !== undefined) return null;
  if (v.L !== undefined) return v.L.map(fromAttribute);
  if (v.M !== undefined) return fromAttributeMap(v.M);
  if (v.SS !== undefined) return new Set(v.SS);
  return undefined;
}

function fromAttributeMap(m: Record<string, AttributeValue>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(m).map(([k, v]) => [k, fromAttribute(v)]));
}

function strip<T>(item: Record<string, unknown> | undefined): T | undefined {
  if (!item) return undefined;
  const out: Record<string, unknown> = { ...item };
  for (const k of KEY_ATTRS) delete out[k];
  return out as T;
}

export class DynamoDbDeploymentStore implements DeploymentStore {
  private readonly doc: DynamoDBDocumentClient;
  private readonly approvals: DynamoDbApprovalRequests;

  constructor(
    client: DynamoDBClient,
    private readonly table: string,
    private readonly random: Random = cryptoRandom,
  ) {
    this.doc = DynamoDBDocumentClient.from(client, {
      marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: false },
    });
    this.approvals = new DynamoDbApprovalRequests(this.doc, table);
  }

  async recordDelivery(deliveryId: string, at: Date, ttlSeconds: number): Promise<boolean> {
    return this.putItem(
      'DELIVERY',
      deliveryId,
      { receivedAt: at.toISOString() },
      {
        ifNotExists: true,
        ttl: new Date(at.getTime() + ttlSeconds * 1000),
      },
    );
  }

  async hasDelivery(deliveryId: string): Promise<boolean> {
    return (await this.getItem('DELIVERY', deliveryId)) !== undefined;
  }

  async createDeployment(d: Deployment): Promise<boolean> {
    const sortKey = `${d.createdAt}#${d.id}`;
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.table,
          Item: {
            PK: `DEP#${d.id}`,
            SK: META,
            kind: 'deployment',
            GSI1PK: `ENV#${d.repository}#${d.environment}`,
            GSI1SK: sortKey,
            GSI2PK: 'DEPLOYMENTS',
            GSI2SK: sortKey,
            ...d,
          },
          ConditionExpression: 'attribute_not_exists(PK)',
        }),
      );
      return true;
    } catch (e) {
      if (isConditionFailure(e)) return false;
      throw e;
    }
  }

  async getDeployment(id: string): Promise<Deployment | undefined> {
    const out = await this.doc.send(
      new GetCommand({ TableName: this.table, Key: { PK: `DEP#${id}`, SK: META }, ConsistentRead: true }),
    );
    return strip<Deployment>(out.Item);
  }

  async listDeployments(opts: { limit?: number } = {}): Promise<Deployment[]> {
    return this.queryIndex('GSI2', 'GSI2PK', 'DEPLOYMENTS', opts.limit ?? 50);
  }

  async queryDeployments(query: DeploymentQuery): Promise<DeploymentPage> {
    return queryDeploymentsTable(this.doc, this.table, query, (it) => strip<Deployment>(it) as Deployment);
  }

  async listByEnvironment(
    repository: string,
    environment: string,
    opts: { limit?: number } = {},
  ): Promise<Deployment[]> {
    return this.queryIndex('GSI1', 'GSI1PK', `ENV#${repository}#${environment}`, opts.limit ?? 50);
  }

  private async queryIndex(
    index: string,
    keyAttr: string,
    key: string,
    limit: number,
  ): Promise<Deployment[]> {
    const items: Deployment[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const out = await this.doc.send(
        new QueryCommand({
          TableName: this.table,
          IndexName: index,
          KeyConditionExpression: '#k = :k',
          ExpressionAttributeNames: { '#k': keyAttr },
          ExpressionAttributeValues: { ':k': key },
          ScanIndexForward: false,
          Limit: limit - items.length,
          ExclusiveStartKey: start,
        }),
      );
      for (const it of out.Items ?? []) items.push(strip<Deployment>(it) as Deployment);
      start = out.LastEvaluatedKey;
    } while (start && items.length < limit);
    return items;
  }

  async transition(
    id: string,
    from: readonly DeploymentStatus[],
    to: DeploymentStatus,
    patch: Partial<Deployment>,
    at: Date,
  ): Promise<Deployment> {
    assertEdge(from, to);
    const { id: _i, status: _s, ...rest } = patch;
    const fields: Record<string, unknown> = { ...rest, status: to, updatedAt: at.toISOString() };
    const { names, values, sets } = setClauses(fields);
    names['#status'] = 'status';
    const froms = from.map((s, i) => {
      values[`:from${i}`] = s;
      return `:from${i}`;
    });
    try {
      const out = await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { PK: `DEP#${id}`, SK: META },
          UpdateExpression: `SET ${sets.join(', ')}`,
          ConditionExpression: `attribute_exists(PK) AND #status IN (${froms.join(', ')})`,
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
          ReturnValues: 'ALL_NEW',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return strip<Deployment>(out.Attributes) as Deployment;
    } catch (e) {
      if (!isConditionFailure(e)) throw e;
      // DynamoDB returns the item on the error; dynalite does not, so fall back to one re-read
      const old = (e as { Item?: Record<string, AttributeValue> }).Item;
      const current = old ? strip<Deployment>(fromAttributeMap(old)) : await this.getDeployment(id);
      throw new StoreConflictError(`deployment ${id} is not in ${from.join('|')}; cannot move to ${to}`, {
        cause: e,
        ...(current ? { current } : {}),
      });
    }
  }

  async update(id: string, patch: Partial<Omit<Deployment, 'id' | 'status'>>, at: Date): Promise<Deployment> {
    const { id: _i, status: _s, ...rest } = patch as Partial<Deployment>;
    const fields: Record<string, unknown> = { ...rest, updatedAt: at.toISOString() };
    const { names, values, sets } = setClauses(fields);
    try {
      const out = await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { PK: `DEP#${id}`, SK: META },
          UpdateExpression: `SET ${sets.join(', ')}`,
          ConditionExpression: 'attribute_exists(PK)',
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
          ReturnValues: 'ALL_NEW',
        }),
      );
      return strip<Deployment>(out.Attributes) as Deployment;
    } catch (e) {
      if (isConditionFailure(e))
        throw new StoreConflictError(`deployment ${id} does not exist`, { cause: e });
      throw e;
    }
  }

  async appendAudit(entry: AuditEntry): Promise<void> {
    const suffix = this.random.bytes(5).toString('hex');
    await this.doc.send(
      new PutCommand({
        TableName: this.table,
        Item: { PK: `DEP#${entry.deploymentId}`, SK: `AUDIT#${entry.at}#${suffix}`, kind: 'audit', ...entry },
      }),
    );
  }

  async listAudit(deploymentId: string): Promise<AuditEntry[]> {
    const out = await this.doc.send(
      new QueryCommand({
        TableName: this.table,
        KeyConditionExpression: 'PK = :pk AND begins_with(SK, :a)',
        ExpressionAttributeValues: { ':pk': `DEP#${deploymentId}`, ':a': 'AUDIT#' },
        ConsistentRead: true,
      }),
    );
    return (out.Items ?? []).map((i) => strip<AuditEntry>(i) as AuditEntry);
  }

  async acquireLock(
    name: string,
    holder: string,
    leaseMs: number,
    now: Date,
  ): Promise<LockLease | undefined> {
    const lease: LockLease = { name, holder, expiresAt: new Date(now.getTime() + leaseMs).toISOString() };
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.table,
          Item: {
            PK: `LOCK#${name}`,
            SK: META,
            kind: 'lock',
            ...lease,
            expiresAtMs: now.getTime() + leaseMs,
            ttl: Math.floor((now.getTime() + leaseMs) / 1000) + 86400,
          },
          ConditionExpression: 'attribute_not_exists(PK) OR expiresAtMs < :now OR holder = :holder',
          ExpressionAttributeValues: { ':now': now.getTime(), ':holder': holder },
        }),
      );
      return lease;
    } catch (e) {
      if (isConditionFailure(e)) return undefined;
      throw e;
    }
  }

  async renewLock(name: string, holder: string, leaseMs: number, now: Date): Promise<boolean> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { PK: `LOCK#${name}`, SK: META },
          UpdateExpression: 'SET expiresAt = :e, expiresAtMs = :ems',
          ConditionExpression: 'holder = :holder',
          ExpressionAttributeValues: {
            ':e': new Date(now.getTime() + leaseMs).toISOString(),
            ':ems': now.getTime() + leaseMs,
            ':holder': holder,
          },
        }),
      );
      return true;
    } catch (e) {
      if (isConditionFailure(e)) return false;
      throw e;
    }
  }

  async releaseLock(name: string, holder: string): Promise<void> {
    try {
      await this.doc.send(
        new DeleteCommand({
          TableName: this.table,
          Key: { PK: `LOCK#${name}`, SK: META },
          ConditionExpression: 'holder = :holder',
          ExpressionAttributeValues: { ':holder': holder },
        }),
      );
    } catch (e) {
      if (!isConditionFailure(e)) throw e;
    }
  }

  async releaseExpiredLock(name: string, holder: string, now: Date): Promise<boolean> {
    try {
      await this.doc.send(
        new DeleteCommand({
          TableName: this.table,
          Key: { PK: `LOCK#${name}`, SK: META },
          ConditionExpression: 'holder = :holder AND expiresAtMs < :now',
          ExpressionAttributeValues: { ':holder': holder, ':now': now.getTime() },
        }),
      );
      return true;
    } catch (e) {
      if (isConditionFailure(e)) return false;
      throw e;
    }
  }

  async getLock(name: string): Promise<LockLease | undefined> {
    const item = await this.getItem<Record<string, unknown>>('LOCK', name);
    if (!item) return undefined;
    return { name: String(item.name), holder: String(item.holder), expiresAt: String(item.expiresAt) };
  }

  async putItem(
    kind: string,
    id: string,
    item: Record<string, unknown>,
    opts: { ifNotExists?: boolean; unlessEqual?: { field: string; value: string }; ttl?: Date } = {},
  ): Promise<boolean> {
    const unless = opts.unlessEqual;
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.table,
          Item: {
            ...item,
            PK: `${kind}#${id}`,
            SK: META,
            kind,
            ...(opts.ttl ? { ttl: Math.floor(opts.ttl.getTime() / 1000) } : {}),
          },
          ...(opts.ifNotExists
            ? { ConditionExpression: 'attribute_not_exists(PK)' }
            : unless
              ? {
                  ConditionExpression: 'attribute_not_exists(PK) OR #unlessField <> :unlessValue',
                  ExpressionAttributeNames: { '#unlessField': unless.field },
                  ExpressionAttributeValues: { ':unlessValue': unless.value },
                }
              : {}),
        }),
      );
      return true;
    } catch (e) {
      if (isConditionFailure(e)) return false;
      throw e;
    }
  }

  async getItem<T extends Record<string, unknown>>(kind: string, id: string): Promise<T | undefined> {
    const out = await this.doc.send(
      new GetCommand({ TableName: this.table, Key: { PK: `${kind}#${id}`, SK: META }, ConsistentRead: true }),
    );
    return strip<T>(out.Item);
  }

  /**
   * BatchGetItem, 100 keys a request (DynamoDB's limit). Keys DynamoDB leaves unprocessed (throttling,
   * the 16 MB response limit) are read one at a time with GetItem, which has the SDK's retries.
   */
  async getItems<T extends Record<string, unknown>>(
    keys: ReadonlyArray<{ kind: string; id: string }>,
  ): Promise<Array<T | undefined>> {
    const byPk = new Map(keys.map((k) => [`${k.kind}#${k.id}`, k]));
    const found = new Map<string, T | undefined>();
    const pks = [...byPk.keys()];
    for (let i = 0; i < pks.length; i += 100) {
      const out = await this.doc.send(
        new BatchGetCommand({
          RequestItems: {
            [this.table]: {
              Keys: pks.slice(i, i + 100).map((PK) => ({ PK, SK: META })),
              ConsistentRead: true,
            },
          },
        }),
      );
      for (const item of out.Responses?.[this.table] ?? []) found.set(String(item.PK), strip<T>(item));
      for (const k of out.UnprocessedKeys?.[this.table]?.Keys ?? []) {
        const key = byPk.get(String(k.PK));
        if (key) found.set(String(k.PK), await this.getItem<T>(key.kind, key.id));
      }
    }
    return keys.map((k) => found.get(`${k.kind}#${k.id}`));
  }

  createApprovalRequest(req: ApprovalRequest): Promise<boolean> {
    return this.approvals.create(req);
  }
  getApprovalRequest(id: string): Promise<ApprovalRequest | undefined> {
    return this.approvals.get(id);
  }
  listPendingApprovalsDueBefore(before: string, limit?: number): Promise<ApprovalRequest[]> {
    return this.approvals.listPendingDueBefore(before, limit);
  }
  recordApprovalVote(id: string, a: ApprovalVoteWrite): Promise<boolean> {
    return this.approvals.recordApproval(id, a);
  }
  recordRejectionVote(id: string, r: RejectionWrite): Promise<boolean> {
    return this.approvals.recordRejection(id, r);
  }
  closeApprovalRequest(id: string, to: 'expired' | 'void', now: Date, reason: string): Promise<boolean> {
    return this.approvals.close(id, to, now, reason);
  }
  markApprovalReminded(id: string, now: Date): Promise<boolean> {
    return this.approvals.markReminded(id, now);
  }
  recordApprovalManifests(
    id: string,
    input: { planDigest: string; manifests?: ManifestDiff; summary: string[] },
  ): Promise<boolean> {
    return this.approvals.recordManifests(id, input);
  }

  async recordFreezeOverrideVote(id: string, w: FreezeOverrideVoteWrite): Promise<boolean> {
    const Key = { PK: `${OVERRIDE}#${id}#${w.until}`, SK: META };
    try {
      if (w.expectedCount === 0) {
        // the first vote creates the record; a racing first vote finds it and loses
        await this.doc.send(
          new PutCommand({
            TableName: this.table,
            Item: {
              ...Key,
              kind: OVERRIDE,
              deploymentId: id,
              until: w.until,
              votes: { [w.voterKey]: w.vote },
              voteCount: 1,
              ...(w.final ? { completedAt: w.vote.at } : {}),
              // kept 30 days past the freeze for the page and the audit
              ttl: Math.floor(Date.parse(w.until) / 1000) + 30 * 86400,
            },
            ConditionExpression: 'attribute_not_exists(PK)',
          }),
        );
        return true;
      }
      const names: Record<string, string> = {
        '#votes': 'votes',
        '#voter': w.voterKey,
        '#count': 'voteCount',
        '#done': 'completedAt',
      };
      const values: Record<string, unknown> = {
        ':vote': w.vote,
        ':count': w.expectedCount,
        ':next': w.expectedCount + 1,
      };
      const sets = ['#votes.#voter = :vote', '#count = :next'];
      if (w.final) {
        values[':at'] = w.vote.at;
        sets.push('#done = :at');
      }
      await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key,
          UpdateExpression: `SET ${sets.join(', ')}`,
          ConditionExpression:
            'attribute_exists(PK) AND #count = :count AND attribute_not_exists(#votes.#voter) AND attribute_not_exists(#done)',
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
        }),
      );
      return true;
    } catch (e) {
      if (isConditionFailure(e)) return false;
      throw e;
    }
  }

  async getFreezeOverrideVotes(id: string, until: string): Promise<FreezeOverrideVotes | undefined> {
    const out = await this.doc.send(
      new GetCommand({
        TableName: this.table,
        Key: { PK: `${OVERRIDE}#${id}#${until}`, SK: META },
        ConsistentRead: true,
      }),
    );
    const item = strip<Record<string, unknown>>(out.Item);
    if (!item) return undefined;
    return item as unknown as FreezeOverrideVotes;
  }

  /** Raw table access for benches that scan the table (never for lib code: it goes through the port). */
  get documentClient(): DynamoDBDocumentClient {
    return this.doc;
  }

  get tableName(): string {
    return this.table;
  }
}
