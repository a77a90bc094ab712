import { composeAws } from '../lib/compose/aws';
import { lazyHandler } from '../lib/compose/lazy';
import { withLambdaContext } from '../lib/log/lambda-logger';
import type { Logger } from '../lib/log/logger';
import { type SweeperDeps, type SweepReport, sweep } from '../lib/sweeper/sweeper';

/**
 * The scheduled event (EventBridge `rate(5 minutes)`): its content does not matter. Drift checks are
 * dispatched to the runner once per 30-minute slot per environment (lib/sweeper/sweeper.ts).
 */
export function makeSweeperHandler(
  deps: SweeperDeps & { logger: Logger },
): (event?: unknown) => Promise<SweepReport> {
  return async () => {
    const report = await sweep(deps);
    deps.logger.info('sweep done', {
      expired: report.expired.length,
      stranded: report.stranded.length,
      reminded: report.reminded.length,
      locksReleased: report.locksReleased.length,
      redispatched: report.redispatched.length,
      thawed: report.thawed.length,
      driftChecks: report.driftChecks.length,
    });
    return report;
  };
}

export const handler = withLambdaContext(
  lazyHandler(async () => makeSweeperHandler(await composeAws().sweeper())),
);
