/**
 * The AWS graph's deploy-runner part (handlers/deploy-runner.ts): the tarball through the GitHub API,
 * Secrets Manager (a fresh resolver per invocation), the cluster from the plan's cluster secret, the
 * image's helm and chart cache, and the approval service as the promotion gate. Kept apart from
 * ./aws.ts only so the HTTP handlers' bundles do not carry helm and the Kubernetes client.
 */
import { tmpdir } from 'node:os';
import { systemClock } from '../clock';
import { HelmgateError } from '../errors';
import { createProcessRunner } from '../exec/command-runner';
import { GithubRepoSource } from '../github/github-source';
import { openChartCache } from '../helm/chart-cache';
import { helmClusterConnector } from '../runner/helm-cluster';
import { clusterAccessFromSecret } from '../runner/kube-access';
import type { RunnerDeps } from '../runner/runner';
import { SecretResolver } from '../secrets/secrets-provider';
import { awsOctokit, composeAws } from './aws';

/** What one Lambda invocation tells the runner about itself. */
export interface InvocationContext {
  awsRequestId: string;
  getRemainingTimeInMillis(): number;
}

export async function composeAwsRunner(
  aws: ReturnType<typeof composeAws> = composeAws(),
): Promise<(ctx: InvocationContext) => RunnerDeps> {
  const b = aws.base();
  const a = await aws.approvals();
  const { config } = b;
  const helmBin = config.HELMGATE_HELM_BIN;
  if (!helmBin)
    throw new HelmgateError('invalid_config', 'HELMGATE_HELM_BIN is not set (the runner image sets it)');
  const source = new GithubRepoSource(await awsOctokit(b));
  const cluster = helmClusterConnector({
    helmBin,
    commandRunner: createProcessRunner(),
    redactor: b.redactor,
    clock: systemClock,
    logger: b.logger,
    chartCache: openChartCache(config.HELMGATE_CHART_CACHE),
    baseEnv: b.env,
    access: clusterAccessFromSecret({ logger: b.logger }),
  });
  return (ctx) => ({
    store: b.store,
    source,
    dispatcher: a.dispatcher,
    notifier: a.notifier,
    clock: systemClock,
    logger: b.logger,
    redactor: b.redactor,
    secrets: () => new SecretResolver(b.secretsProvider, b.redactor),
    cluster,
    finished: a.service,
    workRoot: tmpdir(),
    deployConfigPath: config.HELMGATE_DEPLOY_CONFIG,
    remainingTimeMs: () => ctx.getRemainingTimeInMillis(),
    invocationId: ctx.awsRequestId,
    concurrency: config.HELMGATE_CONCURRENCY,
  });
}
