import { type PropertyReport, summaryLine } from './harness';
import { hostileConfigProperties } from './hostile-config-properties';

const NUM_RUNS = 300;

describe('hostile deploy.yaml (fast-check, issue 12)', () => {
  let report: PropertyReport | undefined;

  beforeAll(async () => {
    [report] = await hostileConfigProperties({ numRuns: NUM_RUNS });
    if (report) console.log(summaryLine(report));
  }, 120_000);

  it('never pollutes Object.prototype, never plans content from outside the tree, never lets an internal URL through', () => {
    expect(report?.examples).toEqual([]);
    expect(report?.runs).toBe(NUM_RUNS);
    // the cases reached past the schema: some planned, some URLs were checked
    expect(report?.outcomes?.planned).toBeGreaterThan(0);
    expect(report?.outcomes?.['url refused']).toBeGreaterThan(0);
  });
});
