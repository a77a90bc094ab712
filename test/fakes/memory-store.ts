import type { ApprovalRequest, ApprovalVoteWrite, RejectionWrite } from '../../lib/approval/approval-request';
import type { Deployment, DeploymentStatus } from '../../lib/deploy/deployment';
import type { FreezeOverrideVotes, FreezeOverrideVoteWrite } from '../../lib/deploy/freeze-override';
import type { ManifestDiff } from '../../lib/deploy/manifest-diff';
import {
  type DeploymentPage,
  type DeploymentQuery,
  decodeCursor,
  encodeCursor,
  validateQuery,
} from '../../lib/store/deployment-query';
import {
  type AuditEntry,
  assertEdge,
  type DeploymentStore,
  type LockLease,
  StoreConflictError,
} from '../../lib/store/deployment-store';

/**
 * An in-memory DeploymentStore with the same conditional semantics as the DynamoDB one. For unit
 * tests and for benchmarks that measure our code "excluding the store".
 */
export class MemoryDeploymentStore implements DeploymentStore {
  private readonly deployments = new Map<string, Deployment>();
  /** ids per `repository#environment`, as the DynamoDB store's GSI1 partitions them */
  private readonly byEnvironment = new Map<string, string[]>();
  private readonly items = new Map<string, Record<string, unknown>>();
  private readonly audit: AuditEntry[] = [];
  private readonly locks = new Map<string, LockLease & { expiresAtMs: number }>();
  private readonly approvals = new Map<string, ApprovalRequest>();

  async recordDelivery(deliveryId: string, at: Date): Promise<boolean> {
    return this.putItem('DELIVERY', deliveryId, { receivedAt: at.toISOString() }, { ifNotExists: true });
  }
  async hasDelivery(deliveryId: string): Promise<boolean> {
    return this.items.has(`DELIVERY#${deliveryId}`);
  }
  async createDeployment(d: Deployment): Promise<boolean> {
    if (this.deployments.has(d.id)) return false;
    this.deployments.set(d.id, structuredClone(d));
    const key = `${d.repository}#${d.environment}`;
    const ids = this.byEnvironment.get(key) ?? [];
    ids.push(d.id);
    // kept oldest first, so the newest `limit` are a slice (pushes arrive in order; re-sort if not)
    const prev = ids.length > 1 ? this.deployments.get(ids[ids.length - 2] as string) : undefined;
    if (prev && this.order(prev) > this.order(d))
      ids.sort((a, b) =>
        this.order(this.deployments.get(a) as Deployment).localeCompare(
          this.order(this.deployments.get(b) as Deployment),
        ),
      );
    this.byEnvironment.set(key, ids);
    return true;
  }
  async getDeployment(id: string): Promise<Deployment | undefined> {
    const d = this.deployments.get(id);
    return d ? structuredClone(d) : undefined;
  }
  private order(d: Deployment): string {
    return `${d.createdAt}#${d.id}`;
  }
  private sorted(): Deployment[] {
    return [...this.deployments.values()].sort((a, b) =>
      `${b.createdAt}#${b.id}`.localeCompare(`${a.createdAt}#${a.id}`),
    );
  }
  async listDeployments(opts: { limit?: number } = {}): Promise<Deployment[]> {
    return this.sorted()
      .slice(0, opts.limit ?? 50)
      .map((d) => structuredClone(d));
  }
  async queryDeployments(query: DeploymentQuery): Promise<DeploymentPage> {
    const q = validateQuery(query);
    const queryId = `memory|${q.repository ?? ''}|${q.environment ?? ''}|${q.status ?? ''}`;
    const after = q.cursor ? decodeCursor(q.cursor, queryId, ['after']).after : undefined;
    const matching = this.sorted().filter(
      (d) =>
        (q.environment === undefined || (d.repository === q.repository && d.environment === q.environment)) &&
        (q.status === undefined || d.status === q.status) &&
        (after === undefined || this.order(d) < after),
    );
    const page = matching.slice(0, q.limit);
    const last = page.at(-1);
    return {
      deployments: page.map((d) => structuredClone(d)),
      ...(matching.length > q.limit && last
        ? { next: encodeCursor(queryId, { after: this.order(last) }) }
        : {}),
    };
  }
  async listByEnvironment(
    repository: string,
    environment: string,
    opts: { limit?: number } = {},
  ): Promise<Deployment[]> {
    const ids = this.byEnvironment.get(`${repository}#${environment}`) ?? [];
    return ids
      .slice(-(opts.limit ?? 50))
      .reverse()
      .map((id) => this.deployments.get(id) as Deployment)
      .map((d) => structuredClone(d));
  }
  async transition(
    id: string,
    from: readonly DeploymentStatus[],
    to: DeploymentStatus,
    patch: Partial<Deployment>,
    at: Date,
  ): Promise<Deployment> {
    assertEdge(from, to);
    const d = this.deployments.get(id);
    if (!d || !from.includes(d.status))
      throw new StoreConflictError(`deployment ${id} is not in ${from.join('|')}`, {
        ...(d ? { current: structuredClone(d) } : {}),
      });
    const next = {
      ...d,
      ...stripUndefined(patch),
      id,
      status: to,
      updatedAt: at.toISOString(),
    } as Deployment;
    this.deployments.set(id, next);
    return structuredClone(next);
  }
  async update(id: string, patch: Partial<Omit<Deployment, 'id' | 'status'>>, at: Date): Promise<Deployment> {
    const d = this.deployments.get(id);
    if (!d) throw new StoreConflictError(`deployment ${id} does not exist`);
    const next = {
      ...d,
      ...stripUndefined(patch),
      id,
      status: d.status,
      updatedAt: at.toISOString(),
    } as Deployment;
    this.deployments.set(id, next);
    return structuredClone(next);
  }
  async appendAudit(entry: AuditEntry): Promise<void> {
    this.audit.push({ ...entry });
  }
  async listAudit(deploymentId: string): Promise<AuditEntry[]> {
    return this.audit.filter((a) => a.deploymentId === deploymentId).sort((a, b) => a.at.localeCompare(b.at));
  }
  async acquireLock(
    name: string,
    holder: string,
    leaseMs: number,
    now: Date,
  ): Promise<LockLease | undefined> {
    const cur = this.locks.get(name);
    if (cur && cur.expiresAtMs >= now.getTime() && cur.holder !== holder) return undefined;
    const lease = {
      name,
      holder,
      expiresAt: new Date(now.getTime() + leaseMs).toISOString(),
      expiresAtMs: now.getTime() + leaseMs,
    };
    this.locks.set(name, lease);
    return { name, holder, expiresAt: lease.expiresAt };
  }
  async renewLock(name: string, holder: string, leaseMs: number, now: Date): Promise<boolean> {
    const cur = this.locks.get(name);
    if (!cur || cur.holder !== holder) return false;
    cur.expiresAtMs = now.getTime() + leaseMs;
    cur.expiresAt = new Date(cur.expiresAtMs).toISOString();
    return true;
  }
  async releaseLock(name: string, holder: string): Promise<void> {
    if (this.locks.get(name)?.holder === holder) this.locks.delete(name);
  }
  async releaseExpiredLock(name: string, holder: string, now: Date): Promise<boolean> {
    const cur = this.locks.get(name);
    if (!cur || cur.holder !== holder || cur.expiresAtMs >= now.getTime()) return false;
    this.locks.delete(name);
    return true;
  }
  async getLock(name: string): Promise<LockLease | undefined> {
    const l = this.locks.get(name);
    return l ? { name: l.name, holder: l.holder, expiresAt: l.expiresAt } : undefined;
  }
  async createApprovalRequest(req: ApprovalRequest): Promise<boolean> {
    const cur = this.approvals.get(req.deploymentId);
    if (cur && cur.status !== 'void') return false;
    this.approvals.set(req.deploymentId, structuredClone(req));
    return true;
  }
  async getApprovalRequest(id: string): Promise<ApprovalRequest | undefined> {
    const r = this.approvals.get(id);
    return r ? structuredClone(r) : undefined;
  }
  async listPendingApprovalsDueBefore(before: string, limit = 100): Promise<ApprovalRequest[]> {
    // the DynamoDB store's sparse index: pending only, ordered by deadline then id
    return [...this.approvals.values()]
      .filter((r) => r.status === 'pending' && `${r.expiresAt}#${r.deploymentId}` <= `${before}#\uffff`)
      .sort((a, b) => `${a.expiresAt}#${a.deploymentId}`.localeCompare(`${b.expiresAt}#${b.deploymentId}`))
      .slice(0, limit)
      .map((r) => structuredClone(r));
  }
  async recordApprovalVote(id: string, a: ApprovalVoteWrite): Promise<boolean> {
    const r = this.approvals.get(id);
    if (
      r?.status !== 'pending' ||
      r.expiresAtMs <= a.now.getTime() ||
      r.voteCount !== a.expectedCount ||
      r.planDigest !== a.planDigest ||
      r.votes[a.voterKey] !== undefined
    )
      return false;
    r.votes[a.voterKey] = structuredClone(a.vote);
    r.voteCount = a.expectedCount + 1;
    if (a.final) {
      r.status = 'approved';
      r.decidedAt = a.vote.at;
      r.decidedBy = a.vote.actor;
      if (a.rollback) r.rollback = true;
    }
    return true;
  }
  async recordRejectionVote(id: string, v: RejectionWrite): Promise<boolean> {
    const r = this.approvals.get(id);
    if (r?.status !== 'pending' || r.expiresAtMs <= v.now.getTime()) return false;
    r.votes[v.voterKey] = structuredClone(v.vote);
    r.status = 'rejected';
    r.decidedAt = v.vote.at;
    r.decidedBy = v.vote.actor;
    return true;
  }
  async closeApprovalRequest(
    id: string,
    to: 'expired' | 'void',
    now: Date,
    reason: string,
  ): Promise<boolean> {
    const r = this.approvals.get(id);
    if (r?.status !== 'pending' || (to === 'expired' && r.expiresAtMs > now.getTime())) return false;
    r.status = to;
    r.reason = reason;
    r.decidedAt = now.toISOString();
    return true;
  }
  async recordApprovalManifests(
    id: string,
    input: { planDigest: string; manifests?: ManifestDiff; summary: string[] },
  ): Promise<boolean> {
    const r = this.approvals.get(id);
    if (r?.status !== 'pending' || r.planDigest !== input.planDigest) return false;
    if (input.manifests) r.manifests = structuredClone(input.manifests);
    r.summary = [...input.summary];
    delete r.manifestsPending;
    return true;
  }
  async markApprovalReminded(id: string, now: Date): Promise<boolean> {
    const r = this.approvals.get(id);
    if (r?.status !== 'pending' || r.remindedAt !== undefined) return false;
    r.remindedAt = now.toISOString();
    return true;
  }
  private readonly overrides = new Map<string, FreezeOverrideVotes>();
  async recordFreezeOverrideVote(id: string, w: FreezeOverrideVoteWrite): Promise<boolean> {
    const key = `${id}#${w.until}`;
    const r = this.overrides.get(key);
    if ((r?.voteCount ?? 0) !== w.expectedCount || r?.completedAt || r?.votes[w.voterKey]) return false;
    const next: FreezeOverrideVotes = r ?? { deploymentId: id, until: w.until, votes: {}, voteCount: 0 };
    next.votes[w.voterKey] = structuredClone(w.vote);
    next.voteCount = w.expectedCount + 1;
    if (w.final) next.completedAt = w.vote.at;
    this.overrides.set(key, next);
    return true;
  }
  async getFreezeOverrideVotes(id: string, until: string): Promise<FreezeOverrideVotes | undefined> {
    const r = this.overrides.get(`${id}#${until}`);
    return r ? structuredClone(r) : undefined;
  }
  async putItem(
    kind: string,
    id: string,
    item: Record<string, unknown>,
    opts: { ifNotExists?: boolean; unlessEqual?: { field: string; value: string } } = {},
  ): Promise<boolean> {
    const key = `${kind}#${id}`;
    if (opts.ifNotExists && this.items.has(key)) return false;
    const unless = opts.unlessEqual;
    if (unless && this.items.get(key)?.[unless.field] === unless.value) return false;
    this.items.set(key, structuredClone(item));
    return true;
  }
  async getItem<T extends Record<string, unknown>>(kind: string, id: string): Promise<T | undefined> {
    const v = this.items.get(`${kind}#${id}`);
    return v ? (structuredClone(v) as T) : undefined;
  }
  async getItems<T extends Record<string, unknown>>(
    keys: ReadonlyArray<{ kind: string; id: string }>,
  ): Promise<Array<T | undefined>> {
    return Promise.all(keys.map((k) => this.getItem<T>(k.kind, k.id)));
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
