import type { ApprovalRequest, ApprovalVoteWrite, RejectionWrite } from '../approval/approval-request';
import type { FreezeOverrideVotes, FreezeOverrideVoteWrite } from '../deploy/freeze-override';
import { type Deployment, type DeploymentStatus, edgeViolation } from '../deploy/lifecycle';
import type { ManifestDiff } from '../deploy/manifest-diff';
import { HelmgateError } from '../errors';
import type { DeploymentPage, DeploymentQuery } from './deployment-query';

export interface AuditEntry {
  deploymentId: string;
  at: string;
  actor: string;
  /** web, slack, cli, system */
  via: string;
  action: string;
  outcome: string;
  detail?: string;
}

export interface LockLease {
  name: string;
  holder: string;
  expiresAt: string;
}

/**
 * A conditional write lost: the item was not in the state the caller assumed. `current` is the item as
 * it is now (absent when it does not exist), so the caller never re-reads.
 */
export class StoreConflictError extends HelmgateError {
  override name = 'StoreConflictError';
  readonly current: Deployment | undefined;
  constructor(message: string, options?: { cause?: unknown; current?: Deployment }) {
    super('store_conflict', message, options);
    this.current = options?.current;
  }
}

/** A move that is not an edge of the lifecycle: a bug in the caller, never a lost race. */
export class LifecycleEdgeError extends HelmgateError {
  override name = 'LifecycleEdgeError';
  constructor(message: string) {
    super('internal', message);
  }
}

/** The one edge check of every store implementation's `transition`. */
export function assertEdge(from: readonly DeploymentStatus[], to: DeploymentStatus): void {
  const violation = edgeViolation(from, to);
  if (violation) throw new LifecycleEdgeError(violation);
}

/**
 * Port over the single table. Every write is one item, conditional where it decides something;
 * there are no transactions (dynalite has none, and we need none).
 */
export interface DeploymentStore {
  /** Records a webhook delivery id; false if it was already recorded. */
  recordDelivery(deliveryId: string, at: Date, ttlSeconds: number): Promise<boolean>;
  hasDelivery(deliveryId: string): Promise<boolean>;
  /** Creates a deployment; false (and no write) if one with this id exists. */
  createDeployment(d: Deployment): Promise<boolean>;
  getDeployment(id: string): Promise<Deployment | undefined>;
  /** Newest first. */
  listDeployments(opts?: { limit?: number }): Promise<Deployment[]>;
  /**
   * One page of deployments, newest first, filtered by repository+environment and/or status through
   * the table's indexes (never a filter over a limited list), with a cursor for the next page.
   * Throws `bad_request` for an invalid query or a cursor it did not give for this query.
   */
  queryDeployments(query: DeploymentQuery): Promise<DeploymentPage>;
  /** Newest first, one repository's environment. */
  listByEnvironment(
    repository: string,
    environment: string,
    opts?: { limit?: number },
  ): Promise<Deployment[]>;
  /**
   * Moves a deployment to `to` if its status is one of `from`, applying `patch`. Refuses (throws
   * LifecycleEdgeError, before any write) when some `from` has no edge to `to`. Throws
   * StoreConflictError carrying the current item when the condition fails (someone moved it first).
   * Only lib/lifecycle/apply calls it.
   */
  transition(
    id: string,
    from: readonly DeploymentStatus[],
    to: DeploymentStatus,
    patch: Partial<Deployment>,
    at: Date,
  ): Promise<Deployment>;
  /** Unconditional patch of non-status fields (results while running, external refs). */
  update(id: string, patch: Partial<Omit<Deployment, 'id' | 'status'>>, at: Date): Promise<Deployment>;
  appendAudit(entry: AuditEntry): Promise<void>;
  listAudit(deploymentId: string): Promise<AuditEntry[]>;
  /** Takes the lock if free, expired, or already ours; returns the lease or undefined if held by another. */
  acquireLock(name: string, holder: string, leaseMs: number, now: Date): Promise<LockLease | undefined>;
  /** Extends our lease; false if we lost it. */
  renewLock(name: string, holder: string, leaseMs: number, now: Date): Promise<boolean>;
  releaseLock(name: string, holder: string): Promise<void>;
  /**
   * Deletes the lock only if it is still `holder`'s and its lease expired before `now` (not renewed or
   * retaken meanwhile); false otherwise. The sweeper's way to free an environment of a dead run.
   */
  releaseExpiredLock(name: string, holder: string, now: Date): Promise<boolean>;
  getLock(name: string): Promise<LockLease | undefined>;
  /**
   * Approval requests (one per deployment). Creates the request; false when one exists that is not
   * void (a void request — its plan changed — may be replaced by a fresh offer).
   */
  createApprovalRequest(req: ApprovalRequest): Promise<boolean>;
  getApprovalRequest(deploymentId: string): Promise<ApprovalRequest | undefined>;
  /** Pending requests whose deadline is at or before `before` (ISO), oldest deadline first. */
  listPendingApprovalsDueBefore(before: string, limit?: number): Promise<ApprovalRequest[]>;
  /**
   * One approve vote as ONE conditional write: still pending, not expired, bound to the same plan,
   * this person has not voted, and nobody else voted since `expectedCount` was read (so exactly one
   * vote can be the deciding one). False when the condition failed.
   */
  recordApprovalVote(deploymentId: string, a: ApprovalVoteWrite): Promise<boolean>;
  /** A rejection decides at once: pending and not expired → rejected, with the vote recorded. */
  recordRejectionVote(deploymentId: string, r: RejectionWrite): Promise<boolean>;
  /** pending → expired (only once the deadline has passed) or → void (its plan changed). */
  closeApprovalRequest(
    deploymentId: string,
    to: 'expired' | 'void',
    now: Date,
    reason: string,
  ): Promise<boolean>;
  /** Marks the one reminder as sent; false when it already was (or the request is no longer pending). */
  markApprovalReminded(deploymentId: string, now: Date): Promise<boolean>;
  /**
   * One freeze-override vote as ONE conditional write on the record of (deployment, freeze end): this
   * person has not voted, nobody else voted since `expectedCount` was read, and the override is not
   * complete yet — so exactly one vote can be the deciding one. False when the condition failed.
   */
  recordFreezeOverrideVote(deploymentId: string, w: FreezeOverrideVoteWrite): Promise<boolean>;
  /** The override votes given for a deployment in the freeze that ends at `until`. */
  getFreezeOverrideVotes(deploymentId: string, until: string): Promise<FreezeOverrideVotes | undefined>;
  /**
   * The rendered diff a preview job made (absent: none is made, render-only), onto a request that is
   * still pending and bound to the same plan digest (one conditional write); clears `manifestsPending`.
   * False when the condition failed.
   */
  recordApprovalManifests(
    deploymentId: string,
    input: { planDigest: string; manifests?: ManifestDiff; summary: string[] },
  ): Promise<boolean>;
  /**
   * Generic keyed items for other features (approvals, sessions): conditional put / get / update.
   * `ifNotExists`: only when absent; `unlessEqual`: only when absent or its `field` differs from
   * `value` (one conditional write: of two racing puts of the same value, one wins).
   */
  putItem(
    kind: string,
    id: string,
    item: Record<string, unknown>,
    opts?: { ifNotExists?: boolean; unlessEqual?: { field: string; value: string }; ttl?: Date },
  ): Promise<boolean>;
  getItem<T extends Record<string, unknown>>(kind: string, id: string): Promise<T | undefined>;
  /**
   * Several keyed items in one round trip (consistent reads, as `getItem`): one entry per key, in the
   * keys' order, undefined where there is no item.
   */
  getItems<T extends Record<string, unknown>>(
    keys: ReadonlyArray<{ kind: string; id: string }>,
  ): Promise<Array<T | undefined>>;
}
