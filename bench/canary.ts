/**
 * `npm run bench:canary` (issue 7, item 5): the full local flow with unique canary secret values,
 * then every log line, DynamoDB item, Slack and GitHub request body, helm argv, file under the state
 * dir, our HTTP answers and Kubernetes API request scanned for those values and their base64 forms.
 * Leaks must be zero; the Kubernetes Secret writes (where the values must go) are counted apart, and
 * prove the scan finds what is there. helm's stdin, the other place the values must go, is not
 * captured.
 */
import './lib/esm';
import { type CanaryResult, canaryScan } from '../test/scenarios/canary';
import { type ClusterCanaryResult, clusterSecretCanary } from '../test/scenarios/cluster-canary';
import { table } from './lib';
import { type BenchRow, benchTable, machine, row } from './lib/table';

const B = 'canary';

export function canaryRows(r: CanaryResult): BenchRow[] {
  const expected = r.places.filter((p) => p.expected);
  return [
    row(B, 'secret occurrences outside their destinations', r.leaks, {
      baseline: 0,
      note: `${r.canaries} canary values × ${r.forms / r.canaries} forms (raw, base64 at 3 alignments, base64url) over ${r.places
        .filter((p) => !p.expected)
        .map((p) => `${p.scanned} ${p.place}`)
        .join('; ')}`,
    }),
    row(
      B,
      'found where they must be (Kubernetes Secret writes)',
      expected.reduce((a, p) => a + p.found, 0),
      {
        note: `in ${expected.reduce((a, p) => a + p.scanned, 0)} Secret create/update requests; helm stdin (also a destination) is not captured; flow: staging ${r.flow.staging}, production ${r.flow.production}, ${r.flow.helmUpgrades} helm upgrades, ${r.flow.githubStatuses} GitHub deployment statuses`,
      },
    ),
  ];
}

/** The JSON cluster secret canary (issue 12): its token, in any form, anywhere. */
export function clusterCanaryRows(r: ClusterCanaryResult): BenchRow[] {
  return [
    row(B, 'JSON cluster secret token occurrences (runner)', r.leaks, {
      baseline: 0,
      note: `token + base64 forms over ${r.places.map((p) => `${p.scanned} ${p.place}`).join('; ')}; token used by ${r.used.authorizedRequests} API requests, ${r.used.helmUpgrades} helm upgrades, run ${r.used.status}`,
    }),
  ];
}

export async function run(): Promise<BenchRow[]> {
  return [...canaryRows(await canaryScan()), ...clusterCanaryRows(await clusterSecretCanary())];
}

if (require.main === module) {
  Promise.all([canaryScan(), clusterSecretCanary()]).then(
    ([r, c]) => {
      console.log('\nsecret canary over the full local flow (stand-in cluster, Slack, GitHub OAuth and API)');
      console.log(
        table(
          r.places.map((p) => ({
            place: p.place,
            scanned: p.scanned,
            found: p.found,
            counts: p.expected ? 'no (destination)' : 'yes',
            examples: p.examples.join(', '),
          })),
        ),
      );
      console.log(`\nmachine: ${machine()}`);
      console.log(benchTable([...canaryRows(r), ...clusterCanaryRows(c)]));
      if (r.leaks > 0 || c.leaks > 0) process.exitCode = 1;
    },
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
}
