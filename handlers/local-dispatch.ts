import * as z from 'zod';
import { JOB_PURPOSES } from '../lib/deploy/lifecycle';
import type { DeployJob, Dispatcher } from '../lib/dispatch/dispatcher';
import { HelmgateError } from '../lib/errors';
import { errorResponse, type HttpHandler, header, json, rawBody } from '../lib/http/lambda-http';
import type { Logger } from '../lib/log/logger';
import type { DeploymentStore } from '../lib/store/deployment-store';

const DispatchRequest = z.strictObject({
  deploymentId: z.string().min(1).max(200),
  purpose: z.enum(JOB_PURPOSES).optional(),
});
type DispatchRequest = z.infer<typeof DispatchRequest>;

export interface LocalDispatchDeps {
  store: DeploymentStore;
  dispatcher: Dispatcher;
  logger: Logger;
}

/**
 * `POST /local/dispatch` for the local stack (never deployed to AWS): `{deploymentId, purpose?}` hands
 * an existing deployment to the stack's in-process runner. It only starts what the store already says
 * should run (queued for `deploy`, awaiting approval for `offer`), so it grants nothing the caller
 * could not get by waiting. JSON only: a browser cannot send that cross-origin without a preflight,
 * which this route never answers, so a web page cannot poke the operator's local stack.
 */
export function makeLocalDispatchHandler(deps: LocalDispatchDeps): HttpHandler {
  return async (event) => {
    try {
      const type = (header(event, 'content-type') ?? '').split(';')[0]?.trim().toLowerCase();
      if (type !== 'application/json')
        throw new HelmgateError('unsupported_media_type', 'expected application/json');
      let body: unknown;
      try {
        body = JSON.parse(rawBody(event).toString('utf8'));
      } catch {
        throw new HelmgateError('bad_request', 'the body is not JSON');
      }
      const parsed = DispatchRequest.safeParse(body);
      if (!parsed.success) throw new HelmgateError('bad_request', 'expected {deploymentId, purpose?}');
      const req: DispatchRequest = parsed.data;
      const d = await deps.store.getDeployment(req.deploymentId);
      if (!d) throw new HelmgateError('not_found', `no deployment ${req.deploymentId}`);
      const purpose = req.purpose ?? 'deploy';
      const runnable = purpose === 'deploy' ? d.status === 'queued' : d.status === 'awaiting_approval';
      if (!runnable)
        throw new HelmgateError('conflict', `deployment ${d.id} is ${d.status}: nothing to ${purpose}`);
      const job: DeployJob = { deploymentId: d.id, ...(req.purpose ? { purpose: req.purpose } : {}) };
      await deps.dispatcher.dispatch(job);
      deps.logger.info('dispatched from the CLI', { deploymentId: d.id, purpose });
      return json(202, { dispatched: true, deploymentId: d.id, purpose });
    } catch (e) {
      return errorResponse(e, deps.logger);
    }
  };
}
