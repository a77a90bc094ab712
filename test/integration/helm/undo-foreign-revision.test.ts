import { mkdtempSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fixedClock } from '../../../lib/clock';
import { createProcessRunner } from '../../../lib/exec/command-runner';
import { createHelmRunner, type HelmRunner } from '../../../lib/helm/helm-runner';
import { deployRelease, undoFailedUpgrade } from '../../../lib/helm/release-deployer';
import { Redactor } from '../../../lib/log/redact';
import { KubeApiStandIn } from '../../stand-ins/kube-api';

/**
 * A failed upgrade is undone only when the latest revision is the one it wrote (security review of issue
 * 13). Two environments hold separate locks; when both name a release `web` in the same namespace of one
 * cluster, the other environment's helm can write a revision while ours fails. The real helm, against the
 * loopback Kubernetes API: the other environment's revision is written at the point the race allows.
 */

let kube: KubeApiStandIn;
const chart = { kind: 'local' as const, path: path.resolve(__dirname, '../../fixtures/charts/web') };
const T0 = Date.parse('2026-11-26T05:00:00Z');

beforeAll(async () => {
  kube = await KubeApiStandIn.start();
  // a Deployment on a `:bad` image never becomes ready, so helm --wait fails on it
  kube.setWorkloadReadiness((w) => !String(w.spec?.template?.spec?.containers?.[0]?.image).endsWith(':bad'));
});
afterAll(async () => {
  await kube.close();
});

function realHelm(): { helm: HelmRunner; values: (name: string, text: string) => string } {
  const work = mkdtempSync(path.join(path.resolve(__dirname, '../../../.tmp'), 'undo-foreign-'));
  const helm = createHelmRunner({
    commandRunner: createProcessRunner(),
    helmBin: process.env.HELMGATE_HELM_BIN as string,
    homeDir: path.join(work, 'helm-home'),
    redactor: new Redactor(),
    baseEnv: process.env,
    connection: { kind: 'apiserver', url: kube.url },
    upgradeFlags: ['--disable-openapi-validation'],
  });
  const values = (name: string, text: string) => {
    const file = path.join(work, name);
    writeFileSync(file, text);
    return file;
  };
  return { helm, values };
}

const image = (ns: string) => kube.get('Deployment', ns, 'web')?.spec.template.spec.containers[0].image;
const revisions = (ns: string) => kube.helmReleases(ns, 'web').map((r) => [r.version, r.info.status]);

/** Our environment's failing deploy of `web` (its image never gets ready), with `around` run by the other one. */
async function failingDeploy(
  helm: HelmRunner,
  ns: string,
  bad: string,
  around: { beforeUpgrade?: () => Promise<unknown>; afterFailure?: () => Promise<unknown> },
) {
  const racing: HelmRunner = {
    ...helm,
    async upgradeInstall(input) {
      await around.beforeUpgrade?.();
      try {
        return await helm.upgradeInstall(input);
      } catch (e) {
        await around.afterFailure?.();
        throw e;
      }
    },
  };
  const clock = fixedClock(new Date(T0));
  const r = await deployRelease(
    { helm: racing, clock, sleep: async () => {}, retry: { attempts: 1 }, minAttemptSeconds: 1 },
    {
      release: 'web',
      namespace: ns,
      chart,
      valuesFiles: [bad],
      timeoutSeconds: 2,
      wait: true,
      deadline: T0 + 120_000,
    },
  );
  expect(r.status).toBe('failed');
  if (r.before === undefined || r.beforeLastAttempt === undefined) throw new Error('no revision read');
  return undoFailedUpgrade(
    { helm },
    {
      release: 'web',
      namespace: ns,
      before: r.before,
      beforeLastAttempt: r.beforeLastAttempt,
      timeoutSeconds: 30,
      processTimeoutMs: 60_000,
    },
  );
}

const other = (helm: HelmRunner, ns: string, file: string) => () =>
  helm.upgradeInstall({ release: 'web', namespace: ns, chart, valuesFiles: [file], timeoutSeconds: 30 });

test('without another writer, the failed revision is rolled back (the control)', async () => {
  const { helm, values } = realHelm();
  const ns = 'alone';
  await other(helm, ns, values('good.yaml', 'image: { tag: "1.0.0" }\n'))();
  const undone = await failingDeploy(helm, ns, values('bad.yaml', 'image: { tag: bad }\n'), {});
  expect(undone).toEqual({ outcome: 'rolled-back', to: 1 });
  expect(image(ns)).toBe('registry.example/web:1.0.0');
});

test('a revision the other environment deployed after ours failed is not rolled back', async () => {
  const { helm, values } = realHelm();
  const ns = 'shared-upgrade';
  await other(helm, ns, values('good.yaml', 'image: { tag: "1.0.0" }\n'))();
  const theirs = other(helm, ns, values('theirs.yaml', 'image: { tag: "2.0.0" }\n'));
  const undone = await failingDeploy(helm, ns, values('bad.yaml', 'image: { tag: bad }\n'), {
    afterFailure: theirs,
  });
  expect(undone).toMatchObject({ outcome: 'left', reason: expect.stringMatching(/r3 \(deployed\).*\(r2\)/) });
  expect(image(ns)).toBe('registry.example/web:2.0.0');
  expect(revisions(ns)).toEqual([
    [1, 'superseded'],
    [2, 'failed'],
    [3, 'deployed'],
  ]);
});

test('a release the other environment installed while ours was starting is not uninstalled', async () => {
  const { helm, values } = realHelm();
  const ns = 'shared-install';
  const theirs = other(helm, ns, values('theirs.yaml', 'image: { tag: "2.0.0" }\n'));
  // our status read found nothing (a first install); theirs lands before our upgrade, which then fails on top
  const undone = await failingDeploy(helm, ns, values('bad.yaml', 'image: { tag: bad }\n'), {
    beforeUpgrade: theirs,
  });
  expect(undone).toMatchObject({ outcome: 'left' });
  expect(revisions(ns).map(([v]) => v)).toEqual([1, 2]);
  expect(kube.get('Deployment', ns, 'web')).toBeDefined();
});
