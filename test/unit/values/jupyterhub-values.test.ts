import type { EnvironmentPlan, PlannedRelease } from '../../../lib/deploy/plan';
import { coalesceValues, isPlainObject, setPath, type Values } from '../../../lib/deploy/values-merge';
import {
  chartDefaults,
  computedValues,
  jupyterhubSchema,
  loadDeployConfig,
  planAll,
  REPO_ROOT,
  readYaml,
  releasesOfChart,
  secretKeyRefs,
  valueAt,
} from './support';

// Each JupyterHub release of deploy.yaml: its values files merged in helm's order over the z2jh 4.4.0
// defaults, validated against the chart's own strict schema, and checked for what the IDR needs.

/** `environment/release` for every jupyterhub release, known before any test runs (for test.each). */
const HUBS = Object.entries(loadDeployConfig().environments).flatMap(([env, spec]) =>
  spec.releases
    .filter((r) => typeof r.chart !== 'string' && r.chart.name === 'jupyterhub')
    .map((r) => `${env}/${r.name}`),
);

let plans: EnvironmentPlan[];
const hub = (id: string): { plan: EnvironmentPlan; release: PlannedRelease; values: Values } => {
  const found = releasesOfChart(plans, 'jupyterhub').find(
    ({ plan, release }) => `${plan.environment}/${release.name}` === id,
  );
  if (!found) throw new Error(`no JupyterHub release ${id}`);
  return { ...found, values: computedValues('jupyterhub', found.release) };
};
const validate = jupyterhubSchema();

beforeAll(async () => {
  plans = await planAll();
});

/** Leaf paths where `a` and `b` differ (lists compared whole, as helm replaces them whole). */
function differences(a: unknown, b: unknown, at: string[] = []): string[] {
  if (isPlainObject(a) && isPlainObject(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    return [...keys].flatMap((k) => differences(a[k], b[k], [...at, k]));
  }
  return JSON.stringify(a) === JSON.stringify(b) ? [] : [at.join('.')];
}

test('deploy.yaml deploys the four IDR hubs, each from the pinned chart jupyterhub 4.4.0', () => {
  expect(HUBS).toEqual([
    'staging/jupyterhub',
    'production/jupyterhub-public',
    'production/jupyterhub-vae',
    'production/jupyterhub-vae-aai',
  ]);
  for (const id of HUBS)
    expect(hub(id).release.chart).toMatchObject({
      kind: 'repo',
      url: 'https://hub.jupyter.org/helm-chart/',
      name: 'jupyterhub',
      version: '4.4.0',
    });
});

test('the chart defaults alone pass the schema (the fixture and the validator agree)', () => {
  expect(validate(chartDefaults('jupyterhub')).errors).toEqual([]);
});

test.each(HUBS)('%s: its values over the chart defaults pass z2jh 4.4.0 strict schema', (id) => {
  const { values } = hub(id);
  expect(validate(values).errors).toEqual([]);
});

test('the schema check fails on a misspelt key and on a value of the wrong kind', () => {
  const { values } = hub('staging/jupyterhub');
  const typo = structuredClone(values);
  setPath(typo, 'hub.extraEnvs', { A: 'b' });
  const typoResult = validate(typo);
  expect(typoResult.ok).toBe(false);
  expect(typoResult.errors.join('\n')).toContain('"extraEnvs"');

  const wrongKind = structuredClone(values);
  setPath(wrongKind, 'singleuser.storage.type', 'persistent');
  expect(validate(wrongKind).ok).toBe(false);
});

test('staging uses the common file alone, and the public hub differs from it only in its host', () => {
  const staging = hub('staging/jupyterhub');
  const pub = hub('production/jupyterhub-public');
  expect(staging.release.valuesFiles.map((f) => f.path)).toEqual(['values/jupyterhub-config.yaml']);
  expect(pub.release.valuesFiles.map((f) => f.path)).toEqual([
    'values/jupyterhub-config.yaml',
    'values/jupyterhub-public.yaml',
  ]);
  expect(differences(staging.values, pub.values)).toEqual(['ingress.hosts', 'ingress.tls']);
  expect(valueAt(pub.values, ['ingress', 'hosts'])).not.toEqual(
    valueAt(staging.values, ['ingress', 'hosts']),
  );
});

test.each(HUBS)(
  '%s: users keep dynamic home storage and mount the shared scratch claim of their namespace',
  (id) => {
    const { plan, release, values } = hub(id);
    expect(valueAt(values, ['singleuser', 'storage', 'type'])).toBe('dynamic');

    const volumes = Object.values(valueAt(values, ['singleuser', 'storage', 'extraVolumes']) as Values);
    const mounts = Object.values(valueAt(values, ['singleuser', 'storage', 'extraVolumeMounts']) as Values);
    const claims = volumes.filter(
      (v) => isPlainObject(v) && isPlainObject(v.persistentVolumeClaim),
    ) as Array<{
      name: string;
      persistentVolumeClaim: { claimName: string };
    }>;
    expect(claims).toHaveLength(1);
    const [volume] = claims;
    expect(mounts).toContainEqual(
      expect.objectContaining({ name: volume?.name, mountPath: '/mnt/shared-scratch' }),
    );

    // the scratch release in the hub's namespace creates exactly that claim, and runs first
    const scratch = plan.releases.filter(
      (r) =>
        r.chart.kind === 'local' &&
        r.chart.path === 'charts/jupyterhub-shared-scratch' &&
        r.namespace === release.namespace,
    );
    expect(scratch).toHaveLength(1);
    const chartValues = readYaml<Values>(`${REPO_ROOT}/charts/jupyterhub-shared-scratch/values.yaml`);
    const scratchValues = coalesceValues(chartValues, scratch[0]?.mergedValues ?? {});
    expect(scratchValues.claimName).toBe(volume?.persistentVolumeClaim.claimName);
    expect(release.needs).toContain(scratch[0]?.name);
  },
);

test('the vae hub logs in with GitHub, gives more CPU and memory than public, and keeps its users', () => {
  const pub = hub('production/jupyterhub-public').values;
  const vae = hub('production/jupyterhub-vae').values;
  expect(valueAt(vae, ['hub', 'config', 'JupyterHub', 'authenticator_class'])).toBe('github');
  expect(valueAt(vae, ['hub', 'config', 'TmpAuthenticator'])).toBeUndefined();
  expect(valueAt(vae, ['hub', 'config', 'GitHubOAuthenticator', 'oauth_callback_url'])).toBe(
    'https://vae.idr-analysis.openmicroscopy.org/hub/oauth_callback',
  );
  for (const k of ['cpu', 'memory'] as const) {
    const quantity = (v: unknown) => Number.parseFloat(String(v));
    expect(quantity(valueAt(vae, ['singleuser', k, 'limit']))).toBeGreaterThan(
      quantity(valueAt(pub, ['singleuser', k, 'limit'])),
    );
    expect(quantity(valueAt(vae, ['singleuser', k, 'guarantee']))).toBeGreaterThan(
      quantity(valueAt(pub, ['singleuser', k, 'guarantee'])),
    );
  }
  // persistent: idle servers stop, but users (and so their home PVCs) are not deleted
  expect(valueAt(pub, ['cull', 'users'])).toBe(true);
  expect(valueAt(vae, ['cull', 'users'])).toBe(false);
});

test('the vae-aai hub is the public hub with login through LS Login (OIDC, GenericOAuthenticator)', () => {
  const pub = hub('production/jupyterhub-public').values;
  const aai = hub('production/jupyterhub-vae-aai').values;
  expect(valueAt(aai, ['hub', 'config', 'JupyterHub', 'authenticator_class'])).toBe('generic-oauth');
  expect(valueAt(aai, ['hub', 'config', 'TmpAuthenticator'])).toBeUndefined();
  const oidc = valueAt(aai, ['hub', 'config', 'GenericOAuthenticator']) as Values;
  for (const k of ['authorize_url', 'token_url', 'userdata_url'])
    expect(oidc[k]).toMatch(/^https:\/\/login\.aai\.lifescience-ri\.eu\/oidc\/[a-z]+$/);
  expect(oidc.scope).toContain('openid');
  expect(oidc.oauth_callback_url).toBe('https://vae-aai.idr-analysis.openmicroscopy.org/hub/oauth_callback');
  // "like public": the user side is the same
  expect(aai.singleuser).toMatchObject({
    cpu: pub.singleuser && (pub.singleuser as Values).cpu,
    memory: pub.singleuser && (pub.singleuser as Values).memory,
    storage: pub.singleuser && (pub.singleuser as Values).storage,
  });
  expect(aai.cull).toEqual(pub.cull);
});

test.each(['production/jupyterhub-vae', 'production/jupyterhub-vae-aai'])(
  '%s: the OAuth client comes from a Secret through hub.extraEnv and hub.extraConfig, not from values',
  (id) => {
    const { values } = hub(id);
    const config = valueAt(values, ['hub', 'config']) as Values;
    for (const [cls, traits] of Object.entries(config)) {
      if (!cls.endsWith('OAuthenticator')) continue;
      expect(Object.keys(traits as Values)).not.toContain('client_secret');
      expect(Object.keys(traits as Values)).not.toContain('client_id');
    }
    const env = valueAt(values, ['hub', 'extraEnv']) as Values;
    const fromSecrets = Object.entries(env).filter(([, v]) => secretKeyRefs(v).length > 0);
    expect(fromSecrets.map(([k]) => k)).toHaveLength(2);
    const code = Object.values(valueAt(values, ['hub', 'extraConfig']) as Values).join('\n');
    for (const [name] of fromSecrets) expect(code).toContain(`os.environ["${name}"]`);
    expect(code).toMatch(/\.client_secret = os\.environ\[/);
  },
);

test.each(HUBS)('%s: sets no proxy token or cookie secret (the chart generates and keeps them)', (id) => {
  const { values } = hub(id);
  expect(valueAt(values, ['proxy', 'secretToken'])).toBeFalsy();
  expect(valueAt(values, ['hub', 'cookieSecret'])).toBeFalsy();
  expect(valueAt(values, ['hub', 'config', 'ConfigurableHTTPProxy'])).toBeUndefined();
});

test.each(HUBS)('%s: user sessions get the IDR read-only password from a Secret', (id) => {
  const { values } = hub(id);
  expect(valueAt(values, ['singleuser', 'extraEnv', 'IDR_PASSWORD'])).toEqual({
    valueFrom: { secretKeyRef: { name: 'idr-readonly', key: 'password' } },
  });
});

test.each(HUBS)('%s: the health check and the OAuth callback use the host the Ingress serves', (id) => {
  const { release, values } = hub(id);
  const hosts = valueAt(values, ['ingress', 'hosts']) as string[];
  expect(hosts).toHaveLength(1);
  const [host] = hosts;
  expect(valueAt(values, ['ingress', 'tls'])).toEqual([{ hosts: [host], secretName: 'jupyterhub-tls' }]);
  expect(release.health.http.map((h) => h.url)).toEqual([`https://${host}/hub/health`]);
  const config = valueAt(values, ['hub', 'config']) as Values;
  for (const traits of Object.values(config)) {
    const callback = (traits as Values).oauth_callback_url;
    if (callback !== undefined) expect(new URL(String(callback)).host).toBe(host);
  }
  // reached through the Ingress only
  expect(valueAt(values, ['proxy', 'service', 'type'])).toBe('ClusterIP');
});

test.each(HUBS)('%s: the hub Deployment keeps the plain name "hub" that deploy.yaml restarts', (id) => {
  const { values } = hub(id);
  expect(values.fullnameOverride).toBe('');
});
