import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Clock } from '../clock';
import type { EnvironmentPlan } from '../deploy/plan';
import type { DeployJob, Dispatcher } from '../dispatch/dispatcher';
import { createProcessRunner } from '../exec/command-runner';
import type { RepoSource } from '../github/repo-source';
import { ensureHelmBinary } from '../helm/helm-binary';
import type { RetryPolicy } from '../helm/release-deployer';
import type { Logger } from '../log/logger';
import type { Redactor } from '../log/redact';
import type { Notifier } from '../notify/notifier';
import type { Policy } from '../policy/policy';
import type { Random } from '../random';
import { runJob } from '../runner/drift-check';
import { type ChartLookup, type ClusterAccess, helmClusterConnector } from '../runner/helm-cluster';
import { kubeconfigFileAccess } from '../runner/kube-access';
import type { FinishedHook, RunnerDeps } from '../runner/runner';
import type { SecretResolver } from '../secrets/secrets-provider';
import { chartDigestsOf, outboundOf } from './shared';

/** What the local runner takes from the stack it runs in. */
export interface LocalRunnerContext {
  store: RunnerDeps['store'];
  source: RepoSource;
  clock: Clock;
  random: Random;
  logger: Logger;
  redactor: Redactor;
  notifier: Notifier;
  dispatcher: Dispatcher;
  /** a fresh resolver per deploy run: values cached for that run only */
  newSecretResolver: () => SecretResolver;
  /** the process environment: PATH/HOME/TMPDIR/LANG for helm, HELMGATE_HELM_BIN */
  env: Readonly<Record<string, string | undefined>>;
}

export interface LocalRunnerOptions {
  /** the project's working directory for helmgate's own files (`.helmgate/`) */
  stateDir: string;
  deployConfigPath?: string;
  /** the operator policy the stack loaded at start */
  policy: Policy;
  /**
   * How to reach a cluster. Absent: render-only (`helm template` into `<stateDir>/rendered/<id>/`),
   * status `rendered`, never `succeeded`.
   */
  access?: (
    plan: EnvironmentPlan,
    ctx: { workDir: string; secrets: SecretResolver },
  ) => Promise<ClusterAccess>;
  /** deploy for real to the current context of this kubeconfig file (`KUBECONFIG`) */
  kubeconfig?: string;
  /** extra helm upgrade flags (tests against the loopback API stand-in: `--disable-openapi-validation`) */
  upgradeFlags?: string[];
  helmBin?: string;
  chartCache?: ChartLookup;
  retry?: Partial<RetryPolicy>;
  sleep?: (ms: number) => Promise<void>;
  rollbackOnFailure?: boolean;
  concurrency?: number;
  force?: boolean;
  finished?: FinishedHook;
}

/** The deploy runner of the local stack: the same runner as in AWS, in this process. */
export function localRunner(
  ctx: LocalRunnerContext,
  opts: LocalRunnerOptions,
): { deps: RunnerDeps; run: (job: DeployJob) => Promise<void> } {
  const workRoot = path.join(opts.stateDir, 'work');
  const renderRoot = path.join(opts.stateDir, 'rendered');
  mkdirSync(workRoot, { recursive: true, mode: 0o700 });
  // chart pulls and health checks reach only the policy's hosts for the environment, at public addresses
  const outbound = outboundOf(opts.policy);
  const charts = chartDigestsOf(opts.policy, opts.chartCache);
  const access =
    opts.access ??
    (opts.kubeconfig
      ? kubeconfigFileAccess(opts.kubeconfig, {
          logger: ctx.logger,
          outbound,
          ...(opts.upgradeFlags ? { upgradeFlags: opts.upgradeFlags } : {}),
        })
      : undefined);
  const helmBin =
    opts.helmBin ?? ensureHelmBinary(path.join(opts.stateDir, 'bin'), ctx.env.HELMGATE_HELM_BIN);
  const deps: RunnerDeps = {
    store: ctx.store,
    source: ctx.source,
    dispatcher: ctx.dispatcher,
    notifier: ctx.notifier,
    clock: ctx.clock,
    logger: ctx.logger,
    redactor: ctx.redactor,
    secrets: () => ctx.newSecretResolver(),
    cluster: helmClusterConnector({
      helmBin,
      commandRunner: createProcessRunner(),
      redactor: ctx.redactor,
      clock: ctx.clock,
      logger: ctx.logger,
      renderRoot,
      baseEnv: ctx.env,
      ...(access ? { access } : {}),
      outbound,
      // a KUBECONFIG file replaces the environments' cluster secrets; a custom `access` may read them
      readsClusterSecret: opts.access !== undefined,
      ...(opts.chartCache ? { chartCache: opts.chartCache } : {}),
      ...(opts.retry ? { retry: opts.retry } : {}),
      ...(opts.sleep ? { sleep: opts.sleep } : {}),
      ...(opts.rollbackOnFailure !== undefined ? { rollbackOnFailure: opts.rollbackOnFailure } : {}),
    }),
    ...(opts.finished ? { finished: opts.finished } : {}),
    policy: opts.policy,
    charts: charts(),
    workRoot,
    deployConfigPath: opts.deployConfigPath ?? 'deploy.yaml',
    remainingTimeMs: () => Number.POSITIVE_INFINITY,
    invocationId: `local-${process.pid}-${ctx.random.id().slice(0, 8)}`,
    safetyMarginMs: 0,
    ...(opts.concurrency ? { concurrency: opts.concurrency } : {}),
    ...(opts.force ? { force: opts.force } : {}),
  };
  return {
    deps,
    run: async (job) => {
      // the dispatcher may be swapped after construction (the stack wires itself up)
      const result = await runJob(
        // a fresh chart resolver per run: the stack must not remember an index a re-publish changed
        { ...deps, dispatcher: ctx.dispatcher, notifier: ctx.notifier, charts: charts() },
        job,
      );
      ctx.logger.info('deploy job done', {
        deploymentId: job.deploymentId,
        result: result.kind,
        ...('deployment' in result ? { status: result.deployment.status } : { reason: result.reason }),
      });
    },
  };
}
