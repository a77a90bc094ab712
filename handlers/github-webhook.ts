import { composeAws } from '../lib/compose/aws';
import { lazyHandler } from '../lib/compose/lazy';
import { HelmgateError } from '../lib/errors';
import type { InstallationDirectory } from '../lib/github/app-auth';
import { decidePush, PushEvent } from '../lib/github/push-event';
import { verifyGithubSignature } from '../lib/github/verify-signature';
import {
  errorResponse,
  guardHttp,
  type HttpEvent,
  type HttpHandler,
  header,
  json,
  rawBody,
} from '../lib/http/lambda-http';
import { acceptPush, type PushIntakeDeps } from '../lib/intake/push-intake';
import { withLambdaContext } from '../lib/log/lambda-logger';

export interface GithubWebhookDeps extends PushIntakeDeps {
  repositories: readonly string[];
  branches: readonly string[];
  maxBodyBytes: number;
  /**
   * current and previous webhook secrets (rotation), and the GitHub App's webhook secret when there is
   * one; fetched once and cached by the caller
   */
  webhookSecrets: () => Promise<string[]>;
  /**
   * With a GitHub App: which of its installations serves a repository, as GitHub answers the App's JWT
   * (lib/github/app-auth.ts). A push is accepted only for a repository the App is installed on; the
   * installation id in the body is a hint, never the answer.
   */
  githubApp?: Pick<InstallationDirectory, 'verify' | 'forget'>;
}

/** App events about installations: helmgate forgets what it cached and deploys nothing. */
const INSTALLATION_EVENTS = new Set(['installation', 'installation_repositories']);

const DELIVERY_ID = /^[\w-]{1,100}$/;

/**
 * POST /webhook. Order matters: size, then signature on the raw bytes, and only then is the body
 * parsed. Nothing is recorded for a request that fails any check.
 */
export function makeGithubWebhookHandler(deps: GithubWebhookDeps): HttpHandler {
  return async (event: HttpEvent) => {
    const deliveryId = header(event, 'x-github-delivery') ?? '';
    const log = deps.logger.child({ deliveryId: DELIVERY_ID.test(deliveryId) ? deliveryId : 'invalid' });
    try {
      const body = rawBody(event);
      if (body.length > deps.maxBodyBytes)
        throw new HelmgateError(
          'payload_too_large',
          `body of ${body.length} bytes exceeds ${deps.maxBodyBytes}`,
        );
      const secrets = await deps.webhookSecrets();
      if (secrets.length === 0) throw new HelmgateError('invalid_config', 'no webhook secret is configured');
      if (!(await verifyGithubSignature(secrets, body, header(event, 'x-hub-signature-256')))) {
        log.warn('webhook signature rejected');
        throw new HelmgateError('invalid_signature', 'missing or invalid X-Hub-Signature-256');
      }
      if (!DELIVERY_ID.test(deliveryId))
        throw new HelmgateError('bad_request', 'missing or malformed X-GitHub-Delivery');
      const name = header(event, 'x-github-event');
      if (!name) throw new HelmgateError('bad_request', 'missing X-GitHub-Event');
      const contentType = header(event, 'content-type') ?? 'application/json';
      if (!contentType.startsWith('application/json'))
        throw new HelmgateError('unsupported_media_type', 'set the webhook content type to application/json');

      let payload: unknown;
      try {
        payload = JSON.parse(body.toString('utf8'));
      } catch {
        throw new HelmgateError('bad_request', 'body is not valid JSON');
      }
      if (name === 'ping') return json(200, { ok: true, message: 'pong' });
      if (INSTALLATION_EVENTS.has(name)) {
        // the App was installed, uninstalled, or given other repositories: ask GitHub afresh next time
        deps.githubApp?.forget();
        log.info('github app installation changed', { event: name });
        return json(202, { ignored: true, reason: `event ${name} changes no deployment` });
      }
      if (name !== 'push') return json(202, { ignored: true, reason: `event ${name} is not handled` });

      const parsed = PushEvent.safeParse(payload);
      if (!parsed.success) {
        const first = parsed.error.issues[0];
        throw new HelmgateError(
          'bad_request',
          `not a push event: ${first?.path.join('.')}: ${first?.message}`,
        );
      }
      const push = parsed.data;
      if (!deps.repositories.includes(push.repository.full_name)) {
        // an App installed on a whole account sends every repository's pushes: answered, not failed
        if (push.installation && deps.githubApp)
          return json(202, {
            ignored: true,
            reason: `repository ${push.repository.full_name} is not one helmgate deploys`,
          });
        throw new HelmgateError('forbidden', `repository ${push.repository.full_name} is not allowed`);
      }
      const decision = decidePush(push, deps.branches);
      if (decision.kind === 'ignore') return json(202, { ignored: true, reason: decision.reason });
      // the App must be installed on the repository (GitHub's answer, not the body's installation id):
      // its contents, deployments and statuses are read and written with that installation's token
      if (deps.githubApp) await deps.githubApp.verify(push.repository.full_name, push.installation?.id);
      if (await deps.store.hasDelivery(deliveryId)) return json(200, { duplicate: true, deliveryId });

      const accepted = await acceptPush({ ...deps, logger: log }, deliveryId, push);
      // stale (the branch has moved on) and duplicate pushes are answered, recorded, and deploy nothing
      const deployed = accepted.stale === undefined && accepted.duplicate === undefined;
      return json(202, { accepted: deployed, deliveryId, ...accepted });
    } catch (e) {
      return errorResponse(e, log);
    }
  };
}

export const handler = withLambdaContext(
  guardHttp(
    lazyHandler(async () => makeGithubWebhookHandler(await composeAws().webhook())),
    { hsts: true },
  ),
);
