import type { DeployJob } from '../dispatch/dispatcher';
import type { LocalStackContext } from './local-stack';

/**
 * The local stack's deploy runner. Until the runner lands, a dispatched deployment stays honestly
 * `queued`: nothing pretends to deploy.
 */
export async function runLocalJob(job: DeployJob, ctx: LocalStackContext): Promise<void> {
  ctx.logger.info('deploy runner not available yet; deployment stays queued', {
    deploymentId: job.deploymentId,
  });
}
