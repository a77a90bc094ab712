import type { Clock } from '../clock';
import { type Deployment, refusal } from '../deploy/lifecycle';
import { type ManifestDiff, manifestSummaryLines } from '../deploy/manifest-diff';
import type { EnvironmentPlan, SourceReader } from '../deploy/plan';
import { diffPlans, type PlanSnapshot, snapshotOf, summaryLines } from '../deploy/plan-diff';
import type { Dispatcher } from '../dispatch/dispatcher';
import { describeError, type ErrorCode, HelmgateError } from '../errors';
import type { Ancestry } from '../github/branch-state';
import { handle } from '../lifecycle/apply';
import type { Logger } from '../log/logger';
import type { Redactor } from '../log/redact';
import type { Notifier } from '../notify/notifier';
import type { Random } from '../random';
import type { AuditEntry, DeploymentStore } from '../store/deployment-store';
import type { ApprovalPort, ApproversConfig, VoteInput, VoteOutcome } from './approval-port';
import type { ApprovalRequest, VoteRecord } from './approval-request';
import { authorize, identify, involvedIn, selfApprovalRefusal } from './approver-policy';

/** A vote or offer that was refused; `code` picks the HTTP status (403, 409, 410...). */
export class ApprovalRefusedError extends HelmgateError {
  override name = 'ApprovalRefusedError';
}

export interface FinishedContext {
  plan?: EnvironmentPlan;
  /** the finished deployment's commit, for planning the waiting environment (the runner passes it) */
  source?: SourceReader;
  /** the extracted tree of the finished deployment's commit, when the run wrote it to disk */
  sourceDir?: string;
  /** what the waiting environment runs now; default: the snapshot recorded at its last success */
  previous?: PlanSnapshot;
}

/** What decides who may approve a deployment. */
export type ApproversKey = Pick<Deployment, 'repository' | 'environment' | 'requestedApprovers'>;

export interface ApprovalServiceDeps {
  store: DeploymentStore;
  notifier: Notifier;
  dispatcher: Dispatcher;
  clock: Clock;
  random: Random;
  logger: Logger;
  /**
   * Masks every secret value the process has fetched (the runner's, when it is the runner that finished):
   * every reason and audit detail this service stores passes through it, as the runner's own reasons do.
   */
  redactor: Pick<Redactor, 'redact'>;
  /**
   * Who may approve, from the operator's policy (lib/policy `approversFor`), never from the deployed
   * repository: per deployment (its repository, and the narrowing its commit asked for).
   */
  approvers: ApproversConfig | ((d: ApproversKey) => ApproversConfig);
  /** https://…, no trailing slash: approval links are `${publicUrl}/approvals/{id}` */
  publicUrl: string;
  /** how long an approval link is valid; default 24 h */
  approvalTtlMs?: number;
  /** a failed `after` environment fails the waiting one (default true) */
  requireStagingSuccess?: boolean;
  /** count `rendered` (local render-only runs) as success for promotion and as "what runs" (default false) */
  allowRendered?: boolean;
  /**
   * The plan of a deployment waiting behind a finished one (same commit, other environment): for
   * `after`, `approval` and the digest the approval binds to. The runner passes the finished
   * deployment's tree as `ctx.source` (also when its own plan was refused), so this is usually parse +
   * plan on that tree; undefined (no tree to plan from) leaves the waiting deployment as it is.
   */
  planFor?: (waiting: Deployment, ctx: FinishedContext) => Promise<EnvironmentPlan | undefined>;
  /**
   * How `head` relates to `base` in the repository (BranchState.compare: GitHub's compare API, locally
   * git merge-base): a rollback is recognised by ancestry, not by time.
   */
  ancestry?: (repository: string, base: string, head: string) => Promise<Ancestry>;
  /** how many recent deployments the promotion gate scans for the same commit; default 200 */
  scanLimit?: number;
}

export interface OfferResult {
  offered: boolean;
  /** present when offered: the approval page (it grants nothing: deciding needs an approver's GitHub login) */
  approvalUrl?: string;
  expiresAt?: string;
  summary: string[];
}

/** Everything the approval page shows. */
export interface ApprovalView {
  deployment: Deployment;
  request?: ApprovalRequest;
  audit: AuditEntry[];
  /** the `after` environment's deployment of the same commit, newest first */
  previousStage?: Deployment;
  /** what the environment runs now (newest success), when this commit does not lead to it (a rollback) */
  newerRunning?: Deployment;
  required: number;
}

const DAY_MS = 86_400_000;
/** The summary's line while the rendered diff is being made (replaced when the preview job records it). */
export const PREVIEW_PENDING_LINE =
  'rendered objects: being rendered with this environment’s credentials (on the approval page when ready)';
/** the environment's plan snapshot; the runner reads it for pruning (lib/runner/prune.ts) */
const PLAN_SNAPSHOT = 'PLANSNAP';

function short(sha: string | undefined): string {
  return (sha ?? '?').slice(0, 12);
}

/** The approval page of a deployment: the same link in Slack, GitHub Deployments, the dashboard and the CLI. */
export function approvalPageUrl(publicUrl: string, deploymentId: string): string {
  return `${publicUrl.replace(/\/+$/, '')}/approvals/${encodeURIComponent(deploymentId)}`;
}

function refuse(code: ErrorCode, message: string): never {
  throw new ApprovalRefusedError(code, message);
}

/**
 * The approval core: offers (link + notice), votes from the web, Slack and the CLI, the promotion
 * gate after an environment finishes. Every decision is a conditional write, so any number of
 * concurrent Lambdas agree; every decision, refusals included, is audited.
 */
export class ApprovalService implements ApprovalPort {
  constructor(private readonly deps: ApprovalServiceDeps) {}

  private approvers(d: ApproversKey): ApproversConfig {
    return typeof this.deps.approvers === 'function' ? this.deps.approvers(d) : this.deps.approvers;
  }

  private succeeded(d: Deployment): boolean {
    return d.status === 'succeeded' || (this.deps.allowRendered === true && d.status === 'rendered');
  }

  requiredFor(d: ApproversKey): number {
    return Math.max(1, this.approvers(d)[d.environment]?.required ?? 1);
  }

  /** The deployment alone (one read), for callers that need its environment, not the whole view. */
  async deployment(deploymentId: string): Promise<Deployment | undefined> {
    return this.deps.store.getDeployment(deploymentId);
  }

  async getRequest(deploymentId: string): Promise<ApprovalRequest | undefined> {
    return this.deps.store.getApprovalRequest(deploymentId);
  }

  /** Opens an approval for a deployment in `awaiting_approval`, bound to `plan`, and tells the notifier. */
  async offer(
    deploymentId: string,
    input: {
      plan: EnvironmentPlan;
      previous?: PlanSnapshot;
      manifests?: ManifestDiff;
      /** the rendered diff is asked of a preview job (requestPreview): the request says it is pending */
      manifestsPending?: boolean;
    },
  ): Promise<OfferResult> {
    const { clock, store } = this.deps;
    const now = clock.now();
    const d = await store.getDeployment(deploymentId);
    if (!d) refuse('not_found', `no deployment ${deploymentId}`);
    const refused = refusal({ type: 'offer-opened', target: d }, now.toISOString());
    if (refused) refuse('conflict', refused);
    if (input.plan.sha !== d.sha || input.plan.environment !== d.environment)
      refuse(
        'conflict',
        `the plan is for ${input.plan.environment} @ ${short(input.plan.sha)}, not this deployment`,
      );

    const previous = input.previous ?? (await this.currentSnapshot(d.repository, d.environment));
    const changes = diffPlans(previous, snapshotOf(input.plan));
    // a rendered diff is shown only for the plan it was rendered from: it is bound like the rest
    const manifests = input.manifests?.planDigest === input.plan.digest ? input.manifests : undefined;
    const pending = !manifests && input.manifestsPending === true;
    const summary = [
      ...summaryLines(changes),
      ...manifestSummaryLines(manifests),
      ...(pending ? [PREVIEW_PENDING_LINE] : []),
    ];
    const expiresAtMs = now.getTime() + (this.deps.approvalTtlMs ?? DAY_MS);
    const expiresAt = new Date(expiresAtMs).toISOString();
    const request: ApprovalRequest = {
      deploymentId,
      repository: d.repository,
      sha: d.sha,
      environment: d.environment,
      ...(input.plan.after !== undefined ? { after: input.plan.after } : {}),
      planDigest: input.plan.digest,
      changes,
      ...(manifests ? { manifests } : {}),
      ...(pending ? { manifestsPending: now.toISOString() } : {}),
      summary,
      createdAt: now.toISOString(),
      expiresAt,
      expiresAtMs,
      status: 'pending',
      votes: {},
      voteCount: 0,
    };
    // bind the deployment to the plan people see; the runner refuses to deploy any other plan
    const bound = await store.update(deploymentId, { planDigest: input.plan.digest }, now);
    if (!(await this.deps.store.createApprovalRequest(request))) {
      this.deps.logger.info('approval already offered', { deploymentId });
      return { offered: false, summary };
    }
    await this.audit(
      d.id,
      'system',
      'system',
      'offer',
      'offered',
      `expires ${expiresAt}; plan ${short(input.plan.digest)}`,
    );
    const approvalUrl = approvalPageUrl(this.deps.publicUrl, deploymentId);
    await this.deps.notifier.approvalRequested?.({ deployment: bound, approvalUrl, expiresAt, summary });
    return { offered: true, approvalUrl, expiresAt, summary };
  }

  /**
   * Asks the runner for the rendered diff of an open approval: a `preview` job of the waiting deployment,
   * so it runs with that environment's own credentials, never with those of the environment that just
   * finished (issue 13; lib/runner/preview-job.ts). A job that cannot be started is recorded as such.
   */
  async requestPreview(d: Deployment, planDigest: string): Promise<void> {
    try {
      await this.deps.dispatcher.dispatch({ deploymentId: d.id, purpose: 'preview' });
    } catch (e) {
      this.deps.logger.warn('could not start the manifest preview', { deploymentId: d.id, err: e });
      await this.recordPreview(d.id, {
        planDigest,
        manifests: {
          planDigest,
          renderedAt: this.deps.clock.now().toISOString(),
          releases: [],
          unavailable: 'the preview job could not be started; the approval holds without it',
        },
      });
    }
  }

  /**
   * The preview job's rendered diff (or why there is none; absent in render-only mode, where nothing runs
   * to compare with), onto the approval request while it is pending and bound to `planDigest`, the plan
   * the diff was rendered for; the Slack thread gets its summary. False when the request was decided,
   * voided or re-bound meanwhile: the diff is then dropped.
   */
  async recordPreview(
    deploymentId: string,
    input: { planDigest: string; manifests?: ManifestDiff },
  ): Promise<boolean> {
    const { store } = this.deps;
    const { manifests } = input;
    const req = await store.getApprovalRequest(deploymentId);
    if (req?.status !== 'pending' || req.planDigest !== input.planDigest) return false;
    if (manifests && manifests.planDigest !== input.planDigest) return false;
    const lines = manifestSummaryLines(manifests);
    const summary = [...summaryLines(req.changes), ...lines];
    const recorded = await store.recordApprovalManifests(deploymentId, {
      planDigest: req.planDigest,
      ...(manifests ? { manifests } : {}),
      summary,
    });
    if (!recorded || !manifests) return recorded;
    await this.audit(
      deploymentId,
      'system',
      'system',
      'preview',
      manifests.unavailable ? 'unavailable' : 'recorded',
      (manifests.unavailable ?? lines.join('; ')).slice(0, 500),
    );
    const d = await store.getDeployment(deploymentId);
    if (d)
      await this.deps.notifier
        .manifestsPreviewed?.({
          deployment: d,
          approvalUrl: approvalPageUrl(this.deps.publicUrl, deploymentId),
          summary: lines,
        })
        .catch((e) => this.deps.logger.warn('preview notice failed', { deploymentId, err: e }));
    return true;
  }

  /** What the environment runs now, as recorded at its last successful deploy. */
  async currentSnapshot(repository: string, environment: string): Promise<PlanSnapshot | undefined> {
    const item = await this.deps.store.getItem<{ snapshotJson?: string }>(
      PLAN_SNAPSHOT,
      `${repository}#${environment}`,
    );
    return item?.snapshotJson ? (JSON.parse(item.snapshotJson) as PlanSnapshot) : undefined;
  }

  async vote(input: VoteInput): Promise<VoteOutcome> {
    // both reads at once: one round trip of latency instead of two
    const [d, req] = await Promise.all([
      this.deps.store.getDeployment(input.deploymentId),
      this.deps.store.getApprovalRequest(input.deploymentId),
    ]);
    if (!d) refuse('not_found', `no deployment ${input.deploymentId}`);
    const actor = identify(input.voter, this.approvers(d)[d.environment]).label;
    try {
      const outcome = await this.decide(input, d, req);
      const detail =
        outcome.kind === 'recorded'
          ? `${outcome.votes} of ${outcome.required} approvals`
          : outcome.kind === 'approved'
            ? `${input.rollback ? 'rollback confirmed; ' : ''}${outcome.dispatched ? 'deploy dispatched' : 'not dispatched'}`
            : undefined;
      await this.audit(d.id, actor, input.via, input.decision, outcome.kind, detail);
      return outcome;
    } catch (e) {
      if (e instanceof HelmgateError)
        await this.audit(d.id, actor, input.via, input.decision, `refused: ${e.code}`, e.message).catch(
          () => undefined,
        );
      throw e;
    }
  }

  private async decide(
    input: VoteInput,
    d: Deployment,
    read: ApprovalRequest | undefined,
  ): Promise<VoteOutcome> {
    const { clock } = this.deps;
    const now = clock.now();
    let req = read;
    if (d.status === 'superseded')
      refuse('superseded', `superseded by ${d.supersededBy ?? 'a newer commit'}`);
    if (!req) refuse('conflict', `deployment ${d.id} is ${d.status} and not open for approval`);

    const auth = authorize(input.voter, d.environment, this.approvers(d));
    const identity = auth.ok ? auth.identity : identify(input.voter, this.approvers(d)[d.environment]);
    const vote: VoteRecord = {
      actor: identity.key,
      via: input.via,
      decision: input.decision,
      at: now.toISOString(),
      ...(input.voter.displayName ? { displayName: input.voter.displayName } : {}),
    };

    /** Refusals that depend only on the request's state; re-checked after a lost conditional write. */
    const settled = async (r: ApprovalRequest): Promise<VoteOutcome | undefined> => {
      if (r.votes[identity.key]?.decision === input.decision)
        return { kind: 'duplicate', deploymentId: d.id };
      if (r.status === 'expired' || (r.status === 'pending' && now.getTime() >= r.expiresAtMs))
        refuse('expired', `approval expired at ${r.expiresAt}`);
      if (r.status === 'void') refuse('conflict', `approval void: ${r.reason ?? 'the plan changed'}`);
      if (r.status !== 'pending') {
        const by = `${r.status} by ${r.decidedBy ?? '?'} at ${r.decidedAt ?? '?'}`;
        refuse('conflict', `already ${by}`);
      }
      return undefined;
    };
    const early = await settled(req);
    if (early) return early;
    if (d.status === 'expired') refuse('expired', `approval expired at ${req.expiresAt}`);
    const refused = refusal({ type: 'vote', target: d, final: false }, now.toISOString());
    if (refused) refuse('conflict', refused);
    if (!auth.ok) refuse('forbidden', auth.reason);
    // a vote is on the plan the voter was shown (the page's hidden field): never for a newer one
    if (input.planDigest !== undefined && input.planDigest !== req.planDigest)
      refuse(
        'conflict',
        `the plan changed since it was shown to you (${short(input.planDigest)} → ${short(req.planDigest)}); reload and review it again`,
      );

    if (input.decision === 'reject') {
      if (!(await this.deps.store.recordRejectionVote(d.id, { voterKey: identity.key, vote, now }))) {
        const again = await this.deps.store.getApprovalRequest(d.id);
        const outcome = again ? await settled(again) : undefined;
        if (outcome) return outcome;
        refuse('conflict', 'the approval changed meanwhile; reload and try again');
      }
      await handle(this.deps, { type: 'rejection', target: d, by: identity.label, via: input.via });
      return { kind: 'rejected', deploymentId: d.id };
    }

    const selfRefusal = selfApprovalRefusal(identity, auth.config, involvedIn(d), d.environment);
    if (selfRefusal) refuse('forbidden', selfRefusal);
    if (d.planDigest !== req.planDigest) {
      const reason = `the plan changed since this approval was requested (${short(req.planDigest)} → ${short(d.planDigest)})`;
      await this.deps.store.closeApprovalRequest(d.id, 'void', now, this.deps.redactor.redact(reason));
      refuse('conflict', `approval void: ${reason}`);
    }
    // a confirmed rollback needs no look at what runs now (one query less)
    const newer = input.rollback === true ? undefined : await this.newerRunning(d);
    if (newer)
      refuse(
        'conflict',
        `${d.environment} runs ${short(newer.sha)}, which this commit does not lead to (it is older, or on another line): approving would roll it back; confirm the rollback to go ahead`,
      );

    const required = this.requiredFor(d);
    for (let attempt = 0; attempt < 100; attempt++) {
      const final = req.voteCount + 1 >= required;
      const ok = await this.deps.store.recordApprovalVote(d.id, {
        voterKey: identity.key,
        vote,
        expectedCount: req.voteCount,
        final,
        now,
        planDigest: d.planDigest ?? '',
        rollback: input.rollback === true,
      });
      if (ok) {
        if (!final) return { kind: 'recorded', deploymentId: d.id, votes: req.voteCount + 1, required };
        return { kind: 'approved', deploymentId: d.id, dispatched: await this.release(d) };
      }
      const again = await this.deps.store.getApprovalRequest(d.id);
      if (!again) refuse('conflict', 'the approval request disappeared');
      const outcome = await settled(again);
      if (outcome) return outcome;
      if (again.planDigest !== req.planDigest) refuse('conflict', 'approval void: the plan changed');
      req = again; // someone else's vote landed first: count again
    }
    refuse('conflict', 'too many concurrent votes; try again');
  }

  /** The deciding approval: awaiting_approval → queued (conditional: one winner), then one dispatch. */
  private async release(d: Deployment): Promise<boolean> {
    const [out] = await handle(this.deps, { type: 'vote', target: d, final: true });
    if (out?.kind === 'moved') return true;
    this.deps.logger.warn('approved deployment was no longer awaiting approval', { deploymentId: d.id });
    return false;
  }

  /**
   * What the environment runs now, when deploying `d` would move it back: by commit ancestry (issue
   * 11), not push time — `d` is behind it or on another line. When ancestry cannot be told, the
   * rollback confirmation is asked for. Without an `ancestry` dependency (old wiring): by push time.
   */
  async newerRunning(d: Deployment): Promise<Deployment | undefined> {
    const recent = await this.deps.store.listByEnvironment(d.repository, d.environment, { limit: 50 });
    const current = recent.find((x) => this.succeeded(x));
    if (!current || current.sha === d.sha) return undefined;
    if (!this.deps.ancestry) return current.createdAt > d.createdAt ? current : undefined;
    try {
      const relation = await this.deps.ancestry(d.repository, current.sha, d.sha);
      return relation === 'ahead' || relation === 'identical' ? undefined : current;
    } catch (e) {
      this.deps.logger.warn('commit ancestry unknown; asking for the rollback confirmation', {
        deploymentId: d.id,
        err: e,
      });
      return current;
    }
  }

  /** For the approval page: the deployment, its request, audit, the previous stage and rollback state. */
  async view(deploymentId: string): Promise<ApprovalView | undefined> {
    const d = await this.deps.store.getDeployment(deploymentId);
    if (!d) return undefined;
    const [request, audit, newer] = await Promise.all([
      this.deps.store.getApprovalRequest(deploymentId),
      this.deps.store.listAudit(deploymentId),
      this.newerRunning(d),
    ]);
    let previousStage: Deployment | undefined;
    if (request?.after) {
      const recent = await this.deps.store.listByEnvironment(d.repository, request.after, { limit: 50 });
      previousStage = recent.find((x) => x.sha === d.sha);
    }
    return {
      deployment: d,
      ...(request ? { request } : {}),
      audit: audit.sort((a, b) => a.at.localeCompare(b.at)),
      ...(previousStage ? { previousStage } : {}),
      ...(newer ? { newerRunning: newer } : {}),
      required: this.requiredFor(d),
    };
  }

  /**
   * The promotion gate, called when any deployment finishes. Records what a successful environment
   * now runs; then each deployment of the same repository and commit that waits with `after: <this
   * environment>` is promoted (`auto`), offered for approval (`required`), or failed when this one failed.
   */
  async onDeploymentFinished(finished: Deployment, ctx: FinishedContext = {}): Promise<void> {
    const { store, logger } = this.deps;
    const log = logger.child({ deploymentId: finished.id });
    const ok = this.succeeded(finished);
    if (ok && ctx.plan && ctx.plan.environment === finished.environment) {
      const snapshot = snapshotOf(ctx.plan);
      // a release removed from deploy.yaml but kept (pruning not allowed, or not in view when approved)
      // still runs: it stays in what the environment runs, so a later approval shows it as removed
      const kept = new Set((finished.releases ?? []).filter((r) => r.pruned === 'kept').map((r) => r.name));
      if (kept.size > 0) {
        const before = await this.currentSnapshot(finished.repository, finished.environment);
        snapshot.releases.push(...(before?.releases ?? []).filter((r) => kept.has(r.name)));
      }
      await store.putItem(PLAN_SNAPSHOT, `${finished.repository}#${finished.environment}`, {
        deploymentId: finished.id,
        sha: finished.sha,
        snapshotJson: JSON.stringify(snapshot),
      });
    }
    if (!ok && finished.status !== 'failed') return; // superseded, rejected, expired: nothing to promote

    const recent = await store.listDeployments({ limit: this.deps.scanLimit ?? 200 });
    const waiting = recent.filter(
      (w) =>
        w.id !== finished.id &&
        w.repository === finished.repository &&
        w.sha === finished.sha &&
        w.status === 'awaiting_approval',
    );
    for (const w of waiting) {
      let plan: EnvironmentPlan | undefined;
      try {
        plan = this.deps.planFor ? await this.deps.planFor(w, ctx) : undefined;
      } catch (e) {
        // its commit cannot be planned for its environment: it can never be approved, so say why now
        const reason = this.deps.redactor
          .redact(`cannot plan ${w.environment} at ${w.sha}: ${describeError(e)}`)
          .slice(0, 1000);
        log.warn('waiting deployment cannot be planned', { waiting: w.id, reason });
        await handle(this.deps, { type: 'unplannable', target: w, reason });
        continue;
      }
      if (!plan) {
        log.warn('no plan for a waiting deployment; it stays awaiting approval', { waiting: w.id });
        continue;
      }
      if (plan.after !== finished.environment) continue;
      if (!ok && this.deps.requireStagingSuccess !== false) {
        await handle(this.deps, {
          type: 'unplannable',
          target: w,
          reason: this.deps.redactor.redact(`${finished.environment} failed for ${finished.sha}`),
          audit: {
            actor: 'system',
            via: 'system',
            action: 'promote',
            outcome: 'failed',
            detail: `${finished.environment} failed (${finished.id})`,
          },
        });
        continue;
      }
      // a rollback push made an `auto` environment wait for a person (w.approval): the stricter wins
      if (plan.approval === 'auto' && w.approval !== 'required') {
        await handle(this.deps, {
          type: 'promoted',
          target: w,
          planDigest: plan.digest,
          audit: {
            actor: 'system',
            via: 'system',
            action: 'promote',
            outcome: 'queued',
            detail: `${finished.environment} ${finished.status} (${finished.id})`,
          },
        });
      } else if (plan.approval === 'required' || w.approval === 'required') {
        const previous = ctx.previous ?? (await this.currentSnapshot(w.repository, w.environment));
        // the rendered diff needs the waiting environment's cluster: its own preview job renders it
        // (this invocation holds the finished environment's credentials, and must hold no other)
        const offered = await this.offer(w.id, {
          plan,
          ...(previous ? { previous } : {}),
          manifestsPending: true,
        }).catch((e) => {
          if (!(e instanceof ApprovalRefusedError)) throw e;
          log.warn('approval not offered', { waiting: w.id, reason: e.message });
          return undefined;
        });
        if (offered?.offered) await this.requestPreview(w, plan.digest);
      }
    }
  }

  private async audit(
    deploymentId: string,
    actor: string,
    via: string,
    action: string,
    outcome: string,
    detail?: string,
  ) {
    await this.deps.store.appendAudit({
      deploymentId,
      at: this.deps.clock.now().toISOString(),
      actor,
      via,
      action,
      outcome,
      ...(detail !== undefined ? { detail: this.deps.redactor.redact(detail) } : {}),
    });
  }
}
