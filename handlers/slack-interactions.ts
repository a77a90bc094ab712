import type { Clock } from '../lib/clock';
import { composeAws } from '../lib/compose/aws';
import { once } from '../lib/compose/lazy';
import { type BackgroundWork, isBackgroundEvent } from '../lib/dispatch/background';
import { HelmgateError } from '../lib/errors';
import {
  errorResponse,
  guardHttp,
  type HttpEvent,
  type HttpHandler,
  type HttpResult,
  header,
  rawBody,
} from '../lib/http/lambda-http';
import { withLambdaContext } from '../lib/log/lambda-logger';
import type { Logger } from '../lib/log/logger';
import { parseInteractionBody } from '../lib/slack/interaction';
import { verifySlackRequest } from '../lib/slack/verify-request';
import {
  runSlackBackgroundJob,
  SLACK_INTERACTION_JOB,
  type SlackInteractionJob,
  type SlackInteractionWorkerDeps,
} from '../lib/slack/vote-worker';

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

/**
 * The Lambda entry for one function that serves both halves: API Gateway events go to the HTTP
 * handler, its own async self-invocations (LambdaBackgroundWork) to the worker (lib/slack/vote-worker),
 * which parses the job before acting on it. Deps are built once per container, on first use.
 */
export function makeSlackInteractionsLambda(
  build: () => Promise<SlackInteractionsDeps & SlackInteractionWorkerDeps>,
): (event: unknown) => Promise<HttpResult | undefined> {
  const get = once(async () => {
    const deps = await build();
    return { http: makeSlackInteractionsHandler(deps), deps };
  });
  // HTTP events: a failed build (Slack not configured) is answered, not thrown at API Gateway
  const http = guardHttp(async (event) => (await get()).http(event), { hsts: true });
  return async (event: unknown) => {
    if (!isBackgroundEvent(event)) return http(event as HttpEvent);
    const { deps } = await get();
    await runSlackBackgroundJob(deps, event.job);
    return undefined;
  };
}

/** AWS: one function for both halves; its own name (AWS_LAMBDA_FUNCTION_NAME) receives the background jobs. */
export const handler = withLambdaContext(makeSlackInteractionsLambda(() => composeAws().slack()));
