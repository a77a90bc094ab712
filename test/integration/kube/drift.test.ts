import { mkdtempSync } from 'node:fs';
import path from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { fieldDrift } from '../../../lib/deploy/drift';
import { createProcessRunner } from '../../../lib/exec/command-runner';
import { createHelmRunner } from '../../../lib/helm/helm-runner';
import { MAX_OBJECTS, releaseDrift } from '../../../lib/kube/drift';
import { Redactor } from '../../../lib/log/redact';
import { KubeApiStandIn } from '../../stand-ins/kube-api';

/**
 * Issue 13, item 4 (the comparison only): the real helm installs a fixture chart into the loopback
 * Kubernetes API; a hand edit of its Deployment is then reported field by field against helm's manifest.
 */

let kube: KubeApiStandIn;
beforeAll(async () => {
  kube = await KubeApiStandIn.start();
});
afterAll(async () => {
  await kube.close();
});

test('a hand-edited Deployment is reported as drift, field by field; an untouched release has none', async () => {
  const work = mkdtempSync(path.join(path.resolve(__dirname, '../../../.tmp'), 'drift-'));
  const helm = createHelmRunner({
    commandRunner: createProcessRunner(),
    helmBin: process.env.HELMGATE_HELM_BIN as string,
    homeDir: path.join(work, 'helm-home'),
    redactor: new Redactor(),
    baseEnv: process.env,
    connection: { kind: 'apiserver', url: kube.url },
    upgradeFlags: ['--disable-openapi-validation'],
  });
  await helm.upgradeInstall({
    release: 'web',
    namespace: 'apps',
    chart: { kind: 'local', path: path.resolve(__dirname, '../../fixtures/charts/web') },
    valuesFiles: [],
    timeoutSeconds: 30,
  });
  const kc = new KubeConfig();
  kc.loadFromString(kube.kubeconfig());
  const deployed = (await helm.getManifestObjects?.('web', 'apps')) ?? [];
  expect(deployed.length).toBeGreaterThanOrEqual(3);
  const mask = (live: Record<string, unknown>) =>
    helm.redactLiveObjects?.([live])[0] as Record<string, unknown>;
  expect(await releaseDrift(kc, { namespace: 'apps', deployed, mask })).toEqual([]);

  // kubectl scale + kubectl set image, by hand
  const live = kube.get('Deployment', 'apps', 'web');
  if (!live) throw new Error('not installed');
  live.spec.replicas = 3;
  live.spec.template.spec.containers[0].image = 'registry.example/web:hotfix';
  kube.put(live);

  expect(await releaseDrift(kc, { namespace: 'apps', deployed, mask })).toEqual([
    {
      object: 'Deployment apps/web',
      fields: [
        { path: 'spec.replicas', deployed: '1', live: '3' },
        {
          path: 'spec.template.spec.containers[web].image',
          deployed: '"registry.example/web:1.0.0"',
          live: '"registry.example/web:hotfix"',
        },
      ],
    },
  ]);
});

test('fields the cluster adds are not drift; Secret data compares by key, never showing a value', () => {
  expect(fieldDrift({ spec: { a: 1 } }, { spec: { a: 1, b: 2 }, status: { ready: 1 } })).toEqual([]);
  expect(
    fieldDrift(
      { kind: 'Secret', data: { token: 'digest:aa', same: 'digest:bb', gone: 'digest:cc' } },
      { kind: 'Secret', data: { token: 'digest:dd', same: 'digest:bb' } },
      'Secret',
    ),
  ).toEqual([
    { path: 'data.token', deployed: '(set)', live: '(changed)' },
    { path: 'data.gone', deployed: '(set)' },
  ]);
});

test('a release with more objects than the bound is not compared, and says why', async () => {
  const kc = new KubeConfig();
  kc.loadFromString(kube.kubeconfig());
  const deployed = Array.from({ length: MAX_OBJECTS + 1 }, (_, i) => ({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: `c${i}` },
    data: {},
  }));
  const requests = kube.requests.length;
  await expect(releaseDrift(kc, { namespace: 'apps', deployed, mask: (o) => o })).rejects.toThrow(
    `the release has ${MAX_OBJECTS + 1} objects; the drift check compares at most ${MAX_OBJECTS}`,
  );
  expect(kube.requests.length).toBe(requests);
});
