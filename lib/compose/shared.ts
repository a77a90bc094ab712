/**
 * Pieces every target of the composition root (AWS, the local stack, the CLI) builds the same way.
 * The approval service is constructed here and nowhere else in lib/ or handlers/.
 */
import type { ApproversConfig } from '../approval/approval-port';
import { ApprovalService, type ApprovalServiceDeps, type ApproversKey } from '../approval/approval-service';
import { type GithubOAuthConfig, parseOAuthClient } from '../auth/github-oauth';
import { githubRepositoryPermission, parseApiTokens, ReadAccess } from '../auth/read-access';
import { cookieSettingsFor } from '../auth/session';
import type { SessionRegistry } from '../auth/session-registry';
import type { TeamMembership } from '../auth/team-membership';
import type { Clock } from '../clock';
import type { ChartDigestResolver } from '../deploy/plan';
import type { Dispatcher } from '../dispatch/dispatcher';
import { HelmgateError } from '../errors';
import { parseGithubAppSecret } from '../github/app-auth';
import type { Ancestry, GithubRequester } from '../github/branch-state';
import type { CachedDigests } from '../helm/chart-digest';
import { repositoryChartDigests } from '../helm/chart-digest';
import { type OutboundGuard, outboundGuard } from '../http/outbound-guard';
import type { Logger } from '../log/logger';
import type { Redactor } from '../log/redact';
import { FanOutNotifier, type Notifier } from '../notify/notifier';
import { approversFor } from '../policy/check';
import { outboundHosts, type Policy } from '../policy/policy';
import type { Random } from '../random';
import { planAt, planFrom } from '../runner/runner';
import { parseSecretList, type SecretResolver } from '../secrets/secrets-provider';
import { parseSlackSecret, type SlackCredentials } from '../slack/slack-secret';
import type { DeploymentStore } from '../store/deployment-store';
import { cached } from './lazy';

export interface ApprovalServiceInputs
  extends Pick<
    ApprovalServiceDeps,
    'store' | 'notifier' | 'dispatcher' | 'clock' | 'random' | 'logger' | 'redactor'
  > {
  /** who may approve: `approversOf(policy)` (tests may pass a fixed config) */
  approvers: Approvers;
  publicUrl: string;
  approvalTtlMs?: number;
  /** count `rendered` as success (the render-only local stack) */
  allowRendered?: boolean;
  /** commit ancestry (BranchState.compare): rollbacks by ancestry, not push time */
  ancestry?: (repository: string, base: string, head: string) => Promise<Ancestry>;
  /**
   * The deploy config path, when this service promotes waiting environments after a finished run (the
   * runner passes the finished deployment's tree): plans are then read from that tree.
   */
  deployConfigPath?: string;
  /** with `deployConfigPath`: plans are checked against this policy, as the runner checks them */
  policy?: Policy;
  /** with `deployConfigPath`: pins remote charts as the runner does (a fresh resolver per plan) */
  charts?: () => ChartDigestResolver;
}

/** Who may approve a deployment: a fixed config, or per deployment from the policy. */
export type Approvers = ApproversConfig | ((d: ApproversKey) => ApproversConfig);

/** The approvers of the operator policy (HELMGATE_APPROVERS is merged into it by the loader). */
export function approversOf(policy: Policy): (d: ApproversKey) => ApproversConfig {
  return (d) => approversFor(policy, d);
}

/**
 * Where an environment's requests on behalf of a commit may go (chart pulls, health checks): the
 * hosts of its allowed chart repositories and health hosts, at public addresses (lib/http/outbound-guard).
 */
export function outboundOf(policy: Policy): (environment: string) => OutboundGuard {
  const guards = new Map<string, OutboundGuard>();
  return (environment) => {
    let g = guards.get(environment);
    if (!g) {
      g = outboundGuard({ hosts: outboundHosts(policy, environment) });
      guards.set(environment, g);
    }
    return g;
  };
}

/**
 * Pins remote charts to their repository digests (a fresh resolver per call: a warm process must not
 * remember an index a re-publish changed), through the outbound guard: the policy's chart hosts at
 * public addresses; an OCI registry's token service at a public address.
 */
export function chartDigestsOf(policy: Policy, cache?: CachedDigests) {
  const repositories = outboundGuard({ hosts: outboundHosts(policy) });
  const tokens = outboundGuard();
  return () =>
    repositoryChartDigests({
      fetch,
      ...(cache ? { cache } : {}),
      check: (url, purpose) => (purpose === 'token' ? tokens : repositories).check(url),
    });
}

/** The approval service (votes, offers, promotion), as every target builds it. */
export function approvalService(i: ApprovalServiceInputs): ApprovalService {
  const { deployConfigPath, policy } = i;
  return new ApprovalService({
    store: i.store,
    notifier: i.notifier,
    dispatcher: i.dispatcher,
    clock: i.clock,
    random: i.random,
    logger: i.logger,
    redactor: i.redactor,
    approvers: i.approvers,
    publicUrl: i.publicUrl,
    ...(i.approvalTtlMs !== undefined ? { approvalTtlMs: i.approvalTtlMs } : {}),
    ...(i.allowRendered !== undefined ? { allowRendered: i.allowRendered } : {}),
    ...(i.ancestry ? { ancestry: i.ancestry } : {}),
    ...(deployConfigPath !== undefined && policy !== undefined
      ? {
          planFor: async (waiting, ctx) =>
            ctx.source
              ? planFrom(ctx.source, deployConfigPath, waiting, { policy, charts: i.charts?.() })
              : ctx.sourceDir
                ? planAt(ctx.sourceDir, deployConfigPath, waiting, { policy, charts: i.charts?.() })
                : undefined,
        }
      : {}),
  });
}

const silentNotifier: Notifier = { deploymentChanged: async () => undefined };
const refusingDispatcher: Dispatcher = {
  dispatch: async () => {
    throw new HelmgateError('internal', 'read-only approval service cannot dispatch');
  },
};

/** The same service for reading only (view, current snapshot): it notifies nobody and dispatches nothing. */
export function readOnlyApprovalService(
  i: Omit<ApprovalServiceInputs, 'notifier' | 'dispatcher' | 'deployConfigPath' | 'policy' | 'charts'>,
): ApprovalService {
  return approvalService({ ...i, notifier: silentNotifier, dispatcher: refusingDispatcher });
}

/** One notifier out of several: the first alone when there is only one. */
export function notifierOf(notifiers: Notifier[], logger: Logger): Notifier {
  return notifiers.length === 1 ? (notifiers[0] as Notifier) : new FanOutNotifier(notifiers, logger);
}

/** The webhook secrets (a list: rotation), registered with the redactor, re-read every `ttlMs`. */
export function webhookSecretsFrom(
  secrets: SecretResolver,
  redactor: Redactor,
  secretId: string,
  ttlMs: number,
  clock: Clock,
  /** the GitHub App secret: its `webhookSecret` signs the App's deliveries */
  githubAppSecretId?: string,
): () => Promise<string[]> {
  return cached(
    async () => {
      const list = parseSecretList(await secrets.tryResolve({ secret: secretId }));
      const appText = githubAppSecretId ? await secrets.tryResolve({ secret: githubAppSecretId }) : undefined;
      if (appText) {
        const app = parseGithubAppSecret(appText, githubAppSecretId);
        if (app.webhookSecret) list.push(app.webhookSecret);
      }
      for (const s of list) redactor.register(s);
      return list;
    },
    ttlMs,
    clock,
  );
}

/** Slack credentials when the Slack secret exists (Slack is optional), registered with the redactor. */
export async function slackCredentialsFrom(
  secrets: SecretResolver,
  redactor: Redactor,
  secretId: string,
): Promise<SlackCredentials | undefined> {
  const text = await secrets.tryResolve({ secret: secretId });
  if (!text) return undefined;
  const slack = parseSlackSecret(text);
  for (const s of [slack.botToken, ...slack.signingSecrets]) redactor.register(s);
  return slack;
}

/** What the GitHub login (handlers/auth.ts) needs, from the secrets it reads. */
export function authDepsFrom(i: {
  publicUrl: string;
  githubWebUrl: string;
  githubApiUrl: string;
  secrets: SecretResolver;
  /** the login secret: the GitHub App's client id and secret (`setup github`) or an OAuth app's; never the App secret */
  oauthSecretId: string;
  /** learns the login's client secret */
  redactor?: Redactor;
  signingKey: () => Promise<string>;
  ttlMs: number;
  clock: Clock;
  random: Random;
  logger: Logger;
  /** server-side session records (logout revokes them) */
  sessions?: SessionRegistry;
  /** login lifetime (HELMGATE_SESSION_TTL_MINUTES) */
  sessionTtlMs?: number;
}) {
  const publicUrl = i.publicUrl.replace(/\/+$/, '');
  const oauth: GithubOAuthConfig = {
    githubWebUrl: i.githubWebUrl,
    githubApiUrl: i.githubApiUrl,
    redirectUri: `${publicUrl}/auth/github/callback`,
  };
  return {
    oauth,
    oauthClient: cached(
      async () => {
        // only the login secret: the auth function cannot read the App secret (its private key)
        const client = parseOAuthClient(
          await i.secrets.tryResolve({ secret: i.oauthSecretId }),
          i.oauthSecretId,
        );
        i.redactor?.register(client.clientSecret);
        return client;
      },
      i.ttlMs,
      i.clock,
    ),
    signingKey: i.signingKey,
    cookies: cookieSettingsFor(publicUrl),
    clock: i.clock,
    random: i.random,
    logger: i.logger,
    ...(i.sessions ? { sessions: i.sessions } : {}),
    ...(i.sessionTtlMs !== undefined ? { sessionTtlMs: i.sessionTtlMs } : {}),
  };
}

/**
 * Who may read (handlers/deployments.ts, the approval page): API tokens from `apiTokensId` (re-read
 * every `ttlMs`, so a rotation needs no redeploy), GitHub sessions, and GitHub's collaborators
 * permission API when helmgate has a GitHub client.
 */
export function readAccessFrom(i: {
  secrets: SecretResolver;
  redactor: Redactor;
  apiTokensId: string;
  signingKey: () => Promise<string>;
  publicUrl: string;
  /** an approver of any environment of a repository reads its deployments */
  approvers: Approvers;
  /** helmgate's own GitHub client (its token), when configured */
  github?: () => Promise<GithubRequester | undefined>;
  /** server-side session records: a logged-out session reads nothing */
  sessions?: SessionRegistry;
  ttlMs: number;
  clock: Clock;
  logger: Logger;
}): ReadAccess {
  const { github, approvers } = i;
  return new ReadAccess({
    apiTokens: cached(
      async () => {
        const list = parseApiTokens(await i.secrets.tryResolve({ secret: i.apiTokensId }));
        for (const t of list) i.redactor.register(t);
        return list;
      },
      i.ttlMs,
      i.clock,
    ),
    signingKey: i.signingKey,
    cookies: cookieSettingsFor(i.publicUrl.replace(/\/+$/, '')),
    ...(i.sessions ? { sessions: i.sessions } : {}),
    clock: i.clock,
    logger: i.logger,
    approvers: (repository: string) =>
      typeof approvers === 'function'
        ? // the policy's approvers of every environment of the repository (no commit narrows them)
          approvers({ repository, environment: '' })
        : approvers,
    ...(github
      ? {
          repositoryPermission: async (repository: string, login: string) => {
            const client = await github();
            return client ? githubRepositoryPermission(client)(repository, login) : 'none';
          },
        }
      : {}),
  });
}

/** What the approval page (handlers/approval.ts) needs. */
export function approvalPageDepsFrom(i: {
  approvals: ApprovalService;
  approvers: Approvers;
  readAccess: ReadAccess;
  signingKey: () => Promise<string>;
  publicUrl: string;
  clock: Clock;
  logger: Logger;
  sessions?: SessionRegistry;
  teamMembership?: TeamMembership;
}) {
  return {
    ...(i.sessions ? { sessions: i.sessions } : {}),
    ...(i.teamMembership ? { teamMembership: i.teamMembership } : {}),
    approvals: i.approvals,
    approvers: i.approvers,
    readAccess: i.readAccess,
    signingKey: i.signingKey,
    cookies: cookieSettingsFor(i.publicUrl.replace(/\/+$/, '')),
    clock: i.clock,
    logger: i.logger,
  };
}

/** What the deployment page's buttons (handlers/deployment-actions.ts: retry, freeze override) need. */
export function deploymentActionsDepsFrom(i: {
  store: DeploymentStore;
  notifier: Notifier;
  dispatcher: Dispatcher;
  approvals: ApprovalService;
  approvers: Approvers;
  signingKey: () => Promise<string>;
  publicUrl: string;
  clock: Clock;
  logger: Logger;
  sessions?: SessionRegistry;
  teamMembership?: TeamMembership;
}) {
  return {
    ...(i.sessions ? { sessions: i.sessions } : {}),
    ...(i.teamMembership ? { teamMembership: i.teamMembership } : {}),
    store: i.store,
    notifier: i.notifier,
    dispatcher: i.dispatcher,
    approvers: i.approvers,
    approvalOf: (id: string) => i.approvals.getRequest(id),
    signingKey: i.signingKey,
    cookies: cookieSettingsFor(i.publicUrl.replace(/\/+$/, '')),
    clock: i.clock,
    logger: i.logger,
  };
}

/** What the dashboard (handlers/dashboard.ts) needs besides its JSON half and the local login link. */
export function dashboardDepsFrom(i: {
  store: DeploymentStore;
  approvals: ApprovalService;
  approvers: Approvers;
  /** who reads (lib/auth/read-access): API tokens, approvers, GitHub readers of the repository */
  readAccess: ReadAccess;
  signingKey: () => Promise<string>;
  publicUrl: string;
  githubWebUrl: string;
  allowRendered?: boolean;
  clock: Clock;
  random: Random;
  logger: Logger;
  sessions?: SessionRegistry;
  sessionTtlMs?: number;
  repositories?: readonly string[];
}) {
  return {
    ...(i.sessions ? { sessions: i.sessions } : {}),
    ...(i.repositories ? { repositories: i.repositories } : {}),
    ...(i.sessionTtlMs !== undefined ? { sessionTtlMs: i.sessionTtlMs } : {}),
    store: i.store,
    approvals: i.approvals,
    approvers: i.approvers,
    readAccess: i.readAccess,
    signingKey: i.signingKey,
    cookies: cookieSettingsFor(i.publicUrl.replace(/\/+$/, '')),
    githubWebUrl: i.githubWebUrl,
    ...(i.allowRendered !== undefined ? { allowRendered: i.allowRendered } : {}),
    clock: i.clock,
    random: i.random,
    logger: i.logger,
  };
}
