import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { Octokit } from '@octokit/core';
import type { GithubWebhookDeps } from '../../handlers/github-webhook';
import { systemClock } from '../clock';
import { type AppConfig, loadConfig } from '../config/env';
import { LambdaDispatcher } from '../dispatch/dispatcher';
import { HelmgateError } from '../errors';
import { GithubRepoSource } from '../github/github-source';
import { createLogger, type Logger } from '../log/logger';
import { Redactor } from '../log/redact';
import { ConsoleNotifier } from '../notify/notifier';
import { SecretsManagerProvider } from '../secrets/secrets-manager-provider';
import { parseSecretList, SecretResolver } from '../secrets/secrets-provider';
import { DynamoDbDeploymentStore } from '../store/dynamodb-deployment-store';
import { cached } from './lazy';

/** Shared pieces every AWS handler builds once per container. */
export interface AwsBase {
  config: AppConfig;
  redactor: Redactor;
  logger: Logger;
  store: DynamoDbDeploymentStore;
  secrets: SecretResolver;
}

export function awsBase(env: Record<string, string | undefined> = process.env): AwsBase {
  const config = loadConfig(env);
  const redactor = new Redactor();
  const logger = createLogger({ redactor, clock: systemClock, level: config.HELMGATE_LOG_LEVEL });
  const dynamo = new DynamoDBClient({
    region: config.AWS_REGION,
    ...(config.HELMGATE_DYNAMODB_ENDPOINT ? { endpoint: config.HELMGATE_DYNAMODB_ENDPOINT } : {}),
  });
  const sm = new SecretsManagerClient({
    region: config.AWS_REGION,
    ...(config.HELMGATE_SECRETS_ENDPOINT ? { endpoint: config.HELMGATE_SECRETS_ENDPOINT } : {}),
  });
  return {
    config,
    redactor,
    logger,
    store: new DynamoDbDeploymentStore(dynamo, config.HELMGATE_TABLE),
    secrets: new SecretResolver(new SecretsManagerProvider(sm), redactor),
  };
}

export async function awsWebhookDeps(
  env: Record<string, string | undefined> = process.env,
): Promise<GithubWebhookDeps> {
  const base = awsBase(env);
  const { config } = base;
  if (!config.HELMGATE_RUNNER_FUNCTION)
    throw new HelmgateError('invalid_config', 'HELMGATE_RUNNER_FUNCTION is not set');
  const githubToken = env.HELMGATE_GITHUB_TOKEN_ID ?? 'helmgate/github-token';
  const token = await base.secrets.tryResolve({ secret: githubToken });
  const octokit = new Octokit({
    ...(token ? { auth: token } : {}),
    ...(env.HELMGATE_GITHUB_API_URL ? { baseUrl: env.HELMGATE_GITHUB_API_URL } : {}),
  });
  return {
    store: base.store,
    source: new GithubRepoSource(octokit),
    dispatcher: new LambdaDispatcher(
      new LambdaClient({ region: config.AWS_REGION }),
      config.HELMGATE_RUNNER_FUNCTION,
    ),
    notifier: new ConsoleNotifier(base.logger),
    clock: systemClock,
    logger: base.logger,
    deployConfigPath: config.HELMGATE_DEPLOY_CONFIG,
    repositories: config.HELMGATE_REPOSITORIES,
    branches: config.HELMGATE_BRANCHES,
    maxBodyBytes: config.HELMGATE_MAX_BODY_BYTES,
    webhookSecrets: cached(async () => {
      const list = parseSecretList(
        await base.secrets.tryResolve({ secret: config.HELMGATE_WEBHOOK_SECRET_ID }),
      );
      for (const s of list) base.redactor.register(s);
      return list;
    }, 5 * 60_000),
  };
}
