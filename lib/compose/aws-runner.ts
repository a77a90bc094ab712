/**
 * The AWS graph's deploy-runner part (handlers/deploy-runner.ts): the tarball through the GitHub API,
 * Secrets Manager (a fresh resolver per invocation), the cluster from the plan's cluster secret, the
 * image's helm and chart cache, and the approval service as the promotion gate. Kept apart from
 * ./aws.ts only so the HTTP handlers' bundles do not carry helm and the Kubernetes client.
 */
import { tmpdir } from 'node:os';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { STSClient } from '@aws-sdk/client-sts';
import { systemClock } from '../clock';
import { HelmgateError } from '../errors';
import { createProcessRunner } from '../exec/command-runner';
import { GithubRepoSource } from '../github/github-source';
import { openChartCache } from '../helm/chart-cache';
import {
  environmentCredentials,
  environmentSecretsProviders,
  parseEnvironmentRoles,
} from '../runner/environment-secrets';
import { helmClusterConnector } from '../runner/helm-cluster';
import {
  type ClusterAccessFactory,
  clusterAccessFromEks,
  clusterAccessFromSecret,
} from '../runner/kube-access';
import type { RunnerDeps } from '../runner/runner';
import { SecretsManagerProvider } from '../secrets/secrets-manager-provider';
import { SecretResolver } from '../secrets/secrets-provider';
import { awsOctokit, composeAws } from './aws';
import { chartDigestsOf, outboundOf } from './shared';

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
  const chartCache = openChartCache(config.HELMGATE_CHART_CACHE);
  const { policy } = b.policy();
  // chart pulls and health checks reach only the policy's hosts for the environment, at public addresses
  const outbound = outboundOf(policy);
  const charts = chartDigestsOf(policy, chartCache);
  // Deployment secrets only through the deployment's environment role (scripts/serverless-policy.cjs
  // makes one per environment of the policy; the runner's own role reads none). Without
  // HELMGATE_ENVIRONMENT_ROLES (tools, tests against a stand-in) the runner's own credentials are used.
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
  // EKS clusters (issue 15): the token is signed with the deployment's environment role — the role the
  // cluster's access entry names; without HELMGATE_ENVIRONMENT_ROLES, the runner's own credentials
  const sts = new STSClient({ region: config.AWS_REGION });
  const roleCredentials = rolesJson
    ? environmentCredentials({ roles: parseEnvironmentRoles(rolesJson), sts, clock: systemClock })
    : undefined;
  const fromSecret = clusterAccessFromSecret({ logger: b.logger, outbound });
  const fromEks = clusterAccessFromEks({
    logger: b.logger,
    outbound,
    clock: systemClock,
    ...(config.HELMGATE_EKS_ENDPOINT ? { eksEndpoint: config.HELMGATE_EKS_ENDPOINT } : {}),
    credentialsFor: (plan, ctx) => {
      if (!roleCredentials) return () => sts.config.credentials();
      const creds = roleCredentials({
        id: ctx.deploymentId ?? 'eks',
        repository: ctx.repository ?? '',
        environment: plan.environment,
      });
      if (!creds)
        throw new HelmgateError(
          'forbidden',
          `no IAM role for ${ctx.repository} ${plan.environment} (HELMGATE_ENVIRONMENT_ROLES): cannot sign its EKS token`,
        );
      return creds;
    },
  });
  const access: ClusterAccessFactory = (plan, ctx) =>
    'eks' in plan.cluster ? fromEks(plan, ctx) : fromSecret(plan, ctx);
  const cluster = helmClusterConnector({
    helmBin,
    commandRunner: createProcessRunner(),
    redactor: b.redactor,
    clock: systemClock,
    logger: b.logger,
    chartCache,
    baseEnv: b.env,
    access,
    outbound,
  });
  return (ctx) => ({
    store: b.store,
    source,
    dispatcher: a.dispatcher,
    notifier: a.notifier,
    clock: systemClock,
    logger: b.logger,
    redactor: b.redactor,
    secrets: (d) => new SecretResolver(envProviders ? envProviders(d) : b.secretsProvider, b.redactor),
    // the digest key is the runner's own secret (its role reads it; the environment roles do not)
    ownSecrets: () => new SecretResolver(b.secretsProvider, b.redactor),
    policy,
    // per invocation: a warm container must not remember an index that a re-publish changed
    charts: charts(),
    cluster,
    finished: a.service,
    workRoot: tmpdir(),
    deployConfigPath: config.HELMGATE_DEPLOY_CONFIG,
    remainingTimeMs: () => ctx.getRemainingTimeInMillis(),
    invocationId: ctx.awsRequestId,
    concurrency: config.HELMGATE_CONCURRENCY,
  });
}
