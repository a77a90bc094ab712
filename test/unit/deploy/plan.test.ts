import { readFileSync } from 'node:fs';
import path from 'node:path';
import { DeployConfigError, parseDeployConfig } from '../../../lib/deploy/deploy-config';
import {
  describePlan,
  type EnvironmentPlan,
  planEnvironment,
  topologicalLayers,
} from '../../../lib/deploy/plan';
import { hasPath } from '../../../lib/deploy/values-merge';
import { memorySource } from './memory-source';

const EXAMPLE = readFileSync(path.resolve(__dirname, '../../fixtures/deploy-config/valid.yaml'), 'utf8');
const SHA_A = 'a'.repeat(40);
const SHA_B = 'b'.repeat(40);

/** What Secrets Manager would hold for the example's refs: none of it may ever appear in a plan. */
const SECRET_VALUES = ['oauth-client-secret-7f3a9c', 'idr-readonly-password-51e2', 'kubeconfig-token-c0ffee'];

function repo(overrides: Record<string, string> = {}): Record<string, string> {
  return {
    'deploy.yaml': EXAMPLE,
    'README.md': '# ops\n',
    'charts/jupyterhub-shared-scratch/Chart.yaml':
      'apiVersion: v2\nname: jupyterhub-shared-scratch\nversion: 0.1.0\n',
    'charts/jupyterhub-shared-scratch/templates/pvc.yaml': 'kind: PersistentVolumeClaim\n',
    'values/shared-scratch.yaml': 'size: 10Gi\nstorageClass: standard\n',
    'values/jupyterhub-config.yaml':
      'hub:\n  config:\n    GitHubOAuthenticator:\n      client_id: abc\n      oauth_callback_url: https://staging.example.org/hub/oauth_callback\nproxy:\n  service:\n    type: ClusterIP\n',
    ...overrides,
  };
}

async function plan(
  files: Record<string, string>,
  sha = SHA_A,
  environment = 'staging',
): Promise<EnvironmentPlan> {
  const config = parseDeployConfig(files['deploy.yaml'] as string);
  return planEnvironment({ config, environment, sha, source: memorySource(files) });
}

async function planError(files: Record<string, string>): Promise<DeployConfigError> {
  try {
    await plan(files);
  } catch (e) {
    expect(e).toBeInstanceOf(DeployConfigError);
    return e as DeployConfigError;
  }
  throw new Error('expected planning to fail');
}

describe('planEnvironment', () => {
  test('plans the example’s staging environment: charts resolved, values read and merged, timeouts in seconds', async () => {
    const p = await plan(repo());
    expect(p).toMatchObject({
      environment: 'staging',
      sha: SHA_A,
      approval: 'none',
      cluster: { secret: 'helmgate/staging/cluster' },
    });
    expect(p.after).toBeUndefined();
    const [scratch, hub] = p.releases;
    expect(scratch).toMatchObject({
      name: 'shared-scratch',
      namespace: 'jupyterhub-staging',
      chart: { kind: 'local', path: 'charts/jupyterhub-shared-scratch' },
      valuesFiles: [{ path: 'values/shared-scratch.yaml', content: 'size: 10Gi\nstorageClass: standard\n' }],
      mergedValues: { size: '10Gi', storageClass: 'standard' },
      needs: [],
      timeoutSeconds: 600,
      health: { workloads: true, http: [] },
    });
    expect(hub).toMatchObject({
      name: 'jupyterhub',
      chart: {
        kind: 'repo',
        repository: 'jupyterhub',
        url: 'https://hub.jupyter.org/helm-chart/',
        name: 'jupyterhub',
        version: '4.4.0',
      },
      secretValues: [
        {
          path: 'hub.config.GitHubOAuthenticator.client_secret',
          ref: { secret: 'idr/github-oauth', key: 'client_secret' },
        },
      ],
      needs: ['shared-scratch'],
      timeoutSeconds: 900,
      health: {
        workloads: true,
        http: [{ url: 'https://staging.example.org/hub/health', expectStatus: 200 }],
      },
    });
    expect(p.kubernetesSecrets).toEqual([
      {
        name: 'jupyterhub-env',
        namespace: 'jupyterhub-staging',
        data: [{ key: 'IDR_PASSWORD', ref: { secret: 'idr/readonly', key: 'password' } }],
        restart: [{ kind: 'Deployment', name: 'hub' }],
      },
    ]);
    expect(p.secretRefs).toEqual([
      { secret: 'idr/github-oauth', key: 'client_secret' },
      { secret: 'idr/readonly', key: 'password' },
    ]);
    expect(p.digest).toMatch(/^[0-9a-f]{64}$/);
  });

  test('carries production’s gate (approval, after)', async () => {
    const p = await plan(repo(), SHA_A, 'production');
    expect(p).toMatchObject({
      environment: 'production',
      approval: 'required',
      after: 'staging',
      releases: [],
    });
  });

  test('merges several values files in order, right-most winning, lists replaced, null kept for helm', async () => {
    const text = EXAMPLE.replace(
      'values: [values/shared-scratch.yaml]',
      'values: [values/shared-scratch.yaml, values/override.yaml]',
    );
    const p = await plan(
      repo({
        'deploy.yaml': text,
        'values/override.yaml': 'size: 20Gi\nstorageClass: null\nextra: [b]\n',
        'values/shared-scratch.yaml': 'size: 10Gi\nstorageClass: standard\nextra: [a, c]\n',
      }),
    );
    expect(p.releases[0]?.mergedValues).toEqual({ size: '20Gi', storageClass: null, extra: ['b'] });
    expect(p.releases[0]?.valuesFiles.map((f) => f.path)).toEqual([
      'values/shared-scratch.yaml',
      'values/override.yaml',
    ]);
  });

  test('a missing values file is an error naming the release and the file', async () => {
    const files = repo();
    delete files['values/jupyterhub-config.yaml'];
    const err = await planError(files);
    expect(err.code).toBe('invalid_deploy_config');
    expect(err.issues).toEqual([
      {
        file: 'deploy.yaml',
        path: 'environments.staging.releases[1].values[0]',
        message:
          'release jupyterhub: values file values/jupyterhub-config.yaml does not exist at this commit',
      },
    ]);
    expect(err.message).toContain(
      'release jupyterhub: values file values/jupyterhub-config.yaml does not exist',
    );
  });

  test('a local chart directory without Chart.yaml is an error naming the release', async () => {
    const files = repo();
    delete files['charts/jupyterhub-shared-scratch/Chart.yaml'];
    const err = await planError(files);
    expect(err.issues[0]).toMatchObject({
      path: 'environments.staging.releases[0].chart',
      message: expect.stringContaining(
        'release shared-scratch: local chart charts/jupyterhub-shared-scratch has no Chart.yaml',
      ),
    });
  });

  test('a values file that is not YAML is reported in that file, at its line', async () => {
    const err = await planError(repo({ 'values/shared-scratch.yaml': 'size: 10Gi\nsize: 20Gi\n' }));
    expect(err.issues[0]).toMatchObject({ file: 'values/shared-scratch.yaml', line: 2 });
    expect(err.issues[0]?.message).toContain(
      'release shared-scratch: values file values/shared-scratch.yaml is not valid YAML',
    );
  });

  test('a values file with a cyclic alias is reported, not walked until the stack overflows', async () => {
    const err = await planError(repo({ 'values/shared-scratch.yaml': 'size: &s {inner: *s}\n' }));
    expect(err.issues[0]).toMatchObject({ file: 'values/shared-scratch.yaml' });
    expect(err.issues[0]?.message).toBe(
      'release shared-scratch: values file values/shared-scratch.yaml cannot be read: the alias *s is used inside the node its anchor names, which makes a cyclic value',
    );
  });

  test('a values file that is a list, not a map, is refused', async () => {
    const err = await planError(repo({ 'values/shared-scratch.yaml': '- a\n- b\n' }));
    expect(err.issues[0]?.message).toBe(
      'release shared-scratch: values file values/shared-scratch.yaml must be a map of values',
    );
  });

  test('an empty values file is an empty map', async () => {
    const p = await plan(repo({ 'values/shared-scratch.yaml': '# nothing yet\n' }));
    expect(p.releases[0]?.mergedValues).toEqual({});
  });
});

describe('plan digests', () => {
  test('are the same for two commits that deploy the same content', async () => {
    const a = await plan(repo(), SHA_A);
    const b = await plan(repo({ 'README.md': '# changed docs\n' }), SHA_B);
    expect(b.sha).not.toBe(a.sha);
    expect(b.digest).toBe(a.digest);
    expect(b.releases.map((r) => r.digest)).toEqual(a.releases.map((r) => r.digest));
  });

  test('change when a values file changes, and only that release’s digest changes', async () => {
    const a = await plan(repo());
    const b = await plan(repo({ 'values/jupyterhub-config.yaml': 'hub: {}\n' }));
    expect(b.digest).not.toBe(a.digest);
    expect(b.releases[0]?.digest).toBe(a.releases[0]?.digest);
    expect(b.releases[1]?.digest).not.toBe(a.releases[1]?.digest);
  });

  test('change when a chart version changes', async () => {
    const a = await plan(repo());
    const b = await plan(repo({ 'deploy.yaml': EXAMPLE.replace('version: 4.4.0', 'version: 4.4.1') }));
    expect(b.releases[1]?.digest).not.toBe(a.releases[1]?.digest);
    expect(b.digest).not.toBe(a.digest);
  });

  test('change when a file of a local chart changes', async () => {
    const a = await plan(repo());
    const b = await plan(
      repo({ 'charts/jupyterhub-shared-scratch/templates/pvc.yaml': 'kind: PersistentVolumeClaim\n# v2\n' }),
    );
    expect(b.releases[0]?.digest).not.toBe(a.releases[0]?.digest);
  });

  test('change when a secret *name* changes, for secret values and for Kubernetes Secrets', async () => {
    const a = await plan(repo());
    const renamedValue = await plan(
      repo({ 'deploy.yaml': EXAMPLE.replace('idr/github-oauth', 'idr/github-oauth-2') }),
    );
    expect(renamedValue.releases[1]?.digest).not.toBe(a.releases[1]?.digest);
    expect(renamedValue.digest).not.toBe(a.digest);
    const renamedKube = await plan(
      repo({ 'deploy.yaml': EXAMPLE.replace('idr/readonly', 'idr/readonly-2') }),
    );
    expect(renamedKube.digest).not.toBe(a.digest);
    const otherCluster = await plan(
      repo({ 'deploy.yaml': EXAMPLE.replace('helmgate/staging/cluster', 'helmgate/staging/cluster-2') }),
    );
    expect(otherCluster.digest).not.toBe(a.digest);
  });

  test('differ between environments that deploy the same releases', async () => {
    const text = EXAMPLE.replace(
      '  production:',
      '  staging2:\n    approval: none\n    cluster:\n      secret: helmgate/staging/cluster\n    releases: []\n  production:',
    );
    const s = await plan(repo({ 'deploy.yaml': text }), SHA_A, 'staging2');
    const p = await plan(repo({ 'deploy.yaml': text }), SHA_A, 'production');
    expect(s.digest).not.toBe(p.digest);
  });
});

describe('plans carry no secret values', () => {
  test('the serialized plan and its description hold refs only, and merged values hold nothing at secret paths', async () => {
    const p = await plan(repo());
    const serialized = JSON.stringify(p) + describePlan(p);
    for (const v of SECRET_VALUES) expect(serialized).not.toContain(v);
    for (const r of p.releases)
      for (const s of r.secretValues) expect(hasPath(r.mergedValues, s.path)).toBe(false);
    expect(serialized).toContain('idr/github-oauth');
  });
});

describe('topologicalLayers', () => {
  test('groups releases so that each layer needs only earlier ones, keeping config order', () => {
    const layers = topologicalLayers([
      { name: 'hub', needs: ['scratch', 'db'] },
      { name: 'scratch', needs: [] },
      { name: 'db', needs: [] },
      { name: 'grafana', needs: ['hub'] },
      { name: 'prometheus', needs: [] },
    ]);
    expect(layers.map((l) => l.map((r) => r.name))).toEqual([
      ['scratch', 'db', 'prometheus'],
      ['hub'],
      ['grafana'],
    ]);
  });

  test('refuses a cycle, naming it', () => {
    expect(() =>
      topologicalLayers([
        { name: 'a', needs: ['b'] },
        { name: 'b', needs: ['a'] },
      ]),
    ).toThrow('dependency cycle: a → b → a');
  });
});

describe('describePlan', () => {
  test('names environment, gate, releases in dependency order, charts, values files and secret refs', async () => {
    const text = describePlan(await plan(repo()));
    expect(text.split('\n')).toEqual([
      expect.stringMatching(/^staging @ aaaaaaaaaaaa — deploys on push \(plan [0-9a-f]{12}\)$/),
      'cluster credentials: helmgate/staging/cluster',
      'Kubernetes Secrets:',
      '  jupyterhub-staging/jupyterhub-env: IDR_PASSWORD ← idr/readonly#password; restarts Deployment/hub',
      'releases (in order of dependencies):',
      '  1. shared-scratch in jupyterhub-staging: ./charts/jupyterhub-shared-scratch (timeout 10m)',
      '     values: values/shared-scratch.yaml',
      '     health: workloads available',
      '  2. jupyterhub in jupyterhub-staging: jupyterhub/jupyterhub@4.4.0 (timeout 15m, after shared-scratch)',
      '     values: values/jupyterhub-config.yaml',
      '     secret value hub.config.GitHubOAuthenticator.client_secret ← idr/github-oauth#client_secret',
      '     health: workloads available; https://staging.example.org/hub/health → 200',
    ]);
  });
});
