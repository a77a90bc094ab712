import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import type { Logger } from '../log/logger';

/**
 * A unit of work done after the request that asked for it has been answered (Slack wants a 200
 * within three seconds; a vote, its notifications and maybe a dispatch take longer). `kind` names
 * the worker; `payload` is already verified and parsed: workers do not re-verify it.
 */
export interface BackgroundJob<K extends string = string, P = unknown> {
  kind: K;
  payload: P;
}

/** Port: acknowledge now, work later. */
export interface BackgroundWork<J extends BackgroundJob = BackgroundJob> {
  enqueue(job: J): Promise<void>;
}

/** The marker a self-invoked Lambda event carries, so one function can serve HTTP and its own jobs. */
export const BACKGROUND_MARKER = 'helmgateBackground';

export interface BackgroundEvent<J extends BackgroundJob = BackgroundJob> {
  [BACKGROUND_MARKER]: 1;
  job: J;
}

export function isBackgroundEvent(event: unknown): event is BackgroundEvent {
  const e = event as Partial<BackgroundEvent> | null;
  return (
    typeof e === 'object' &&
    e !== null &&
    e[BACKGROUND_MARKER] === 1 &&
    typeof e.job === 'object' &&
    e.job !== null &&
    typeof e.job.kind === 'string'
  );
}

/**
 * AWS: an asynchronous invoke (InvocationType Event) of a function, usually the caller itself, with
 * the job as payload. Only IAM principals allowed `lambda:InvokeFunction` can send such an event,
 * so the job needs no second signature. Lambda retries failed async invocations twice.
 */
export class LambdaBackgroundWork<J extends BackgroundJob = BackgroundJob> implements BackgroundWork<J> {
  constructor(
    private readonly client: Pick<LambdaClient, 'send'>,
    private readonly functionName: string,
  ) {}

  async enqueue(job: J): Promise<void> {
    const event: BackgroundEvent<J> = { [BACKGROUND_MARKER]: 1, job };
    await this.client.send(
      new InvokeCommand({
        FunctionName: this.functionName,
        InvocationType: 'Event',
        Payload: Buffer.from(JSON.stringify(event)),
      }),
    );
  }
}

/** Local: runs the job in this process after the current request has answered (`setImmediate`). */
export class InProcessBackgroundWork<J extends BackgroundJob = BackgroundJob> implements BackgroundWork<J> {
  private readonly inFlight = new Set<Promise<void>>();
  constructor(
    private readonly run: (job: J) => Promise<void>,
    private readonly logger: Logger,
  ) {}

  async enqueue(job: J): Promise<void> {
    const p: Promise<void> = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => this.run(job))
      .catch((e) => this.logger.error('background job failed', { kind: job.kind, err: e }))
      .finally(() => this.inFlight.delete(p));
    this.inFlight.add(p);
  }

  /** Waits for every job started so far, and for jobs those jobs started (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
  }
}
