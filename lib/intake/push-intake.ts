import { createHash } from 'node:crypto';
import type { Clock } from '../clock';
import { type DeployConfig, DeployConfigError, parseDeployConfig } from '../deploy/deploy-config';
import { type Deployment, initialStatus } from '../deploy/lifecycle';
import type { Dispatcher } from '../dispatch/dispatcher';
import { describeError, HelmgateError } from '../errors';
import type { BranchState } from '../github/branch-state';
import { involvedLogins, type PushEvent } from '../github/push-event';
import type { RepoSource } from '../github/repo-source';
import { handle } from '../lifecycle/apply';
import type { Logger } from '../log/logger';
import type { Notifier } from '../notify/notifier';
import { checkPlan, violationReason } from '../policy/check';
import type { Policy } from '../policy/policy';
import type { DeploymentStore } from '../store/deployment-store';

export interface PushIntakeDeps {
  store: DeploymentStore;
  /** one file at the pushed commit (the deploy config) */
  source: Pick<RepoSource, 'readFile'>;
  dispatcher: Dispatcher;
  notifier: Notifier;
  clock: Clock;
  logger: Logger;
  deployConfigPath: string;
  /**
   * The repository as it is now (GitHub's refs and compare APIs; locally the checkout): a push is
   * acted on only while its commit is the head of its branch, and a push that moves the branch back
   * is recognised by ancestry.
   */
  branchState: BranchState;
  /**
   * When the branch is not at the pushed commit, look once more after this long before calling the
   * push stale: GitHub's API may answer from a replica that has not seen the push yet. Default 1500 ms
   * (GitHub gives a webhook 10 s); 0 where the answer is authoritative (the local checkout).
   */
  headRecheckMs?: number;
  /** waits `ms` (injected: tests do not wait) */
  sleep?: (ms: number) => Promise<void>;
  /**
   * The operator's policy (lib/policy), loaded once at start and never from a commit: it decides the
   * approval mode and who approves; the pushed deploy.yaml may only be stricter.
   */
  policy: Policy;
  /** how long a delivery id is remembered (GitHub redelivers for days) */
  deliveryTtlSeconds?: number;
}

export interface AcceptedPush {
  deployments: Array<Pick<Deployment, 'id' | 'environment' | 'status' | 'reason'>>;
  superseded: string[];
  /** a replay or a late delivery: the branch is no longer at this commit; nothing was deployed */
  stale?: { reason: string };
  /** this commit is already the accepted head of the branch (the same push, delivered again) */
  duplicate?: { reason: string };
  /** the push moved the branch back (forced): environments that promote on their own now need a person */
  rollback?: { from: string; ancestry: 'behind' | 'diverged' };
}

/** Store item: the push last accepted for a branch, the (repository, ref, after) dedupe key. */
export const PUSH_HEAD_KIND = 'PUSHHEAD';
const ZERO_SHA = /^0{40}$/;

function pusherOf(event: PushEvent): { pusher?: string } {
  const who = event.sender?.login ?? event.pusher?.name;
  return who ? { pusher: who } : {};
}

/** Environment name recorded when the deploy config itself cannot be read at the commit. */
export const CONFIG_ENVIRONMENT = '*';

/**
 * Deterministic id: a redelivery racing the original delivery writes the same items, so the
 * conditional put makes creation idempotent and no push is ever deployed twice.
 */
export function deploymentId(deliveryId: string, environment: string, sha: string): string {
  const h = createHash('sha256').update(`${deliveryId}\0${environment}`).digest('hex').slice(0, 10);
  const env = environment === CONFIG_ENVIRONMENT ? 'config' : environment.replace(/[^\w-]/g, '_');
  return `${sha.slice(0, 7)}-${env}-${h}`;
}

/**
 * Turns an accepted push into deployments: reads the deploy config at the pushed commit, records
 * one deployment per environment, supersedes older not-yet-started ones, dispatches the ones that
 * need no approval. The delivery id is recorded last, after everything it stands for exists.
 */
export async function acceptPush(
  deps: PushIntakeDeps,
  deliveryId: string,
  event: PushEvent,
): Promise<AcceptedPush> {
  const { store, clock } = deps;
  const log = deps.logger.child({ deliveryId, sha: event.after });
  const now = clock.now();
  const base = {
    repository: event.repository.full_name,
    sha: event.after,
    ref: event.ref,
    deliveryId,
    createdAt: now.toISOString(),
    updatedAt: now.toISOString(),
    ...pusherOf(event),
    involved: involvedLogins(event),
    ...(event.head_commit?.message !== undefined
      ? { commitMessage: event.head_commit.message.slice(0, 2000) }
      : {}),
    ...(event.head_commit?.url ? { commitUrl: event.head_commit.url } : {}),
  };

  const ttl = deps.deliveryTtlSeconds ?? 7 * 86400;

  // 1. Only the branch's head deploys. An old signed body sent again under a new delivery id (a replay)
  // or a delivery that arrives after a newer push (out of order) names a commit the branch has left.
  const branch = event.ref.replace(/^refs\/heads\//, '');
  let head = await deps.branchState.head(base.repository, branch);
  const recheck = deps.headRecheckMs ?? 1500;
  if (head !== base.sha && recheck > 0) {
    await (deps.sleep ?? ((ms: number) => new Promise((r) => setTimeout(r, ms))))(recheck);
    head = await deps.branchState.head(base.repository, branch);
  }
  if (head !== base.sha) {
    const reason = `stale push: ${event.ref} is ${head ? `at ${head.slice(0, 12)}` : 'gone'}, not at ${base.sha.slice(0, 12)} (a replayed or late delivery); nothing deployed`;
    log.warn('stale push refused', { head, reason });
    const stale: Deployment = {
      ...base,
      id: deploymentId(deliveryId, CONFIG_ENVIRONMENT, base.sha),
      environment: CONFIG_ENVIRONMENT,
      status: 'superseded',
      approval: 'none',
      ...(head ? { supersededBy: head } : {}),
      reason,
      finishedAt: now.toISOString(),
    };
    if (await store.createDeployment(stale)) await deps.notifier.deploymentChanged(stale);
    await store.recordDelivery(deliveryId, now, ttl);
    return {
      deployments: [{ id: stale.id, environment: stale.environment, status: stale.status, reason }],
      superseded: [],
      stale: { reason },
    };
  }

  // 2. A push that moves the branch back (forced onto an ancestor, or onto another line) is a rollback.
  let rollback: AcceptedPush['rollback'];
  if (event.before && !ZERO_SHA.test(event.before) && event.before !== base.sha) {
    const ancestry = await deps.branchState.compare(base.repository, event.before, base.sha);
    if (ancestry === 'behind' || ancestry === 'diverged') rollback = { from: event.before, ancestry };
  }

  let config: DeployConfig;
  try {
    const text = await deps.source.readFile(base.repository, base.sha, deps.deployConfigPath);
    if (text === undefined)
      throw new HelmgateError(
        'invalid_deploy_config',
        `${deps.deployConfigPath} does not exist at ${base.sha}`,
      );
    config = parseDeployConfig(text, deps.deployConfigPath);
  } catch (e) {
    if (!(e instanceof DeployConfigError) && !(e instanceof HelmgateError)) throw e;
    // GitHub could not be read: not the commit's fault, so nothing is recorded and the webhook's 503
    // lets GitHub's redelivery try again (SECURITY.md, "Lost pushes")
    if (e instanceof HelmgateError && e.code === 'unavailable') throw e;
    const reason = describeError(e);
    log.warn('deploy config rejected', { reason });
    const failed: Deployment = {
      ...base,
      id: deploymentId(deliveryId, CONFIG_ENVIRONMENT, base.sha),
      environment: CONFIG_ENVIRONMENT,
      status: 'failed',
      approval: 'none',
      reason,
      finishedAt: now.toISOString(),
    };
    if (await store.createDeployment(failed)) await deps.notifier.deploymentChanged(failed);
    await store.recordDelivery(deliveryId, now, ttl);
    return {
      deployments: [{ id: failed.id, environment: failed.environment, status: failed.status, reason }],
      superseded: [],
    };
  }

  // 3. (repository, ref, after): one conditional write on the branch's last accepted push. The same
  // push delivered again (a replay of the head, or two deliveries racing) finds it there; a forced push
  // back to an earlier head does not (the branch's last accepted push is another commit).
  const claimed = await store.putItem(
    PUSH_HEAD_KIND,
    `${base.repository}#${event.ref}`,
    { after: base.sha, before: event.before ?? '', deliveryId, at: now.toISOString() },
    { unlessEqual: { field: 'after', value: base.sha } },
  );
  if (!claimed) {
    const reason = `${event.ref} of ${base.repository} at ${base.sha.slice(0, 12)} was already accepted (the same push delivered again); nothing deployed`;
    log.info('duplicate push', { reason });
    await store.recordDelivery(deliveryId, now, ttl);
    return { deployments: [], superseded: [], duplicate: { reason } };
  }

  // environments are independent: their round trips go out together
  const prepared = await Promise.all(
    Object.entries(config.environments).map(async ([environment, env]) => {
      const id = deploymentId(deliveryId, environment, base.sha);
      // the gate comes from the operator's policy, never from the commit alone
      const check = checkPlan(deps.policy, base.repository, config, environment, deps.deployConfigPath);
      const policy = check.effective
        ? { policy: { digest: check.effective.policyDigest, summary: check.effective.summary } }
        : {};
      if (!check.effective || check.violations.length > 0) {
        // refused: recorded with every violation, never dispatched, supersedes nothing
        const reason = violationReason(check.violations);
        log.warn('push refused by the policy', { environment, reason });
        const refused: Deployment = {
          ...base,
          id,
          environment,
          status: 'failed',
          approval: check.effective?.approval ?? 'required',
          reason,
          finishedAt: now.toISOString(),
          ...policy,
        };
        const isNew = await store.createDeployment(refused);
        return { refused: true as const, fresh: refused, isNew };
      }
      const { after } = check.effective;
      const policyApproval = check.effective.approval;
      // a rollback never promotes itself: `auto` waits for a person, who confirms the rollback
      const approval = rollback && policyApproval === 'auto' ? 'required' : policyApproval;
      const d: Deployment = {
        ...base,
        id,
        environment,
        approval,
        status: initialStatus(approval),
        ...policy,
        ...(env.approvers ? { requestedApprovers: env.approvers } : {}),
      };
      const isNew = await store.createDeployment(d);
      const fresh = isNew ? d : ((await store.getDeployment(d.id)) ?? d);
      if (isNew && rollback)
        await store.appendAudit({
          deploymentId: d.id,
          at: now.toISOString(),
          actor: 'system',
          via: 'webhook',
          action: 'rollback-push',
          outcome: approval === policyApproval ? 'recorded' : `approval ${policyApproval} → ${approval}`,
          detail: `${event.ref} moved back from ${rollback.from.slice(0, 12)} to ${base.sha.slice(0, 12)} (${rollback.ancestry}${event.forced ? ', forced' : ''}): approving it needs the rollback confirmation`,
        });
      // listed only after our create: of two racing pushes, the second to list sees both
      const others = await store.listByEnvironment(d.repository, d.environment, { limit: 50 });
      return { refused: false as const, fresh, isNew, others, offer: !after };
    }),
  );
  const created: Deployment[] = [];
  const superseded: string[] = [];
  for (const p of prepared) {
    const { fresh, isNew } = p;
    created.push(fresh);
    if (isNew) await deps.notifier.deploymentChanged(fresh);
    if (p.refused) continue;
    const { others, offer } = p;
    // older not-yet-started deployments of the environment give way; this one runs, or is offered
    // now (no `after`); with `after`, its approval opens when that environment succeeded (the gate)
    const applied = await handle(
      deps,
      { type: 'created', deployment: fresh, offer },
      { environment: others },
    );
    for (const a of applied) if (a.kind === 'moved') superseded.push(a.deployment.id);
  }
  await store.recordDelivery(deliveryId, now, ttl);
  log.info('push accepted', { deployments: created.map((d) => d.id), superseded, rollback });
  return {
    deployments: created.map((d) => ({ id: d.id, environment: d.environment, status: d.status })),
    superseded,
    ...(rollback ? { rollback } : {}),
  };
}
