import { createHash } from 'node:crypto';
import type { Clock } from '../clock';
import { type DeployConfig, DeployConfigError, parseDeployConfig } from '../deploy/deploy-config';
import { type Deployment, initialStatus } from '../deploy/lifecycle';
import type { Dispatcher } from '../dispatch/dispatcher';
import { describeError, HelmgateError } from '../errors';
import type { PushEvent } from '../github/push-event';
import type { RepoSource } from '../github/repo-source';
import { handle } from '../lifecycle/apply';
import type { Logger } from '../log/logger';
import type { Notifier } from '../notify/notifier';
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
  const superseded: string[] = [];
  for (const [environment, env] of Object.entries(config.environments)) {
    const d: Deployment = {
      ...base,
      id: deploymentId(deliveryId, environment, base.sha),
      environment,
      approval: env.approval,
      status: initialStatus(env.approval),
    };
    const isNew = await store.createDeployment(d);
    const fresh = isNew ? d : ((await store.getDeployment(d.id)) ?? d);
    created.push(fresh);
    if (isNew) await deps.notifier.deploymentChanged(d);
    // older not-yet-started deployments of the environment give way; this one runs, or is offered
    // now (no `after`); with `after`, its approval opens when that environment succeeded (the gate)
    const applied = await handle(
      deps,
      { type: 'created', deployment: fresh, offer: !env.after },
      { environment: await store.listByEnvironment(fresh.repository, fresh.environment, { limit: 50 }) },
    );
    for (const a of applied) if (a.kind === 'moved') superseded.push(a.deployment.id);
  }
  await store.recordDelivery(deliveryId, now, deps.deliveryTtlSeconds ?? 7 * 86400);
  log.info('push accepted', { deployments: created.map((d) => d.id), superseded });
  return {
    deployments: created.map((d) => ({ id: d.id, environment: d.environment, status: d.status })),
    superseded,
  };
}
