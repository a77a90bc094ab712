import type { ApprovalRequest } from '../approval/approval-request';
import type { Clock } from '../clock';
import { frozenAt } from '../deploy/freeze';
import { type Deployment, type DeploymentStatus, deadRuns, lockName } from '../deploy/lifecycle';
import type { Dispatcher } from '../dispatch/dispatcher';
import { handle } from '../lifecycle/apply';
import type { Logger } from '../log/logger';
import type { ApprovalReminderNotice, Notifier } from '../notify/notifier';
import { driftAction, type EnvironmentPolicy, environmentPolicy, type Policy } from '../policy/policy';
import { MAX_PAGE } from '../store/deployment-query';
import type { DeploymentStore } from '../store/deployment-store';

export type { ApprovalReminderNotice } from '../notify/notifier';

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
  /** the operator policy: its freeze windows say when frozen deployments may start */
  policy?: Policy;
  /** how many recent deployments to scan for environments (locks) and stranded approvals; default 200 */
  scanLimit?: number;
  /** how often each environment's drift is checked (a runner job); default 30 minutes, 0 = never */
  driftEveryMs?: number;
  /**
   * How long an approval lives (HELMGATE_APPROVAL_TTL_HOURS, as the approval service is given); default
   * 24 h, the service's default. A deployment that waited this long plus `strandedMarginMs` without an
   * approval request ever being opened is expired.
   */
  approvalTtlMs?: number;
  /** see `approvalTtlMs`; default 1 h */
  strandedMarginMs?: number;
}

export interface SweepReport {
  expired: string[];
  reminded: string[];
  locksReleased: string[];
  /** deployments left `running` by a runner whose lock expired, now failed */
  deadRuns: string[];
  redispatched: string[];
  /** queued deployments whose freeze window ended, dispatched now */
  thawed: string[];
  /** deployments (what runs in an environment) whose drift check was dispatched */
  driftChecks: string[];
  /** deployments that waited for approval longer than an approval lives, with no request ever opened: expired */
  stranded: string[];
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
    thawed: [],
    driftChecks: [],
    stranded: [],
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
        const env = deps.policy ? environmentPolicy(deps.policy, d.repository, d.environment) : undefined;
        const notice: ApprovalReminderNotice = {
          deployment: d,
          expiresAt: req.expiresAt,
          votes: req.voteCount,
          summary: req.summary,
          ...(env ? { required: d.requestedApprovers?.required ?? env.approvers.required } : {}),
          ...(env ? { approvers: reminderAudience(env.approvers, d) } : {}),
        };
        if (deps.notifier.approvalReminder) await deps.notifier.approvalReminder(notice);
        else log.info('approval expires soon', { deploymentId: d.id, expiresAt: req.expiresAt });
        report.reminded.push(req.deploymentId);
      }
    }
  }

  report.stranded = await expireStranded(deps, now);

  const recent = await deps.store.listDeployments({ limit: deps.scanLimit ?? 200 });
  const envs = new Map<string, Deployment[]>();
  for (const d of recent) {
    const k = lockName(d);
    envs.set(k, [...(envs.get(k) ?? []), d]);
  }
  // a deployment queued during a freeze starts when it ends (the runner left it queued with `frozenUntil`);
  // the runner checks the freeze again, so a dispatch during a window extended meanwhile only waits again
  for (const d of recent) {
    if (d.status !== 'queued' || !d.frozenUntil || Date.parse(d.frozenUntil) > now.getTime()) continue;
    const env = deps.policy ? environmentPolicy(deps.policy, d.repository, d.environment) : undefined;
    if (env && frozenAt(env.freezeWindows, now)) continue;
    await deps.dispatcher.dispatch({ deploymentId: d.id });
    report.thawed.push(d.id);
    log.info('freeze ended; deployment dispatched', { deploymentId: d.id, frozenUntil: d.frozenUntil });
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
  report.driftChecks = await dispatchDriftChecks(deps, recent, now);
  return report;
}

/** Item kind: the drift schedule's slot an environment was last dispatched in (`repo#env`). */
const DRIFT_DUE = 'DRIFTDUE';

/**
 * The drift schedule (issue 13, item 4): once per `driftEveryMs` slot, each environment whose policy does
 * not say `drift: off` gets a drift check of what runs there (its newest succeeded deployment), as a
 * runner job — the runner holds the environment's cluster credentials; the sweeper holds none. The slot
 * is claimed with one conditional write, so overlapping sweeps dispatch one check.
 */
async function dispatchDriftChecks(
  deps: SweeperDeps,
  recent: readonly Deployment[],
  now: Date,
): Promise<string[]> {
  const every = deps.driftEveryMs ?? 30 * 60_000;
  const policy = deps.policy;
  if (!policy || every <= 0) return [];
  const envs = new Map<string, { repository: string; environment: string }>();
  const add = (repository: string, environment: string) => {
    if (environment !== '*') envs.set(`${repository}#${environment}`, { repository, environment });
  };
  for (const [repo, rp] of Object.entries(policy.repositories))
    if (repo !== '*') for (const name of Object.keys(rp.environments)) add(repo, name);
  for (const d of recent) add(d.repository, d.environment);
  const slot = String(Math.floor(now.getTime() / every));
  const out: string[] = [];
  for (const [key, e] of envs) {
    const env = environmentPolicy(policy, e.repository, e.environment);
    if (!env || driftAction(env) === 'off') continue;
    if (
      !(await deps.store.putItem(DRIFT_DUE, key, { slot }, { unlessEqual: { field: 'slot', value: slot } }))
    )
      continue;
    const runs = (await deps.store.listByEnvironment(e.repository, e.environment, { limit: 50 })).find(
      (d) => d.status === 'succeeded',
    );
    if (!runs) continue;
    await deps.dispatcher.dispatch({ deploymentId: runs.id, purpose: 'drift' });
    out.push(runs.id);
  }
  return out;
}

const HOUR_MS = 3_600_000;
/** at most this many pages (of MAX_PAGE) of one status are read per sweep */
const STATUS_PAGES = 5;

/** Deployments of one status, newest first, through the status index (never a filter over a limited list). */
async function listStatus(store: DeploymentStore, status: DeploymentStatus): Promise<Deployment[]> {
  const out: Deployment[] = [];
  let cursor: string | undefined;
  for (let i = 0; i < STATUS_PAGES; i++) {
    const page = await store.queryDeployments({ status, limit: MAX_PAGE, ...(cursor ? { cursor } : {}) });
    out.push(...page.deployments);
    if (!page.next) break;
    cursor = page.next;
  }
  return out;
}

/**
 * The second line behind the promotion gate (issue 13): a deployment left `awaiting_approval` with no
 * approval request (its promotion could not plan it, its offer job was lost, the environment it waited
 * behind was rejected or expired) would otherwise wait for ever, since approvals expire only through
 * their requests. Once it has waited longer than an approval lives plus a margin, and no other
 * deployment of its commit is still on its way (queued — perhaps in a freeze —, running, or waiting with
 * a request of its own), it is expired through the lifecycle: audited and notified like any expiry.
 */
async function expireStranded(deps: SweeperDeps, now: Date): Promise<string[]> {
  const lifetime = deps.approvalTtlMs ?? 24 * HOUR_MS;
  const cutoff = now.getTime() - lifetime - (deps.strandedMarginMs ?? HOUR_MS);
  const waiting = await listStatus(deps.store, 'awaiting_approval');
  const old = waiting.filter((d) => Date.parse(d.createdAt) <= cutoff);
  const stranded: Deployment[] = [];
  for (const d of old) if (!(await deps.store.getApprovalRequest(d.id))) stranded.push(d);
  if (stranded.length === 0) return [];
  const strandedIds = new Set(stranded.map((d) => d.id));
  const moving = [
    ...(await listStatus(deps.store, 'queued')),
    ...(await listStatus(deps.store, 'running')),
    ...waiting.filter((w) => !strandedIds.has(w.id)),
  ];
  const out: string[] = [];
  for (const d of stranded) {
    if (moving.some((m) => m.id !== d.id && m.repository === d.repository && m.sha === d.sha)) continue;
    // an offer may have opened its request since the first read: that one expires through its request
    if (await deps.store.getApprovalRequest(d.id)) continue;
    const created = Date.parse(d.createdAt);
    const hours = Math.floor((now.getTime() - created) / HOUR_MS);
    const [applied] = await handle(deps, {
      type: 'expiry',
      target: d,
      expiresAt: new Date(created + lifetime).toISOString(),
      reason: `waited ${hours} h without an approval request being opened; expired`,
    });
    if (applied?.kind !== 'moved') continue;
    out.push(d.id);
    deps.logger.warn('expired a deployment that waited without an approval request', {
      deploymentId: d.id,
      createdAt: d.createdAt,
    });
  }
  return out;
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

/**
 * Who a reminder mentions: the environment's Slack approvers and the Slack ids mapped to its GitHub
 * approvers (narrowed to the commit's own `approvers` block when it names any); GitHub approvers with no
 * Slack id are named instead.
 */
export function reminderAudience(
  a: Pick<EnvironmentPolicy['approvers'], 'slack' | 'github' | 'slackToGithub'>,
  d: Pick<Deployment, 'requestedApprovers'>,
): { slack: string[]; github: string[] } {
  const wantSlack = d.requestedApprovers?.slack.length ? new Set(d.requestedApprovers.slack) : undefined;
  const wantGithub = d.requestedApprovers?.github.length
    ? new Set(d.requestedApprovers.github.map((l) => l.toLowerCase()))
    : undefined;
  const github = a.github.filter((l) => !wantGithub || wantGithub.has(l.toLowerCase()));
  const byLogin = new Map(Object.entries(a.slackToGithub).map(([id, login]) => [login.toLowerCase(), id]));
  const slack = new Set(a.slack.filter((id) => !wantSlack || wantSlack.has(id)));
  const unmapped: string[] = [];
  for (const l of github) {
    const id = byLogin.get(l.toLowerCase());
    if (id) slack.add(id);
    else unmapped.push(l);
  }
  return { slack: [...slack].sort(), github: unmapped };
}
