import { type PropertyReport, summaryLine } from './harness';
import { webhookProperties } from './webhook-properties';

const NUM_RUNS = 200;

describe('POST /webhook under arbitrary input (fast-check)', () => {
  let reports: PropertyReport[];

  beforeAll(async () => {
    reports = await webhookProperties({ numRuns: NUM_RUNS });
    for (const r of reports) console.log(summaryLine(r));
  });

  it('answers every forged or unsigned request with 401, writes nothing, dispatches nothing, leaks no secret', () => {
    const forged = reports.find((r) => r.name.includes('forged'));
    expect(forged?.examples).toEqual([]);
    expect(forged?.runs).toBe(NUM_RUNS);
  });

  it('never answers a correctly signed arbitrary payload with a 5xx or a crash, and leaks no secret', () => {
    const signed = reports.find((r) => r.name.includes('signed arbitrary'));
    expect(signed?.examples).toEqual([]);
    expect(signed?.runs).toBe(NUM_RUNS);
  });
});
