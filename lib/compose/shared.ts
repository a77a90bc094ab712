/**
 * Pieces every target of the composition root (AWS, the local stack, the CLI) builds the same way.
 * The approval service is constructed here and nowhere else in lib/ or handlers/.
 */
import type { ApproversConfig } from '../approval/approval-port';
import { ApprovalService } from '../approval/approval-service';
import { type GithubOAuthConfig, parseOAuthClient } from '../auth/github-oauth';
import { githubRepositoryPermission, parseApiTokens, ReadAccess } from '../auth/read-access';
import { cookieSettingsFor } from '../auth/session';
import type { Clock } from '../clock';
import type { Dispatcher } from '../dispatch/dispatcher';
import { HelmgateError } from '../errors';
import type { Ancestry, GithubRequester } from '../github/branch-state';
import type { Logger } from '../log/logger';
import type { Redactor } from '../log/redact';
import { FanOutNotifier, type Notifier } from '../notify/notifier';
import type { Random } from '../random';
import { planAt } from '../runner/runner';
import { parseSecretList, type SecretResolver } from '../secrets/secrets-provider';
import { parseSlackSecret, type SlackCredentials } from '../slack/slack-secret';
import type { DeploymentStore } from '../store/deployment-store';
import { cached } from './lazy';

export interface ApprovalServiceInputs {
  store: DeploymentStore;
  notifier: Notifier;
  dispatcher: Dispatcher;
  clock: Clock;
  random: Random;
  logger: Logger;
  approvers: ApproversConfig;
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
}

/** The approval service (votes, offers, promotion), as every target builds it. */
export function approvalService(i: ApprovalServiceInputs): ApprovalService {
  const { deployConfigPath } = i;
  return new ApprovalService({
    store: i.store,
    notifier: i.notifier,
    dispatcher: i.dispatcher,
    clock: i.clock,
    random: i.random,
    logger: i.logger,
    approvers: i.approvers,
    publicUrl: i.publicUrl,
    ...(i.approvalTtlMs !== undefined ? { approvalTtlMs: i.approvalTtlMs } : {}),
    ...(i.allowRendered !== undefined ? { allowRendered: i.allowRendered } : {}),
    ...(i.ancestry ? { ancestry: i.ancestry } : {}),
    ...(deployConfigPath !== undefined
      ? {
          planFor: async (waiting, ctx) =>
            ctx.sourceDir ? planAt(ctx.sourceDir, deployConfigPath, waiting) : undefined,
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
  i: Omit<ApprovalServiceInputs, 'notifier' | 'dispatcher' | 'deployConfigPath'>,
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
): () => Promise<string[]> {
  return cached(
    async () => {
      const list = parseSecretList(await secrets.tryResolve({ secret: secretId }));
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
  oauthSecretId: string;
  signingKey: () => Promise<string>;
  ttlMs: number;
  clock: Clock;
  random: Random;
  logger: Logger;
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
      async () => parseOAuthClient(await i.secrets.tryResolve({ secret: i.oauthSecretId })),
      i.ttlMs,
      i.clock,
    ),
    signingKey: i.signingKey,
    cookies: cookieSettingsFor(publicUrl),
    clock: i.clock,
    random: i.random,
    logger: i.logger,
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
  approvers: ApproversConfig;
  /** helmgate's own GitHub client (its token), when configured */
  github?: () => Promise<GithubRequester | undefined>;
  ttlMs: number;
  clock: Clock;
  logger: Logger;
}): ReadAccess {
  const github = i.github;
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
    clock: i.clock,
    logger: i.logger,
    approvers: i.approvers,
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
  approvers: ApproversConfig;
  readAccess: ReadAccess;
  signingKey: () => Promise<string>;
  publicUrl: string;
  clock: Clock;
  logger: Logger;
}) {
  return {
    approvals: i.approvals,
    approvers: i.approvers,
    readAccess: i.readAccess,
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
  approvers: ApproversConfig;
  /** who reads (lib/auth/read-access): API tokens, approvers, GitHub readers of the repository */
  readAccess: ReadAccess;
  signingKey: () => Promise<string>;
  publicUrl: string;
  githubWebUrl: string;
  allowRendered?: boolean;
  clock: Clock;
  random: Random;
  logger: Logger;
}) {
  return {
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
