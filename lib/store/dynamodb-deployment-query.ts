import { type DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { Deployment, DeploymentStatus } from '../deploy/deployment';
import {
  badCursor,
  type DeploymentPage,
  type DeploymentQuery,
  decodeCursor,
  encodeCursor,
  validateQuery,
} from './deployment-query';

interface IndexPlan {
  index: 'GSI1' | 'GSI2' | 'GSI3';
  hashAttr: string;
  hashValue: string;
  rangeAttr: string;
  statusFilter?: DeploymentStatus;
}

function planFor(q: DeploymentQuery): IndexPlan {
  if (q.environment !== undefined && q.repository !== undefined)
    return {
      index: 'GSI1',
      hashAttr: 'GSI1PK',
      hashValue: `ENV#${q.repository}#${q.environment}`,
      rangeAttr: 'GSI1SK',
      ...(q.status ? { statusFilter: q.status } : {}),
    };
  if (q.status !== undefined)
    return { index: 'GSI3', hashAttr: 'status', hashValue: q.status, rangeAttr: 'GSI2SK' };
  return { index: 'GSI2', hashAttr: 'GSI2PK', hashValue: 'DEPLOYMENTS', rangeAttr: 'GSI2SK' };
}

/** Pages read per request at most when a status is checked inside an environment's partition. */
const MAX_PAGES = 10;

/**
 * The DynamoDB side of DeploymentStore.queryDeployments. `strip` removes the table's own attributes.
 */
export async function queryDeploymentsTable(
  doc: DynamoDBDocumentClient,
  table: string,
  query: DeploymentQuery,
  strip: (item: Record<string, unknown>) => Deployment,
): Promise<DeploymentPage> {
  const q = validateQuery(query);
  const plan = planFor(q);
  const queryId = `${plan.index}|${plan.hashValue}|${plan.statusFilter ?? ''}`;
  const attrs = ['PK', 'SK', plan.hashAttr, plan.rangeAttr];
  let start: Record<string, unknown> | undefined = q.cursor
    ? decodeCursor(q.cursor, queryId, attrs)
    : undefined;
  if (start && start[plan.hashAttr] !== plan.hashValue) throw badCursor();
  const raw: Record<string, unknown>[] = [];
  let more = false;
  for (let page = 0; page < MAX_PAGES; page++) {
    const out = await doc.send(
      new QueryCommand({
        TableName: table,
        IndexName: plan.index,
        KeyConditionExpression: '#h = :h',
        ...(plan.statusFilter ? { FilterExpression: '#status = :status' } : {}),
        ExpressionAttributeNames: {
          '#h': plan.hashAttr,
          ...(plan.statusFilter ? { '#status': 'status' } : {}),
        },
        ExpressionAttributeValues: {
          ':h': plan.hashValue,
          ...(plan.statusFilter ? { ':status': plan.statusFilter } : {}),
        },
        ScanIndexForward: false,
        // one more than needed tells whether another page exists; a filtered read takes bigger bites
        Limit: plan.statusFilter ? 100 : q.limit - raw.length + 1,
        ...(start ? { ExclusiveStartKey: start } : {}),
      }),
    );
    for (const item of out.Items ?? []) {
      if (raw.length === q.limit) {
        more = true;
        break;
      }
      raw.push(item);
    }
    start = out.LastEvaluatedKey;
    if (more || !start) break;
  }
  const last = raw.at(-1);
  let next: string | undefined;
  if (more && last) next = encodeCursor(queryId, Object.fromEntries(attrs.map((a) => [a, last[a]])));
  else if (start && raw.length < q.limit)
    // stopped at the page cap with the partition unfinished: go on from where the reading stopped
    next = encodeCursor(queryId, Object.fromEntries(attrs.map((a) => [a, start?.[a]])));
  else if (start && last) next = encodeCursor(queryId, Object.fromEntries(attrs.map((a) => [a, last[a]])));
  return { deployments: raw.map(strip), ...(next ? { next } : {}) };
}
