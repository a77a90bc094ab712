import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { startDynalite, type TestDynamo } from '../../helpers/dynalite';
import { KubeApiStandIn } from '../../stand-ins/kube-api';
import { type Harness, makeHarness, runnerRepo } from './harness';

/**
 * Skip-unchanged from one read of the cluster (issue 13, item 10): a no-op redeploy runs no helm process
 * at all and lists helm's release records once (metadata only); a release changed behind helmgate's back
 * (a hand-run `helm rollback`, a hand-marked failed revision, an uninstall) is deployed again.
 */

const DEPLOY_YAML = `apiVersion: helmgate/v1
environments:
  staging:
    approval: none
    cluster: { secret: test/cluster }
    releases:
      - name: web
        namespace: web
        chart: ./charts/web
        values: [values/web.yaml]
      - name: web2
        namespace: web2
        chart: ./charts/web
      - name: db
        namespace: apps
        chart: ./charts/db
`;

let db: TestDynamo;
let kube: KubeApiStandIn;
let repo: ReturnType<typeof runnerRepo>;
let h: Harness;

beforeAll(async () => {
  db = await startDynalite();
  kube = await KubeApiStandIn.start();
  repo = runnerRepo({ 'deploy.yaml': DEPLOY_YAML, 'values/web.yaml': 'greeting: hello\n' });
  h = makeHarness({ db, kube, repoDir: repo.dir });
  const first = await h.queue(repo.head());
  await h.run(first.id);
  expect((await db.store.getDeployment(first.id))?.status).toBe('succeeded');
});

afterAll(async () => {
  await kube.close();
  await db.close();
});

const releasesOf = async (id: string) =>
  Object.fromEntries(((await db.store.getDeployment(id))?.releases ?? []).map((r) => [r.name, r]));

const releaseRecordLists = (from: number) =>
  kube.requests
    .slice(from)
    .filter((r) => r.method === 'GET' && /\/secrets$/.test(r.path) && r.query.labelSelector === 'owner=helm');

/** helm itself, as an operator would run it by hand (async: the stand-in serves from this process) */
async function handHelm(args: string[]): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hand-helm-'));
  const kubeconfig = path.join(dir, 'config');
  writeFileSync(kubeconfig, kube.kubeconfig(), { mode: 0o600 });
  await promisify(execFile)(process.env.HELMGATE_HELM_BIN as string, [...args, '--kubeconfig', kubeconfig], {
    env: {
      PATH: process.env.PATH ?? '',
      HOME: dir,
      HELM_CACHE_HOME: path.join(dir, 'cache'),
      HELM_CONFIG_HOME: path.join(dir, 'config.d'),
      HELM_DATA_HOME: path.join(dir, 'data'),
    },
  });
}

test('a no-op redeploy runs no helm process and reads the release states with ONE metadata-only list', async () => {
  const calls = h.calls.length;
  const requests = kube.requests.length;
  const d = await h.queue(repo.head());
  await h.run(d.id);
  const rel = await releasesOf(d.id);
  for (const name of ['web', 'web2', 'db'])
    expect(rel[name]).toMatchObject({ status: 'skipped', reason: 'unchanged', revision: 1 });
  expect(h.calls.slice(calls)).toHaveLength(0);
  const lists = releaseRecordLists(requests);
  expect(lists).toHaveLength(1);
  expect(lists[0]?.path).toBe('/api/v1/secrets');
  expect(lists[0]?.accept).toMatch(/^application\/json;as=PartialObjectMetadataList;g=meta\.k8s\.io;v=v1/);
  expect((await db.store.getDeployment(d.id))?.status).toBe('succeeded');
});

test('credentials that may not list Secrets cluster-wide fall back to one list per namespace of the plan', async () => {
  kube.inject({ method: 'GET', pathPattern: /^\/api\/v1\/secrets$/, status: 403, times: 1 });
  const requests = kube.requests.length;
  const d = await h.queue(repo.head());
  await h.run(d.id);
  expect((await releasesOf(d.id)).web).toMatchObject({ status: 'skipped', reason: 'unchanged' });
  const paths = releaseRecordLists(requests)
    .map((r) => r.path)
    .sort();
  expect(paths).toEqual([
    '/api/v1/namespaces/apps/secrets',
    '/api/v1/namespaces/web/secrets',
    '/api/v1/namespaces/web2/secrets',
    '/api/v1/secrets',
  ]);
});

test('a hand-run helm rollback is drift: that release is deployed again, the others stay skipped', async () => {
  await handHelm(['rollback', 'web2', '1', '--namespace', 'web2']);
  const calls = h.calls.length;
  const d = await h.queue(repo.head());
  await h.run(d.id);
  const rel = await releasesOf(d.id);
  expect(rel.web2).toMatchObject({ status: 'succeeded', revision: 3 });
  expect(rel.web).toMatchObject({ status: 'skipped', reason: 'unchanged' });
  expect(rel.db).toMatchObject({ status: 'skipped', reason: 'unchanged' });
  expect(h.calls.slice(calls).filter((c) => c.args[0] === 'upgrade')).toHaveLength(1);
  expect(h.logs.some((l) => l.includes('release drifted') && l.includes('revision 2'))).toBe(true);
});

test('an uninstalled release, and a failed latest revision, are deployed again', async () => {
  await handHelm(['uninstall', 'db', '--namespace', 'apps']);
  kube.markHelmReleasePending('web', 'web', 'pending-upgrade');
  const calls = h.calls.length;
  const d = await h.queue(repo.head());
  await h.run(d.id);
  const rel = await releasesOf(d.id);
  expect(rel.db).toMatchObject({ status: 'succeeded', revision: 1 });
  // web's only revision was left pending: recovered (uninstalled: nothing earlier to roll back to), installed again
  expect(rel.web).toMatchObject({ status: 'succeeded', revision: 1 });
  expect(rel.web2).toMatchObject({ status: 'skipped', reason: 'unchanged' });
  const upgraded = h.calls
    .slice(calls)
    .filter((c) => c.args[0] === 'upgrade')
    .map((c) => c.args[2]);
  expect(upgraded.sort()).toEqual(['db', 'web']);
});
