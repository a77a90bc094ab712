import { LambdaClient } from '@aws-sdk/client-lambda';
import type { WebClient } from '@slack/web-api';
import type { ApprovalPort, Decision, VoteOutcome } from '../lib/approval/approval-port';
import { approvalWiring } from '../lib/approval/aws-wiring';
import type { Clock } from '../lib/clock';
import { systemClock } from '../lib/clock';
import {
  type BackgroundJob,
  type BackgroundWork,
  isBackgroundEvent,
  LambdaBackgroundWork,
} from '../lib/dispatch/background';
import { HelmgateError, isHelmgateError } from '../lib/errors';
import {
  errorResponse,
  guardHttp,
  type HttpEvent,
  type HttpHandler,
  type HttpResult,
  header,
  rawBody,
} from '../lib/http/lambda-http';
import type { Logger } from '../lib/log/logger';
import {
  parseInteractionBody,
  parseSlackInteraction,
  type SlackAction,
  type SlackInteraction,
} from '../lib/slack/interaction';
import { escapeMrkdwn, shortSha } from '../lib/slack/messages';
import { verifySlackRequest } from '../lib/slack/verify-request';
import { createSlackWebClient, slackErrorCode } from '../lib/slack/web-client';
import type { DeploymentStore } from '../lib/store/deployment-store';
import { awsSlack } from '../lib/wiring/aws';

export const SLACK_INTERACTION_JOB = 'slack-interaction';
export type SlackInteractionJob = BackgroundJob<typeof SLACK_INTERACTION_JOB, SlackInteraction>;

export interface SlackInteractionsDeps {
  /** current and previous signing secrets (rotation); fetched once and cached by the caller */
  signingSecrets: () => Promise<string[]>;
  background: BackgroundWork<SlackInteractionJob>;
  clock: Clock;
  logger: Logger;
  /** Slack's payloads are a few KB; default 64 KiB */
  maxBodyBytes?: number;
  /** workspaces accepted (team ids); empty or absent = whichever the signing secret covers */
  teamIds?: readonly string[];
}

export interface SlackInteractionWorkerDeps {
  approvals: ApprovalPort;
  store: DeploymentStore;
  slack: { chat: Pick<WebClient['chat'], 'postEphemeral'> };
  logger: Logger;
  /** how many recent deployments "approve all" scans for the commit's; default 200 */
  scanLimit?: number;
}

const EMPTY_OK: HttpResult = { statusCode: 200, headers: { 'cache-control': 'no-store' }, body: '' };

/**
 * POST /slack/interactions. The signature is checked on the raw bytes before anything is parsed;
 * a request that fails it gets 401 and nothing is done. A verified button press is handed to
 * background work and acknowledged at once (Slack gives up after three seconds); the vote happens
 * there, and the message itself is refreshed by the notifier when the deployment changes.
 */
export function makeSlackInteractionsHandler(deps: SlackInteractionsDeps): HttpHandler {
  const maxBody = deps.maxBodyBytes ?? 64 * 1024;
  return async (event: HttpEvent) => {
    const log = deps.logger.child({ route: 'slack-interactions' });
    try {
      const body = rawBody(event);
      if (body.length > maxBody)
        throw new HelmgateError('payload_too_large', `body of ${body.length} bytes exceeds ${maxBody}`);
      const secrets = await deps.signingSecrets();
      if (secrets.length === 0)
        throw new HelmgateError(
          'not_configured',
          'Slack is not configured on this helmgate (no signing secret in its Slack secret)',
        );
      const verified = verifySlackRequest({
        signingSecrets: secrets,
        body,
        signature: header(event, 'x-slack-signature'),
        timestamp: header(event, 'x-slack-request-timestamp'),
        clock: deps.clock,
      });
      if (!verified.ok) {
        log.warn('slack signature rejected', { reason: verified.reason });
        throw new HelmgateError('invalid_signature', 'missing, stale or invalid Slack signature');
      }
      const contentType = header(event, 'content-type') ?? '';
      if (!contentType.startsWith('application/x-www-form-urlencoded'))
        throw new HelmgateError('unsupported_media_type', 'expected application/x-www-form-urlencoded');

      const parsed = parseInteractionBody(body);
      if (parsed.kind === 'ignored') {
        log.info('slack interaction ignored', { reason: parsed.reason });
        return EMPTY_OK;
      }
      const { interaction } = parsed;
      if (deps.teamIds && deps.teamIds.length > 0 && !deps.teamIds.includes(interaction.teamId ?? ''))
        throw new HelmgateError('forbidden', 'this Slack workspace is not allowed');
      await deps.background.enqueue({ kind: SLACK_INTERACTION_JOB, payload: interaction });
      log.info('slack interaction accepted', {
        slackUser: interaction.userId,
        actions: interaction.actions.length,
      });
      return EMPTY_OK;
    } catch (e) {
      return errorResponse(e, log);
    }
  };
}

interface Target {
  deploymentId: string;
  decision: Decision;
}

/** What happened to one vote, for the reply and for tests. */
export type VoteReport =
  | { deploymentId: string; decision: Decision; ok: true; outcome: VoteOutcome }
  | { deploymentId: string; decision: Decision; ok: false; code: string; message: string };

async function targetsOf(deps: SlackInteractionWorkerDeps, action: SlackAction): Promise<Target[]> {
  if (action.kind === 'approve') return [{ deploymentId: action.deploymentId, decision: 'approve' }];
  if (action.kind === 'reject') return [{ deploymentId: action.deploymentId, decision: 'reject' }];
  const recent = await deps.store.listDeployments({ limit: deps.scanLimit ?? 200 });
  return recent
    .filter((d) => d.sha.startsWith(action.sha) && d.status === 'awaiting_approval' && d.approval !== 'none')
    .map((d) => ({ deploymentId: d.id, decision: 'approve' as const }));
}

/**
 * The background half: one vote per target through the ApprovalPort, as the Slack user. Refusals
 * (forbidden, expired, superseded...) and partial outcomes are told to the voter alone
 * (`chat.postEphemeral`); successes show up when the notifier refreshes the message.
 */
export async function processSlackInteraction(
  deps: SlackInteractionWorkerDeps,
  interaction: SlackInteraction,
): Promise<VoteReport[]> {
  const log = deps.logger.child({ slackUser: interaction.userId });
  const reports: VoteReport[] = [];
  const lines: string[] = [];
  for (const action of interaction.actions) {
    const targets = await targetsOf(deps, action);
    if (action.kind === 'approve_all' && targets.length === 0)
      lines.push(
        `:information_source: Nothing at \`${shortSha(action.sha)}\` is waiting for approval any more.`,
      );
    for (const t of targets) {
      const env = await environmentOf(deps, t.deploymentId);
      try {
        const outcome = await deps.approvals.vote({
          deploymentId: t.deploymentId,
          voter: {
            kind: 'slack',
            id: interaction.userId,
            ...(interaction.userName ? { displayName: interaction.userName } : {}),
          },
          via: 'slack',
          decision: t.decision,
        });
        reports.push({ ...t, ok: true, outcome });
        log.info('slack vote', { deploymentId: t.deploymentId, decision: t.decision, outcome: outcome.kind });
        if (outcome.kind === 'recorded')
          lines.push(
            `:ballot_box_with_check: Your approval of *${env}* is recorded (${outcome.votes} of ${outcome.required}).`,
          );
        else if (outcome.kind === 'duplicate')
          lines.push(`:information_source: You already voted on *${env}*.`);
      } catch (e) {
        if (isHelmgateError(e)) {
          reports.push({ ...t, ok: false, code: e.code, message: e.message });
          log.info('slack vote refused', {
            deploymentId: t.deploymentId,
            decision: t.decision,
            code: e.code,
          });
          lines.push(`:no_entry_sign: Could not ${t.decision} *${env}*: ${escapeMrkdwn(e.message)}`);
        } else {
          reports.push({ ...t, ok: false, code: 'internal', message: 'internal error' });
          log.error('slack vote failed', { deploymentId: t.deploymentId, err: e });
          lines.push(`:warning: Could not ${t.decision} *${env}*: internal error; see helmgate's logs.`);
        }
      }
    }
  }
  if (lines.length > 0) await tell(deps, interaction, lines.join('\n'), log);
  return reports;
}

async function environmentOf(deps: SlackInteractionWorkerDeps, deploymentId: string): Promise<string> {
  try {
    const d = await deps.store.getDeployment(deploymentId);
    return escapeMrkdwn(d ? d.environment : deploymentId);
  } catch {
    return escapeMrkdwn(deploymentId);
  }
}

async function tell(
  deps: SlackInteractionWorkerDeps,
  i: SlackInteraction,
  text: string,
  log: Logger,
): Promise<void> {
  if (!i.channelId) {
    log.warn('slack interaction has no channel; cannot reply');
    return;
  }
  try {
    await deps.slack.chat.postEphemeral({ channel: i.channelId, user: i.userId, text });
  } catch (e) {
    log.warn('slack ephemeral reply failed', { slackError: slackErrorCode(e) });
  }
}

/**
 * The Lambda entry for one function that serves both halves: API Gateway events go to the HTTP
 * handler, its own async self-invocations (LambdaBackgroundWork) to the worker. Deps are built once
 * per container, on first use.
 */
export function makeSlackInteractionsLambda(
  build: () => Promise<SlackInteractionsDeps & SlackInteractionWorkerDeps>,
): (event: unknown) => Promise<HttpResult | undefined> {
  let built: Promise<{ http: HttpHandler; deps: SlackInteractionWorkerDeps }> | undefined;
  const get = () => {
    if (!built) {
      built = build().then((deps) => ({ http: makeSlackInteractionsHandler(deps), deps }));
      built.catch(() => {
        built = undefined;
      });
    }
    return built;
  };
  // HTTP events: a failed build (Slack not configured) is answered, not thrown at API Gateway
  const http = guardHttp(async (event) => (await get()).http(event), { hsts: true });
  return async (event: unknown) => {
    if (!isBackgroundEvent(event)) return http(event as HttpEvent);
    const { deps } = await get();
    if (event.job.kind !== SLACK_INTERACTION_JOB) {
      deps.logger.warn('unknown background job', { kind: event.job.kind });
      return undefined;
    }
    let interaction: SlackInteraction;
    try {
      interaction = parseSlackInteraction(event.job.payload);
    } catch (e) {
      deps.logger.warn('background slack interaction refused', { err: e });
      return undefined;
    }
    await processSlackInteraction(deps, interaction);
    return undefined;
  };
}

/** AWS: one function for both halves; its own name (AWS_LAMBDA_FUNCTION_NAME) receives the background jobs. */
export const handler = makeSlackInteractionsLambda(async () => {
  const w = await approvalWiring();
  const slack = await awsSlack(w.base);
  if (!slack)
    throw new HelmgateError(
      'not_configured',
      `Slack is not configured: secret ${w.base.config.HELMGATE_SLACK_SECRET_ID} does not exist`,
    );
  const self = process.env.AWS_LAMBDA_FUNCTION_NAME;
  if (!self) throw new HelmgateError('invalid_config', 'AWS_LAMBDA_FUNCTION_NAME is not set');
  return {
    signingSecrets: async () => slack.signingSecrets,
    background: new LambdaBackgroundWork<SlackInteractionJob>(
      new LambdaClient({ region: w.base.config.AWS_REGION }),
      self,
    ),
    clock: systemClock,
    logger: w.base.logger,
    teamIds: w.base.config.HELMGATE_SLACK_TEAM_IDS,
    approvals: w.service,
    store: w.base.store,
    slack: createSlackWebClient({ botToken: slack.botToken, logger: w.base.logger }),
  };
});
