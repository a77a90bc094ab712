import { tmpdir } from 'node:os';
import { approvalWiring } from '../approval/aws-wiring';
import { systemClock } from '../clock';
import { HelmgateError } from '../errors';
import { createProcessRunner } from '../exec/command-runner';
import { GithubRepoSource } from '../github/github-source';
import { openChartCache } from '../helm/chart-cache';
import { helmClusterConnector } from '../runner/helm-cluster';
import { clusterAccessFromSecret } from '../runner/kube-access';
import type { RunnerDeps } from '../runner/runner';
import { SecretResolver } from '../secrets/secrets-provider';
import { type AwsBase, awsBase, awsOctokit } from './aws';

/** What one Lambda invocation tells the runner about itself. */
export interface InvocationContext {
  awsRequestId: string;
  getRemainingTimeInMillis(): number;
}

/**
 * The deploy runner in AWS: the tarball through the GitHub API, Secrets Manager (a fresh resolver per
 * invocation), the cluster from the plan's cluster secret, the image's helm and chart cache, and the
 * approval service as the promotion gate.
 */
export async function awsRunnerDeps(
  base: AwsBase = awsBase(),
): Promise<(ctx: InvocationContext) => RunnerDeps> {
  const { config } = base;
  const helmBin = config.HELMGATE_HELM_BIN;
  if (!helmBin)
    throw new HelmgateError('invalid_config', 'HELMGATE_HELM_BIN is not set (the runner image sets it)');
  const w = await approvalWiring(base);
  const source = new GithubRepoSource(await awsOctokit(base));
  const cluster = helmClusterConnector({
    helmBin,
    commandRunner: createProcessRunner(),
    redactor: base.redactor,
    clock: systemClock,
    logger: base.logger,
    chartCache: openChartCache(config.HELMGATE_CHART_CACHE),
    baseEnv: process.env,
    access: clusterAccessFromSecret({ logger: base.logger }),
  });
  return (ctx) => ({
    store: base.store,
    source,
    dispatcher: w.dispatcher,
    notifier: w.notifier,
    clock: systemClock,
    logger: base.logger,
    redactor: base.redactor,
    secrets: () => new SecretResolver(base.secretsProvider, base.redactor),
    cluster,
    finished: w.service,
    workRoot: tmpdir(),
    deployConfigPath: config.HELMGATE_DEPLOY_CONFIG,
    remainingTimeMs: () => ctx.getRemainingTimeInMillis(),
    invocationId: ctx.awsRequestId,
    concurrency: config.HELMGATE_CONCURRENCY,
  });
}
