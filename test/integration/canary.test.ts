import { canaryForms, canaryScan } from '../scenarios/canary';
import { clusterSecretCanary } from '../scenarios/cluster-canary';

/**
 * The secret canary over the full local flow (bench/canary.ts prints the same scan): push → staging
 * deployed to the Kubernetes API stand-in → Slack link → GitHub login → approve → production deployed,
 * GitHub Deployments reported; then no canary value, nor its base64 forms, anywhere but the
 * Kubernetes Secrets they are meant for.
 */

test('base64 forms of a canary are found inside longer encoded text at every alignment', () => {
  const v = 'canary-abc-123';
  for (const prefix of ['', 'x', 'xy', 'xyz']) {
    const encoded = Buffer.from(`${prefix}${v}-suffix`).toString('base64');
    expect(canaryForms(v).some((f) => f !== v && encoded.includes(f))).toBe(true);
  }
  expect(canaryForms(v).some((f) => Buffer.from('unrelated text').toString('base64').includes(f))).toBe(
    false,
  );
});

test('no secret value in logs, DynamoDB, Slack, GitHub, helm argv, state files or our answers after a full flow', async () => {
  const r = await canaryScan();
  expect(r.flow).toMatchObject({ staging: 'succeeded', production: 'succeeded' });
  expect(r.flow.helmUpgrades).toBeGreaterThanOrEqual(4);
  expect(r.flow.githubStatuses).toBeGreaterThan(0);
  for (const p of r.places.filter((x) => !x.expected)) {
    expect({ place: p.place, found: p.found, examples: p.examples }).toEqual({
      place: p.place,
      found: 0,
      examples: [],
    });
  }
  // every place was really looked at
  for (const name of [
    'log lines',
    'DynamoDB items',
    'Slack',
    'GitHub API',
    'helm argv',
    'Kubernetes API requests other',
  ])
    expect(r.places.find((p) => p.place.startsWith(name))?.scanned).toBeGreaterThan(0);
  // the values did reach the cluster's Secrets, and the scan sees them there
  expect(r.places.find((p) => p.expected)?.found).toBeGreaterThan(0);
  expect(r.leaks).toBe(0);
});

test('a JSON cluster secret: its bearer token and the kubeconfig built from it appear nowhere (issue 12)', async () => {
  const r = await clusterSecretCanary();
  // the token was really used: the stand-in API demanded it, helm ran against it
  expect(r.used.authorizedRequests).toBeGreaterThan(0);
  expect(r.used.helmUpgrades).toBeGreaterThan(0);
  expect(r.used.status).toBe('failed'); // one release fails on purpose: its helm error is recorded
  for (const p of r.places) {
    // nothing is left in the work root after a run: that place may well be empty
    if (!p.place.startsWith('files left')) expect(p.scanned).toBeGreaterThan(0);
    expect({ place: p.place, found: p.found, examples: p.examples }).toEqual({
      place: p.place,
      found: 0,
      examples: [],
    });
  }
  expect(r.leaks).toBe(0);
}, 120_000);
