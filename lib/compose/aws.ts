/**
 * The composition root for AWS: every Lambda handler gets its dependencies from `composeAws()`, built
 * once per container from the environment (AppConfig) and the AWS SDK clients constructed here.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { Octokit } from '@octokit/core';
import type { ApprovalService } from '../approval/approval-service';
import { SessionRegistry } from '../auth/session-registry';
import { githubTeamMembership, noTeamMembership, type TeamMembership } from '../auth/team-membership';
import { systemClock } from '../clock';
import { type AppConfig, loadConfig, processEnv } from '../config/env';
import { type LoadedPolicy, loadPolicy } from '../config/policy-loader';
import { LambdaBackgroundWork } from '../dispatch/background';
import { LambdaDispatcher } from '../dispatch/dispatcher';
import { HelmgateError } from '../errors';
import {
  type GithubAppSecret,
  githubAppSecretValues,
  type InstallationDirectory,
  parseGithubAppSecret,
} from '../github/app-auth';
import { GithubBranchState } from '../github/branch-state';
import { GithubContentsSource } from '../github/github-contents';
import { createGithubAppClient } from '../github/octokit';
import { GithubDeploymentsReporter } from '../github/status-reporter';
import { openChartCache } from '../helm/chart-cache';
import { createLambdaLogger } from '../log/lambda-logger';
import type { Logger } from '../log/logger';
import { Redactor } from '../log/redact';
import { MetricsNotifier } from '../metrics/metrics-notifier';
import { ConsoleNotifier, type Notifier } from '../notify/notifier';
import { cryptoRandom } from '../random';
import { SecretsManagerProvider } from '../secrets/secrets-manager-provider';
import { SecretResolver, type SecretsProvider } from '../secrets/secrets-provider';
import { SlackNotifier } from '../slack/slack-notifier';
import type { SlackCredentials } from '../slack/slack-secret';
import type { SlackInteractionJob } from '../slack/vote-worker';
import { createSlackWebClient } from '../slack/web-client';
import { DynamoDbDeploymentStore } from '../store/dynamodb-deployment-store';
import { cached, once } from './lazy';
import {
  approvalPageDepsFrom,
  approvalService,
  approversOf,
  authDepsFrom,
  chartDigestsOf,
  dashboardDepsFrom,
  deploymentActionsDepsFrom,
  notifierOf,
  readAccessFrom,
  readOnlyApprovalService,
  slackCredentialsFrom,
  webhookSecretsFrom,
} from './shared';

/** Secrets are re-read this often, so a rotation takes effect without a redeploy. */
const SECRET_TTL_MS = 5 * 60_000;

/** Shared pieces every AWS handler builds once per container. */
export interface AwsBase {
  config: AppConfig;
  /** the process environment (the runner's child processes get an allow-listed part of it) */
  env: Readonly<Record<string, string | undefined>>;
  redactor: Redactor;
  logger: Logger;
  store: DynamoDbDeploymentStore;
  secrets: SecretResolver;
  /** for per-invocation resolvers (the runner caches values for one invocation only) */
  secretsProvider: SecretsProvider;
  /** the operator policy (HELMGATE_POLICY, set from the packaged policy), loaded once on first use */
  policy: () => LoadedPolicy;
}

export function awsBase(env: Readonly<Record<string, string | undefined>> = processEnv()): AwsBase {
  const config = loadConfig(env);
  const redactor = new Redactor();
  const logger = createLambdaLogger({ redactor, level: config.HELMGATE_LOG_LEVEL });
  const dynamo = new DynamoDBClient({
    region: config.AWS_REGION,
    ...(config.HELMGATE_DYNAMODB_ENDPOINT ? { endpoint: config.HELMGATE_DYNAMODB_ENDPOINT } : {}),
  });
  const sm = new SecretsManagerClient({
    region: config.AWS_REGION,
    ...(config.HELMGATE_SECRETS_ENDPOINT ? { endpoint: config.HELMGATE_SECRETS_ENDPOINT } : {}),
  });
  const secretsProvider = new SecretsManagerProvider(sm);
  let policy: LoadedPolicy | undefined;
  return {
    policy: () => {
      policy ??= loadPolicy(config);
      return policy;
    },
    config,
    env,
    redactor,
    logger,
    store: new DynamoDbDeploymentStore(dynamo, config.HELMGATE_TABLE),
    // built once per container: secrets are fetched again after SECRET_TTL_MS (rotation, revocation)
    secrets: new SecretResolver(secretsProvider, redactor, { ms: SECRET_TTL_MS, clock: systemClock }),
    secretsProvider,
  };
}

/** helmgate's GitHub client, built once per container from the App secret or, else, the token. */
export interface AwsGithub {
  octokit: Octokit;
  /** a GitHub App or a token is configured (else the client is anonymous and reports nothing) */
  configured: boolean;
  /** the App's credentials, when the App secret exists */
  app: GithubAppSecret | undefined;
  /** with the App: which installation serves which repository (shared with the webhook's check) */
  installations: InstallationDirectory | undefined;
}

const githubOf = new WeakMap<AwsBase, () => Promise<AwsGithub>>();

/**
 * The GitHub App when its secret exists (short-lived installation tokens, per repository), else the
 * token (PAT); GitHub Enterprise through the API URL. One client per container, so installation
 * tokens and look-ups are cached across handlers' dependencies.
 */
export function awsGithub(base: AwsBase): Promise<AwsGithub> {
  let build = githubOf.get(base);
  if (!build) {
    build = once(async () => {
      const appSecret = await base.secrets.tryResolve({ secret: base.config.HELMGATE_GITHUB_APP_SECRET_ID });
      const app = appSecret
        ? parseGithubAppSecret(appSecret, base.config.HELMGATE_GITHUB_APP_SECRET_ID)
        : undefined;
      for (const v of app ? githubAppSecretValues(app) : []) base.redactor.register(v);
      const token = app
        ? undefined
        : await base.secrets.tryResolve({ secret: base.config.HELMGATE_GITHUB_TOKEN_ID });
      const { octokit, installations } = createGithubAppClient({
        ...(app ? { app } : token ? { auth: token } : {}),
        baseUrl: base.config.HELMGATE_GITHUB_API_URL,
        logger: base.logger,
        clock: systemClock,
      });
      return { octokit, configured: app !== undefined || token !== undefined, app, installations };
    });
    githubOf.set(base, build);
  }
  return build();
}

/** Octokit for the GitHub API (./awsGithub). */
export async function awsOctokit(base: AwsBase): Promise<Octokit> {
  return (await awsGithub(base)).octokit;
}

/** The runner's Lambda (async invoke): from the webhook, approvals, Slack, the sweeper and itself. */
export function awsDispatcher(base: AwsBase): LambdaDispatcher {
  const fn = base.config.HELMGATE_RUNNER_FUNCTION;
  if (!fn) throw new HelmgateError('invalid_config', 'HELMGATE_RUNNER_FUNCTION is not set');
  return new LambdaDispatcher(new LambdaClient({ region: base.config.AWS_REGION }), fn);
}

/** Slack credentials when the Slack secret exists (Slack is optional). */
export function awsSlack(base: AwsBase): Promise<SlackCredentials | undefined> {
  return slackCredentialsFrom(base.secrets, base.redactor, base.config.HELMGATE_SLACK_SECRET_ID);
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
        publicUrl: base.config.HELMGATE_PUBLIC_URL,
      }),
    );
  if ((await awsGithub(base)).configured)
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
  return notifierOf(notifiers, base.logger);
}

/** The pieces of the approval flow that voting, promoting and sweeping handlers share. */
export interface AwsApprovals {
  service: ApprovalService;
  notifier: Notifier;
  dispatcher: LambdaDispatcher;
  signingKey: () => Promise<string>;
}

/**
 * The dependency graph of the AWS deployment: one builder per handler. Each builds what it needs on
 * first use (a handler module imported by a test or a tool touches no environment and no network).
 * The deploy runner's part (helm, kube, the tarball) extends this graph in ./aws-runner.ts, so the
 * HTTP handlers' bundles do not carry the Kubernetes client.
 */
export function composeAws(env: Readonly<Record<string, string | undefined>> = processEnv()) {
  let baseOnce: AwsBase | undefined;
  const base = () => {
    baseOnce ??= awsBase(env);
    return baseOnce;
  };
  /** where branches point and how commits relate: GitHub's refs and compare APIs, helmgate's token */
  const branchState = once(async () => new GithubBranchState(await awsOctokit(base())));
  /** helmgate's GitHub client, when a GitHub App or token is configured (read permissions) */
  const github = once(async () => {
    const g = await awsGithub(base());
    return g.configured ? g.octokit : undefined;
  });
  const readAccessOf = (b: AwsBase) =>
    readAccessFrom({
      sessions: new SessionRegistry(b.store),
      secrets: b.secrets,
      redactor: b.redactor,
      apiTokensId: b.config.HELMGATE_API_TOKENS_ID,
      signingKey: signingKeyOf(b),
      publicUrl: b.config.HELMGATE_PUBLIC_URL,
      approvers: approversOf(b.policy().policy),
      github,
      ttlMs: SECRET_TTL_MS,
      clock: systemClock,
      logger: b.logger,
    });
  /**
   * Team membership, asked with helmgate's GitHub client (token or App) when a vote, retry or override
   * is cast; without one teams grant nothing (logins still do) rather than trusting what was true at
   * login. One per container, shared by the approval and deployment-action routes.
   */
  let membershipOnce: TeamMembership | undefined;
  const teamMembership = (): TeamMembership => (membershipOnce ??= membershipOf(base()));
  const membershipOf = (b: AwsBase): TeamMembership => {
    const membership = cached(
      async (): Promise<TeamMembership> =>
        (await awsGithub(b)).configured ? githubTeamMembership(await awsOctokit(b)) : noTeamMembership,
      SECRET_TTL_MS,
      systemClock,
    );
    return async (login, teams) => (teams.length === 0 ? [] : (await membership())(login, teams));
  };
  const approvals = once(async (): Promise<AwsApprovals> => {
    const b = base();
    const { config } = b;
    const notifier = await awsNotifier(b);
    const dispatcher = awsDispatcher(b);
    const service = approvalService({
      store: b.store,
      notifier,
      dispatcher,
      clock: systemClock,
      random: cryptoRandom,
      logger: b.logger,
      redactor: b.redactor,
      // who may approve: the operator policy (HELMGATE_APPROVERS is merged into it by the loader)
      approvers: approversOf(b.policy().policy),
      publicUrl: config.HELMGATE_PUBLIC_URL,
      approvalTtlMs: config.HELMGATE_APPROVAL_TTL_HOURS * 3600_000,
      deployConfigPath: config.HELMGATE_DEPLOY_CONFIG,
      ancestry: async (repository, b, head) => (await branchState()).compare(repository, b, head),
      policy: b.policy().policy,
      // plans that approvals bind to pin remote charts as the runner will (a fresh resolver per plan:
      // a warm container must not remember an index that a re-publish changed)
      charts: chartDigestsOf(b.policy().policy, openChartCache(config.HELMGATE_CHART_CACHE)),
    });
    const signingKey = signingKeyOf(b);
    return { service, notifier, dispatcher, signingKey };
  });
  const signingKeyOf = (b: AwsBase) =>
    cached(
      async () => b.secrets.resolve({ secret: b.config.HELMGATE_SIGNING_KEY_ID }),
      SECRET_TTL_MS,
      systemClock,
    );

  return {
    base,
    /** the approval service with its notifier, dispatcher and signing key (built once) */
    approvals,

    /** handlers/github-webhook.ts */
    async webhook() {
      const b = base();
      const { config } = b;
      const github = await awsGithub(b);
      return {
        store: b.store,
        source: new GithubContentsSource(github.octokit),
        dispatcher: awsDispatcher(b),
        notifier: await awsNotifier(b),
        clock: systemClock,
        logger: b.logger,
        deployConfigPath: config.HELMGATE_DEPLOY_CONFIG,
        branchState: await branchState(),
        policy: b.policy().policy,
        repositories: config.HELMGATE_REPOSITORIES,
        branches: config.HELMGATE_BRANCHES,
        maxBodyBytes: config.HELMGATE_MAX_BODY_BYTES,
        webhookSecrets: webhookSecretsFrom(
          b.secrets,
          b.redactor,
          config.HELMGATE_WEBHOOK_SECRET_ID,
          SECRET_TTL_MS,
          systemClock,
          // the App's own webhook secret verifies the App's deliveries
          config.HELMGATE_GITHUB_APP_SECRET_ID,
        ),
        ...(github.installations ? { githubApp: github.installations } : {}),
      };
    },

    /** handlers/deployments.ts */
    async deployments() {
      const b = base();
      return {
        store: b.store,
        logger: b.logger,
        readAccess: readAccessOf(b),
        repositories: b.config.HELMGATE_REPOSITORIES,
      };
    },

    /**
     * handlers/dashboard.ts: reads only (store, approval requests, the session key); votes go to the
     * approval function, so its approval service notifies nobody and dispatches nothing.
     */
    async dashboard() {
      const b = base();
      const { config } = b;
      // who may approve: the operator policy (HELMGATE_APPROVERS is merged into it by the loader)
      const approvers = approversOf(b.policy().policy);
      return dashboardDepsFrom({
        store: b.store,
        approvals: readOnlyApprovalService({
          store: b.store,
          clock: systemClock,
          random: cryptoRandom,
          logger: b.logger,
          redactor: b.redactor,
          approvers,
          publicUrl: config.HELMGATE_PUBLIC_URL,
          ancestry: async (repository, base, head) => (await branchState()).compare(repository, base, head),
        }),
        approvers,
        readAccess: readAccessOf(b),
        signingKey: signingKeyOf(b),
        publicUrl: config.HELMGATE_PUBLIC_URL,
        githubWebUrl: config.HELMGATE_GITHUB_WEB_URL,
        clock: systemClock,
        random: cryptoRandom,
        logger: b.logger,
        // a logged-out session reads nothing (GetItem on SESSION#: the read-only role allows it)
        sessions: new SessionRegistry(b.store),
        sessionTtlMs: config.HELMGATE_SESSION_TTL_MINUTES * 60_000,
        repositories: config.HELMGATE_REPOSITORIES,
      });
    },

    /** handlers/approval.ts */
    async approval() {
      const b = base();
      const a = await approvals();
      return approvalPageDepsFrom({
        approvals: a.service,
        approvers: approversOf(b.policy().policy),
        readAccess: readAccessOf(b),
        signingKey: a.signingKey,
        publicUrl: b.config.HELMGATE_PUBLIC_URL,
        clock: systemClock,
        logger: b.logger,
        sessions: new SessionRegistry(b.store),
        teamMembership: teamMembership(),
      });
    },

    /**
     * handlers/deployment-actions.ts (served by the approval function, which may write and dispatch):
     * the deployment page's retry and freeze-override buttons
     */
    async deploymentActions() {
      const b = base();
      const a = await approvals();
      return deploymentActionsDepsFrom({
        store: b.store,
        notifier: a.notifier,
        dispatcher: a.dispatcher,
        approvals: a.service,
        approvers: approversOf(b.policy().policy),
        signingKey: a.signingKey,
        publicUrl: b.config.HELMGATE_PUBLIC_URL,
        clock: systemClock,
        logger: b.logger,
        sessions: new SessionRegistry(b.store),
        teamMembership: teamMembership(),
      });
    },

    /** handlers/auth.ts */
    async auth() {
      const b = base();
      const { config } = b;
      return authDepsFrom({
        publicUrl: config.HELMGATE_PUBLIC_URL,
        githubWebUrl: config.HELMGATE_GITHUB_WEB_URL,
        githubApiUrl: config.HELMGATE_GITHUB_API_URL,
        secrets: b.secrets,
        oauthSecretId: config.HELMGATE_OAUTH_SECRET_ID,
        redactor: b.redactor,
        signingKey: signingKeyOf(b),
        ttlMs: SECRET_TTL_MS,
        clock: systemClock,
        random: cryptoRandom,
        logger: b.logger,
        sessions: new SessionRegistry(b.store),
        sessionTtlMs: config.HELMGATE_SESSION_TTL_MINUTES * 60_000,
      });
    },

    /** handlers/sweeper.ts */
    async sweeper() {
      const b = base();
      const a = await approvals();
      return {
        store: b.store,
        notifier: a.notifier,
        dispatcher: a.dispatcher,
        clock: systemClock,
        logger: b.logger,
        policy: b.policy().policy,
        // the lifetime the approval service gives approvals: a deployment that waited longer without one ends
        approvalTtlMs: b.config.HELMGATE_APPROVAL_TTL_HOURS * 3600_000,
      };
    },

    /**
     * handlers/slack-interactions.ts: one function serves the HTTP half and its own background jobs
     * (AWS_LAMBDA_FUNCTION_NAME receives them).
     */
    async slack() {
      const b = base();
      const a = await approvals();
      const slack = await awsSlack(b);
      if (!slack)
        throw new HelmgateError(
          'not_configured',
          `Slack is not configured: secret ${b.config.HELMGATE_SLACK_SECRET_ID} does not exist`,
        );
      const self = b.config.AWS_LAMBDA_FUNCTION_NAME;
      if (!self) throw new HelmgateError('invalid_config', 'AWS_LAMBDA_FUNCTION_NAME is not set');
      return {
        signingSecrets: async () => slack.signingSecrets,
        background: new LambdaBackgroundWork<SlackInteractionJob>(
          new LambdaClient({ region: b.config.AWS_REGION }),
          self,
        ),
        clock: systemClock,
        logger: b.logger,
        teamIds: b.config.HELMGATE_SLACK_TEAM_IDS,
        approvals: a.service,
        store: b.store,
        slack: createSlackWebClient({ botToken: slack.botToken, logger: b.logger }),
        // the failure message's Retry button: the lifecycle, as the dashboard's and the CLI's retry
        retry: {
          store: b.store,
          notifier: a.notifier,
          dispatcher: a.dispatcher,
          clock: systemClock,
          logger: b.logger,
          approvalOf: (id: string) => a.service.getRequest(id),
          approvers: approversOf(b.policy().policy),
          publicUrl: b.config.HELMGATE_PUBLIC_URL,
        },
      };
    },
  };
}
