import {
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { ApprovalRequest, ApprovalVoteWrite, RejectionWrite } from '../approval/approval-request';
import type { ManifestDiff } from '../deploy/manifest-diff';
import type { ReleaseChange } from '../deploy/plan-diff';
import { isConditionFailure } from './dynamodb-errors';

const KIND = 'APPROVAL';
const META = '#META';
/** Sparse index entry present only while pending: the sweeper finds due requests without a scan. */
const PENDING_INDEX = 'APPROVALS#pending';

function key(id: string) {
  return { PK: `${KIND}#${id}`, SK: META };
}

function fromItem(item: Record<string, unknown> | undefined): ApprovalRequest | undefined {
  if (!item) return undefined;
  const { PK: _p, SK: _s, GSI1PK: _g, GSI1SK: _h, kind: _k, ttl: _t, changesJson, ...rest } = item;
  const changes = typeof changesJson === 'string' ? (JSON.parse(changesJson) as ReleaseChange[]) : [];
  return {
    ...(rest as unknown as Omit<ApprovalRequest, 'changes'>),
    changes,
    votes: (rest.votes as ApprovalRequest['votes']) ?? {},
  };
}

/** Table operations on approval requests; every write that decides something is conditional. */
export class DynamoDbApprovalRequests {
  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly table: string,
  ) {}

  /**
   * Creates the request; false when one exists that is not void (a void request — its plan changed —
   * may be replaced by a fresh offer). Kept 30 days after expiry for the page and the audit.
   */
  async create(req: ApprovalRequest): Promise<boolean> {
    const { changes, ...rest } = req;
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.table,
          Item: {
            ...rest,
            changesJson: JSON.stringify(changes),
            ...key(req.deploymentId),
            kind: KIND,
            GSI1PK: PENDING_INDEX,
            GSI1SK: `${req.expiresAt}#${req.deploymentId}`,
            ttl: Math.floor(req.expiresAtMs / 1000) + 30 * 86400,
          },
          ConditionExpression: 'attribute_not_exists(PK) OR #status = :void',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':void': 'void' },
        }),
      );
      return true;
    } catch (e) {
      if (isConditionFailure(e)) return false;
      throw e;
    }
  }

  async get(id: string): Promise<ApprovalRequest | undefined> {
    const out = await this.doc.send(
      new GetCommand({ TableName: this.table, Key: key(id), ConsistentRead: true }),
    );
    return fromItem(out.Item);
  }

  /** Pending requests whose deadline is at or before `before` (ISO), oldest deadline first. */
  async listPendingDueBefore(before: string, limit = 100): Promise<ApprovalRequest[]> {
    const out: ApprovalRequest[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.doc.send(
        new QueryCommand({
          TableName: this.table,
          IndexName: 'GSI1',
          KeyConditionExpression: 'GSI1PK = :pk AND GSI1SK <= :before',
          ExpressionAttributeValues: { ':pk': PENDING_INDEX, ':before': `${before}#\uffff` },
          Limit: limit - out.length,
          ExclusiveStartKey: start,
        }),
      );
      for (const it of page.Items ?? []) {
        const r = fromItem(it);
        if (r) out.push(r);
      }
      start = page.LastEvaluatedKey;
    } while (start && out.length < limit);
    return out;
  }

  /**
   * One approve vote as ONE conditional update: still pending, not expired, bound to the same plan,
   * this person has not voted, and nobody else voted since we read `expectedCount` (so exactly one
   * vote can be the deciding one). Returns false when the condition failed.
   */
  async recordApproval(id: string, a: ApprovalVoteWrite): Promise<boolean> {
    const names: Record<string, string> = {
      '#status': 'status',
      '#votes': 'votes',
      '#voter': a.voterKey,
      '#count': 'voteCount',
      '#exp': 'expiresAtMs',
      '#digest': 'planDigest',
    };
    const values: Record<string, unknown> = {
      ':pending': 'pending',
      ':now': a.now.getTime(),
      ':vote': a.vote,
      ':count': a.expectedCount,
      ':next': a.expectedCount + 1,
      ':digest': a.planDigest,
    };
    const sets = ['#votes.#voter = :vote', '#count = :next'];
    const removes: string[] = [];
    if (a.final) {
      names['#decidedAt'] = 'decidedAt';
      names['#decidedBy'] = 'decidedBy';
      values[':approved'] = 'approved';
      values[':at'] = a.vote.at;
      values[':by'] = a.vote.actor;
      sets.push('#status = :approved', '#decidedAt = :at', '#decidedBy = :by');
      if (a.rollback) {
        names['#rollback'] = 'rollback';
        values[':true'] = true;
        sets.push('#rollback = :true');
      }
      removes.push('GSI1PK', 'GSI1SK');
    }
    return this.update(id, {
      UpdateExpression: `SET ${sets.join(', ')}${removes.length ? ` REMOVE ${removes.join(', ')}` : ''}`,
      ConditionExpression:
        'attribute_exists(PK) AND #status = :pending AND #exp > :now AND #count = :count AND #digest = :digest AND attribute_not_exists(#votes.#voter)',
      ExpressionAttributeNames: names,
      ExpressionAttributeValues: values,
    });
  }

  /** A rejection decides at once: pending and not expired → rejected, with the vote recorded. */
  async recordRejection(id: string, r: RejectionWrite): Promise<boolean> {
    const names: Record<string, string> = {
      '#status': 'status',
      '#votes': 'votes',
      '#voter': r.voterKey,
      '#exp': 'expiresAtMs',
      '#decidedAt': 'decidedAt',
      '#decidedBy': 'decidedBy',
    };
    const sets = ['#votes.#voter = :vote', '#status = :rejected', '#decidedAt = :at', '#decidedBy = :by'];
    return this.update(id, {
      UpdateExpression: `SET ${sets.join(', ')} REMOVE GSI1PK, GSI1SK`,
      ConditionExpression: 'attribute_exists(PK) AND #status = :pending AND #exp > :now',
      ExpressionAttributeNames: names,
      ExpressionAttributeValues: {
        ':pending': 'pending',
        ':rejected': 'rejected',
        ':now': r.now.getTime(),
        ':vote': r.vote,
        ':at': r.vote.at,
        ':by': r.vote.actor,
      },
    });
  }

  /** pending → expired (only once the deadline has passed) or → void (its plan changed). */
  async close(id: string, to: 'expired' | 'void', now: Date, reason: string): Promise<boolean> {
    return this.update(id, {
      UpdateExpression: 'SET #status = :to, #reason = :reason, #decidedAt = :at REMOVE GSI1PK, GSI1SK',
      ConditionExpression: `attribute_exists(PK) AND #status = :pending${to === 'expired' ? ' AND #exp <= :now' : ''}`,
      ExpressionAttributeNames: {
        '#status': 'status',
        '#reason': 'reason',
        '#decidedAt': 'decidedAt',
        ...(to === 'expired' ? { '#exp': 'expiresAtMs' } : {}),
      },
      ExpressionAttributeValues: {
        ':to': to,
        ':reason': reason,
        ':at': now.toISOString(),
        ':pending': 'pending',
        ...(to === 'expired' ? { ':now': now.getTime() } : {}),
      },
    });
  }

  /** Marks the one reminder as sent; false when it already was (or the request is no longer pending). */
  async markReminded(id: string, now: Date): Promise<boolean> {
    return this.update(id, {
      UpdateExpression: 'SET #reminded = :at',
      ConditionExpression: 'attribute_exists(PK) AND #status = :pending AND attribute_not_exists(#reminded)',
      ExpressionAttributeNames: { '#reminded': 'remindedAt', '#status': 'status' },
      ExpressionAttributeValues: { ':at': now.toISOString(), ':pending': 'pending' },
    });
  }

  /** A preview job's rendered diff: only onto a pending request bound to the same plan. */
  async recordManifests(
    id: string,
    input: { planDigest: string; manifests?: ManifestDiff; summary: string[] },
  ): Promise<boolean> {
    return this.update(id, {
      UpdateExpression: `SET ${input.manifests ? '#manifests = :m, ' : ''}#summary = :s REMOVE #pendingSince`,
      ConditionExpression: 'attribute_exists(PK) AND #status = :pending AND #digest = :digest',
      ExpressionAttributeNames: {
        ...(input.manifests ? { '#manifests': 'manifests' } : {}),
        '#summary': 'summary',
        '#pendingSince': 'manifestsPending',
        '#status': 'status',
        '#digest': 'planDigest',
      },
      ExpressionAttributeValues: {
        ...(input.manifests ? { ':m': input.manifests } : {}),
        ':s': input.summary,
        ':pending': 'pending',
        ':digest': input.planDigest,
      },
    });
  }

  private async update(
    id: string,
    expr: Pick<
      ConstructorParameters<typeof UpdateCommand>[0],
      'UpdateExpression' | 'ConditionExpression' | 'ExpressionAttributeNames' | 'ExpressionAttributeValues'
    >,
  ): Promise<boolean> {
    try {
      await this.doc.send(new UpdateCommand({ TableName: this.table, Key: key(id), ...expr }));
      return true;
    } catch (e) {
      if (isConditionFailure(e)) return false;
      throw e;
    }
  }
}
