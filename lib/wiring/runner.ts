import { tmpdir } from 'node:os';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { STSClient } from '@aws-sdk/client-sts';
import { approvalWiring } from '../approval/aws-wiring';
import { systemClock } from '../clock';
import { HelmgateError } from '../errors';
import { createProcessRunner } from '../exec/command-runner';
import { GithubRepoSource } from '../github/github-source';
import { openChartCache } from '../helm/chart-cache';
import { repositoryChartDigests } from '../helm/chart-digest';
import { environmentSecretsProviders, parseEnvironmentRoles } from '../runner/environment-secrets';
import { helmClusterConnector } from '../runner/helm-cluster';
import { clusterAccessFromSecret } from '../runner/kube-access';
import type { RunnerDeps } from '../runner/runner';
import { SecretsManagerProvider } from '../secrets/secrets-manager-provider';
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
  const chartCache = openChartCache(config.HELMGATE_CHART_CACHE);
  // Deployment secrets only through the deployment's environment role (scripts/serverless-policy.cjs
  // makes one per environment of the policy). Without HELMGATE_ENVIRONMENT_ROLES (local tools, tests
  // against a stand-in) the runner's own credentials are used.
  const rolesJson = config.HELMGATE_ENVIRONMENT_ROLES;
  const envProviders = rolesJson
    ? environmentSecretsProviders({
        roles: parseEnvironmentRoles(rolesJson),
        sts: new STSClient({ region: config.AWS_REGION }),
        clock: systemClock,
        providerWith: (credentials) =>
          new SecretsManagerProvider(
            new SecretsManagerClient({
              region: config.AWS_REGION,
              credentials,
              ...(config.HELMGATE_SECRETS_ENDPOINT ? { endpoint: config.HELMGATE_SECRETS_ENDPOINT } : {}),
            }),
          ),
      })
    : undefined;
  const cluster = helmClusterConnector({
    helmBin,
    commandRunner: createProcessRunner(),
    redactor: base.redactor,
    clock: systemClock,
    logger: base.logger,
    chartCache,
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
    secrets: (d) => new SecretResolver(envProviders ? envProviders(d) : base.secretsProvider, base.redactor),
    policy: base.policy().policy,
    charts: repositoryChartDigests({ fetch, cache: chartCache }),
    cluster,
    finished: w.service,
    workRoot: tmpdir(),
    deployConfigPath: config.HELMGATE_DEPLOY_CONFIG,
    remainingTimeMs: () => ctx.getRemainingTimeInMillis(),
    invocationId: ctx.awsRequestId,
    concurrency: config.HELMGATE_CONCURRENCY,
  });
}
