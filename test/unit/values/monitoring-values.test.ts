import type { EnvironmentPlan, PlannedRelease } from '../../../lib/deploy/plan';
import { setPath, type Values } from '../../../lib/deploy/values-merge';
import {
  type ChartName,
  chartDefaults,
  chartDefaultsText,
  computedValues,
  type KeyAllowlist,
  planAll,
  prometheusSchema,
  releasesOfChart,
  unknownKeys,
  valueAt,
} from './support';

// Grafana and Prometheus have no strict schema (grafana none at all), so a misspelt key is silently
// ignored by the chart. Every key our values set must exist in that chart's own defaults, except
// below the maps the chart documents as free-form, listed here with the reason.

const ALLOW: Record<'grafana' | 'prometheus', KeyAllowlist> = {
  grafana: {
    freeForm: [
      { path: ['grafana.ini'], why: "Grafana's own ini file: [section] → key, rendered verbatim" },
      { path: ['envValueFrom'], why: 'env var name → EnvVarSource' },
      { path: ['datasources'], why: 'provisioning files by file name' },
      { path: ['dashboardProviders'], why: 'provisioning files by file name' },
      { path: ['dashboards'], why: 'provider name → dashboard name → { json | file | url | gnetId }' },
      { path: ['ingress', 'annotations'], why: 'Kubernetes annotations' },
      { path: ['resources'], why: 'Kubernetes ResourceRequirements' },
    ],
    documentedInComments: [{ path: ['ingress', 'ingressClassName'], why: '`# ingressClassName: nginx`' }],
  },
  prometheus: {
    freeForm: [{ path: ['server', 'resources'], why: 'Kubernetes ResourceRequirements' }],
    documentedInComments: [],
  },
};

let plans: EnvironmentPlan[];
beforeAll(async () => {
  plans = await planAll();
});

function only(chart: ChartName): PlannedRelease {
  const found = releasesOfChart(plans, chart);
  expect(found).toHaveLength(1);
  return (found[0] as { release: PlannedRelease }).release;
}

describe.each(['grafana', 'prometheus'] as const)('%s values', (chart) => {
  test('every key set exists in the chart defaults, or below a documented free-form map', () => {
    expect(unknownKeys(only(chart).mergedValues, chartDefaults(chart), ALLOW[chart])).toEqual([]);
  });

  test('the allowlist itself is honest: free-form maps exist in the defaults, commented keys only in a comment', () => {
    const defaults = chartDefaults(chart);
    const text = chartDefaultsText(chart);
    for (const { path } of ALLOW[chart].freeForm) expect(valueAt(defaults, path)).toBeDefined();
    for (const { path } of ALLOW[chart].documentedInComments) {
      expect(valueAt(defaults, path)).toBeUndefined();
      expect(text).toMatch(new RegExp(`^\\s*#\\s*${path[path.length - 1]}:`, 'm'));
    }
  });
});

test('the key check catches a typo the chart would ignore, at any depth, but not inside free-form maps', () => {
  const values: Values = structuredClone(only('prometheus').mergedValues);
  setPath(values, 'server.retension', '30d');
  setPath(values, 'server.persistentVolume.sise', '20Gi');
  setPath(values, 'alertmanagr.enabled', true);
  setPath(values, 'server.resources.requests.gpu', '1');
  expect(unknownKeys(values, chartDefaults('prometheus'), ALLOW.prometheus).sort()).toEqual(
    ['alertmanagr', 'server › persistentVolume › sise', 'server › retension'].sort(),
  );
});

describe('prometheus', () => {
  test('its values over the chart defaults pass the chart schema', () => {
    const validate = prometheusSchema();
    expect(validate(chartDefaults('prometheus')).errors).toEqual([]);
    expect(validate(computedValues('prometheus', only('prometheus'))).errors).toEqual([]);
  });

  test('the schema check fails on a value of the wrong type', () => {
    const values = computedValues('prometheus', only('prometheus'));
    setPath(values, 'server.persistentVolume.size', 10);
    expect(prometheusSchema()(values).ok).toBe(false);
  });

  test('keeps 21 days on a 10Gi volume and is reachable only inside the cluster', () => {
    const release = only('prometheus');
    expect(release.chart).toMatchObject({
      url: 'https://prometheus-community.github.io/helm-charts',
      name: 'prometheus',
      version: '29.27.0',
    });
    const v = computedValues('prometheus', release);
    expect(valueAt(v, ['server', 'retention'])).toBe('21d');
    expect(valueAt(v, ['server', 'persistentVolume'])).toMatchObject({ enabled: true, size: '10Gi' });
    expect(valueAt(v, ['server', 'ingress', 'enabled'])).toBe(false);
    expect(valueAt(v, ['server', 'service', 'type'])).toBe('ClusterIP');
    expect(release.health.http).toEqual([]);
  });
});

describe('grafana', () => {
  const grafana = () => computedValues('grafana', only('grafana'));

  test('comes from the grafana-community repository at 12.11.1', () => {
    expect(only('grafana').chart).toMatchObject({
      url: 'https://grafana-community.github.io/helm-charts',
      name: 'grafana',
      version: '12.11.1',
    });
  });

  test('logs in with GitHub, its client read from environment variables filled from a Secret', () => {
    const v = grafana();
    const ini = v['grafana.ini'] as Record<string, Values>;
    const github = ini['auth.github'] as Values;
    expect(github.enabled).toBe(true);
    const vars = Object.keys(v.envValueFrom as Values);
    for (const k of ['client_id', 'client_secret']) {
      const m = /^\$__env\{(\w+)\}$/.exec(String(github[k]));
      expect(m?.[1]).toBeDefined();
      expect(vars).toContain(m?.[1]);
      expect(valueAt(v, ['envValueFrom', m?.[1] as string, 'secretKeyRef'])).toMatchObject({
        name: 'grafana-github-oauth',
      });
    }
    // the chart's check that grafana.ini holds no literal secret stays on
    expect(v.assertNoLeakedSecrets).toBe(true);
    expect(valueAt(v, ['admin', 'existingSecret'])).toBe('grafana-admin');
    expect(v.adminPassword).toBeUndefined();
  });

  test('the root URL, the Ingress and the health check agree on one host', () => {
    const v = grafana();
    const [host] = valueAt(v, ['ingress', 'hosts']) as string[];
    expect(valueAt(v, ['ingress', 'enabled'])).toBe(true);
    expect(valueAt(v, ['ingress', 'tls'])).toEqual([{ secretName: 'grafana-tls', hosts: [host] }]);
    expect(valueAt(v, ['grafana.ini', 'server', 'root_url'])).toBe(`https://${host}/`);
    expect(only('grafana').health.http.map((h) => h.url)).toEqual([`https://${host}/api/health`]);
  });

  test('provisions the Prometheus datasource at the Service of the prometheus release', () => {
    const v = grafana();
    const prom = only('prometheus');
    const files = v.datasources as Record<string, { datasources: Array<Values> }>;
    const sources = Object.values(files).flatMap((f) => f.datasources);
    expect(sources).toHaveLength(1);
    const [ds] = sources;
    // the chart names the server Service <fullname>-server; fullname is the release name when it
    // contains the chart name
    expect(prom.name).toContain('prometheus');
    expect(ds).toMatchObject({
      type: 'prometheus',
      isDefault: true,
      url: `http://${prom.name}-server.${prom.namespace}.svc.cluster.local`,
    });
  });

  test('provisions two dashboards automatically, valid JSON, querying the provisioned datasource', () => {
    const v = grafana();
    const providerFiles = v.dashboardProviders as Record<string, { providers: Array<Values> }>;
    const providers = Object.values(providerFiles).flatMap((f) => f.providers);
    const dashboards = v.dashboards as Record<string, Record<string, { json?: string }>>;
    const files = Object.values(v.datasources as Record<string, { datasources: Values[] }>);
    const dsUid = files[0]?.datasources[0]?.uid;
    expect(dsUid).toBe('prometheus');

    const all: Array<{ uid: unknown; title: unknown }> = [];
    for (const [provider, byName] of Object.entries(dashboards)) {
      // the chart mounts dashboards.<provider> at /var/lib/grafana/dashboards/<provider>
      const p = providers.find((x) => x.name === provider);
      expect(p).toMatchObject({ type: 'file', options: { path: `/var/lib/grafana/dashboards/${provider}` } });
      for (const [name, d] of Object.entries(byName)) {
        expect(typeof d.json).toBe('string');
        const dash = JSON.parse(d.json as string) as {
          uid: string;
          title: string;
          panels: Array<{ datasource?: { uid: string }; targets: Array<{ expr: string }> }>;
        };
        expect(dash.panels.length).toBeGreaterThan(0);
        for (const panel of dash.panels) {
          expect(panel.datasource?.uid).toBe(dsUid);
          for (const t of panel.targets) expect(t.expr.trim()).not.toBe('');
        }
        all.push({ uid: dash.uid, title: dash.title });
        expect(name).toMatch(/^[a-z0-9-]+$/);
      }
    }
    expect(all).toHaveLength(2);
    expect(new Set(all.map((d) => d.uid)).size).toBe(2);
  });

  test('a ReadWriteOnce volume and a Recreate rollout, so an upgrade never waits on a volume still attached', () => {
    const v = grafana();
    expect(valueAt(v, ['persistence', 'enabled'])).toBe(true);
    expect(valueAt(v, ['deploymentStrategy', 'type'])).toBe('Recreate');
  });
});
