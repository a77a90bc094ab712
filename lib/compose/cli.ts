/**
 * The composition root for the operator CLI: the local stack's table and secrets file when a local
 * stack runs (its state file), otherwise AWS from the environment.
 */
import { existsSync } from 'node:fs';
import { userInfo } from 'node:os';
import path from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import type { ApproversConfig } from '../approval/approval-port';
import type { ApprovalService, ApproversKey } from '../approval/approval-service';
import { LocalHttpDispatcher, ReportingDispatcher } from '../cli/local-dispatch';
import {
  type CliTarget,
  CliUsageError,
  findStateFile,
  readState,
  type TargetEnv,
  type TargetOptions,
} from '../cli/target';
import { type LoadedPolicy, loadPolicy } from '../config/policy-loader';
import type { Dispatcher } from '../dispatch/dispatcher';
import { HelmgateError } from '../errors';
import { createProcessRunner } from '../exec/command-runner';
import { gitOver } from '../exec/git';
import { GithubBranchState, LocalBranchState } from '../github/branch-state';
import { originRepository } from '../github/origin-repository';
import { repositoryChartDigests } from '../helm/chart-digest';
import { createLogger, type Logger } from '../log/logger';
import { Redactor } from '../log/redact';
import { ConsoleNotifier, type Notifier } from '../notify/notifier';
import { approversFor } from '../policy/check';
import { Policy, policyDigest } from '../policy/policy';
import { cryptoRandom } from '../random';
import { FileSecretsProvider } from '../secrets/file-provider';
import { DynamoDbDeploymentStore } from '../store/dynamodb-deployment-store';
import { awsBase, awsDispatcher, awsNotifier, awsOctokit } from './aws';
import { approvalService, readOnlyApprovalService } from './shared';

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
          { repoDir: path.resolve(path.dirname(stateFile), state.repoDir), cwd: t.cwd },
        );
    }
    return loaded;
  };
  const approvers =
    state.approvers ?? ((d: ApproversKey): ApproversConfig => approversFor(policy().policy, d));
  const renderOnly = state.renderOnly ?? true;
  const dispatcher = new ReportingDispatcher(() => new LocalHttpDispatcher(state.url));
  const notifier: Notifier = new ConsoleNotifier(logger);
  const repoDir = path.resolve(path.dirname(stateFile), state.repoDir);
  const git = gitOver(createProcessRunner(), t.env);
  // rollbacks by commit ancestry, as the stack sees them: the same checkout
  const branches = new LocalBranchState(repoDir, git);
  const ancestry = (repository: string, base: string, head: string) =>
    branches.compare(repository, base, head);
  // the CLI's approval service and its read-only twin see the same store, approvers and stack
  const approvalInputs = {
    store,
    clock: t.clock,
    random: cryptoRandom,
    logger,
    redactor,
    approvers,
    publicUrl: state.url,
    allowRendered: renderOnly,
    ancestry,
  };
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
    git,
    deployConfigPath: state.deployConfigPath,
    renderOnly,
    publicUrl: state.url,
    dispatcher,
    notifier: async () => notifier,
    approvals: async () => approvalService({ ...approvalInputs, notifier, dispatcher }),
    readApprovals: () => readOnlyApprovalService(approvalInputs),
    repository: async () =>
      opts.repository ??
      state.repositories?.[0] ??
      firstCsv(t.env.HELMGATE_REPOSITORIES) ??
      (await originRepository(git, repoDir)),
    principal: async () => localPrincipal(opts, t),
    close: () => dynamo.destroy(),
  };
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
  // rollbacks by commit ancestry: GitHub's compare API with helmgate's token (built on first use)
  let branches: Promise<GithubBranchState> | undefined;
  const ancestry = async (repository: string, b: string, head: string) => {
    branches ??= awsOctokit(baseWithLogger).then((o) => new GithubBranchState(o));
    return (await branches).compare(repository, b, head);
  };
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
  const approvers = (d: ApproversKey): ApproversConfig => approversFor(policy().policy, d);
  const git = gitOver(createProcessRunner(), t.env);
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
    git,
    deployConfigPath: config.HELMGATE_DEPLOY_CONFIG,
    renderOnly: false,
    publicUrl: config.HELMGATE_PUBLIC_URL,
    dispatcher,
    notifier: notifierOnce,
    approvals: async () => {
      // Slack and GitHub Deployments hear about CLI decisions as they do about web ones
      service ??= approvalService({
        store: base.store,
        notifier: await notifierOnce(),
        dispatcher,
        clock: t.clock,
        random: cryptoRandom,
        logger,
        redactor,
        approvers,
        publicUrl: config.HELMGATE_PUBLIC_URL,
        approvalTtlMs: config.HELMGATE_APPROVAL_TTL_HOURS * 3600_000,
        ancestry,
      });
      return service;
    },
    readApprovals: () =>
      readOnlyApprovalService({
        store: base.store,
        clock: t.clock,
        random: cryptoRandom,
        logger,
        redactor,
        approvers,
        publicUrl: config.HELMGATE_PUBLIC_URL,
        allowRendered: false,
        ancestry,
      }),
    repository: async () =>
      opts.repository ?? firstCsv(t.env.HELMGATE_REPOSITORIES) ?? (await originRepository(git, repoDir)),
    principal: () => awsPrincipal(opts, base.config.AWS_REGION),
    close: () => undefined,
  };
}
