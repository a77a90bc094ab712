/**
 * The deploy runner (container-image Lambda, asynchronous invokes only): `{deploymentId}` runs a queued
 * deployment, `{deploymentId, purpose: "offer"}` plans one that waits for approval and opens its
 * approval request, `{deploymentId, purpose: "preview"}` renders the manifest diff of an open approval
 * with that deployment's environment role, `{deploymentId, purpose: "drift"}` checks what runs against
 * that deployment (the sweeper's schedule). Results are recorded in the table; a thrown error lets
 * Lambda retry, then the on-failure destination (the dead-letter queue) keeps the event.
 */
import * as z from 'zod';
import { composeAwsRunner, type InvocationContext } from '../lib/compose/aws-runner';
import { once } from '../lib/compose/lazy';
import { JOB_PURPOSES } from '../lib/deploy/lifecycle';
import { HelmgateError } from '../lib/errors';
import { enterInvocation } from '../lib/log/lambda-logger';
import { type DriftCheckResult, runJob } from '../lib/runner/drift-check';
import type { RunResult } from '../lib/runner/runner';

const DeployJobEvent = z.object({
  deploymentId: z.string().min(1).max(200),
  continuation: z.number().int().min(0).max(100).optional(),
  purpose: z.enum(JOB_PURPOSES).optional(),
});

const built = once(() => composeAwsRunner());

export async function handler(
  event: unknown,
  context: InvocationContext,
): Promise<RunResult | DriftCheckResult> {
  enterInvocation(context);
  const parsed = DeployJobEvent.safeParse(event);
  if (!parsed.success)
    throw new HelmgateError('bad_request', `not a deploy job: ${parsed.error.issues[0]?.message}`);
  const deps = (await built())(context);
  const job = parsed.data;
  const result = await runJob(deps, {
    deploymentId: job.deploymentId,
    ...(job.continuation !== undefined ? { continuation: job.continuation } : {}),
    ...(job.purpose ? { purpose: job.purpose } : {}),
  });
  deps.logger.info('deploy job done', {
    deploymentId: job.deploymentId,
    result: result.kind,
    ...('deployment' in result ? { status: result.deployment.status } : { reason: result.reason }),
  });
  return result;
}
