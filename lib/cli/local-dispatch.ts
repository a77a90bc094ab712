import type { DeployJob, Dispatcher } from '../dispatch/dispatcher';
import { describeError, HelmgateError } from '../errors';

/** The local-only route the CLI posts jobs to (handlers/local-dispatch.ts): the CLI cannot run jobs inside the stack's process. */
export const LOCAL_DISPATCH_PATH = '/local/dispatch';

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
