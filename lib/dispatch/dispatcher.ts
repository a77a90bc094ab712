import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import type { Job } from '../deploy/lifecycle';
import type { Logger } from '../log/logger';

/** A job for the deploy runner; its shape is the lifecycle's (one place). */
export type DeployJob = Job;

/** Port: starts the deploy runner without waiting for it. */
export interface Dispatcher {
  dispatch(job: DeployJob): Promise<void>;
}

/** AWS: asynchronous Lambda invoke; Lambda retries and the on-failure destination handle the rest. */
export class LambdaDispatcher implements Dispatcher {
  constructor(
    private readonly client: LambdaClient,
    private readonly functionName: string,
  ) {}

  async dispatch(job: DeployJob): Promise<void> {
    await this.client.send(
      new InvokeCommand({
        FunctionName: this.functionName,
        InvocationType: 'Event',
        Payload: Buffer.from(JSON.stringify(job)),
      }),
    );
  }
}

/** Local: runs the job in this process after the current request has answered. */
export class InProcessDispatcher implements Dispatcher {
  readonly inFlight = new Set<Promise<void>>();
  constructor(
    private readonly run: (job: DeployJob) => Promise<void>,
    private readonly logger: Logger,
  ) {}

  async dispatch(job: DeployJob): Promise<void> {
    const p = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => this.run(job))
      .catch((e) => this.logger.error('deploy job failed', { deploymentId: job.deploymentId, err: e }))
      .finally(() => this.inFlight.delete(p));
    this.inFlight.add(p);
  }

  /** Waits for every job started so far (tests, graceful shutdown). */
  async idle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
  }
}

/** A dispatcher that records jobs and runs nothing: the deployment stays honestly `queued`. */
export class RecordingDispatcher implements Dispatcher {
  readonly jobs: DeployJob[] = [];
  async dispatch(job: DeployJob): Promise<void> {
    this.jobs.push(job);
  }
}
