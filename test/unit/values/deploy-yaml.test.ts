import { readdirSync } from 'node:fs';
import path from 'node:path';
import { describePlan, type EnvironmentPlan, type PlannedRelease } from '../../../lib/deploy/plan';
import type { Values } from '../../../lib/deploy/values-merge';
import {
  type ChartName,
  computedValues,
  loadDeployConfig,
  planAll,
  REPO_ROOT,
  readRepoFile,
  secretKeyRefs,
  valueAt,
} from './support';

// The repository's own deploy.yaml: it parses, plans for every environment, and the Kubernetes
// Secrets it creates are exactly the ones the releases' values read, where they read them.

let plans: EnvironmentPlan[];
beforeAll(async () => {
  plans = await planAll();
});
const env = (name: string) => plans.find((p) => p.environment === name) as EnvironmentPlan;
const upstreamChart = (r: PlannedRelease): ChartName | undefined =>
  r.chart.kind === 'repo' ? (r.chart.name as ChartName) : undefined;

test('parses and plans for every environment: staging, then production', () => {
  const config = loadDeployConfig();
  expect(Object.keys(config.environments)).toEqual(['staging', 'production']);
  expect(plans.map((p) => p.environment)).toEqual(['staging', 'production']);
  for (const p of plans) expect(describePlan(p)).toContain(p.environment);
});

test('staging deploys on push: the staging hub, its shared scratch and the website', () => {
  const staging = env('staging');
  expect(staging.approval).toBe('none');
  expect(staging.after).toBeUndefined();
  expect(staging.cluster).toEqual({ secret: 'helmgate/staging/cluster' });
  expect(staging.releases.map((r) => r.name).sort()).toEqual([
    'idr-analysis-website',
    'jupyterhub',
    'shared-scratch',
  ]);
});

test('production needs an approval after staging and holds the other hubs, Prometheus and Grafana', () => {
  const production = env('production');
  expect(production.approval).toBe('required');
  expect(production.after).toBe('staging');
  expect(production.cluster).toEqual({ secret: 'helmgate/production/cluster' });
  const byChart = (chart: string) =>
    production.releases
      .filter((r) => (r.chart.kind === 'repo' ? r.chart.name : r.chart.path) === chart)
      .map((r) => r.namespace)
      .sort();
  expect(byChart('jupyterhub')).toEqual(['jupyterhub-public', 'jupyterhub-vae', 'jupyterhub-vae-aai']);
  expect(byChart('charts/jupyterhub-shared-scratch')).toEqual(byChart('jupyterhub'));
  expect(byChart('prometheus')).toEqual(['prometheus']);
  expect(byChart('grafana')).toEqual(['grafana']);
});

test.each(['staging', 'production'])(
  '%s: each release has its own namespace, a shared scratch lives with its hub',
  (name) => {
    const byNamespace = new Map<string, PlannedRelease[]>();
    for (const r of env(name).releases)
      byNamespace.set(r.namespace, [...(byNamespace.get(r.namespace) ?? []), r]);
    for (const [, releases] of byNamespace) {
      if (releases.length === 1) continue;
      const kinds = releases.map((r) => (r.chart.kind === 'repo' ? r.chart.name : r.chart.path)).sort();
      expect(kinds).toEqual(['charts/jupyterhub-shared-scratch', 'jupyterhub']);
    }
  },
);

test('JupyterHub release names differ everywhere (the chart names cluster-wide objects after the release)', () => {
  const names = plans.flatMap((p) =>
    p.releases.filter((r) => upstreamChart(r) === 'jupyterhub').map((r) => r.name),
  );
  expect(new Set(names).size).toBe(names.length);
});

/** The Kubernetes Secrets (name → keys) a release's values read, and which workload reads each. */
function secretsRead(r: PlannedRelease): Array<{ name: string; key: string; reader: string }> {
  const chart = upstreamChart(r);
  if (!chart) return [];
  const values = computedValues(chart, r);
  const out: Array<{ name: string; key: string; reader: string }> = [];
  if (chart === 'jupyterhub') {
    // the hub reads hub.extraEnv when it starts; user pods read singleuser.extraEnv when they spawn
    for (const s of secretKeyRefs(valueAt(values, ['hub']))) out.push({ ...s, reader: 'Deployment/hub' });
    for (const s of secretKeyRefs(valueAt(values, ['singleuser']))) out.push({ ...s, reader: 'user pods' });
  } else if (chart === 'grafana') {
    // the Deployment is the chart's fullname: the release name, which contains the chart name
    const reader = `Deployment/${r.name}`;
    for (const s of secretKeyRefs(values)) out.push({ ...s, reader });
    const admin = values.admin as Values;
    if (admin.existingSecret)
      for (const k of ['userKey', 'passwordKey'])
        out.push({ name: String(admin.existingSecret), key: String(admin[k]), reader });
  } else {
    for (const s of secretKeyRefs(values)) out.push({ ...s, reader: `release ${r.name}` });
  }
  return out;
}

test.each(['staging', 'production'])(
  '%s: every Secret the values read is created by helmgate in that namespace, with that key, and no other',
  (name) => {
    const plan = env(name);
    const declared = new Map(
      plan.kubernetesSecrets.map((s) => [`${s.namespace}/${s.name}`, new Set(s.data.map((d) => d.key))]),
    );
    const used = new Set<string>();
    for (const r of plan.releases)
      for (const s of secretsRead(r)) {
        const id = `${r.namespace}/${s.name}`;
        expect({ release: r.name, secret: id, declared: declared.has(id) }).toEqual({
          release: r.name,
          secret: id,
          declared: true,
        });
        expect([...(declared.get(id) ?? [])]).toContain(s.key);
        used.add(id);
      }
    expect([...declared.keys()].sort()).toEqual([...used].sort());
  },
);

test.each(['staging', 'production'])(
  '%s: a changed Secret restarts exactly the workloads that read it at start (user pods read theirs at spawn)',
  (name) => {
    const plan = env(name);
    for (const secret of plan.kubernetesSecrets) {
      const readers = new Set<string>();
      for (const r of plan.releases.filter((x) => x.namespace === secret.namespace))
        for (const s of secretsRead(r))
          if (s.name === secret.name && s.reader !== 'user pods') readers.add(s.reader);
      expect({
        secret: secret.name,
        restart: secret.restart.map((w) => `${w.kind}/${w.name}`).sort(),
      }).toEqual({
        secret: secret.name,
        restart: [...readers].sort(),
      });
    }
  },
);

test('every local chart and values file deploy.yaml names exists, and every values file is used', () => {
  // planAll already failed on a missing file; here: no values file lies around unused
  const used = new Set(plans.flatMap((p) => p.releases.flatMap((r) => r.valuesFiles.map((f) => f.path))));
  const files = readdirSync(path.join(REPO_ROOT, 'values')).map((f) => `values/${f}`);
  expect(files.filter((f) => !used.has(f))).toEqual([]);
});

test('docs/environments.md names every Secrets Manager id and Kubernetes Secret deploy.yaml uses', () => {
  const doc = readRepoFile('docs/environments.md');
  const ids = new Set<string>();
  const secrets = new Set<string>();
  for (const p of plans) {
    if ('secret' in p.cluster) ids.add(p.cluster.secret);
    for (const ref of p.secretRefs) ids.add(ref.secret);
    for (const s of p.kubernetesSecrets) secrets.add(s.name);
  }
  for (const id of ids)
    expect({ id, documented: doc.includes(`\`${id}\``) }).toEqual({ id, documented: true });
  for (const s of secrets)
    expect({ s, documented: doc.includes(`\`${s}\``) }).toEqual({ s, documented: true });
});

test('no release takes secretValues: secrets reach pods only as Kubernetes Secrets, never through helm', () => {
  // helm keeps every value it is given in the release record, for every revision; see
  // docs/environments.md for why the OAuth clients go through Kubernetes Secrets instead
  for (const p of plans)
    for (const r of p.releases)
      expect({ release: r.name, secretValues: r.secretValues }).toEqual({
        release: r.name,
        secretValues: [],
      });
});
