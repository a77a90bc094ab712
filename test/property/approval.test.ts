import { approvalProperties } from './approval-properties';
import { type PropertyReport, summaryLine } from './harness';

const NUM_RUNS = 200;

describe('the approval endpoints under arbitrary input (fast-check)', () => {
  let report: PropertyReport | undefined;

  beforeAll(async () => {
    [report] = await approvalProperties({ numRuns: NUM_RUNS });
    if (report) console.log(summaryLine(report));
  });

  it('never answer with a 5xx, never leak the signing key, never decide without session, CSRF and link token', () => {
    expect(report?.examples).toEqual([]);
    expect(report?.runs).toBe(NUM_RUNS);
  });
});
