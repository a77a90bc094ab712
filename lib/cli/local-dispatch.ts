import * as z from 'zod';
import type { DeployJob, Dispatcher } from '../dispatch/dispatcher';
import { describeError, HelmgateError } from '../errors';
import { errorResponse, type HttpHandler, header, json, rawBody } from '../http/lambda-http';
import type { Logger } from '../log/logger';
import type { DeploymentStore } from '../store/deployment-store';

/** The local-only route the CLI posts jobs to: the CLI cannot run jobs inside the stack's process. */
export const LOCAL_DISPATCH_PATH = '/local/dispatch';

const DispatchRequest = z.strictObject({
  deploymentId: z.string().min(1).max(200),
  purpose: z.enum(['deploy', 'offer']).optional(),
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

/** The CLI's dispatcher in local mode: a POST to the running stack's `/local/dispatch`. */
export class LocalHttpDispatcher implements Dispatcher {
  constructor(
    private readonly stackUrl: string,
    private readonly fetchImpl: typeof fetch = fetch,
  ) {}

  async dispatch(job: DeployJob): Promise<void> {
    const url = `${this.stackUrl.replace(/\/+$/, '')}${LOCAL_DISPATCH_PATH}`;
    let res: Response;
    try {
      res = await this.fetchImpl(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(job),
      });
    } catch (e) {
      throw new HelmgateError('internal', `the local stack at ${this.stackUrl} is not reachable`, {
        cause: e,
      });
    }
    if (res.status === 202) return;
    const text = await res.text().catch(() => '');
    // the local adapter's answer for an unknown route (a handler's 404 also carries a message)
    if (res.status === 404 && text.trim() === '{"error":"not_found"}')
      throw new HelmgateError(
        'internal',
        `the local stack at ${this.stackUrl} has no ${LOCAL_DISPATCH_PATH} route; restart it with a helmgate that has one`,
      );
    let message = text.slice(0, 300);
    try {
      const parsed = JSON.parse(text) as { message?: string; error?: string };
      message = parsed.message ?? parsed.error ?? message;
    } catch {
      // not JSON: keep the text
    }
    throw new HelmgateError('internal', `the local stack refused the dispatch (${res.status}): ${message}`);
  }
}

/** Wraps a dispatcher so a failed dispatch is reported after the decision it follows, never undoing it. */
export class ReportingDispatcher implements Dispatcher {
  readonly failures: Array<{ job: DeployJob; message: string }> = [];
  readonly sent: DeployJob[] = [];
  constructor(private readonly inner: () => Dispatcher) {}

  async dispatch(job: DeployJob): Promise<void> {
    try {
      await this.inner().dispatch(job);
      this.sent.push(job);
    } catch (e) {
      this.failures.push({ job, message: describeError(e) });
    }
  }
}
