import { type PropertyReport, summaryLine } from './harness';
import { slackProperties } from './slack-properties';

const NUM_RUNS = 200;

describe('POST /slack/interactions under arbitrary input (fast-check)', () => {
  let reports: PropertyReport[];

  beforeAll(async () => {
    reports = await slackProperties({ numRuns: NUM_RUNS });
    for (const r of reports) console.log(summaryLine(r));
  });

  it('answers every forged, stale or unsigned request with 401 and records, enqueues and replies nothing', () => {
    const forged = reports.find((r) => r.name.includes('forged'));
    expect(forged?.examples).toEqual([]);
    expect(forged?.runs).toBe(NUM_RUNS);
  });

  it('never answers a correctly signed arbitrary payload with a 5xx, never fails in the background, leaks no secret', () => {
    const signed = reports.find((r) => r.name.includes('signed arbitrary'));
    expect(signed?.examples).toEqual([]);
    expect(signed?.runs).toBe(NUM_RUNS);
  });
});
