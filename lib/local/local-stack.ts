import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import path from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { Octokit } from '@octokit/core';
import { makeApprovalHandler } from '../../handlers/approval';
import { makeAuthHandler } from '../../handlers/auth';
import { makeDeploymentsHandler } from '../../handlers/deployments';
import { makeGithubWebhookHandler } from '../../handlers/github-webhook';
import {
  makeSlackInteractionsHandler,
  processSlackInteraction,
  type SlackInteractionJob,
} from '../../handlers/slack-interactions';
import type { ApproversConfig } from '../approval/approval-port';
import { ApprovalService } from '../approval/approval-service';
import { parseOAuthClient } from '../auth/github-oauth';
import { githubRepositoryPermission, parseApiTokens, ReadAccess } from '../auth/read-access';
import { cookieSettingsFor } from '../auth/session';
import { LOCAL_DISPATCH_PATH, makeLocalDispatchHandler } from '../cli/local-dispatch';
import { type Clock, systemClock } from '../clock';
import { parseDeployConfig } from '../deploy/deploy-config';
import { planEnvironment } from '../deploy/plan';
import { InProcessBackgroundWork } from '../dispatch/background';
import { type DeployJob, type Dispatcher, InProcessDispatcher } from '../dispatch/dispatcher';
import { createProcessRunner } from '../exec/command-runner';
import { type BranchState, LocalBranchState } from '../github/branch-state';
import { LocalGitSource } from '../github/local-git-source';
import { originRepository } from '../github/origin-repository';
import type { RepoSource } from '../github/repo-source';
import { GithubDeploymentsReporter } from '../github/status-reporter';
import { json } from '../http/lambda-http';
import { createLocalHttpServer, listen, type Route } from '../http/local-adapter';
import { createLogger, type Logger, type LogLevel } from '../log/logger';
import { Redactor } from '../log/redact';
import { ConsoleNotifier, FanOutNotifier, type Notifier } from '../notify/notifier';
import { cryptoRandom, type Random } from '../random';
import { planAt } from '../runner/runner';
import { directorySourceReader } from '../runner/source-reader';
import { FileSecretsProvider } from '../secrets/file-provider';
import { parseSecretList, type SecretRef, SecretResolver } from '../secrets/secrets-provider';
import { SlackNotifier } from '../slack/slack-notifier';
import { parseSlackSecret } from '../slack/slack-secret';
import { createSlackWebClient } from '../slack/web-client';
import { DynamoDbDeploymentStore, ensureTable } from '../store/dynamodb-deployment-store';
import { type SweepReport, sweep } from '../sweeper/sweeper';
import { cached } from '../wiring/lazy';
import { type LocalRunnerOptions, localRunner } from './local-runner';

export interface LocalStackOptions {
  port?: number;
  repoDir: string;
  /** where dynalite keeps its data; undefined = in memory */
  dataDir?: string;
  secretsFile: string;
  repositories?: string[];
  branches?: string[];
  webhookSecretId?: string;
  deployConfigPath?: string;
  maxBodyBytes?: number;
  logLevel?: LogLevel;
  logWrite?: (line: string) => void;
  clock?: Clock;
  random?: Random;
  /**
   * The deploy runner. Default: the real runner (render-only unless `runner.access` reaches a cluster).
   * `false`: dispatched deployments stay `queued` (webhook-only tests and benches).
   */
  runner?: (Omit<LocalRunnerOptions, 'finished' | 'stateDir'> & { stateDir?: string }) | false;
  /** extra notifiers besides the console (and Slack, when its secret is configured) */
  notifiers?: Notifier[];
  /** where the repository is read from; default: git on repoDir */
  source?: RepoSource;
  /** where its branches point now (stale pushes, rollbacks); default: git on repoDir */
  branchState?: BranchState;
  /** who may approve what (HELMGATE_APPROVERS); default: nobody */
  approvers?: ApproversConfig;
  /** public base URL for approval links; default the stack's own URL */
  publicUrl?: string;
  githubWebUrl?: string;
  githubApiUrl?: string;
  /** Slack Web API base (tests: a loopback recorder); Slack is on when `helmgate/slack` is in the secrets file */
  slackApiUrl?: string;
  /** run the sweeper this often (ms); 0 = never; default 60 s */
  sweepIntervalMs?: number;
  approvalTtlMs?: number;
  /**
   * Where to write `{url, dynamodbEndpoint, table, secretsFile, repoDir, pid}` (0600) so the operator CLI
   * finds this stack (`npm start` writes `.helmgate/stack.json`; removed on close).
   */
  stateFile?: string;
}

export interface LocalStackContext {
  store: DynamoDbDeploymentStore;
  redactor: Redactor;
  logger: Logger;
  /** the stack's own resolver (webhook, Slack, OAuth secrets) */
  secrets: SecretResolver;
  /** a fresh resolver per deploy run: values cached for that run only */
  newSecretResolver: () => SecretResolver;
  source: RepoSource;
  clock: Clock;
  notifier: Notifier;
  dispatcher: Dispatcher;
  repositories: string[];
}

export interface LocalStack extends LocalStackContext {
  url: string;
  /** the read API's bearer token from the secrets file (created on first start) */
  apiToken: string;
  port: number;
  secretsFile: string;
  approvals: ApprovalService;
  /** runs one sweep now (expiry, reminders, stale locks) */
  sweep(): Promise<SweepReport>;
  /** waits for in-process deploy jobs and background work started so far */
  idle(): Promise<void>;
  close(): Promise<void>;
}

/** Secret ids the local stack needs, created with random values on first start. */
export const LOCAL_SECRET_DEFAULTS = {
  'helmgate/github-webhook': () => randomBytes(32).toString('hex'),
  'helmgate/approval-signing-key': () => randomBytes(32).toString('hex'),
  // the read API's bearer token (GET /deployments…): the CLI and `npm run push` read it from here
  'helmgate/api-tokens': () => randomBytes(32).toString('base64url'),
} as const;

/**
 * Creates the secrets file (mode 0600) if it does not exist; returns true when it did. A file from an
 * older helmgate gets the secrets it lacks (e.g. the API token) added, keeping what it has.
 */
export function ensureSecretsFile(file: string): boolean {
  if (existsSync(file)) {
    let doc: Record<string, unknown>;
    try {
      doc = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    } catch {
      return false; // an unreadable file is reported by whoever reads a secret from it
    }
    const missing = Object.entries(LOCAL_SECRET_DEFAULTS).filter(([k]) => doc[k] === undefined);
    if (missing.length === 0) return false;
    for (const [k, make] of missing) doc[k] = make();
    writeFileSync(file, `${JSON.stringify(doc, null, 2)}\n`, { mode: 0o600 });
    chmodSync(file, 0o600);
    return false;
  }
  mkdirSync(path.dirname(file), { recursive: true });
  const doc: Record<string, string> = {};
  for (const [k, make] of Object.entries(LOCAL_SECRET_DEFAULTS)) doc[k] = make();
  writeFileSync(file, `${JSON.stringify(doc, null, 2)}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return true;
}

/** The first API token in a local secrets file (what the CLI and `npm run push` send as Bearer). */
export function localApiToken(file: string): string | undefined {
  try {
    const raw = (JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>)['helmgate/api-tokens'];
    return parseApiTokens(typeof raw === 'string' ? raw : JSON.stringify(raw))[0];
  } catch {
    return undefined;
  }
}

/**
 * Render-only convenience: every secret the working tree's deploy config references that the secrets
 * file lacks gets a random local placeholder (a JSON object when the reference names a key), so a first
 * `npm start` + `npm run push` renders instead of stopping at the pre-flight. Never used with a cluster.
 * Returns the references it added.
 */
export async function addLocalPlaceholders(
  file: string,
  repoDir: string,
  deployConfigPath = 'deploy.yaml',
): Promise<string[]> {
  const reader = directorySourceReader(repoDir);
  const text = await reader.readFile(deployConfigPath);
  if (text === undefined) return [];
  let refs: SecretRef[] = [];
  try {
    const config = parseDeployConfig(text, deployConfigPath);
    for (const environment of Object.keys(config.environments)) {
      const plan = await planEnvironment({ config, environment, sha: 'working-tree', source: reader });
      refs = refs.concat(plan.secretRefs);
    }
  } catch {
    return []; // an invalid config is reported by the push that deploys it
  }
  const doc = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  const added: string[] = [];
  for (const ref of refs) {
    const value = randomBytes(24).toString('base64url');
    const current = doc[ref.secret];
    if (ref.key === undefined) {
      if (current === undefined || current === '') {
        doc[ref.secret] = value;
        added.push(ref.secret);
      }
    } else {
      const obj = (typeof current === 'object' && current !== null ? current : {}) as Record<string, unknown>;
      if (typeof current === 'string' && current !== '') continue; // a string secret: leave it as written
      if (obj[ref.key] === undefined || obj[ref.key] === '') {
        obj[ref.key] = value;
        doc[ref.secret] = obj;
        added.push(`${ref.secret}#${ref.key}`);
      }
    }
  }
  if (added.length > 0) writeFileSync(file, `${JSON.stringify(doc, null, 2)}\n`, { mode: 0o600 });
  return added;
}

interface Dynalite {
  listen(port: number, host: string, cb: () => void): void;
  close(cb?: () => void): void;
  address(): { port: number };
}

export async function startLocalStack(opts: LocalStackOptions): Promise<LocalStack> {
  const clock = opts.clock ?? systemClock;
  const random = opts.random ?? cryptoRandom;
  const redactor = new Redactor();
  const logger = createLogger({
    redactor,
    clock,
    level: opts.logLevel ?? 'info',
    ...(opts.logWrite ? { write: opts.logWrite } : {}),
  });

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
  const dynamo = new DynamoDBClient({
    endpoint: `http://127.0.0.1:${dynalite.address().port}`,
    region: 'local',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  await ensureTable(dynamo, 'helmgate');
  const store = new DynamoDbDeploymentStore(dynamo, 'helmgate');

  ensureSecretsFile(opts.secretsFile);
  const secretsProvider = new FileSecretsProvider(opts.secretsFile);
  const secrets = new SecretResolver(secretsProvider, redactor);
  const source = opts.source ?? new LocalGitSource(opts.repoDir);
  const repositories = opts.repositories ?? [await originRepository(opts.repoDir)];
  const deployConfigPath = opts.deployConfigPath ?? 'deploy.yaml';

  // the HTTP server first: approval links need its port
  const routes: Route[] = [];
  const server: Server = createLocalHttpServer(routes);
  const port = await listen(server, opts.port ?? 3000);
  const url = `http://127.0.0.1:${port}`;
  const publicUrl = (opts.publicUrl ?? url).replace(/\/+$/, '');

  // Slack, when configured in the secrets file
  const slackText = await secrets.tryResolve({ secret: 'helmgate/slack' });
  const slack = slackText ? parseSlackSecret(slackText) : undefined;
  if (slack) for (const s of [slack.botToken, ...slack.signingSecrets]) redactor.register(s);
  const slackClient = slack
    ? createSlackWebClient({
        botToken: slack.botToken,
        logger,
        ...(opts.slackApiUrl ? { slackApiUrl: opts.slackApiUrl } : {}),
      })
    : undefined;

  // GitHub, when `helmgate/github-token` is in the secrets file: deployment statuses (whose links lead
  // to the approval pages) and the read permission of logged-in users
  const githubToken = await secrets.tryResolve({ secret: 'helmgate/github-token' });
  const octokit = githubToken
    ? new Octokit({ auth: githubToken, baseUrl: opts.githubApiUrl ?? 'https://api.github.com' })
    : undefined;

  const notifiers: Notifier[] = [new ConsoleNotifier(logger), ...(opts.notifiers ?? [])];
  if (slackClient && slack?.channel)
    notifiers.push(
      new SlackNotifier({ client: slackClient, channel: slack.channel, store, clock, logger, redactor }),
    );
  if (octokit)
    notifiers.push(new GithubDeploymentsReporter({ octokit, store, publicUrl, clock, logger, redactor }));
  const notifier: Notifier =
    notifiers.length === 1 ? (notifiers[0] as Notifier) : new FanOutNotifier(notifiers, logger);

  // jobs run in this process; the dispatcher forwards to the runner once it exists
  let runJob: ((job: DeployJob) => Promise<void>) | undefined;
  const inProcess = new InProcessDispatcher(async (job) => {
    if (runJob) await runJob(job);
    else
      logger.info('no deploy runner in this stack; deployment stays queued', {
        deploymentId: job.deploymentId,
      });
  }, logger);
  const context: LocalStackContext = {
    store,
    redactor,
    logger,
    secrets,
    newSecretResolver: () => new SecretResolver(secretsProvider, redactor),
    source,
    clock,
    notifier,
    dispatcher: inProcess,
    repositories,
  };

  const approvers = opts.approvers ?? {};
  const branchState = opts.branchState ?? new LocalBranchState(opts.repoDir, createProcessRunner());
  const approvals = new ApprovalService({
    store,
    notifier,
    dispatcher: inProcess,
    clock,
    random,
    logger,
    approvers,
    publicUrl,
    ancestry: (repository, base, head) => branchState.compare(repository, base, head),
    // render-only (no cluster): a rendered staging may promote, so the whole flow can be tried locally
    allowRendered: opts.runner === false || !(opts.runner?.access || opts.runner?.kubeconfig),
    ...(opts.approvalTtlMs ? { approvalTtlMs: opts.approvalTtlMs } : {}),
    planFor: async (waiting, ctx) =>
      ctx.sourceDir ? planAt(ctx.sourceDir, deployConfigPath, waiting) : undefined,
  });
  if (opts.runner !== false) {
    const stateDir = opts.runner?.stateDir ?? path.join(opts.repoDir, '.helmgate');
    const runner = localRunner(context, {
      ...(opts.runner ?? {}),
      stateDir,
      deployConfigPath,
      finished: approvals,
    });
    runJob = runner.run;
  }

  const signingKey = cached(async () => secrets.resolve({ secret: 'helmgate/approval-signing-key' }), 60_000);
  const cookies = cookieSettingsFor(publicUrl);
  const webhookSecretId = opts.webhookSecretId ?? 'helmgate/github-webhook';
  const webhook = makeGithubWebhookHandler({
    store,
    source,
    dispatcher: inProcess,
    notifier,
    clock,
    logger,
    deployConfigPath,
    branchState,
    repositories,
    branches: opts.branches ?? [],
    maxBodyBytes: opts.maxBodyBytes ?? 5 * 1024 * 1024,
    webhookSecrets: cached(async () => {
      const list = parseSecretList(await secrets.tryResolve({ secret: webhookSecretId }));
      for (const s of list) redactor.register(s);
      return list;
    }, 5_000),
  });
  const readAccess = new ReadAccess({
    apiTokens: cached(async () => {
      const list = parseApiTokens(await secrets.tryResolve({ secret: 'helmgate/api-tokens' }));
      for (const t of list) redactor.register(t);
      return list;
    }, 5_000),
    signingKey,
    cookies,
    clock,
    logger,
    approvers,
    ...(octokit ? { repositoryPermission: githubRepositoryPermission(octokit) } : {}),
  });
  const deployments = makeDeploymentsHandler({ store, logger, readAccess });
  const approval = makeApprovalHandler({
    approvals,
    approvers,
    readAccess,
    signingKey,
    cookies,
    clock,
    logger,
  });
  const auth = makeAuthHandler({
    oauth: {
      githubWebUrl: opts.githubWebUrl ?? 'https://github.com',
      githubApiUrl: opts.githubApiUrl ?? 'https://api.github.com',
      redirectUri: `${publicUrl}/auth/github/callback`,
    },
    oauthClient: cached(
      async () => parseOAuthClient(await secrets.tryResolve({ secret: 'helmgate/github-oauth' })),
      60_000,
    ),
    signingKey,
    cookies,
    clock,
    random,
    logger,
  });
  const background = new InProcessBackgroundWork<SlackInteractionJob>(async (job) => {
    if (!slackClient) return;
    await processSlackInteraction({ approvals, store, slack: slackClient, logger }, job.payload);
  }, logger);
  const slackHandler = makeSlackInteractionsHandler({
    // without a helmgate/slack secret no signature can verify: every request is a 401
    signingSecrets: async () => slack?.signingSecrets ?? [],
    background,
    clock,
    logger,
  });
  const sweeperDeps = { store, notifier, dispatcher: inProcess, clock, logger };

  routes.push(
    { method: 'POST', path: '/webhook', handler: webhook },
    { method: 'GET', path: '/deployments', handler: deployments },
    { method: 'GET', path: '/deployments/{id}', handler: deployments },
    { method: 'GET', path: '/approvals/{id}', handler: approval },
    { method: 'POST', path: '/approvals/{id}/approve', handler: approval },
    { method: 'POST', path: '/approvals/{id}/reject', handler: approval },
    { method: 'GET', path: '/auth/github/login', handler: auth },
    { method: 'GET', path: '/auth/github/callback', handler: auth },
    { method: 'POST', path: '/slack/interactions', handler: slackHandler },
    // the operator CLI hands jobs to this process (loopback only, JSON only)
    {
      method: 'POST',
      path: LOCAL_DISPATCH_PATH,
      handler: makeLocalDispatchHandler({ store, dispatcher: inProcess, logger }),
    },
    { method: 'GET', path: '/healthz', handler: async () => json(200, { ok: true }) },
  );

  const sweepEvery = opts.sweepIntervalMs ?? 60_000;
  const sweepTimer =
    sweepEvery > 0
      ? setInterval(() => {
          sweep(sweeperDeps).catch((e) => logger.warn('sweep failed', { err: e }));
        }, sweepEvery)
      : undefined;
  sweepTimer?.unref();

  if (opts.stateFile) {
    const state = {
      url,
      dynamodbEndpoint: `http://127.0.0.1:${dynalite.address().port}`,
      table: 'helmgate',
      secretsFile: opts.secretsFile,
      repoDir: opts.repoDir,
      deployConfigPath,
      pid: process.pid,
      repositories,
      approvers,
      renderOnly: opts.runner === false || !(opts.runner?.access || opts.runner?.kubeconfig),
    };
    writeFileSync(opts.stateFile, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  }

  const idle = async () => {
    // jobs start background work and vice versa: wait until both are quiet
    for (let i = 0; i < 50; i++) {
      await inProcess.idle();
      await background.idle();
      if (inProcess.inFlight.size === 0) return;
    }
  };

  return {
    ...context,
    url,
    apiToken: localApiToken(opts.secretsFile) ?? '',
    port,
    secretsFile: opts.secretsFile,
    approvals,
    sweep: () => sweep(sweeperDeps),
    idle,
    close: async () => {
      if (sweepTimer) clearInterval(sweepTimer);
      if (opts.stateFile) rmSync(opts.stateFile, { force: true });
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections?.();
      await idle();
      await new Promise<void>((resolve) => dynalite.close(() => resolve()));
      dynamo.destroy();
    },
  };
}
