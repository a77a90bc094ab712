import { deployConfigProperties } from './deploy-config-properties';
import { type PropertyReport, summaryLine } from './harness';

const NUM_RUNS = 300;

describe('parseDeployConfig under arbitrary input (fast-check)', () => {
  let report: PropertyReport | undefined;

  beforeAll(async () => {
    [report] = await deployConfigProperties({ numRuns: NUM_RUNS });
    if (report) console.log(summaryLine(report));
  });

  it('returns a config or throws DeployConfigError with issues, never another error, never hangs', () => {
    expect(report?.examples).toEqual([]);
    expect(report?.runs).toBe(NUM_RUNS);
  });
});
