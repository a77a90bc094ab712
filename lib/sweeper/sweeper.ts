import type { ApprovalRequest } from '../approval/approval-request';
import type { Clock } from '../clock';
import { type Deployment, deadRuns, lockName } from '../deploy/lifecycle';
import type { Dispatcher } from '../dispatch/dispatcher';
import { handle } from '../lifecycle/apply';
import type { Logger } from '../log/logger';
import type { Notifier } from '../notify/notifier';
import type { DeploymentStore } from '../store/deployment-store';

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
  store: DeploymentStore;
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

/**
 * The scheduled sweep. Each step is a conditional write, so overlapping sweeps (or a sweep racing a
 * vote) cannot both act: an approval expires only if still pending and past its deadline, a
 * reminder is sent once, a lock is deleted only if its lease is still the expired one we saw.
 */
export async function sweep(deps: SweeperDeps): Promise<SweepReport> {
  const now = deps.clock.now();
  const report: SweepReport = {
    expired: [],
    reminded: [],
    locksReleased: [],
    deadRuns: [],
    redispatched: [],
  };
  const log = deps.logger.child({ job: 'sweeper' });

  const remindBefore = deps.remindBeforeMs ?? 2 * 3600_000;
  const due = await deps.store.listPendingApprovalsDueBefore(
    new Date(now.getTime() + remindBefore).toISOString(),
  );
  for (const req of due) {
    if (req.expiresAtMs <= now.getTime()) {
      if (await expire(deps, req, now)) report.expired.push(req.deploymentId);
    } else if (!req.remindedAt && (await deps.store.markApprovalReminded(req.deploymentId, now))) {
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
    const k = lockName(d);
    envs.set(k, [...(envs.get(k) ?? []), d]);
  }
  for (const [name, deployments] of envs) {
    const lease = await deps.store.getLock(name);
    if (!lease || new Date(lease.expiresAt).getTime() > now.getTime()) continue;
    if (!(await deps.store.releaseExpiredLock(name, lease.holder, now))) continue;
    report.locksReleased.push(name);
    log.warn('released an expired environment lock', {
      lock: name,
      holder: lease.holder,
      expiredAt: lease.expiresAt,
    });
    // the run that held it died mid-deploy (a hand-off re-queues before letting go): say so, so it
    // does not stay `running` for ever; the next run recovers any release it left pending
    for (const dead of deadRuns(deployments)) {
      const [failed] = await handle(deps, {
        type: 'dead-run',
        target: dead,
        lockExpiredAt: lease.expiresAt,
      });
      if (failed?.kind === 'moved') report.deadRuns.push(dead.id);
    }
    // whatever waited behind it would otherwise wait for the next push: the same next-to-run rule
    // as the runner's (the newest queued runs, older queued ones give way)
    const next = await handle(deps, { type: 'environment-free' }, { environment: deployments });
    for (const a of next) if (a.kind === 'dispatched') report.redispatched.push(a.job.deploymentId);
  }
  return report;
}

async function expire(deps: SweeperDeps, req: ApprovalRequest, now: Date): Promise<boolean> {
  if (
    !(await deps.store.closeApprovalRequest(
      req.deploymentId,
      'expired',
      now,
      `approval expired at ${req.expiresAt}`,
    ))
  )
    return false;
  const d = await deps.store.getDeployment(req.deploymentId);
  // superseded or decided meanwhile: nothing to expire (decide refuses, apply loses the write)
  if (d) await handle(deps, { type: 'expiry', target: d, expiresAt: req.expiresAt });
  return true;
}
