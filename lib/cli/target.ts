import { existsSync, readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import path from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import * as z from 'zod';
import { ApproversConfig } from '../approval/approval-port';
import { ApprovalService, type ApproversKey } from '../approval/approval-service';
import type { Clock } from '../clock';
import { type LoadedPolicy, loadPolicy } from '../config/policy-loader';
import type { ChartDigestResolver } from '../deploy/plan';
import type { Dispatcher } from '../dispatch/dispatcher';
import { HelmgateError } from '../errors';
import { originRepository } from '../github/origin-repository';
import { repositoryChartDigests } from '../helm/chart-digest';
import { createLogger, type Logger } from '../log/logger';
import { Redactor } from '../log/redact';
import { ConsoleNotifier, type Notifier } from '../notify/notifier';
import { approversFor } from '../policy/check';
import { Policy, policyDigest } from '../policy/policy';
import { cryptoRandom } from '../random';
import { FileSecretsProvider } from '../secrets/file-provider';
import type { SecretsProvider } from '../secrets/secrets-provider';
import { DynamoDbDeploymentStore } from '../store/dynamodb-deployment-store';
import { awsBase, awsDispatcher, awsNotifier } from '../wiring/aws';
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
  /** test stacks only: who may approve what, replacing the policy's approvers */
  approvers: ApproversConfig.optional(),
  /** the operator policy the stack loaded at start (lib/policy); absent: loaded as the stack would */
  policy: z.unknown().optional(),
  policySource: z.string().optional(),
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
  /** who may approve a deployment: the policy's approvers for its repository and environment */
  approvers: ApproversConfig | ((d: ApproversKey) => ApproversConfig);
  /** the operator policy in force (loaded on first use) */
  policy(): LoadedPolicy;
  /** pins remote charts when planning, as the runner does */
  charts(): ChartDigestResolver;
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
  const repoDirOfState = path.resolve(path.dirname(stateFile), state.repoDir);
  let loaded: LoadedPolicy | undefined;
  const policy = () => {
    if (!loaded) {
      if (state.policy !== undefined) {
        const p = Policy.parse(state.policy);
        loaded = {
          policy: p,
          source: state.policySource ?? `the local stack (${stateFile})`,
          digest: policyDigest(p),
        };
      } else
        loaded = loadPolicy(
          {
            HELMGATE_POLICY: t.env.HELMGATE_POLICY,
            HELMGATE_APPROVERS: t.env.HELMGATE_APPROVERS,
            HELMGATE_REPOSITORIES: state.repositories ?? [],
            HELMGATE_DEPLOY_CONFIG: state.deployConfigPath,
          },
          { repoDir: repoDirOfState, cwd: t.cwd },
        );
    }
    return loaded;
  };
  const approvers = state.approvers ?? ((d: ApproversKey) => approversFor(policy().policy, d));
  const renderOnly = state.renderOnly ?? true;
  const dispatcher = new ReportingDispatcher(() => new LocalHttpDispatcher(state.url));
  const notifier: Notifier = new ConsoleNotifier(logger);
  const repoDir = path.resolve(path.dirname(stateFile), state.repoDir);
  return {
    mode: 'local',
    description: `local stack at ${state.url}`,
    store,
    approvers,
    policy,
    charts: () => repositoryChartDigests({ fetch }),
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
      }),
    readApprovals: () => readOnlyApprovals(store, approvers, t.clock, logger, state.url, renderOnly),
    repository: async () =>
      opts.repository ??
      state.repositories?.[0] ??
      firstCsv(t.env.HELMGATE_REPOSITORIES) ??
      (await originRepository(repoDir)),
    principal: async () => localPrincipal(opts, t),
    close: () => dynamo.destroy(),
  };
}

const silentNotifier: Notifier = { deploymentChanged: async () => undefined };
const refusingDispatcher: Dispatcher = {
  dispatch: async () => {
    throw new HelmgateError('internal', 'read-only approval service cannot dispatch');
  },
};

function readOnlyApprovals(
  store: DynamoDbDeploymentStore,
  approvers: CliTarget['approvers'],
  clock: Clock,
  logger: Logger,
  publicUrl: string,
  allowRendered: boolean,
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
  const { config } = base;
  const repoDir = path.resolve(t.cwd, t.env.HELMGATE_REPO_DIR ?? '.');
  // the stack's policy: HELMGATE_POLICY (as the stack sets it), else the packaged file in this checkout
  let loaded: LoadedPolicy | undefined;
  const policy = () => {
    const packaged = path.join(repoDir, 'helmgate-policy.yaml');
    loaded ??= loadPolicy({
      ...config,
      HELMGATE_POLICY: config.HELMGATE_POLICY ?? (existsSync(packaged) ? packaged : undefined),
    });
    return loaded;
  };
  const approvers = (d: ApproversKey) => approversFor(policy().policy, d);
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
    policy,
    charts: () => repositoryChartDigests({ fetch }),
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
      });
      return service;
    },
    readApprovals: () =>
      readOnlyApprovals(base.store, approvers, t.clock, logger, config.HELMGATE_PUBLIC_URL, false),
    repository: async () =>
      opts.repository ?? firstCsv(t.env.HELMGATE_REPOSITORIES) ?? (await originRepository(repoDir)),
    principal: () => awsPrincipal(opts, base.config.AWS_REGION),
    close: () => undefined,
  };
}
