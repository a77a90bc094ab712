import { DeleteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import {
  type ApprovalRequest,
  ApprovalRequestTable,
  type ApprovalStore,
  isConditionFailure,
} from '../approval/approval-request';
import type { Clock } from '../clock';
import type { Deployment } from '../deploy/deployment';
import type { Dispatcher } from '../dispatch/dispatcher';
import type { Logger } from '../log/logger';
import type { Notifier } from '../notify/notifier';
import { StoreConflictError } from '../store/deployment-store';

/** A reminder that an approval will expire soon. The link is not repeated: only its hash is stored. */
export interface ApprovalReminderNotice {
  deployment: Deployment;
  expiresAt: string;
  votes: number;
  summary: string[];
}

/** Optional notifier capability; notifiers without it get no reminders (the sweeper logs instead). */
export interface ApprovalReminderNotifier {
  approvalReminder(notice: ApprovalReminderNotice): Promise<void>;
}

export interface SweeperDeps {
  store: ApprovalStore;
  notifier: Notifier & Partial<ApprovalReminderNotifier>;
  dispatcher: Dispatcher;
  clock: Clock;
  logger: Logger;
  /** remind this long before expiry; default 2 h */
  remindBeforeMs?: number;
  /** how many recent deployments to scan for environments (locks) and stranded approvals; default 200 */
  scanLimit?: number;
}

export interface SweepReport {
  expired: string[];
  reminded: string[];
  locksReleased: string[];
  /** deployments left `running` by a runner whose lock expired, now failed */
  deadRuns: string[];
  redispatched: string[];
}

/** Same name as the runner's lock (lib/deploy/runner.ts `lockName`). */
function lockNameOf(d: Pick<Deployment, 'repository' | 'environment'>): string {
  return `env:${d.repository}:${d.environment}`;
}

/**
 * The scheduled sweep. Each step is a conditional write, so overlapping sweeps (or a sweep racing a
 * vote) cannot both act: an approval expires only if still pending and past its deadline, a
 * reminder is sent once, a lock is deleted only if its lease is still the expired one we saw.
 */
export async function sweep(deps: SweeperDeps): Promise<SweepReport> {
  const now = deps.clock.now();
  const table = new ApprovalRequestTable(deps.store);
  const report: SweepReport = {
    expired: [],
    reminded: [],
    locksReleased: [],
    deadRuns: [],
    redispatched: [],
  };
  const log = deps.logger.child({ job: 'sweeper' });

  const remindBefore = deps.remindBeforeMs ?? 2 * 3600_000;
  const due = await table.listPendingDueBefore(new Date(now.getTime() + remindBefore).toISOString());
  for (const req of due) {
    if (req.expiresAtMs <= now.getTime()) {
      if (await expire(deps, table, req, now)) report.expired.push(req.deploymentId);
    } else if (!req.remindedAt && (await table.markReminded(req.deploymentId, now))) {
      const d = await deps.store.getDeployment(req.deploymentId);
      if (d && d.status === 'awaiting_approval') {
        const notice = {
          deployment: d,
          expiresAt: req.expiresAt,
          votes: req.voteCount,
          summary: req.summary,
        };
        if (deps.notifier.approvalReminder) await deps.notifier.approvalReminder(notice);
        else log.info('approval expires soon', { deploymentId: d.id, expiresAt: req.expiresAt });
        report.reminded.push(req.deploymentId);
      }
    }
  }

  const recent = await deps.store.listDeployments({ limit: deps.scanLimit ?? 200 });
  const envs = new Map<string, Deployment[]>();
  for (const d of recent) {
    const k = lockNameOf(d);
    envs.set(k, [...(envs.get(k) ?? []), d]);
  }
  for (const [name, deployments] of envs) {
    const lease = await deps.store.getLock(name);
    if (!lease || new Date(lease.expiresAt).getTime() > now.getTime()) continue;
    if (!(await deleteExpiredLock(deps.store.documentClient, deps.store.tableName, name, lease.holder, now)))
      continue;
    report.locksReleased.push(name);
    log.warn('released an expired environment lock', {
      lock: name,
      holder: lease.holder,
      expiredAt: lease.expiresAt,
    });
    // the run that held it died mid-deploy (a hand-off re-queues before letting go): say so, so it
    // does not stay `running` for ever; the next run recovers any release it left pending
    for (const dead of deployments.filter((d) => d.status === 'running')) {
      try {
        const failed = await deps.store.transition(
          dead.id,
          ['running'],
          'failed',
          {
            reason: `the deploy runner died (its environment lock expired at ${lease.expiresAt}); a release it left pending is recovered by the next run`,
            finishedAt: now.toISOString(),
          },
          now,
        );
        report.deadRuns.push(dead.id);
        await deps.notifier.deploymentChanged(failed);
      } catch (e) {
        if (!(e instanceof StoreConflictError)) throw e;
      }
    }
    // whatever waited behind it would otherwise wait for the next push
    const next = deployments
      .filter((d) => d.status === 'queued')
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt))[0];
    if (next) {
      await deps.dispatcher.dispatch({ deploymentId: next.id });
      report.redispatched.push(next.id);
    }
  }
  return report;
}

async function expire(
  deps: SweeperDeps,
  table: ApprovalRequestTable,
  req: ApprovalRequest,
  now: Date,
): Promise<boolean> {
  const reason = `approval expired at ${req.expiresAt}`;
  if (!(await table.close(req.deploymentId, 'expired', now, reason))) return false;
  try {
    const d = await deps.store.transition(
      req.deploymentId,
      ['awaiting_approval'],
      'expired',
      { reason, finishedAt: now.toISOString() },
      now,
    );
    await deps.store.appendAudit({
      deploymentId: d.id,
      at: now.toISOString(),
      actor: 'system',
      via: 'system',
      action: 'expire',
      outcome: 'expired',
      detail: reason,
    });
    await deps.notifier.deploymentChanged(d);
  } catch (e) {
    if (!(e instanceof StoreConflictError)) throw e; // superseded or decided meanwhile: nothing to expire
  }
  return true;
}

/** Deletes the lock only if it is still `holder`'s and still expired (not renewed or retaken meanwhile). */
async function deleteExpiredLock(
  doc: DynamoDBDocumentClient,
  table: string,
  name: string,
  holder: string,
  now: Date,
): Promise<boolean> {
  try {
    await doc.send(
      new DeleteCommand({
        TableName: table,
        Key: { PK: `LOCK#${name}`, SK: '#META' },
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
