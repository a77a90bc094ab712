import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { Octokit } from '@octokit/core';
import type { GithubWebhookDeps } from '../../handlers/github-webhook';
import { systemClock } from '../clock';
import { type AppConfig, loadConfig } from '../config/env';
import { LambdaDispatcher } from '../dispatch/dispatcher';
import { HelmgateError } from '../errors';
import { GithubBranchState } from '../github/branch-state';
import { GithubContentsSource } from '../github/github-contents';
import { GithubDeploymentsReporter } from '../github/status-reporter';
import { createLogger, type Logger } from '../log/logger';
import { Redactor } from '../log/redact';
import { MetricsNotifier } from '../metrics/metrics-notifier';
import { ConsoleNotifier, FanOutNotifier, type Notifier } from '../notify/notifier';
import { SecretsManagerProvider } from '../secrets/secrets-manager-provider';
import { parseSecretList, SecretResolver, type SecretsProvider } from '../secrets/secrets-provider';
import { SlackNotifier } from '../slack/slack-notifier';
import { parseSlackSecret, type SlackCredentials } from '../slack/slack-secret';
import { createSlackWebClient } from '../slack/web-client';
import { DynamoDbDeploymentStore } from '../store/dynamodb-deployment-store';
import { cached } from './lazy';

/** Shared pieces every AWS handler builds once per container. */
export interface AwsBase {
  config: AppConfig;
  redactor: Redactor;
  logger: Logger;
  store: DynamoDbDeploymentStore;
  secrets: SecretResolver;
  /** for per-invocation resolvers (the runner caches values for one invocation only) */
  secretsProvider: SecretsProvider;
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
  const secretsProvider = new SecretsManagerProvider(sm);
  return {
    config,
    redactor,
    logger,
    store: new DynamoDbDeploymentStore(dynamo, config.HELMGATE_TABLE),
    secrets: new SecretResolver(secretsProvider, redactor),
    secretsProvider,
  };
}

/** Octokit for the GitHub API (token from Secrets Manager; GitHub Enterprise through the API URL). */
export async function awsOctokit(base: AwsBase): Promise<Octokit> {
  const token = await base.secrets.tryResolve({ secret: base.config.HELMGATE_GITHUB_TOKEN_ID });
  return new Octokit({ ...(token ? { auth: token } : {}), baseUrl: base.config.HELMGATE_GITHUB_API_URL });
}

/** The runner's Lambda (async invoke): from the webhook, approvals, Slack, the sweeper and itself. */
export function awsDispatcher(base: AwsBase): LambdaDispatcher {
  const fn = base.config.HELMGATE_RUNNER_FUNCTION;
  if (!fn) throw new HelmgateError('invalid_config', 'HELMGATE_RUNNER_FUNCTION is not set');
  return new LambdaDispatcher(new LambdaClient({ region: base.config.AWS_REGION }), fn);
}

/** Slack credentials when the Slack secret exists (Slack is optional). */
export async function awsSlack(base: AwsBase): Promise<SlackCredentials | undefined> {
  const text = await base.secrets.tryResolve({ secret: base.config.HELMGATE_SLACK_SECRET_ID });
  if (!text) return undefined;
  const slack = parseSlackSecret(text);
  for (const s of [slack.botToken, ...slack.signingSecrets]) base.redactor.register(s);
  return slack;
}

/**
 * Every transition goes to the log, to Slack (one message per commit, edited in place) when Slack is
 * configured, and to GitHub Deployments when a GitHub token is.
 */
export async function awsNotifier(base: AwsBase): Promise<Notifier> {
  const notifiers: Notifier[] = [
    new ConsoleNotifier(base.logger, { withTokens: false }),
    new MetricsNotifier({ namespace: base.config.HELMGATE_METRICS_NAMESPACE, service: 'helmgate' }),
  ];
  const slack = await awsSlack(base);
  if (slack?.channel)
    notifiers.push(
      new SlackNotifier({
        client: createSlackWebClient({ botToken: slack.botToken, logger: base.logger }),
        channel: slack.channel,
        store: base.store,
        clock: systemClock,
        logger: base.logger,
        redactor: base.redactor,
        githubUrl: base.config.HELMGATE_GITHUB_WEB_URL,
      }),
    );
  if (await base.secrets.tryResolve({ secret: base.config.HELMGATE_GITHUB_TOKEN_ID }))
    notifiers.push(
      new GithubDeploymentsReporter({
        octokit: await awsOctokit(base),
        store: base.store,
        publicUrl: base.config.HELMGATE_PUBLIC_URL,
        clock: systemClock,
        logger: base.logger,
        redactor: base.redactor,
      }),
    );
  return new FanOutNotifier(notifiers, base.logger);
}

export async function awsWebhookDeps(
  env: Record<string, string | undefined> = process.env,
): Promise<GithubWebhookDeps> {
  const base = awsBase(env);
  const { config } = base;
  return {
    store: base.store,
    source: new GithubContentsSource(await awsOctokit(base)),
    dispatcher: awsDispatcher(base),
    notifier: await awsNotifier(base),
    clock: systemClock,
    logger: base.logger,
    deployConfigPath: config.HELMGATE_DEPLOY_CONFIG,
    branchState: new GithubBranchState(await awsOctokit(base)),
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
