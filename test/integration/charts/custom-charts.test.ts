import { execFile } from 'node:child_process';
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';

// The two charts of this repository, with the real helm binary (no cluster): `helm lint --strict`
// and `helm template`, with assertions on the rendered objects.

const run = promisify(execFile);
const helmBin = process.env.HELMGATE_HELM_BIN as string;
const ROOT = path.resolve(__dirname, '../../..');
const WEBSITE = path.join(ROOT, 'charts/idr-analysis-website');
const SCRATCH = path.join(ROOT, 'charts/jupyterhub-shared-scratch');

let work: string;
let env: Record<string, string>;

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'helmgate-charts-'));
  // helm's own state in a throwaway home: nothing read from or written to the user's
  env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: work,
    HELM_CACHE_HOME: path.join(work, 'cache'),
    HELM_CONFIG_HOME: path.join(work, 'config'),
    HELM_DATA_HOME: path.join(work, 'data'),
  };
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

async function helm(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(helmBin, args, { env, maxBuffer: 16 * 1024 * 1024 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return {
      code: typeof err.code === 'number' ? err.code : -1,
      stdout: err.stdout ?? '',
      stderr: err.stderr ?? '',
    };
  }
}

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  // biome-ignore lint/suspicious/noExplicitAny: rendered manifests are asserted on, not typed
  spec?: any;
  data?: Record<string, string>;
}

async function template(chart: string, release: string, args: string[] = []): Promise<K8sObject[]> {
  const r = await helm(['template', release, chart, '--namespace', 'ns1', ...args]);
  if (r.code !== 0) throw new Error(`helm template failed: ${r.stderr}`);
  return parseAllDocuments(r.stdout)
    .map((d) => d.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null);
}

const find = (objects: K8sObject[], kind: string) => objects.filter((o) => o.kind === kind);
const one = (objects: K8sObject[], kind: string): K8sObject => {
  const found = find(objects, kind);
  expect(found.map((o) => o.kind)).toEqual([kind]);
  return found[0] as K8sObject;
};

describe('helm lint --strict', () => {
  test.each([
    ['idr-analysis-website', WEBSITE, []],
    [
      'idr-analysis-website with values/idr-analysis-website.yaml',
      WEBSITE,
      ['values/idr-analysis-website.yaml'],
    ],
    ['jupyterhub-shared-scratch', SCRATCH, []],
    ['jupyterhub-shared-scratch with the production values', SCRATCH, ['values/shared-scratch.yaml']],
    [
      'jupyterhub-shared-scratch with the staging values',
      SCRATCH,
      ['values/shared-scratch.yaml', 'values/shared-scratch-staging.yaml'],
    ],
  ])('%s is clean', async (_name, chart, values) => {
    const r = await helm(['lint', '--strict', chart, ...values.flatMap((v) => ['-f', path.join(ROOT, v)])]);
    expect({ code: r.code, out: r.stdout + r.stderr }).toMatchObject({ code: 0 });
    expect(r.stdout).toContain('1 chart(s) linted, 0 chart(s) failed');
  });

  test('a misspelt value fails the chart schema instead of being ignored', async () => {
    const bad = path.join(work, 'typo.yaml');
    await writeFile(bad, 'ingress:\n  enabled: true\n  hostname: idr.example.org\n');
    const r = await helm(['lint', '--strict', WEBSITE, '-f', bad]);
    expect(r.code).not.toBe(0);
    expect(r.stdout + r.stderr).toMatch(/hostname/);
    const r2 = await helm(['lint', '--strict', SCRATCH, '--set', 'size=lots']);
    expect(r2.code).not.toBe(0);
  });
});

describe('idr-analysis-website rendered', () => {
  test('Deployment, Service and ConfigMaps, labelled with the release as instance; no Ingress by default', async () => {
    const objects = await template(WEBSITE, 'site');
    expect(objects.map((o) => o.kind).sort()).toEqual(['ConfigMap', 'ConfigMap', 'Deployment', 'Service']);
    for (const o of objects) {
      expect(o.metadata.labels).toMatchObject({
        'app.kubernetes.io/name': 'idr-analysis-website',
        'app.kubernetes.io/instance': 'site',
        'app.kubernetes.io/managed-by': 'Helm',
      });
      expect(o.metadata.labels?.['app.kubernetes.io/version']).toBeDefined();
    }
    const deployment = one(objects, 'Deployment');
    const service = one(objects, 'Service');
    // the Service selects exactly the pods of this release
    expect(service.spec.selector).toEqual(deployment.spec.selector.matchLabels);
    expect(deployment.spec.template.metadata.labels).toMatchObject(deployment.spec.selector.matchLabels);
    expect(service.spec.type).toBe('ClusterIP');
    expect(service.spec.ports).toEqual([{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }]);
  });

  test('runs nginx unprivileged on 8080 with a read-only root, probes and resources', async () => {
    const deployment = one(await template(WEBSITE, 'site'), 'Deployment');
    const pod = deployment.spec.template.spec;
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 101 });
    expect(pod.automountServiceAccountToken).toBe(false);
    const [container] = pod.containers;
    expect(container.image).toMatch(/^docker\.io\/nginxinc\/nginx-unprivileged:\d+\.\d+\.\d+-alpine$/);
    expect(container.ports).toEqual([{ name: 'http', containerPort: 8080, protocol: 'TCP' }]);
    expect(container.securityContext).toMatchObject({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
    for (const probe of ['startupProbe', 'readinessProbe', 'livenessProbe'])
      expect(container[probe].httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(container.resources.requests).toMatchObject({
      cpu: expect.any(String),
      memory: expect.any(String),
    });
    expect(container.resources.limits.memory).toBeDefined();
    // /tmp is writable for nginx's pid and temp files
    const tmp = container.volumeMounts.find((m: { mountPath: string }) => m.mountPath === '/tmp');
    expect(pod.volumes.find((v: { name: string }) => v.name === tmp.name).emptyDir).toBeDefined();
  });

  test('serves every file of content/ from a ConfigMap, and nginx answers /healthz on 8080', async () => {
    const objects = await template(WEBSITE, 'site');
    const maps = find(objects, 'ConfigMap');
    const content = maps.find((m) => m.metadata.name.endsWith('-content')) as K8sObject;
    const nginx = maps.find((m) => m.metadata.name.endsWith('-nginx')) as K8sObject;
    const files = (await readdir(path.join(WEBSITE, 'content'))).sort();
    expect(Object.keys(content.data ?? {}).sort()).toEqual(files);
    for (const f of files)
      expect(content.data?.[f]).toBe(await readFile(path.join(WEBSITE, 'content', f), 'utf8'));
    expect(content.data?.['index.html']).toContain('<title>IDR analysis environment</title>');
    const conf = nginx.data?.['default.conf'] ?? '';
    expect(conf).toMatch(/listen\s+8080;/);
    expect(conf).toMatch(/location = \/healthz/);

    const pod = one(objects, 'Deployment').spec.template.spec;
    const mount = (p: string) =>
      pod.containers[0].volumeMounts.find((m: { mountPath: string }) => m.mountPath === p);
    const volume = (name: string) => pod.volumes.find((v: { name: string }) => v.name === name);
    expect(volume(mount('/usr/share/nginx/html').name).configMap.name).toBe(content.metadata.name);
    expect(volume(mount('/etc/nginx/conf.d').name).configMap.name).toBe(nginx.metadata.name);
  });

  test('a changed page rolls the pods: the pod template carries a checksum of the content', async () => {
    const copy = path.join(work, 'website-copy');
    await cp(WEBSITE, copy, { recursive: true });
    const before = one(await template(copy, 'site'), 'Deployment');
    await writeFile(path.join(copy, 'content', 'index.html'), '<!DOCTYPE html><title>changed</title>\n');
    const after = one(await template(copy, 'site'), 'Deployment');
    const checksum = (d: K8sObject) => d.spec.template.metadata.annotations['checksum/config'];
    expect(checksum(before)).toMatch(/^[0-9a-f]{64}$/);
    expect(checksum(after)).not.toBe(checksum(before));
  });

  test('with content from the image there is no content ConfigMap and nothing mounted over the html', async () => {
    const objects = await template(WEBSITE, 'site', [
      '--set',
      'content.fromChart=false',
      '--set',
      'image.repository=ghcr.io/example/site',
      '--set',
      'image.tag=2.0.0',
    ]);
    expect(find(objects, 'ConfigMap').map((m) => m.metadata.name)).toEqual([
      'site-idr-analysis-website-nginx',
    ]);
    const container = one(objects, 'Deployment').spec.template.spec.containers[0];
    expect(container.image).toBe('ghcr.io/example/site:2.0.0');
    expect(container.volumeMounts.map((m: { mountPath: string }) => m.mountPath)).not.toContain(
      '/usr/share/nginx/html',
    );
  });

  test('with the project values: an Ingress for the host, with TLS, routing to the Service', async () => {
    const objects = await template(WEBSITE, 'idr-analysis-website', [
      '-f',
      path.join(ROOT, 'values/idr-analysis-website.yaml'),
    ]);
    const ingress = one(objects, 'Ingress');
    const service = one(objects, 'Service');
    // a release named like the chart keeps the short name
    expect(service.metadata.name).toBe('idr-analysis-website');
    expect(ingress.spec.ingressClassName).toBe('nginx');
    expect(ingress.metadata.annotations).toMatchObject({
      'cert-manager.io/cluster-issuer': expect.any(String),
    });
    const [rule] = ingress.spec.rules;
    expect(rule.host).toBe('idr-analysis.openmicroscopy.org');
    expect(ingress.spec.tls).toEqual([
      { hosts: ['idr-analysis.openmicroscopy.org'], secretName: 'idr-analysis-website-tls' },
    ]);
    expect(rule.http.paths[0].backend.service).toEqual({
      name: service.metadata.name,
      port: { name: 'http' },
    });
  });

  test('an enabled Ingress without a host fails the render with the reason', async () => {
    const r = await helm(['template', 'site', WEBSITE, '--set', 'ingress.enabled=true']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/host/);
  });
});

describe('jupyterhub-shared-scratch rendered', () => {
  test('one ReadWriteMany claim, sized and classed by the project values, kept on uninstall', async () => {
    const objects = await template(SCRATCH, 'scratch-vae', [
      '-f',
      path.join(ROOT, 'values/shared-scratch.yaml'),
    ]);
    const pvc = one(objects, 'PersistentVolumeClaim');
    expect(objects).toHaveLength(1);
    expect(pvc.metadata.name).toBe('shared-scratch');
    expect(pvc.metadata.labels).toMatchObject({
      'app.kubernetes.io/name': 'jupyterhub-shared-scratch',
      'app.kubernetes.io/instance': 'scratch-vae',
    });
    expect(pvc.metadata.annotations).toEqual({ 'helm.sh/resource-policy': 'keep' });
    expect(pvc.spec).toEqual({
      accessModes: ['ReadWriteMany'],
      storageClassName: 'nfs-client',
      resources: { requests: { storage: '100Gi' } },
    });
  });

  test('staging layers a smaller size; an empty storage class leaves the cluster default', async () => {
    const staging = one(
      await template(SCRATCH, 'shared-scratch', [
        '-f',
        path.join(ROOT, 'values/shared-scratch.yaml'),
        '-f',
        path.join(ROOT, 'values/shared-scratch-staging.yaml'),
      ]),
      'PersistentVolumeClaim',
    );
    expect(staging.spec.resources.requests.storage).toBe('10Gi');
    expect(staging.spec.storageClassName).toBe('nfs-client');

    const plain = one(
      await template(SCRATCH, 'x', ['--set', 'keepOnUninstall=false']),
      'PersistentVolumeClaim',
    );
    expect(plain.spec.storageClassName).toBeUndefined();
    expect(plain.metadata.annotations).toBeUndefined();
  });
});
