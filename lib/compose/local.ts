/**
 * The composition root for the local stack (`npm start`, tests, benches): dynalite in this process, a
 * secrets file, git on the checkout, the runner in-process. It builds the dependency graph only; the
 * local HTTP server that mounts the handlers lives in handlers/local/local-stack.ts.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { ApproversConfig } from '../approval/approval-port';
import type { ApprovalService } from '../approval/approval-service';
import { SessionRegistry } from '../auth/session-registry';
import { type Clock, systemClock } from '../clock';
import { processEnv } from '../config/env';
import { type LoadedPolicy, loadPolicy } from '../config/policy-loader';
import { InProcessBackgroundWork } from '../dispatch/background';
import { type DeployJob, InProcessDispatcher } from '../dispatch/dispatcher';
import { createProcessRunner } from '../exec/command-runner';
import { type Git, gitOver } from '../exec/git';
import { githubAppSecretValues, parseGithubAppSecret } from '../github/app-auth';
import { type BranchState, LocalBranchState } from '../github/branch-state';
import { LocalGitSource } from '../github/local-git-source';
import { createGithubClient } from '../github/octokit';
import { originRepository } from '../github/origin-repository';
import type { RepoSource } from '../github/repo-source';
import { GithubDeploymentsReporter } from '../github/status-reporter';
import { createLogger, type Logger, type LogLevel } from '../log/logger';
import { Redactor } from '../log/redact';
import { ConsoleNotifier, type Notifier } from '../notify/notifier';
import { cryptoRandom, type Random } from '../random';
import { FileSecretsProvider } from '../secrets/file-provider';
import { SecretResolver } from '../secrets/secrets-provider';
import { SlackNotifier } from '../slack/slack-notifier';
import { runSlackBackgroundJob, type SlackInteractionJob } from '../slack/vote-worker';
import { createSlackWebClient } from '../slack/web-client';
import { DynamoDbDeploymentStore, ensureTable } from '../store/dynamodb-deployment-store';
import type { SweeperDeps } from '../sweeper/sweeper';
import { cached } from './lazy';
import { type LocalRunnerOptions, localRunner } from './local-runner';
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
  slackCredentialsFrom,
  webhookSecretsFrom,
} from './shared';

/** the GitHub App's secret in the local secrets file (same name as in Secrets Manager) */
const LOCAL_GITHUB_APP_SECRET = 'helmgate/github-app';

export interface LocalGraphOptions {
  repoDir: string;
  /** where dynalite keeps its data; undefined = in memory */
  dataDir?: string;
  secretsFile: string;
  /** the stack's own URL (approval links default to it) */
  url: string;
  repositories?: string[];
  branches?: string[];
  webhookSecretId?: string;
  deployConfigPath?: string;
  maxBodyBytes?: number;
  logLevel?: LogLevel;
  logWrite?: (line: string) => void;
  clock?: Clock;
  random?: Random;
  /** the process environment (child processes get an allow-listed part); default this process's */
  env?: Readonly<Record<string, string | undefined>>;
  /**
   * The deploy runner. Default: the real runner (render-only unless `runner.access` reaches a cluster).
   * `false`: dispatched deployments stay `queued` (webhook-only tests and benches).
   */
  runner?: (Omit<LocalRunnerOptions, 'finished' | 'stateDir' | 'policy'> & { stateDir?: string }) | false;
  /** extra notifiers besides the console (and Slack, when its secret is configured) */
  notifiers?: Notifier[];
  /** where the repository is read from; default: git on repoDir */
  source?: RepoSource;
  /** where its branches point now (stale pushes, rollbacks); default: git on repoDir */
  branchState?: BranchState;
  /**
   * The operator policy. Default: loaded once, at start (lib/config/policy-loader.ts): HELMGATE_POLICY
   * of `env`, else the deploy config in the working tree of `repoDir`; HELMGATE_APPROVERS merged in.
   */
  policy?: LoadedPolicy;
  /** tests: who may approve what, replacing the policy's approvers; default: the policy's */
  approvers?: ApproversConfig;
  /** public base URL for approval links; default the stack's own URL */
  publicUrl?: string;
  githubWebUrl?: string;
  githubApiUrl?: string;
  /** Slack Web API base (tests: a loopback recorder); Slack is on when `helmgate/slack` is in the secrets file */
  slackApiUrl?: string;
  approvalTtlMs?: number;
  /** login lifetime (HELMGATE_SESSION_TTL_MINUTES); default one hour */
  sessionTtlMs?: number;
  /** Slack workspaces whose button presses count (HELMGATE_SLACK_TEAM_IDS); default any */
  slackTeamIds?: string[];
}

interface Dynalite {
  listen(port: number, host: string, cb: () => void): void;
  close(cb?: () => void): void;
  address(): { port: number };
}

/** Secrets of the local stack are re-read this often (a test may rewrite the file). */
const WEBHOOK_SECRET_TTL_MS = 5_000;
const SECRET_TTL_MS = 60_000;

/**
 * Builds the local stack's dependency graph: the deps of every handler it serves, the sweeper's, and
 * what tests and tools reach into (store, approvals, dispatcher). `close()` stops dynalite.
 */
export async function composeLocal(opts: LocalGraphOptions) {
  const clock = opts.clock ?? systemClock;
  const random = opts.random ?? cryptoRandom;
  const env = opts.env ?? processEnv();
  const redactor = new Redactor();
  const logger: Logger = createLogger({
    redactor,
    clock,
    level: opts.logLevel ?? 'info',
    ...(opts.logWrite ? { write: opts.logWrite } : {}),
  });
  const git: Git = gitOver(createProcessRunner(), env);

  // dynalite: a DynamoDB implementation, in this process, on a random loopback port
  const dynaliteFactory = require('dynalite') as (o: Record<string, unknown>) => Dynalite;
  if (opts.dataDir) mkdirSync(opts.dataDir, { recursive: true });
  const dynalite = dynaliteFactory({
    createTableMs: 0,
    deleteTableMs: 0,
    updateTableMs: 0,
    ...(opts.dataDir ? { path: opts.dataDir } : {}),
  });
  await new Promise<void>((resolve) => dynalite.listen(0, '127.0.0.1', resolve));
  const dynamodbEndpoint = `http://127.0.0.1:${dynalite.address().port}`;
  const table = 'helmgate';
  const dynamo = new DynamoDBClient({
    endpoint: dynamodbEndpoint,
    region: 'local',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  await ensureTable(dynamo, table);
  const store = new DynamoDbDeploymentStore(dynamo, table);

  const secretsProvider = new FileSecretsProvider(opts.secretsFile);
  const secrets = new SecretResolver(secretsProvider, redactor, { ms: SECRET_TTL_MS, clock });
  const source = opts.source ?? new LocalGitSource(opts.repoDir, git);
  const repositories = opts.repositories ?? [await originRepository(git, opts.repoDir)];
  const deployConfigPath = opts.deployConfigPath ?? 'deploy.yaml';
  // read once, now: a later commit (even one checked out here) never changes the gate of this stack
  const loadedPolicy =
    opts.policy ??
    loadPolicy(
      {
        HELMGATE_POLICY: env.HELMGATE_POLICY,
        HELMGATE_APPROVERS: env.HELMGATE_APPROVERS,
        HELMGATE_REPOSITORIES: repositories,
        HELMGATE_DEPLOY_CONFIG: deployConfigPath,
      },
      { repoDir: opts.repoDir, cwd: opts.repoDir },
    );
  const policy = loadedPolicy.policy;
  const publicUrl = (opts.publicUrl ?? opts.url).replace(/\/+$/, '');
  const renderOnly = opts.runner === false || !(opts.runner?.access || opts.runner?.kubeconfig);

  // Slack, when configured in the secrets file
  const slack = await slackCredentialsFrom(secrets, redactor, 'helmgate/slack');
  const slackClient = slack
    ? createSlackWebClient({
        botToken: slack.botToken,
        logger,
        ...(opts.slackApiUrl ? { slackApiUrl: opts.slackApiUrl } : {}),
      })
    : undefined;

  // GitHub, when `helmgate/github-app` (a GitHub App) or `helmgate/github-token` is in the secrets
  // file: deployment statuses (whose links lead to the approval pages) and the read permission of
  // logged-in users
  const githubAppText = await secrets.tryResolve({ secret: LOCAL_GITHUB_APP_SECRET });
  const githubApp = githubAppText ? parseGithubAppSecret(githubAppText, LOCAL_GITHUB_APP_SECRET) : undefined;
  for (const v of githubApp ? githubAppSecretValues(githubApp) : []) redactor.register(v);
  const githubToken = githubApp ? undefined : await secrets.tryResolve({ secret: 'helmgate/github-token' });
  const octokit =
    githubApp || githubToken
      ? createGithubClient({
          ...(githubApp ? { app: githubApp } : { auth: githubToken as string }),
          baseUrl: opts.githubApiUrl ?? 'https://api.github.com',
          logger,
          clock,
        })
      : undefined;
  const branchState = opts.branchState ?? new LocalBranchState(opts.repoDir, git);

  const notifiers: Notifier[] = [new ConsoleNotifier(logger), ...(opts.notifiers ?? [])];
  if (slackClient && slack?.channel)
    notifiers.push(
      new SlackNotifier({
        client: slackClient,
        channel: slack.channel,
        store,
        clock,
        logger,
        redactor,
        publicUrl,
      }),
    );
  if (octokit)
    notifiers.push(new GithubDeploymentsReporter({ octokit, store, publicUrl, clock, logger, redactor }));
  const notifier = notifierOf(notifiers, logger);

  // jobs run in this process; the dispatcher forwards to the runner once it exists
  let runJob: ((job: DeployJob) => Promise<void>) | undefined;
  const dispatcher = new InProcessDispatcher(async (job) => {
    if (runJob) await runJob(job);
    else
      logger.info('no deploy runner in this stack; deployment stays queued', {
        deploymentId: job.deploymentId,
      });
  }, logger);

  const approvers = opts.approvers ?? approversOf(policy);
  const charts = chartDigestsOf(
    policy,
    opts.runner && opts.runner.chartCache !== undefined ? opts.runner.chartCache : undefined,
  );
  const approvals: ApprovalService = approvalService({
    store,
    notifier,
    dispatcher,
    clock,
    random,
    logger,
    redactor,
    approvers,
    publicUrl,
    // render-only (no cluster): a rendered staging may promote, so the whole flow can be tried locally
    allowRendered: renderOnly,
    ...(opts.approvalTtlMs ? { approvalTtlMs: opts.approvalTtlMs } : {}),
    deployConfigPath,
    ancestry: (repository, base, head) => branchState.compare(repository, base, head),
    policy,
    charts,
  });
  if (opts.runner !== false) {
    const stateDir = opts.runner?.stateDir ?? path.join(opts.repoDir, '.helmgate');
    const runner = localRunner(
      {
        store,
        source,
        clock,
        random,
        logger,
        redactor,
        notifier,
        dispatcher,
        newSecretResolver: () => new SecretResolver(secretsProvider, redactor),
        env,
      },
      { ...(opts.runner ?? {}), stateDir, deployConfigPath, policy, finished: approvals },
    );
    runJob = runner.run;
  }

  const signingKey = cached(
    async () => secrets.resolve({ secret: 'helmgate/approval-signing-key' }),
    SECRET_TTL_MS,
    clock,
  );
  const background = new InProcessBackgroundWork<SlackInteractionJob>(async (job) => {
    if (!slackClient) return;
    // the same path as the AWS function's self-invocation: the job is parsed before it is voted on
    await runSlackBackgroundJob(
      {
        approvals,
        store,
        slack: slackClient,
        logger,
        // the failure message's Retry button: the lifecycle, as the dashboard's and the CLI's retry
        retry: {
          store,
          notifier,
          dispatcher,
          clock,
          logger,
          approvalOf: (id) => approvals.getRequest(id),
          approvers: (d) => (typeof approvers === 'function' ? approvers(d) : approvers),
          publicUrl,
        },
      },
      job,
    );
  }, logger);
  const sweeper: SweeperDeps = {
    store,
    notifier,
    dispatcher,
    clock,
    logger,
    policy,
    ...(opts.approvalTtlMs ? { approvalTtlMs: opts.approvalTtlMs } : {}),
  };
  const sessions = new SessionRegistry(store);
  const readAccess = readAccessFrom({
    sessions,
    secrets,
    redactor,
    apiTokensId: 'helmgate/api-tokens',
    signingKey,
    publicUrl,
    approvers,
    ...(octokit ? { github: async () => octokit } : {}),
    ttlMs: WEBHOOK_SECRET_TTL_MS,
    clock,
    logger,
  });

  return {
    store,
    redactor,
    logger,
    /** the stack's own resolver (webhook, Slack, OAuth secrets) */
    secrets,
    /** a fresh resolver per deploy run: values cached for that run only */
    newSecretResolver: () => new SecretResolver(secretsProvider, redactor),
    source,
    git,
    clock,
    notifier,
    dispatcher,
    background,
    approvals,
    approvers,
    /** test approvers replacing the policy's, if any (the CLI reads them from the state file) */
    testApprovers: opts.approvers,
    /** the operator policy this stack enforces, loaded once at start */
    policy: loadedPolicy,
    repositories,
    deployConfigPath,
    publicUrl,
    renderOnly,
    dynamodbEndpoint,
    table,
    sweeper,

    /** handlers/github-webhook.ts */
    webhook: {
      store,
      source,
      dispatcher,
      notifier,
      clock,
      logger,
      deployConfigPath,
      branchState,
      // the checkout is the repository: its answer is never behind
      headRecheckMs: 0,
      policy,
      repositories,
      branches: opts.branches ?? [],
      maxBodyBytes: opts.maxBodyBytes ?? 5 * 1024 * 1024,
      webhookSecrets: webhookSecretsFrom(
        secrets,
        redactor,
        opts.webhookSecretId ?? 'helmgate/github-webhook',
        WEBHOOK_SECRET_TTL_MS,
        clock,
        LOCAL_GITHUB_APP_SECRET,
      ),
    },
    /** handlers/deployments.ts */
    deployments: { store, logger, readAccess, repositories },
    /** handlers/dashboard.ts (its JSON half is handlers/deployments.ts) */
    dashboard: dashboardDepsFrom({
      store,
      approvals,
      approvers,
      readAccess,
      signingKey,
      publicUrl,
      githubWebUrl: opts.githubWebUrl ?? 'https://github.com',
      allowRendered: renderOnly,
      clock,
      random,
      logger,
      sessions,
      ...(opts.sessionTtlMs !== undefined ? { sessionTtlMs: opts.sessionTtlMs } : {}),
      repositories,
    }),
    /** handlers/approval.ts: locally, team membership is as GitHub reported it at login (no token to ask with) */
    approval: approvalPageDepsFrom({
      approvals,
      approvers,
      readAccess,
      signingKey,
      publicUrl,
      clock,
      logger,
      sessions,
    }),
    /** handlers/deployment-actions.ts: the deployment page's retry and freeze-override buttons */
    actions: deploymentActionsDepsFrom({
      store,
      notifier,
      dispatcher,
      approvals,
      approvers,
      signingKey,
      publicUrl,
      clock,
      logger,
      sessions,
    }),
    /** handlers/auth.ts */
    auth: authDepsFrom({
      publicUrl,
      githubWebUrl: opts.githubWebUrl ?? 'https://github.com',
      githubApiUrl: opts.githubApiUrl ?? 'https://api.github.com',
      secrets,
      oauthSecretId: 'helmgate/github-oauth',
      redactor,
      signingKey,
      ttlMs: SECRET_TTL_MS,
      clock,
      random,
      logger,
      sessions,
      ...(opts.sessionTtlMs !== undefined ? { sessionTtlMs: opts.sessionTtlMs } : {}),
    }),
    /** handlers/slack-interactions.ts: without a helmgate/slack secret it answers 503 (not configured) */
    slack: {
      signingSecrets: async () => slack?.signingSecrets ?? [],
      background,
      clock,
      logger,
      ...(opts.slackTeamIds?.length ? { teamIds: opts.slackTeamIds } : {}),
    },
    /** handlers/local-dispatch.ts */
    localDispatch: { store, dispatcher, logger },

    async close(): Promise<void> {
      await new Promise<void>((resolve) => dynalite.close(() => resolve()));
      dynamo.destroy();
    },
  };
}

export type LocalGraph = Awaited<ReturnType<typeof composeLocal>>;
