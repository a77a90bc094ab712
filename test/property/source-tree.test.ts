import { type PropertyReport, summaryLine } from './harness';
import { sourceTreeProperties } from './source-tree-properties';

const NUM_RUNS = 300;

describe('hostile source trees (fast-check, issue 12)', () => {
  let report: PropertyReport | undefined;

  beforeAll(async () => {
    [report] = await sourceTreeProperties({ numRuns: NUM_RUNS });
    if (report) console.log(summaryLine(report));
  }, 120_000);

  it('extraction and every read stay inside the tree; refusals are our own errors, never a hang', () => {
    expect(report?.examples).toEqual([]);
    expect(report?.runs).toBe(NUM_RUNS);
    // the generated cases reached both sides: accepted trees and refused ones
    expect(report?.outcomes?.extracted).toBeGreaterThan(0);
    expect(report?.outcomes?.unsafe_source).toBeGreaterThan(0);
    // and trees the runner holds in memory (issue 13), each compared with its extraction
    expect(report?.outcomes?.['held in memory']).toBeGreaterThan(0);
  });
});
