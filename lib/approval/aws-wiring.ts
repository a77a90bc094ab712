import type { ApprovalHandlerDeps } from '../../handlers/approval';
import type { AuthDeps } from '../../handlers/auth';
import { type GithubOAuthConfig, parseOAuthClient } from '../auth/github-oauth';
import { githubRepositoryPermission, parseApiTokens, ReadAccess } from '../auth/read-access';
import { cookieSettingsFor } from '../auth/session';
import { systemClock } from '../clock';
import type { Dispatcher } from '../dispatch/dispatcher';
import { HelmgateError } from '../errors';
import { GithubBranchState } from '../github/branch-state';
import type { Notifier } from '../notify/notifier';
import { cryptoRandom } from '../random';
import { planAt } from '../runner/runner';
import type { SweeperDeps } from '../sweeper/sweeper';
import { type AwsBase, awsBase, awsDispatcher, awsNotifier, awsOctokit } from '../wiring/aws';
import { cached } from '../wiring/lazy';
import { ApproversConfig } from './approval-port';
import { ApprovalService } from './approval-service';

/** Parses HELMGATE_APPROVERS; the error names the bad field, never more. */
export function parseApprovers(raw: string | undefined): ApproversConfig {
  let json: unknown;
  try {
    json = JSON.parse(raw ?? '{}');
  } catch {
    throw new HelmgateError('invalid_config', 'HELMGATE_APPROVERS is not JSON');
  }
  const parsed = ApproversConfig.safeParse(json);
  if (!parsed.success)
    throw new HelmgateError(
      'invalid_config',
      `HELMGATE_APPROVERS: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  return parsed.data;
}

export interface ApprovalWiring {
  base: AwsBase;
  service: ApprovalService;
  approvers: ApproversConfig;
  signingKey: () => Promise<string>;
  notifier: Notifier;
  dispatcher: Dispatcher;
}

/** The approval service as every AWS handler that votes or promotes builds it. */
export async function approvalWiring(base: AwsBase = awsBase()): Promise<ApprovalWiring> {
  const { config } = base;
  const approvers = parseApprovers(config.HELMGATE_APPROVERS);
  const notifier = await awsNotifier(base);
  const dispatcher = awsDispatcher(base);
  // rollbacks by commit ancestry: GitHub's compare API with helmgate's token (built on first use)
  let branchState: Promise<GithubBranchState> | undefined;
  const branches = () => {
    branchState ??= awsOctokit(base).then((o) => new GithubBranchState(o));
    return branchState;
  };
  const service = new ApprovalService({
    store: base.store,
    notifier,
    dispatcher,
    clock: systemClock,
    random: cryptoRandom,
    logger: base.logger,
    approvers,
    publicUrl: config.HELMGATE_PUBLIC_URL,
    approvalTtlMs: config.HELMGATE_APPROVAL_TTL_HOURS * 3600_000,
    ancestry: async (repository, b, head) => (await branches()).compare(repository, b, head),
    planFor: async (waiting, ctx) =>
      ctx.sourceDir ? planAt(ctx.sourceDir, config.HELMGATE_DEPLOY_CONFIG, waiting) : undefined,
  });
  const signingKey = cached(
    async () => base.secrets.resolve({ secret: config.HELMGATE_SIGNING_KEY_ID }),
    5 * 60_000,
  );
  return { base, service, approvers, signingKey, notifier, dispatcher };
}

export function approvalHandlerDeps(w: ApprovalWiring): Omit<ApprovalHandlerDeps, 'readAccess'> {
  return {
    approvals: w.service,
    approvers: w.approvers,
    signingKey: w.signingKey,
    cookies: cookieSettingsFor(w.base.config.HELMGATE_PUBLIC_URL),
    clock: systemClock,
    logger: w.base.logger,
  };
}

export function awsAuthDeps(base: AwsBase = awsBase()): AuthDeps {
  const { config } = base;
  const publicUrl = config.HELMGATE_PUBLIC_URL.replace(/\/+$/, '');
  const oauth: GithubOAuthConfig = {
    githubWebUrl: config.HELMGATE_GITHUB_WEB_URL,
    githubApiUrl: config.HELMGATE_GITHUB_API_URL,
    redirectUri: `${publicUrl}/auth/github/callback`,
  };
  return {
    oauth,
    oauthClient: cached(
      async () =>
        parseOAuthClient(await base.secrets.tryResolve({ secret: config.HELMGATE_OAUTH_SECRET_ID })),
      5 * 60_000,
    ),
    signingKey: cached(
      async () => base.secrets.resolve({ secret: config.HELMGATE_SIGNING_KEY_ID }),
      5 * 60_000,
    ),
    cookies: cookieSettingsFor(publicUrl),
    clock: systemClock,
    random: cryptoRandom,
    logger: base.logger,
  };
}

/**
 * Who may read deployments in AWS: API tokens from Secrets Manager (re-read every 5 minutes, so a
 * rotation needs no redeploy), GitHub sessions, and GitHub's collaborators API when helmgate has a
 * GitHub token.
 */
export async function awsReadAccess(base: AwsBase = awsBase()): Promise<ReadAccess> {
  const { config } = base;
  const hasGithubToken =
    (await base.secrets.tryResolve({ secret: config.HELMGATE_GITHUB_TOKEN_ID })) !== undefined;
  const octokit = hasGithubToken ? await awsOctokit(base) : undefined;
  return new ReadAccess({
    apiTokens: cached(async () => {
      const list = parseApiTokens(await base.secrets.tryResolve({ secret: config.HELMGATE_API_TOKENS_ID }));
      for (const t of list) base.redactor.register(t);
      return list;
    }, 5 * 60_000),
    signingKey: cached(
      async () => base.secrets.resolve({ secret: config.HELMGATE_SIGNING_KEY_ID }),
      5 * 60_000,
    ),
    cookies: cookieSettingsFor(config.HELMGATE_PUBLIC_URL),
    clock: systemClock,
    logger: base.logger,
    approvers: parseApprovers(config.HELMGATE_APPROVERS),
    ...(octokit ? { repositoryPermission: githubRepositoryPermission(octokit) } : {}),
  });
}

export function sweeperDeps(w: ApprovalWiring): SweeperDeps {
  return {
    store: w.base.store,
    notifier: w.notifier,
    dispatcher: w.dispatcher,
    clock: systemClock,
    logger: w.base.logger,
  };
}
