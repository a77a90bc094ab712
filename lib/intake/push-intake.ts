import { createHash } from 'node:crypto';
import type { Clock } from '../clock';
import { type DeployConfig, DeployConfigError, parseDeployConfig } from '../deploy/deploy-config';
import { type ApprovalMode, type Deployment, SUPERSEDABLE } from '../deploy/deployment';
import type { Dispatcher } from '../dispatch/dispatcher';
import { describeError, HelmgateError } from '../errors';
import type { PushEvent } from '../github/push-event';
import type { RepoSource } from '../github/repo-source';
import type { Logger } from '../log/logger';
import type { Notifier } from '../notify/notifier';
import { type DeploymentStore, StoreConflictError } from '../store/deployment-store';

export interface PushIntakeDeps {
  store: DeploymentStore;
  /** one file at the pushed commit (the deploy config) */
  source: Pick<RepoSource, 'readFile'>;
  dispatcher: Dispatcher;
  notifier: Notifier;
  clock: Clock;
  logger: Logger;
  deployConfigPath: string;
  /** how long a delivery id is remembered (GitHub redelivers for days) */
  deliveryTtlSeconds?: number;
}

export interface AcceptedPush {
  deployments: Array<Pick<Deployment, 'id' | 'environment' | 'status' | 'reason'>>;
  superseded: string[];
}

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

/** Initial status per approval mode: only `none` deploys at once. */
export function initialStatus(approval: ApprovalMode): Deployment['status'] {
  return approval === 'none' ? 'queued' : 'awaiting_approval';
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
    ...(event.head_commit?.message !== undefined
      ? { commitMessage: event.head_commit.message.slice(0, 2000) }
      : {}),
    ...(event.head_commit?.url ? { commitUrl: event.head_commit.url } : {}),
  };

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
    await store.recordDelivery(deliveryId, now, deps.deliveryTtlSeconds ?? 7 * 86400);
    return {
      deployments: [{ id: failed.id, environment: failed.environment, status: failed.status, reason }],
      superseded: [],
    };
  }

  const created: Deployment[] = [];
  for (const [environment, env] of Object.entries(config.environments)) {
    const approval = env.approval as ApprovalMode;
    const d: Deployment = {
      ...base,
      id: deploymentId(deliveryId, environment, base.sha),
      environment,
      approval,
      status: initialStatus(approval),
    };
    const isNew = await store.createDeployment(d);
    created.push(isNew ? d : ((await store.getDeployment(d.id)) ?? d));
    if (isNew) await deps.notifier.deploymentChanged(d);
  }

  const superseded = await supersedeOlder(deps, created);

  for (const d of created) {
    if (d.status === 'queued') await deps.dispatcher.dispatch({ deploymentId: d.id });
    // waiting with no `after`: the runner plans it and opens the approval now; with `after`, the
    // approval opens when that environment succeeded for this commit (the promotion gate)
    else if (d.status === 'awaiting_approval' && !config.environments[d.environment]?.after)
      await deps.dispatcher.dispatch({ deploymentId: d.id, purpose: 'offer' });
  }
  await store.recordDelivery(deliveryId, now, deps.deliveryTtlSeconds ?? 7 * 86400);
  log.info('push accepted', { deployments: created.map((d) => d.id), superseded });
  return {
    deployments: created.map((d) => ({ id: d.id, environment: d.environment, status: d.status })),
    superseded,
  };
}

/** Older deployments of the same environments that have not started yet give way to the new ones. */
async function supersedeOlder(deps: PushIntakeDeps, created: Deployment[]): Promise<string[]> {
  const superseded: string[] = [];
  for (const fresh of created) {
    const others = await deps.store.listByEnvironment(fresh.repository, fresh.environment, { limit: 50 });
    for (const old of others) {
      if (old.id === fresh.id || !SUPERSEDABLE.includes(old.status)) continue;
      if (old.createdAt > fresh.createdAt) continue; // a newer push already exists: never let an older one win
      try {
        const moved = await deps.store.transition(
          old.id,
          SUPERSEDABLE,
          'superseded',
          {
            supersededBy: fresh.sha,
            reason: `superseded by ${fresh.sha}`,
            finishedAt: deps.clock.now().toISOString(),
          },
          deps.clock.now(),
        );
        superseded.push(old.id);
        await deps.notifier.deploymentChanged(moved);
      } catch (e) {
        if (!(e instanceof StoreConflictError)) throw e; // it started meanwhile: running deploys are never superseded
      }
    }
  }
  return superseded;
}
