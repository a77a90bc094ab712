/**
 * A Deployment is one environment at one commit. Its status moves only along the edges below; the
 * store applies each move as a conditional write on the current status, so concurrent Lambdas
 * cannot both win a transition.
 */
export type DeploymentStatus =
  | 'awaiting_approval'
  | 'approved'
  | 'queued'
  | 'running'
  | 'succeeded'
  | 'rendered'
  | 'failed'
  | 'rejected'
  | 'superseded'
  | 'expired';

export type ApprovalMode = 'none' | 'required' | 'auto';

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
}

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
  /** how it came to be: a push (default), or an operator's `helmgate redeploy` / `helmgate rollback` */
  trigger?: 'push' | 'redeploy' | 'rollback';
  /** the operator who asked for a redeploy or rollback */
  requestedBy?: string;
  /** a rollback: the deployment whose commit it replaces */
  rollbackOf?: string;
  /** for GitHub Deployments / Slack message threading, set by reporters */
  externalRefs?: Record<string, string>;
}

export const ACTIVE_STATUSES: readonly DeploymentStatus[] = [
  'awaiting_approval',
  'approved',
  'queued',
  'running',
];
export const TERMINAL_STATUSES: readonly DeploymentStatus[] = [
  'succeeded',
  'rendered',
  'failed',
  'rejected',
  'superseded',
  'expired',
];
/** Statuses a newer push may supersede: anything not yet started. */
export const SUPERSEDABLE: readonly DeploymentStatus[] = ['awaiting_approval', 'approved', 'queued'];

const EDGES: Record<DeploymentStatus, readonly DeploymentStatus[]> = {
  awaiting_approval: ['approved', 'rejected', 'superseded', 'expired', 'queued', 'failed'],
  approved: ['queued', 'superseded', 'failed'],
  queued: ['running', 'superseded', 'failed'],
  running: ['succeeded', 'rendered', 'failed', 'queued'],
  succeeded: [],
  rendered: [],
  failed: [],
  rejected: [],
  superseded: [],
  expired: [],
};

export function canTransition(from: DeploymentStatus, to: DeploymentStatus): boolean {
  return EDGES[from].includes(to);
}

/** The statuses from which `to` may be entered: the condition of the store's conditional update. */
export function sourcesOf(to: DeploymentStatus): DeploymentStatus[] {
  return (Object.keys(EDGES) as DeploymentStatus[]).filter((from) => EDGES[from].includes(to));
}

export function isTerminal(s: DeploymentStatus): boolean {
  return TERMINAL_STATUSES.includes(s);
}
