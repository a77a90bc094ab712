import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import path from 'node:path';
import { promisify } from 'node:util';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { makeDeploymentsHandler } from '../../handlers/deployments';
import { makeGithubWebhookHandler } from '../../handlers/github-webhook';
import { type Clock, systemClock } from '../clock';
import {
  type DeployJob,
  type Dispatcher,
  InProcessDispatcher,
  RecordingDispatcher,
} from '../dispatch/dispatcher';
import { LocalGitSource } from '../github/local-git-source';
import type { RepoSource } from '../github/repo-source';
import { json } from '../http/lambda-http';
import { createLocalHttpServer, listen, type Route } from '../http/local-adapter';
import { createLogger, type Logger, type LogLevel } from '../log/logger';
import { Redactor } from '../log/redact';
import { ConsoleNotifier, type Notifier } from '../notify/notifier';
import { FileSecretsProvider } from '../secrets/file-provider';
import { parseSecretList, SecretResolver } from '../secrets/secrets-provider';
import { DynamoDbDeploymentStore, ensureTable } from '../store/dynamodb-deployment-store';
import { cached } from '../wiring/lazy';

const run = promisify(execFile);

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
  /** the deploy runner; without one, dispatched deployments stay `queued` */
  runJob?: (job: DeployJob, stack: LocalStackContext) => Promise<void>;
  notifier?: Notifier;
  /** where the repository is read from; default: git on repoDir */
  source?: RepoSource;
}

export interface LocalStackContext {
  store: DynamoDbDeploymentStore;
  redactor: Redactor;
  logger: Logger;
  secrets: SecretResolver;
  source: RepoSource;
  clock: Clock;
  notifier: Notifier;
  dispatcher: Dispatcher;
  repositories: string[];
}

export interface LocalStack extends LocalStackContext {
  url: string;
  port: number;
  secretsFile: string;
  /** waits for in-process deploy jobs started so far */
  idle(): Promise<void>;
  close(): Promise<void>;
}

/** Secret ids the local stack needs, created with random values on first start. */
export const LOCAL_SECRET_DEFAULTS = {
  'helmgate/github-webhook': () => randomBytes(32).toString('hex'),
  'helmgate/approval-signing-key': () => randomBytes(32).toString('hex'),
} as const;

/** Creates the secrets file (mode 0600) if it does not exist; returns true when it did. */
export function ensureSecretsFile(file: string): boolean {
  if (existsSync(file)) return false;
  mkdirSync(path.dirname(file), { recursive: true });
  const doc: Record<string, string> = {};
  for (const [k, make] of Object.entries(LOCAL_SECRET_DEFAULTS)) doc[k] = make();
  writeFileSync(file, `${JSON.stringify(doc, null, 2)}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return true;
}

/** `owner/name` of the checkout's origin remote, else `local/helmgate`. */
export async function originRepository(repoDir: string): Promise<string> {
  try {
    const { stdout } = await run('git', ['-C', repoDir, 'remote', 'get-url', 'origin']);
    const m = /[:/]([\w.-]+)\/([\w.-]+?)(?:\.git)?\/?$/.exec(stdout.trim());
    if (m) return `${m[1]}/${m[2]}`;
  } catch {
    // no origin remote
  }
  return 'local/helmgate';
}

interface Dynalite {
  listen(port: number, host: string, cb: () => void): void;
  close(cb?: () => void): void;
  address(): { port: number };
}

export async function startLocalStack(opts: LocalStackOptions): Promise<LocalStack> {
  const clock = opts.clock ?? systemClock;
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
  const secrets = new SecretResolver(new FileSecretsProvider(opts.secretsFile), redactor);
  const source = opts.source ?? new LocalGitSource(opts.repoDir);
  const repositories = opts.repositories ?? [await originRepository(opts.repoDir)];
  const notifier = opts.notifier ?? new ConsoleNotifier(logger);

  const context: LocalStackContext = {
    store,
    redactor,
    logger,
    secrets,
    source,
    clock,
    notifier,
    dispatcher: new RecordingDispatcher(),
    repositories,
  };
  const runJob = opts.runJob;
  const inProcess = runJob ? new InProcessDispatcher((job) => runJob(job, context), logger) : undefined;
  if (inProcess) context.dispatcher = inProcess;

  const webhookSecretId = opts.webhookSecretId ?? 'helmgate/github-webhook';
  const webhook = makeGithubWebhookHandler({
    store,
    source,
    dispatcher: context.dispatcher,
    notifier,
    clock,
    logger,
    deployConfigPath: opts.deployConfigPath ?? 'deploy.yaml',
    repositories,
    branches: opts.branches ?? [],
    maxBodyBytes: opts.maxBodyBytes ?? 5 * 1024 * 1024,
    webhookSecrets: cached(async () => {
      const list = parseSecretList(await secrets.tryResolve({ secret: webhookSecretId }));
      for (const s of list) redactor.register(s);
      return list;
    }, 5_000),
  });
  const deployments = makeDeploymentsHandler({ store, logger });
  const routes: Route[] = [
    { method: 'POST', path: '/webhook', handler: webhook },
    { method: 'GET', path: '/deployments', handler: deployments },
    { method: 'GET', path: '/deployments/{id}', handler: deployments },
    { method: 'GET', path: '/healthz', handler: async () => json(200, { ok: true }) },
  ];
  const server: Server = createLocalHttpServer(routes);
  const port = await listen(server, opts.port ?? 3000);

  return {
    ...context,
    get dispatcher() {
      return context.dispatcher;
    },
    url: `http://127.0.0.1:${port}`,
    port,
    secretsFile: opts.secretsFile,
    idle: async () => {
      await inProcess?.idle();
    },
    close: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections?.();
      await inProcess?.idle();
      await new Promise<void>((resolve) => dynalite.close(() => resolve()));
      dynamo.destroy();
    },
  };
}
