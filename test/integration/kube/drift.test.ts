import { mkdtempSync } from 'node:fs';
import path from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { fieldDrift } from '../../../lib/deploy/drift';
import { createProcessRunner } from '../../../lib/exec/command-runner';
import { createHelmRunner } from '../../../lib/helm/helm-runner';
import { releaseDrift } from '../../../lib/kube/drift';
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
  expect(await releaseDrift(kc, { namespace: 'apps', deployed })).toEqual([]);

  // kubectl scale + kubectl set image, by hand
  const live = kube.get('Deployment', 'apps', 'web');
  if (!live) throw new Error('not installed');
  live.spec.replicas = 3;
  live.spec.template.spec.containers[0].image = 'registry.example/web:hotfix';
  kube.put(live);

  expect(await releaseDrift(kc, { namespace: 'apps', deployed })).toEqual([
    {
      object: 'Deployment apps/web',
      fields: [
        { path: 'spec.replicas', deployed: '1', live: '3' },
        {
          path: 'spec.template.spec.containers[0].image',
          deployed: '"registry.example/web:1.0.0"',
          live: '"registry.example/web:hotfix"',
        },
      ],
    },
  ]);
});

test('fields the cluster adds are not drift; Secret data compares by key only', () => {
  expect(fieldDrift({ spec: { a: 1 } }, { spec: { a: 1, b: 2 }, status: { ready: 1 } })).toEqual([]);
  expect(
    fieldDrift(
      { kind: 'Secret', data: { token: 'REDACTED', gone: 'x' } },
      { kind: 'Secret', data: { token: 'c2VjcmV0' } },
      'Secret',
    ),
  ).toEqual([{ path: 'data.gone', deployed: '(set)' }]);
});
