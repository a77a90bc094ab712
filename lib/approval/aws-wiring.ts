import { LambdaClient } from '@aws-sdk/client-lambda';
import type { ApprovalHandlerDeps } from '../../handlers/approval';
import type { AuthDeps } from '../../handlers/auth';
import { type GithubOAuthConfig, parseOAuthClient } from '../auth/github-oauth';
import { cookieSettingsFor } from '../auth/session';
import { systemClock } from '../clock';
import { LambdaDispatcher } from '../dispatch/dispatcher';
import { HelmgateError } from '../errors';
import { ConsoleNotifier } from '../notify/notifier';
import { cryptoRandom } from '../random';
import type { SweeperDeps } from '../sweeper/sweeper';
import { type AwsBase, awsBase } from '../wiring/aws';
import { cached } from '../wiring/lazy';
import { ApproversConfig } from './approval-port';
import { ApprovalService } from './approval-service';

/**
 * Environment this feature reads (besides AppConfig): HELMGATE_APPROVERS (JSON ApproversConfig),
 * HELMGATE_APPROVAL_TTL_HOURS, HELMGATE_OAUTH_SECRET_ID (default helmgate/github-oauth),
 * HELMGATE_SIGNING_KEY_ID (default helmgate/approval-signing-key), HELMGATE_GITHUB_WEB_URL,
 * HELMGATE_GITHUB_API_URL.
 */
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
}

export function approvalWiring(env: Record<string, string | undefined> = process.env): ApprovalWiring {
  const base = awsBase(env);
  const approvers = parseApprovers(env.HELMGATE_APPROVERS);
  const fn = base.config.HELMGATE_RUNNER_FUNCTION;
  if (!fn) throw new HelmgateError('invalid_config', 'HELMGATE_RUNNER_FUNCTION is not set');
  const ttlHours = Number(env.HELMGATE_APPROVAL_TTL_HOURS ?? 24);
  const service = new ApprovalService({
    store: base.store,
    notifier: new ConsoleNotifier(base.logger),
    dispatcher: new LambdaDispatcher(new LambdaClient({ region: base.config.AWS_REGION }), fn),
    clock: systemClock,
    random: cryptoRandom,
    logger: base.logger,
    approvers,
    publicUrl: base.config.HELMGATE_PUBLIC_URL,
    approvalTtlMs: (Number.isFinite(ttlHours) && ttlHours > 0 ? ttlHours : 24) * 3600_000,
  });
  const keyId = env.HELMGATE_SIGNING_KEY_ID ?? 'helmgate/approval-signing-key';
  const signingKey = cached(async () => base.secrets.resolve({ secret: keyId }), 5 * 60_000);
  return { base, service, approvers, signingKey };
}

export function awsApprovalDeps(w: ApprovalWiring = approvalWiring()): ApprovalHandlerDeps {
  return {
    approvals: w.service,
    approvers: w.approvers,
    signingKey: w.signingKey,
    cookies: cookieSettingsFor(w.base.config.HELMGATE_PUBLIC_URL),
    clock: systemClock,
    logger: w.base.logger,
  };
}

export function awsAuthDeps(env: Record<string, string | undefined> = process.env): AuthDeps {
  const w = approvalWiring(env);
  const publicUrl = w.base.config.HELMGATE_PUBLIC_URL.replace(/\/+$/, '');
  const oauth: GithubOAuthConfig = {
    githubWebUrl: env.HELMGATE_GITHUB_WEB_URL ?? 'https://github.com',
    githubApiUrl: env.HELMGATE_GITHUB_API_URL ?? 'https://api.github.com',
    redirectUri: `${publicUrl}/auth/github/callback`,
  };
  const oauthId = env.HELMGATE_OAUTH_SECRET_ID ?? 'helmgate/github-oauth';
  return {
    oauth,
    oauthClient: cached(async () => {
      const client = parseOAuthClient(await w.base.secrets.tryResolve({ secret: oauthId }));
      return client;
    }, 5 * 60_000),
    signingKey: w.signingKey,
    cookies: cookieSettingsFor(publicUrl),
    clock: systemClock,
    random: cryptoRandom,
    logger: w.base.logger,
  };
}

export function awsSweeperDeps(w: ApprovalWiring = approvalWiring()): SweeperDeps {
  const fn = w.base.config.HELMGATE_RUNNER_FUNCTION as string;
  return {
    store: w.base.store,
    notifier: new ConsoleNotifier(w.base.logger),
    dispatcher: new LambdaDispatcher(new LambdaClient({ region: w.base.config.AWS_REGION }), fn),
    clock: systemClock,
    logger: w.base.logger,
  };
}
