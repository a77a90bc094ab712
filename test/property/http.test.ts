import { type PropertyReport, summaryLine } from './harness';
import { httpProperties } from './http-properties';

const NUM_RUNS = 300;

describe('the local HTTP adapter under arbitrary requests (fast-check, raw bytes on a socket)', () => {
  let reports: PropertyReport[];

  beforeAll(async () => {
    reports = await httpProperties({ numRuns: NUM_RUNS });
    for (const r of reports) console.log(summaryLine(r));
  }, 120_000);

  it('answers every method, path, percent-encoding and header line without a 5xx, and keeps serving', () => {
    const [r] = reports;
    expect(r?.examples).toEqual([]);
    expect(r?.runs).toBe(NUM_RUNS);
    // the cases reached past the first check: some were routed to a handler and answered 2xx/4xx
    expect(Object.keys(r?.outcomes ?? {}).length).toBeGreaterThan(3);
  });

  it('answers every hostile API Gateway event through the AWS guard without a throw or a 5xx, always with HSTS', () => {
    const r = reports[1];
    expect(r?.examples).toEqual([]);
    expect(r?.runs).toBe(NUM_RUNS);
    expect(Object.keys(r?.outcomes ?? {}).length).toBeGreaterThan(3);
  });
});
