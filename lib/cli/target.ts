import { existsSync, readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import path from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import * as z from 'zod';
import { ApproversConfig } from '../approval/approval-port';
import { ApprovalService } from '../approval/approval-service';
import { parseApprovers } from '../approval/aws-wiring';
import type { Clock } from '../clock';
import type { Dispatcher } from '../dispatch/dispatcher';
import { HelmgateError } from '../errors';
import { createProcessRunner } from '../exec/command-runner';
import { type Ancestry, GithubBranchState, LocalBranchState } from '../github/branch-state';
import { originRepository } from '../github/origin-repository';
import { createLogger, type Logger } from '../log/logger';
import { Redactor } from '../log/redact';
import { ConsoleNotifier, type Notifier } from '../notify/notifier';
import { cryptoRandom } from '../random';
import { FileSecretsProvider } from '../secrets/file-provider';
import type { SecretsProvider } from '../secrets/secrets-provider';
import { DynamoDbDeploymentStore } from '../store/dynamodb-deployment-store';
import { awsBase, awsDispatcher, awsNotifier, awsOctokit } from '../wiring/aws';
import { LocalHttpDispatcher, ReportingDispatcher } from './local-dispatch';

/** A usage problem (exit code 2): a missing flag, a bad argument, an unknown target. */
export class CliUsageError extends HelmgateError {
  override name = 'CliUsageError';
  constructor(message: string) {
    super('bad_request', message);
  }
}

/**
 * `.helmgate/stack.json` as the running local stack writes it (lib/local/local-stack.ts). The optional
 * fields are read when present (proposed additions), with the defaults `npm start` has today.
 */
export const LocalStackState = z.object({
  url: z.string().url(),
  dynamodbEndpoint: z.string().url(),
  table: z.string().min(1),
  secretsFile: z.string().min(1),
  repoDir: z.string().min(1),
  deployConfigPath: z.string().min(1).default('deploy.yaml'),
  pid: z.number().int().positive().optional(),
  /** who may approve what, as the stack enforces it; default HELMGATE_APPROVERS of the CLI's env */
  approvers: ApproversConfig.optional(),
  /** the repositories the stack accepts; the first one is the CLI's default */
  repositories: z.array(z.string()).optional(),
  /** no cluster: `rendered` counts as what runs and the cluster secret is not needed (default true) */
  renderOnly: z.boolean().optional(),
});
export type LocalStackState = z.infer<typeof LocalStackState>;

export interface TargetOptions {
  /** force the local stack (error when none runs) */
  local?: boolean;
  /** force AWS even when a local stack runs */
  aws?: boolean;
  /** explicit state file */
  state?: string;
  /** `owner/name` for plan, redeploy, rollback */
  repository?: string;
  /** the operator principal (otherwise HELMGATE_CLI_PRINCIPAL, locally the OS user) */
  as?: string;
  verbose?: boolean;
}

export interface TargetEnv {
  env: Record<string, string | undefined>;
  cwd: string;
  clock: Clock;
  stderr: (s: string) => void;
}

/** Everything a command needs to talk to one helmgate installation. */
export interface CliTarget {
  mode: 'local' | 'aws';
  /** `local stack at http://…` or `AWS table helmgate in eu-west-1` */
  description: string;
  store: DynamoDbDeploymentStore;
  approvers: ApproversConfig;
  secretsProvider: SecretsProvider;
  redactor: Redactor;
  logger: Logger;
  clock: Clock;
  /** the git checkout commits are read from (plan, redeploy, rollback, secrets check) */
  repoDir: string;
  deployConfigPath: string;
  /** `rendered` counts as success, the cluster secret is not needed */
  renderOnly: boolean;
  publicUrl: string;
  dispatcher: ReportingDispatcher;
  /** Slack/GitHub Deployments in AWS; the log (stderr, with --verbose) locally */
  notifier(): Promise<Notifier>;
  /** the approval service that decides (votes, offers) and notifies */
  approvals(): Promise<ApprovalService>;
  /** the same service for reading only (view, current snapshot): no notifier, no dispatcher built */
  readApprovals(): ApprovalService;
  /** `owner/name` of the repository the operator means */
  repository(): Promise<string>;
  /** the voter id: `alice` locally (audited `cli:alice`), the caller's IAM ARN (STS) in AWS */
  principal(): Promise<string>;
  close(): void;
}

/** The state file of the local stack: `--state`, else `.helmgate/stack.json` in the cwd or HELMGATE_REPO_DIR. */
export function findStateFile(opts: TargetOptions, t: TargetEnv): string | undefined {
  if (opts.state) return path.resolve(t.cwd, opts.state);
  const candidates = [path.join(t.cwd, '.helmgate', 'stack.json')];
  if (t.env.HELMGATE_REPO_DIR)
    candidates.push(path.join(path.resolve(t.cwd, t.env.HELMGATE_REPO_DIR), '.helmgate', 'stack.json'));
  return candidates.find((c) => existsSync(c));
}

function readState(file: string): LocalStackState {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new HelmgateError('invalid_config', `${file} is unreadable or not JSON`, { cause: e });
  }
  const parsed = LocalStackState.safeParse(json);
  if (!parsed.success)
    throw new HelmgateError(
      'invalid_config',
      `${file}: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  return parsed.data;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function stderrLogger(redactor: Redactor, t: TargetEnv, verbose: boolean): Logger {
  return createLogger({
    redactor,
    clock: t.clock,
    level: verbose ? 'info' : 'warn',
    write: (line) => t.stderr(`${line}\n`),
  });
}

/**
 * Picks the installation: the local stack when its state file exists (or `--local`), otherwise AWS
 * from the environment (`--aws` forces it).
 */
export async function resolveTarget(opts: TargetOptions, t: TargetEnv): Promise<CliTarget> {
  if (opts.local && opts.aws) throw new CliUsageError('--local and --aws exclude each other');
  const stateFile = opts.aws ? undefined : findStateFile(opts, t);
  if (opts.local && !stateFile)
    throw new HelmgateError(
      'invalid_config',
      'no local stack found (.helmgate/stack.json in this directory or HELMGATE_REPO_DIR): start one with `npm start`',
    );
  return stateFile ? localTarget(stateFile, opts, t) : awsTarget(opts, t);
}

/** Locally: `--as`, HELMGATE_CLI_PRINCIPAL, else the OS user (the local stack trusts its operator). */
function localPrincipal(opts: TargetOptions, t: TargetEnv): string {
  const explicit = opts.as ?? t.env.HELMGATE_CLI_PRINCIPAL;
  if (explicit?.trim()) return explicit.trim();
  return userInfo().username;
}

/**
 * In AWS the principal is whoever the credentials belong to (STS GetCallerIdentity), never a name the
 * operator types: `--as` may only restate it. An assumed role is audited as its role session ARN.
 */
async function awsPrincipal(opts: TargetOptions, region: string): Promise<string> {
  const sts = new STSClient({ region });
  try {
    const me = await sts.send(new GetCallerIdentityCommand({}));
    if (!me.Arn) throw new CliUsageError('STS did not say who these AWS credentials belong to');
    if (opts.as && opts.as !== me.Arn)
      throw new CliUsageError(`--as ${opts.as} does not match your AWS credentials (${me.Arn})`);
    return me.Arn;
  } finally {
    sts.destroy();
  }
}

function localTarget(stateFile: string, opts: TargetOptions, t: TargetEnv): CliTarget {
  const state = readState(stateFile);
  if (state.pid !== undefined && !alive(state.pid))
    throw new HelmgateError(
      'invalid_config',
      `${stateFile} names a local stack (pid ${state.pid}) that is not running: start it with \`npm start\`, or remove the stale file`,
    );
  const redactor = new Redactor();
  const logger = stderrLogger(redactor, t, opts.verbose === true);
  const dynamo = new DynamoDBClient({
    endpoint: state.dynamodbEndpoint,
    region: 'local',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  const store = new DynamoDbDeploymentStore(dynamo, state.table);
  const approvers = state.approvers ?? parseApprovers(t.env.HELMGATE_APPROVERS);
  const renderOnly = state.renderOnly ?? true;
  const dispatcher = new ReportingDispatcher(() => new LocalHttpDispatcher(state.url));
  const notifier: Notifier = new ConsoleNotifier(logger);
  const repoDir = path.resolve(path.dirname(stateFile), state.repoDir);
  // rollbacks by commit ancestry, as the stack sees them: the same checkout
  const branches = new LocalBranchState(repoDir, createProcessRunner());
  const ancestry: Ancestor = (repository, base, head) => branches.compare(repository, base, head);
  return {
    mode: 'local',
    description: `local stack at ${state.url}`,
    store,
    approvers,
    secretsProvider: new FileSecretsProvider(state.secretsFile),
    redactor,
    logger,
    clock: t.clock,
    repoDir,
    deployConfigPath: state.deployConfigPath,
    renderOnly,
    publicUrl: state.url,
    dispatcher,
    notifier: async () => notifier,
    approvals: async () =>
      new ApprovalService({
        store,
        notifier,
        dispatcher,
        clock: t.clock,
        random: cryptoRandom,
        logger,
        approvers,
        publicUrl: state.url,
        allowRendered: renderOnly,
        ancestry,
      }),
    readApprovals: () =>
      readOnlyApprovals(store, approvers, t.clock, logger, state.url, renderOnly, ancestry),
    repository: async () =>
      opts.repository ??
      state.repositories?.[0] ??
      firstCsv(t.env.HELMGATE_REPOSITORIES) ??
      (await originRepository(repoDir)),
    principal: async () => localPrincipal(opts, t),
    close: () => dynamo.destroy(),
  };
}

type Ancestor = (repository: string, base: string, head: string) => Promise<Ancestry>;

const silentNotifier: Notifier = { deploymentChanged: async () => undefined };
const refusingDispatcher: Dispatcher = {
  dispatch: async () => {
    throw new HelmgateError('internal', 'read-only approval service cannot dispatch');
  },
};

function readOnlyApprovals(
  store: DynamoDbDeploymentStore,
  approvers: ApproversConfig,
  clock: Clock,
  logger: Logger,
  publicUrl: string,
  allowRendered: boolean,
  ancestry: Ancestor,
): ApprovalService {
  return new ApprovalService({
    store,
    notifier: silentNotifier,
    dispatcher: refusingDispatcher,
    clock,
    random: cryptoRandom,
    logger,
    approvers,
    publicUrl,
    allowRendered,
    ancestry,
  });
}

function firstCsv(v: string | undefined): string | undefined {
  return v
    ?.split(',')
    .map((s) => s.trim())
    .find(Boolean);
}

function awsTarget(opts: TargetOptions, t: TargetEnv): CliTarget {
  // the CLI accepts every repository in the table: HELMGATE_REPOSITORIES (required by the Lambdas'
  // config) gets a placeholder when unset; --repository or the origin remote names the repository
  const base = awsBase({ ...t.env, HELMGATE_REPOSITORIES: t.env.HELMGATE_REPOSITORIES || 'helmgate/cli' });
  const redactor = base.redactor;
  const logger = stderrLogger(redactor, t, opts.verbose === true);
  const baseWithLogger = { ...base, logger };
  let branches: Promise<GithubBranchState> | undefined;
  const ancestry: Ancestor = async (repository, b, head) => {
    branches ??= awsOctokit(baseWithLogger).then((o) => new GithubBranchState(o));
    return (await branches).compare(repository, b, head);
  };
  const { config } = base;
  const approvers = parseApprovers(config.HELMGATE_APPROVERS);
  const repoDir = path.resolve(t.cwd, t.env.HELMGATE_REPO_DIR ?? '.');
  let lambda: Dispatcher | undefined;
  const dispatcher = new ReportingDispatcher(() => {
    lambda ??= awsDispatcher(baseWithLogger);
    return lambda;
  });
  let service: ApprovalService | undefined;
  let notifier: Promise<Notifier> | undefined;
  const notifierOnce = () => {
    notifier ??= awsNotifier(baseWithLogger);
    return notifier;
  };
  return {
    mode: 'aws',
    description: `AWS table ${config.HELMGATE_TABLE} in ${config.AWS_REGION}`,
    store: base.store,
    approvers,
    secretsProvider: base.secretsProvider,
    redactor,
    logger,
    clock: t.clock,
    repoDir,
    deployConfigPath: config.HELMGATE_DEPLOY_CONFIG,
    renderOnly: false,
    publicUrl: config.HELMGATE_PUBLIC_URL,
    dispatcher,
    notifier: notifierOnce,
    approvals: async () => {
      // Slack and GitHub Deployments hear about CLI decisions as they do about web ones
      service ??= new ApprovalService({
        store: base.store,
        notifier: await notifierOnce(),
        dispatcher,
        clock: t.clock,
        random: cryptoRandom,
        logger,
        approvers,
        publicUrl: config.HELMGATE_PUBLIC_URL,
        approvalTtlMs: config.HELMGATE_APPROVAL_TTL_HOURS * 3600_000,
        ancestry,
      });
      return service;
    },
    readApprovals: () =>
      readOnlyApprovals(base.store, approvers, t.clock, logger, config.HELMGATE_PUBLIC_URL, false, ancestry),
    repository: async () =>
      opts.repository ?? firstCsv(t.env.HELMGATE_REPOSITORIES) ?? (await originRepository(repoDir)),
    principal: () => awsPrincipal(opts, base.config.AWS_REGION),
    close: () => undefined,
  };
}
