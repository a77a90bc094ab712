import type { ApproversConfig } from '../approval/approval-port';
import type { ApprovalRequest } from '../approval/approval-request';
import type { ApprovalView, ApproversKey } from '../approval/approval-service';
import { authorize, identify, involvedIn, selfApprovalRefusal } from '../approval/approver-policy';
import type { Deployment, DeploymentStatus } from '../deploy/deployment';
import { DRIFT_KIND, driftItemId, type EnvironmentDrift } from '../deploy/drift';
import { overrideHolds } from '../deploy/freeze-override';
import type { FreezeOverrideVote } from '../deploy/lifecycle';
import { newerExistsReason, newerThanFailed } from '../deploy/retry';
import { HelmgateError } from '../errors';
import { overrideRequired } from '../lifecycle/freeze-override';
import { retryIdOf } from '../lifecycle/retry';
import type { AuditEntry, DeploymentStore } from '../store/deployment-store';

/**
 * What the dashboard pages show, read from the store and the approval service. Reads only: every
 * decision a page offers goes back through the approval routes (the same service and rules as Slack
 * and the CLI).
 */

export interface Viewer {
  login: string;
  teams: string[];
  /** may this viewer vote at all (a GitHub session; an API token reads only) */
  canVote?: boolean;
  /** may this viewer read deployments of a repository (read access); default: every repository */
  mayRead?: (repository: string) => Promise<boolean>;
}

/** The deployments of repositories the viewer may read (one check per repository). */
export async function readable(viewer: Viewer, list: readonly Deployment[]): Promise<Deployment[]> {
  const check = viewer.mayRead;
  if (!check) return [...list];
  const ok = new Map<string, boolean>();
  for (const r of new Set(list.map((d) => d.repository))) ok.set(r, await check(r));
  return list.filter((d) => ok.get(d.repository) === true);
}

export interface DashboardReadDeps {
  store: DeploymentStore;
  approvals: { view(deploymentId: string): Promise<ApprovalView | undefined> };
  /** who may approve a deployment: from the operator policy, per repository and environment */
  approvers: (d: ApproversKey) => ApproversConfig;
  /** count `rendered` (local render-only runs) as "what runs" */
  allowRendered?: boolean;
  /** how many of the newest deployments the overview and the metrics read; default 1000 */
  scanLimit?: number;
  /** the accepted repositories (with exactly one, an environment filter needs no repository) */
  repositories?: readonly string[];
}

/** May the viewer vote on this environment (the approver list only; the service checks the rest). */
export type VoteRight = { ok: true } | { ok: false; reason: string };

export interface WaitingItem {
  deployment: Deployment;
  /** the approval is offered (the earlier stage passed) and still pending */
  open: boolean;
  request?: ApprovalRequest;
  /** the environment the commit waits for before the approval opens */
  waitsFor?: string;
  right: VoteRight;
  rollbackNeeded: boolean;
  newerRunningSha?: string;
  required: number;
  alreadyVoted: boolean;
}

export interface EnvironmentCard {
  repository: string;
  environment: string;
  approval: Deployment['approval'];
  current?: Deployment;
  /** the newest deployment that ran or was decided (not superseded): what the header's status shows */
  latest?: Deployment;
  approvedBy: string[];
  active: Deployment[];
  waiting: WaitingItem[];
  lastFailure?: Deployment;
  /** true when the environment succeeded after its last failure */
  restored: boolean;
  /** what the drift check last found where `current` runs (issue 13, item 4) */
  drift?: EnvironmentDrift;
}

/** The drift the check stored for the deployment that runs in its environment, if any. */
export async function driftOf(
  store: DashboardReadDeps['store'],
  current: Deployment | undefined,
): Promise<EnvironmentDrift | undefined> {
  if (!current) return undefined;
  const d = await store.getItem<EnvironmentDrift & Record<string, unknown>>(DRIFT_KIND, driftItemId(current));
  return d?.deploymentId === current.id ? d : undefined;
}

export function isSuccess(d: Deployment, allowRendered = false): boolean {
  return d.status === 'succeeded' || (allowRendered && d.status === 'rendered');
}

/** Who approved a deployment, from its audit. */
export function approversOf(audit: readonly AuditEntry[]): string[] {
  return [
    ...new Set(
      audit
        .filter((a) => a.action === 'approve' && (a.outcome === 'approved' || a.outcome === 'recorded'))
        .map((a) => a.actor),
    ),
  ];
}

export function voteRight(viewer: Viewer, environment: string, approvers: ApproversConfig): VoteRight {
  const auth = authorize({ kind: 'github', id: viewer.login, teams: viewer.teams }, environment, approvers);
  return auth.ok ? { ok: true } : { ok: false, reason: auth.reason };
}

function newestFirst(a: Deployment, b: Deployment): number {
  return `${b.createdAt}#${b.id}`.localeCompare(`${a.createdAt}#${a.id}`);
}

export async function waitingItem(
  deps: DashboardReadDeps,
  viewer: Viewer,
  d: Deployment,
  all: readonly Deployment[],
): Promise<WaitingItem> {
  const view = await deps.approvals.view(d.id);
  const req = view?.request;
  const open = req?.status === 'pending';
  const key = `github:${viewer.login.toLowerCase()}`;
  // before the approval is offered, the commit waits for the environments that deploy without one
  const earlier = all
    .filter((o) => o.repository === d.repository && o.sha === d.sha && o.environment !== d.environment)
    .filter((o) => o.approval === 'none' && !isSuccess(o, deps.allowRendered));
  const waitsFor = req?.after ?? earlier[0]?.environment;
  return {
    deployment: d,
    open,
    ...(req ? { request: req } : {}),
    ...(waitsFor ? { waitsFor } : {}),
    right:
      viewer.canVote === false
        ? { ok: false, reason: 'an API token reads only; log in with GitHub to vote' }
        : voteRight(viewer, d.environment, deps.approvers(d)),
    rollbackNeeded: view?.newerRunning !== undefined,
    ...(view?.newerRunning ? { newerRunningSha: view.newerRunning.sha } : {}),
    required: view?.required ?? 1,
    alreadyVoted: req?.votes[key] !== undefined,
  };
}

/** One card per repository and environment, environments without approval first. */
export async function overviewCards(deps: DashboardReadDeps, viewer: Viewer): Promise<EnvironmentCard[]> {
  const all = (
    await readable(viewer, await deps.store.listDeployments({ limit: deps.scanLimit ?? 1000 }))
  ).sort(newestFirst);
  const groups = new Map<string, Deployment[]>();
  for (const d of all) {
    if (d.environment === '*') continue; // a config that never planned: shown in history, not as a card
    const k = `${d.repository}\0${d.environment}`;
    groups.set(k, [...(groups.get(k) ?? []), d]);
  }
  const cards: EnvironmentCard[] = [];
  for (const list of groups.values()) {
    const first = list[0] as Deployment;
    const current = list.find((d) => isSuccess(d, deps.allowRendered));
    const lastFailure = list.find((d) => d.status === 'failed');
    const latest = list.find((d) => d.status !== 'superseded');
    const active = list.filter((d) => d.status === 'running' || d.status === 'queued');
    const waiting = await Promise.all(
      list.filter((d) => d.status === 'awaiting_approval').map((d) => waitingItem(deps, viewer, d, all)),
    );
    const approvedBy =
      current && current.approval !== 'none' ? approversOf(await deps.store.listAudit(current.id)) : [];
    const drift = await driftOf(deps.store, current);
    cards.push({
      repository: first.repository,
      environment: first.environment,
      approval: first.approval,
      ...(current ? { current } : {}),
      ...(latest ? { latest } : {}),
      approvedBy,
      active,
      waiting,
      ...(lastFailure ? { lastFailure } : {}),
      ...(drift ? { drift } : {}),
      restored:
        lastFailure !== undefined &&
        current !== undefined &&
        (current.finishedAt ?? '') > (lastFailure.finishedAt ?? ''),
    });
  }
  return cards.sort(
    (a, b) =>
      a.repository.localeCompare(b.repository) ||
      (a.approval === 'none' ? 0 : 1) - (b.approval === 'none' ? 0 : 1) ||
      a.environment.localeCompare(b.environment),
  );
}

export interface HistoryQuery {
  /** `owner/name`; needed with `environment` when several repositories deploy */
  repository?: string;
  environment?: string;
  status?: DeploymentStatus;
  /** a commit SHA or its prefix */
  commit?: string;
  /** pusher or operator who asked for it, case-insensitive substring */
  person?: string;
  /** the store's cursor of the next page (opaque, bound to the query) */
  cursor?: string;
  limit: number;
}

export interface HistoryPage {
  deployments: Deployment[];
  /** present when there is a next page */
  nextCursor?: string;
  environments: string[];
  repositories: string[];
}

export function cursorOf(d: Deployment): string {
  return `${d.createdAt}#${d.id}`;
}

export function matchesQuery(d: Deployment, q: Omit<HistoryQuery, 'cursor' | 'limit'>): boolean {
  if (q.repository && d.repository !== q.repository) return false;
  if (q.environment && d.environment !== q.environment) return false;
  if (q.status && d.status !== q.status) return false;
  if (q.commit && !d.sha.toLowerCase().startsWith(q.commit.toLowerCase())) return false;
  if (q.person) {
    const p = q.person.toLowerCase();
    const who = [d.pusher, d.requestedBy].filter((x): x is string => !!x).map((x) => x.toLowerCase());
    if (!who.some((w) => w.includes(p))) return false;
  }
  return true;
}

/** How many store pages one history page reads at most while filters the index cannot answer skip rows. */
const MAX_STORE_PAGES = 8;

/**
 * One page of the history, newest first. Repository, environment and status are a query on the
 * table's indexes (the store's cursor pages through everything); commit and person, which no index
 * answers, filter the store's pages here, reading on until the page is full (whole store pages, so
 * the cursor never skips a row) or `MAX_STORE_PAGES` were read — then the next page goes on from there.
 */
export async function historyPage(
  deps: DashboardReadDeps,
  viewer: Viewer,
  q: HistoryQuery,
): Promise<HistoryPage> {
  // the filters' choices: environments and repositories of the newest deployments
  const recent = await readable(viewer, await deps.store.listDeployments({ limit: 200 }));
  const repositories = [
    ...new Set([...(deps.repositories ?? []), ...recent.map((d) => d.repository)]),
  ].sort();
  const only = repositories.length === 1 ? repositories[0] : undefined;
  const repository = q.repository ?? (q.environment ? only : undefined);
  // an environment without a repository (several deploy) is filtered here, not by the index
  const indexed = {
    ...(repository ? { repository } : {}),
    ...(repository && q.environment ? { environment: q.environment } : {}),
    ...(q.status ? { status: q.status } : {}),
  };
  const rest = {
    ...(q.environment && !repository ? { environment: q.environment } : {}),
    ...(repository && !q.environment ? { repository } : {}),
    ...(q.commit ? { commit: q.commit } : {}),
    ...(q.person ? { person: q.person } : {}),
  };
  const rows: Deployment[] = [];
  let cursor = q.cursor;
  for (let i = 0; i < MAX_STORE_PAGES; i++) {
    const page = await deps.store.queryDeployments({
      ...indexed,
      limit: q.limit,
      ...(cursor ? { cursor } : {}),
    });
    const mine = await readable(viewer, page.deployments);
    rows.push(...mine.filter((d) => matchesQuery(d, rest)));
    cursor = page.next;
    if (!cursor || rows.length >= q.limit) break;
  }
  return {
    deployments: rows,
    ...(cursor ? { nextCursor: cursor } : {}),
    environments: [...new Set(recent.map((d) => d.environment))].sort(),
    repositories,
  };
}

export interface DeploymentDetail {
  deployment: Deployment;
  audit: AuditEntry[];
  request?: ApprovalRequest;
  previousStage?: Deployment;
  /** what the environment ran before this one (the base of the compare view) */
  previousSuccess?: Deployment;
  waiting?: WaitingItem;
  /** what the drift check last found, when this deployment is what runs */
  drift?: EnvironmentDrift;
  /** may the viewer act on this deployment (retry, override): an approver of its environment */
  right?: VoteRight;
  /** a failed deployment that ran, with nothing newer of its environment: it may be retried (once) */
  retryable?: boolean;
  /** a failed deployment that ran, but a newer one of its environment rules a retry out (lib/deploy/retry) */
  retryRefusal?: string;
  /** the one retry of this failed deployment, when it was retried */
  retry?: Deployment;
  /** waiting in a freeze (and not overridden yet): the override votes so far */
  freeze?: FreezeState;
}

/** A deployment that waits `queued` in a freeze window, as the override form shows it. */
export interface FreezeState {
  until: string;
  votes: FreezeOverrideVote[];
  required: number;
  /** the viewer gave one of the votes */
  alreadyVoted: boolean;
  /** the four-eyes rule keeps the viewer from overriding (they pushed or wrote the change) */
  selfRefusal?: string;
}

export async function deploymentDetail(
  deps: DashboardReadDeps,
  viewer: Viewer,
  id: string,
  now: Date,
): Promise<DeploymentDetail | undefined> {
  const view = await deps.approvals.view(id);
  if (!view) return undefined;
  const d = view.deployment;
  if (viewer.mayRead && !(await viewer.mayRead(d.repository)))
    throw new HelmgateError('forbidden', `you may not read deployments of ${d.repository}`);
  const envList = await deps.store.listByEnvironment(d.repository, d.environment, { limit: 200 });
  const previousSuccess = envList
    .filter((o) => o.id !== d.id && isSuccess(o, deps.allowRendered) && o.createdAt < d.createdAt)
    .sort(newestFirst)[0];
  const waiting =
    d.status === 'awaiting_approval'
      ? await waitingItem(
          deps,
          viewer,
          d,
          view.previousStage ? [view.previousStage] : await deps.store.listDeployments({ limit: 200 }),
        )
      : undefined;
  const drift = isSuccess(d) ? await driftOf(deps.store, d) : undefined;
  const approvers = deps.approvers(d);
  const right: VoteRight =
    viewer.canVote === false
      ? { ok: false, reason: 'an API token reads only; log in with GitHub to act' }
      : voteRight(viewer, d.environment, approvers);
  const ran = d.status === 'failed' && d.startedAt !== undefined && d.planDigest !== undefined;
  const retry = ran ? await deps.store.getDeployment(retryIdOf(d)) : undefined;
  // the newest of the environment come first, so a limited list holds every newer one that matters
  const newer = ran ? newerThanFailed(d, envList) : undefined;
  const retryable = ran && !newer;
  let freeze: FreezeState | undefined;
  if (
    d.status === 'queued' &&
    d.frozenUntil &&
    Date.parse(d.frozenUntil) > now.getTime() &&
    !overrideHolds(d.freezeOverride, now, d.frozenUntil)
  ) {
    const votes = await deps.store.getFreezeOverrideVotes(d.id, d.frozenUntil);
    const cfg = Object.hasOwn(approvers, d.environment) ? approvers[d.environment] : undefined;
    const identity = identify({ kind: 'github', id: viewer.login, teams: viewer.teams }, cfg);
    const selfRefusal =
      right.ok && cfg ? selfApprovalRefusal(identity, cfg, involvedIn(d), d.environment) : undefined;
    freeze = {
      until: d.frozenUntil,
      votes: Object.values(votes?.votes ?? {}).sort((a, b) => a.at.localeCompare(b.at)),
      required: overrideRequired(d, approvers),
      alreadyVoted: votes?.votes[identity.key] !== undefined,
      ...(selfRefusal ? { selfRefusal } : {}),
    };
  }
  return {
    deployment: d,
    audit: view.audit,
    ...(drift ? { drift } : {}),
    ...(view.request ? { request: view.request } : {}),
    ...(view.previousStage ? { previousStage: view.previousStage } : {}),
    ...(previousSuccess ? { previousSuccess } : {}),
    ...(waiting ? { waiting } : {}),
    right,
    retryable,
    ...(newer ? { retryRefusal: newerExistsReason(newer) } : {}),
    ...(retry ? { retry } : {}),
    ...(freeze ? { freeze } : {}),
  };
}
