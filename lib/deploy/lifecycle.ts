import type { ApprovalMode } from './deploy-config';
import type { ReleaseDiagnosis } from './diagnosis';
import type { ReleaseTests } from './release-tests';

/**
 * The deployment lifecycle, in one place: the states, the edges between them, which event may take
 * which edge, and a pure `decide(event, facts)` that returns what should happen. `lib/lifecycle/apply`
 * performs the result (conditional write checked against these edges, audit, notification, dispatch);
 * every entry point (webhook, runner, approvals, Slack, sweeper, CLI) goes through the two.
 */
export const DEPLOYMENT_STATUSES = [
  'awaiting_approval',
  'queued',
  'running',
  'succeeded',
  'rendered',
  'failed',
  'rejected',
  'superseded',
  'expired',
] as const;
export type DeploymentStatus = (typeof DEPLOYMENT_STATUSES)[number];

export type { ApprovalMode };

export type ReleaseStatus =
  | 'pending'
  | 'running'
  | 'succeeded'
  | 'failed'
  | 'skipped'
  | 'rendered'
  | 'cancelled';

export interface ReleaseResult {
  name: string;
  namespace: string;
  status: ReleaseStatus;
  /** why: `unchanged`, `dependency x failed`, a classified failure */
  reason?: string;
  revision?: number;
  attempts: number;
  durationMs?: number;
  chart?: string;
  /** the last lines of helm's output, redacted */
  errorTail?: string;
  /** `helm test` of the release (health.helmTest): passed, or failed with which test hook (issue 13) */
  tests?: ReleaseTests;
  /** what the cluster showed when it failed: pods, container states, events, log tails (redacted) */
  diagnosis?: ReleaseDiagnosis;
  /**
   * the revision it was rolled back to after the deployment failed: a release whose helm upgrade failed
   * always, the others it changed under policy `rollback`
   */
  rolledBackTo?: number;
  /** a first install whose helm upgrade failed, uninstalled after its diagnosis (nothing ran before it) */
  uninstalled?: boolean;
  /** a release removed from deploy.yaml: uninstalled by this deployment, or kept (policy, approval) */
  pruned?: 'uninstalled' | 'kept';
}

/** A Deployment is one environment at one commit. */
export interface Deployment {
  id: string;
  repository: string;
  environment: string;
  sha: string;
  ref: string;
  status: DeploymentStatus;
  approval: ApprovalMode;
  reason?: string;
  deliveryId?: string;
  pusher?: string;
  /**
   * GitHub logins (lower case) who had a hand in the commits deployed: pusher, merger (the push's
   * sender), and the authors and committers GitHub resolved to a login. The four-eyes rule keeps
   * them from approving (issue 11).
   */
  involved?: string[];
  commitMessage?: string;
  commitUrl?: string;
  createdAt: string;
  updatedAt: string;
  startedAt?: string;
  finishedAt?: string;
  supersededBy?: string;
  planDigest?: string;
  releases?: ReleaseResult[];
  force?: boolean;
  /** queued inside a freeze window: it starts when the window ends (the sweeper dispatches it then) */
  frozenUntil?: string;
  /**
   * the freeze it waited in was overridden by the environment's approvers (issue 13, item 6): it starts
   * before the window ends; holds only for the freeze it was given in (until `until`)
   */
  freezeOverride?: FreezeOverride;
  /** how it came to be: a push (default), or an operator's `helmgate redeploy` / `helmgate rollback` */
  trigger?: 'push' | 'redeploy' | 'rollback' | 'retry';
  /** the operator who asked for a redeploy or rollback */
  requestedBy?: string;
  /** a rollback: the deployment whose commit it replaces */
  rollbackOf?: string;
  /** a retry: the failed deployment it runs again (same commit, same plan digest) */
  retryOf?: string;
  /** for GitHub Deployments / Slack message threading, set by reporters */
  externalRefs?: Record<string, string>;
  /** the operator policy the push was checked against (lib/policy): its digest and one line for people */
  policy?: { digest: string; summary: string };
  /**
   * the commit's own `approvers` block, recorded at intake once the policy check passed: it may only
   * narrow the policy's approvers, and the approval side applies it (lib/policy/check.ts)
   */
  requestedApprovers?: {
    github: string[];
    githubTeams: string[];
    slack: string[];
    required?: number | undefined;
    allowSelfApproval?: boolean | undefined;
  };
}

/** One approver's part of a freeze override: who, how, and the written reason. */
export interface FreezeOverrideVote {
  /** GitHub login (lower case): one person, one vote, whichever way they gave it */
  login: string;
  /** for people and the audit: `alice`, `alice (cli)`, `alice (Slack U…)` */
  label: string;
  via: string;
  at: string;
  reason: string;
}

/** A completed freeze override: the required number of distinct approvers, each with a reason. */
export interface FreezeOverride {
  /** the end of the freeze it was given in (the deployment's `frozenUntil` then): it holds until this */
  until: string;
  required: number;
  votes: FreezeOverrideVote[];
  completedAt: string;
}

/**
 * Which move may take which edge. A move's `from` is also the condition of its conditional write:
 * a supersede wins only while the deployment has not started, a vote only while it still waits.
 */
export const MOVES = {
  /** a newer deployment of the environment was created, or was picked to run next */
  supersede: { from: ['awaiting_approval', 'queued'], to: ['superseded'] },
  /** the deciding approval vote */
  approve: { from: ['awaiting_approval'], to: ['queued'] },
  /** `approval: auto`: its `after` environment succeeded for the same commit */
  promote: { from: ['awaiting_approval'], to: ['queued'] },
  reject: { from: ['awaiting_approval'], to: ['rejected'] },
  expire: { from: ['awaiting_approval'], to: ['expired'] },
  /** it can never be approved: its plan cannot be made, or its `after` environment failed */
  block: { from: ['awaiting_approval'], to: ['failed'] },
  start: { from: ['queued'], to: ['running'] },
  finish: { from: ['running'], to: ['succeeded', 'rendered', 'failed'] },
  /** its runner died: the lock it held expired, or a new run holds it */
  'dead-run': { from: ['running'], to: ['failed'] },
  /** near Lambda's time limit: a fresh invocation continues */
  'hand-off': { from: ['running'], to: ['queued'] },
  /**
   * an approved deployment waiting in a freeze window may start before it ends: its approvers overrode
   * the freeze (it stays queued, now with `freezeOverride`, and is dispatched)
   */
  'override-freeze': { from: ['queued'], to: ['queued'] },
} as const satisfies Record<string, { from: readonly DeploymentStatus[]; to: readonly DeploymentStatus[] }>;
export type MoveKind = keyof typeof MOVES;

/** The edges: the union of every move's. */
export const EDGES: Readonly<Record<DeploymentStatus, readonly DeploymentStatus[]>> = (() => {
  const edges = Object.fromEntries(DEPLOYMENT_STATUSES.map((s) => [s, [] as DeploymentStatus[]])) as Record<
    DeploymentStatus,
    DeploymentStatus[]
  >;
  for (const m of Object.values(MOVES))
    for (const from of m.from) for (const to of m.to) if (!edges[from].includes(to)) edges[from].push(to);
  return edges;
})();

export function canTransition(from: DeploymentStatus, to: DeploymentStatus): boolean {
  return EDGES[from].includes(to);
}

/** The statuses from which `to` may be entered. */
export function sourcesOf(to: DeploymentStatus): DeploymentStatus[] {
  return DEPLOYMENT_STATUSES.filter((from) => EDGES[from].includes(to));
}

export const TERMINAL_STATUSES: readonly DeploymentStatus[] = DEPLOYMENT_STATUSES.filter(
  (s) => EDGES[s].length === 0,
);
export const ACTIVE_STATUSES: readonly DeploymentStatus[] = DEPLOYMENT_STATUSES.filter(
  (s) => EDGES[s].length > 0,
);
/** Statuses a newer deployment may supersede: anything not yet started. */
export const SUPERSEDABLE: readonly DeploymentStatus[] = MOVES.supersede.from;

export function isTerminal(s: DeploymentStatus): boolean {
  return TERMINAL_STATUSES.includes(s);
}

/**
 * The one check of a conditional move: every status in `from` must have an edge to `to`. The store
 * implementations call it before writing, so no caller can move a deployment along a non-edge.
 */
export function edgeViolation(from: readonly DeploymentStatus[], to: DeploymentStatus): string | undefined {
  if (from.length === 0) return `no source status given for a move to ${to}`;
  const bad = from.filter((f) => !canTransition(f, to));
  return bad.length ? `${bad.join('|')} → ${to} is not an edge of the deployment lifecycle` : undefined;
}

/** Initial status per approval mode: only `none` deploys at once. */
export function initialStatus(approval: ApprovalMode): DeploymentStatus {
  return approval === 'none' ? 'queued' : 'awaiting_approval';
}

/** The one environment lock name (runner, sweeper, fault benches). */
export function lockName(d: Pick<Deployment, 'repository' | 'environment'>): string {
  return `env:${d.repository}:${d.environment}`;
}

/** The one supersede reason: which deployment, at which commit, took the place. */
export function supersedeReason(by: Pick<Deployment, 'id' | 'sha'>): string {
  return `superseded by ${by.id} (${by.sha.slice(0, 12)})`;
}

/** The one dead-run reason. */
export function deadRunReason(how: { lockExpiredAt?: string; takenOverBy?: string }): string {
  const expired = how.lockExpiredAt ? ` at ${how.lockExpiredAt}` : '';
  const recovery = how.takenOverBy
    ? `${how.takenOverBy} took over and recovers what it left pending`
    : 'a release it left pending is recovered by the next run';
  return `the deploy runner died (its environment lock expired${expired}); ${recovery}`;
}

/**
 * The dead-run rule: while the environment's lock is held by a live run (`ours`), or after its lease
 * expired (the sweeper), any other deployment of it still `running` belongs to a runner that died.
 */
export function deadRuns(environment: readonly Deployment[], oursId?: string): Deployment[] {
  return environment.filter((d) => d.status === 'running' && d.id !== oursId);
}

/** Creation order (the intake's clock, then the id, so two deployments are never equal). */
export function isNewer(
  a: Pick<Deployment, 'createdAt' | 'id'>,
  b: Pick<Deployment, 'createdAt' | 'id'>,
): boolean {
  return `${a.createdAt}#${a.id}` > `${b.createdAt}#${b.id}`;
}

/**
 * The next-to-run rule: the NEWEST queued deployment of an environment runs next; older queued ones
 * are superseded by it (a newer commit of the same environment makes an older one pointless).
 */
export function nextToRun(
  environment: readonly Deployment[],
  exceptId?: string,
): { next?: Deployment; superseded: Deployment[] } {
  const queued = environment
    .filter((d) => d.status === 'queued' && d.id !== exceptId)
    .sort((a, b) => (isNewer(a, b) ? -1 : 1));
  const [next, ...superseded] = queued;
  return next ? { next, superseded } : { superseded: [] };
}

/**
 * What a runner invocation does with its deployment. `deploy` (default): run a queued deployment.
 * `offer`: plan a deployment that waits for approval (the runner has the tree; the webhook only reads
 * one file) and open its approval request. `preview`: render the rendered-manifest diff of a deployment
 * whose approval is open, with that deployment's own environment credentials, and record it on the
 * request (lib/runner/preview-job.ts). `drift`: compare what runs with that (succeeded) deployment, the
 * environment's current one (lib/runner/drift-check.ts); the sweeper dispatches it on a schedule.
 */
export const JOB_PURPOSES = ['deploy', 'offer', 'preview', 'drift'] as const;
export type JobPurpose = (typeof JOB_PURPOSES)[number];

/** A job for the deploy runner: what the dispatcher sends and the runner handlers accept. */
export interface Job {
  deploymentId: string;
  /** how many invocations already worked on this deployment (Lambda time-limit hand-offs) */
  continuation?: number;
  purpose?: JobPurpose;
}

/** An audit line for a move (the deployment id and time are added by apply). */
export interface AuditNote {
  actor: string;
  via: string;
  action: string;
  outcome: string;
  detail?: string;
}

/** Fields a move may set besides the status. */
export type MovePatch = Partial<
  Pick<
    Deployment,
    'reason' | 'finishedAt' | 'startedAt' | 'supersededBy' | 'planDigest' | 'releases' | 'freezeOverride'
  >
>;

export type Step =
  /** move `id` along an edge: a conditional write on `from`; then audit, notify, and dispatch `next` */
  | {
      kind: 'move';
      move: MoveKind;
      id: string;
      from: readonly DeploymentStatus[];
      to: DeploymentStatus;
      patch: MovePatch;
      audit?: AuditNote;
      next?: Job;
    }
  /** hand a job to the runner without a move */
  | { kind: 'dispatch'; job: Job; reason: string }
  /** nothing to do, and why (e.g. a vote that is not the deciding one) */
  | { kind: 'none'; id: string; reason: string }
  /** the event cannot apply to the deployment in its current state */
  | { kind: 'refuse'; id: string; reason: string };

export type LifecycleEvent =
  /** a deployment was created: by a push, or an operator's redeploy / rollback (a retry is a redeploy) */
  | { type: 'created'; deployment: Deployment; offer: boolean }
  | { type: 'superseded'; target: Deployment; by: Deployment }
  | { type: 'offer-opened'; target: Deployment }
  | { type: 'vote'; target: Deployment; final: boolean }
  | { type: 'rejection'; target: Deployment; by: string; via: string }
  /**
   * the approval ran out: its request's deadline passed, or (`reason` given) the deployment waited
   * longer than an approval lives without a request ever being opened (the sweeper's second line)
   */
  | { type: 'expiry'; target: Deployment; expiresAt: string; reason?: string }
  | { type: 'unplannable'; target: Deployment; reason: string; audit?: AuditNote }
  | { type: 'promoted'; target: Deployment; planDigest: string; audit?: AuditNote }
  | { type: 'run-started'; target: Deployment }
  | {
      type: 'run-finished';
      target: Deployment;
      outcome: 'succeeded' | 'rendered' | 'failed';
      reason?: string;
      releases?: ReleaseResult[];
    }
  | { type: 'dead-run'; target: Deployment; lockExpiredAt?: string; takenOverBy?: string }
  | { type: 'hand-off'; target: Deployment; continuation: number; releases?: ReleaseResult[] }
  /** the last of the required approvers overrode the freeze the (approved, queued) deployment waits in */
  | { type: 'freeze-override'; target: Deployment; override: FreezeOverride; audit?: AuditNote }
  /** the environment's lock was let go: what waits runs next */
  | { type: 'environment-free'; exceptId?: string };

export type LifecycleEventType = LifecycleEvent['type'];

export interface Facts {
  /** ISO time of the decision */
  now: string;
  /** the deployments of the event's environment, any order (for `created` and `environment-free`) */
  environment?: readonly Deployment[];
}

function move(
  kind: MoveKind,
  target: Deployment,
  to: DeploymentStatus,
  patch: MovePatch,
  extra: { audit?: AuditNote; next?: Job } = {},
): Step {
  const allowed: readonly DeploymentStatus[] = MOVES[kind].from;
  const targets: readonly DeploymentStatus[] = MOVES[kind].to;
  if (!targets.includes(to)) return { kind: 'refuse', id: target.id, reason: `${kind} cannot enter ${to}` };
  if (!allowed.includes(target.status))
    return {
      kind: 'refuse',
      id: target.id,
      reason: `deployment ${target.id} is ${target.status}; ${kind} needs ${allowed.join(' or ')}`,
    };
  return {
    kind: 'move',
    move: kind,
    id: target.id,
    from: allowed,
    to,
    patch,
    ...(extra.audit ? { audit: extra.audit } : {}),
    ...(extra.next ? { next: extra.next } : {}),
  };
}

function supersede(target: Deployment, by: Deployment, now: string): Step {
  return move('supersede', target, 'superseded', {
    supersededBy: by.sha,
    reason: supersedeReason(by),
    finishedAt: now,
  });
}

/** Pure: what the event means for the deployment(s) it concerns, given the facts read before. */
export function decide(event: LifecycleEvent, facts: Facts): Step[] {
  const now = facts.now;
  switch (event.type) {
    case 'created': {
      const fresh = event.deployment;
      const others = (facts.environment ?? []).filter((o) => o.id !== fresh.id);
      // created after a newer one (a late or racing delivery): it gives way itself, and never runs
      // after it; of two racing pushes, the second to look sees both, so one rule settles the race
      const newer = others
        .filter((o) => isNewer(o, fresh) && (SUPERSEDABLE.includes(o.status) || o.status === 'running'))
        .sort((a, b) => (isNewer(a, b) ? -1 : 1))[0];
      if (newer && SUPERSEDABLE.includes(fresh.status)) return [supersede(fresh, newer, now)];
      // older deployments of the environment that have not started give way
      const older = others.filter((o) => SUPERSEDABLE.includes(o.status) && isNewer(fresh, o));
      const steps = older.map((o) => supersede(o, fresh, now));
      if (fresh.status === 'queued')
        steps.push({ kind: 'dispatch', job: { deploymentId: fresh.id }, reason: 'queued: runs at once' });
      else if (fresh.status === 'awaiting_approval' && event.offer)
        steps.push({
          kind: 'dispatch',
          job: { deploymentId: fresh.id, purpose: 'offer' },
          reason: 'plan it and open its approval',
        });
      return steps;
    }
    case 'superseded':
      return [supersede(event.target, event.by, now)];
    case 'offer-opened':
      return event.target.status === 'awaiting_approval'
        ? [{ kind: 'none', id: event.target.id, reason: 'approval offered; the deployment waits' }]
        : [
            {
              kind: 'refuse',
              id: event.target.id,
              reason: `deployment ${event.target.id} is ${event.target.status}, not awaiting approval`,
            },
          ];
    case 'vote':
      if (!event.final)
        return event.target.status === 'awaiting_approval'
          ? [{ kind: 'none', id: event.target.id, reason: 'vote recorded; more approvals needed' }]
          : [
              {
                kind: 'refuse',
                id: event.target.id,
                reason: `deployment is ${event.target.status}, not awaiting approval`,
              },
            ];
      return [move('approve', event.target, 'queued', {}, { next: { deploymentId: event.target.id } })];
    case 'rejection':
      return [
        move('reject', event.target, 'rejected', {
          reason: `rejected by ${event.by} via ${event.via}`,
          finishedAt: now,
        }),
      ];
    case 'expiry': {
      const reason = event.reason ?? `approval expired at ${event.expiresAt}`;
      return [
        move(
          'expire',
          event.target,
          'expired',
          { reason, finishedAt: now },
          { audit: { actor: 'system', via: 'system', action: 'expire', outcome: 'expired', detail: reason } },
        ),
      ];
    }
    case 'unplannable':
      return [
        move(
          'block',
          event.target,
          'failed',
          { reason: event.reason.slice(0, 1000), finishedAt: now },
          event.audit ? { audit: event.audit } : {},
        ),
      ];
    case 'promoted':
      return [
        move(
          'promote',
          event.target,
          'queued',
          { planDigest: event.planDigest },
          { ...(event.audit ? { audit: event.audit } : {}), next: { deploymentId: event.target.id } },
        ),
      ];
    case 'run-started':
      return [move('start', event.target, 'running', { startedAt: event.target.startedAt ?? now })];
    case 'run-finished':
      return [
        move('finish', event.target, event.outcome, {
          ...(event.releases ? { releases: event.releases } : {}),
          ...(event.reason !== undefined ? { reason: event.reason } : {}),
          finishedAt: now,
        }),
      ];
    case 'dead-run':
      return [
        move('dead-run', event.target, 'failed', {
          reason: deadRunReason({
            ...(event.lockExpiredAt ? { lockExpiredAt: event.lockExpiredAt } : {}),
            ...(event.takenOverBy ? { takenOverBy: event.takenOverBy } : {}),
          }),
          finishedAt: now,
        }),
      ];
    case 'hand-off':
      return [
        move(
          'hand-off',
          event.target,
          'queued',
          {
            ...(event.releases ? { releases: event.releases } : {}),
            reason: `continuing in invocation ${event.continuation + 1}`,
          },
          { next: { deploymentId: event.target.id, continuation: event.continuation } },
        ),
      ];
    case 'freeze-override': {
      const t = event.target;
      // only a deployment the runner found frozen, and only for the freeze it waits in
      if (t.status === 'queued' && t.frozenUntil !== event.override.until)
        return [
          {
            kind: 'refuse',
            id: t.id,
            reason: t.frozenUntil
              ? `deployment ${t.id} waits in a freeze until ${t.frozenUntil}, not ${event.override.until}`
              : `deployment ${t.id} does not wait in a freeze window`,
          },
        ];
      const by = event.override.votes.map((v) => v.label).join(', ');
      return [
        move(
          'override-freeze',
          t,
          'queued',
          {
            freezeOverride: event.override,
            reason: `freeze until ${event.override.until} overridden by ${by}: starts now`,
          },
          { ...(event.audit ? { audit: event.audit } : {}), next: { deploymentId: t.id } },
        ),
      ];
    }
    case 'environment-free': {
      const { next, superseded } = nextToRun(facts.environment ?? [], event.exceptId);
      if (!next) return [];
      return [
        ...superseded.map((o) => supersede(o, next, now)),
        { kind: 'dispatch', job: { deploymentId: next.id }, reason: 'newest queued deployment runs next' },
      ];
    }
  }
}

/** Why the event cannot apply to its deployment now, or undefined when it can: a guard before any effect. */
export function refusal(event: LifecycleEvent, now: string): string | undefined {
  const refused = decide(event, { now }).find((s) => s.kind === 'refuse');
  return refused?.kind === 'refuse' ? refused.reason : undefined;
}
