import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import * as z from 'zod';
import { ApproversConfig } from '../approval/approval-port';
import type { ApprovalService, ApproversKey } from '../approval/approval-service';
import type { Clock } from '../clock';
import type { LoadedPolicy } from '../config/policy-loader';
import type { ChartDigestResolver } from '../deploy/plan';
import { HelmgateError } from '../errors';
import type { Git } from '../exec/git';
import type { Logger } from '../log/logger';
import type { Redactor } from '../log/redact';
import type { Notifier } from '../notify/notifier';
import type { SecretsProvider } from '../secrets/secrets-provider';
import type { DeploymentStore } from '../store/deployment-store';
import type { ReportingDispatcher } from './local-dispatch';

/** A usage problem (exit code 2): a missing flag, a bad argument, an unknown target. */
export class CliUsageError extends HelmgateError {
  override name = 'CliUsageError';
  constructor(message: string) {
    super('bad_request', message);
  }
}

/**
 * `.helmgate/stack.json` as the running local stack writes it (handlers/local/local-stack.ts). The optional
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
  env: Readonly<Record<string, string | undefined>>;
  cwd: string;
  clock: Clock;
  stderr: (s: string) => void;
}

/** Everything a command needs to talk to one helmgate installation. */
export interface CliTarget {
  mode: 'local' | 'aws';
  /** `local stack at http://…` or `AWS table helmgate in eu-west-1` */
  description: string;
  store: DeploymentStore;
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
  /** git, through the command runner */
  git: Git;
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

/** Reads and checks a local stack's state file. */
export function readState(file: string): LocalStackState {
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
