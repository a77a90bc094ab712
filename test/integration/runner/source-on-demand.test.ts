import { createReadStream, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import type { FetchedTree, RepoSource } from '../../../lib/github/repo-source';
import { extractSafely } from '../../../lib/github/source-tree';
import { type ClusterConnector, planAt } from '../../../lib/runner/runner';
import { startDynalite, type TestDynamo } from '../../helpers/dynalite';
import { testGit } from '../../helpers/git';
import { KubeApiStandIn } from '../../stand-ins/kube-api';
import { type Harness, makeHarness, REPOSITORY, runnerRepo } from './harness';

/**
 * The commit's tree on demand (issue 13, item 10): the runner plans from the tree held in memory and
 * writes it to disk only when a release runs, so a no-op redeploy writes (and removes) no tree; what it
 * plans from memory is what it would plan from the extracted tree. A tree with links is extracted first,
 * as before.
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
      - name: db
        namespace: apps
        chart: ./charts/db
`;

let db: TestDynamo;
let kube: KubeApiStandIn;
let repo: ReturnType<typeof runnerRepo>;
let h: Harness;
/** the commit of every tree the runner wrote to disk, in order */
const written: string[] = [];
let source: RepoSource;
/** what the run's work directory held when its cluster session closed, per run */
const workDirs: string[][] = [];
let cluster: ClusterConnector;

beforeAll(async () => {
  db = await startDynalite();
  kube = await KubeApiStandIn.start();
  repo = runnerRepo({ 'deploy.yaml': DEPLOY_YAML, 'values/web.yaml': 'greeting: hello\n' });
  h = makeHarness({ db, kube, repoDir: repo.dir });
  const connector = h.deps.cluster;
  cluster = {
    readsClusterSecret: connector.readsClusterSecret,
    async open(plan, ctx) {
      const session = await connector.open(plan, ctx);
      return {
        ...session,
        async close() {
          workDirs.push(readdirSync(ctx.workDir).sort());
          await session.close();
        },
      };
    },
  };
  const inner = h.deps.source;
  source = {
    readFile: (r, sha, p) => inner.readFile(r, sha, p),
    extractTree: (r, sha, dest, signal) => inner.extractTree(r, sha, dest, signal),
    async fetchTree(r, sha, opts): Promise<FetchedTree> {
      const t = await (inner.fetchTree as NonNullable<RepoSource['fetchTree']>).call(inner, r, sha, opts);
      return {
        ...t,
        writeTo: async (dest, signal) => {
          written.push(sha);
          return t.writeTo(dest, signal);
        },
      };
    },
  };
});

afterAll(async () => {
  await kube.close();
  await db.close();
});

async function deploy(over: { force?: boolean } = {}) {
  const d = await h.queue(repo.head(), 'staging', over.force ? { force: true } : {});
  const calls = h.calls.length;
  const from = written.length;
  const dirs = workDirs.length;
  const r = await h.run(d.id, { source, cluster });
  expect(r.kind).toBe('finished');
  const done = await db.store.getDeployment(d.id);
  return {
    done,
    status: done?.status,
    releases: Object.fromEntries((done?.releases ?? []).map((x) => [x.name, x.status])),
    upgrades: h.calls.slice(calls).filter((c) => c.args[0] === 'upgrade').length,
    writes: written.slice(from),
    workDir: workDirs.slice(dirs)[0],
  };
}

/** The plan of the head commit for staging, made the old way: from the tree extracted to disk. */
async function planFromDisk() {
  const dir = mkdtempSync(path.join(path.resolve(__dirname, '../../../.tmp'), 'plan-disk-'));
  const file = path.join(dir, 'tree.tar');
  await testGit.run(repo.dir, ['archive', '--format=tar', `--output=${file}`, repo.head()]);
  await extractSafely(createReadStream(file), path.join(dir, 'src'), { maxBytes: 1e8 });
  try {
    return await planAt(
      path.join(dir, 'src'),
      'deploy.yaml',
      { repository: REPOSITORY, environment: 'staging', sha: repo.head() },
      { policy: h.deps.policy },
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('the first deploy writes the tree once; a no-op redeploy of the same commit writes none and runs no helm', async () => {
  const first = await deploy();
  expect(first.status).toBe('succeeded');
  expect(first.writes).toEqual([repo.head()]);
  expect(first.workDir).toEqual(['charts', 'helm-home', 'kubeconfig', 'src']);
  const again = await deploy();
  // nothing on disk to remove again: no tree, no kubeconfig, no helm directories
  expect(again).toMatchObject({ status: 'succeeded', upgrades: 0, writes: [], workDir: [] });
  expect(again.releases).toEqual({ web: 'skipped', db: 'skipped' });
});

test('a new commit that changes nothing deployed (a README) writes no tree either', async () => {
  repo.commit({ 'README.md': 'docs only\n' }, 'docs');
  const r = await deploy();
  expect(r).toMatchObject({ status: 'succeeded', upgrades: 0, writes: [] });
  expect(r.releases).toEqual({ web: 'skipped', db: 'skipped' });
});

test('a changed values file: planned from memory exactly as from disk; the tree is written once, for that release', async () => {
  repo.commit({ 'values/web.yaml': 'greeting: changed\n' }, 'values');
  const r = await deploy();
  expect(r).toMatchObject({ status: 'succeeded', upgrades: 1, writes: [repo.head()] });
  expect(r.releases).toEqual({ web: 'succeeded', db: 'skipped' });
  expect(r.done?.planDigest).toBe((await planFromDisk()).digest);
});

test('a forced redeploy writes the tree once and upgrades every release', async () => {
  const r = await deploy({ force: true });
  expect(r).toMatchObject({ status: 'succeeded', upgrades: 2, writes: [repo.head()] });
});

test('a tree with a symbolic link is extracted first and planned from disk, as before', async () => {
  symlinkSync('web.yaml', path.join(repo.dir, 'values', 'web-link.yaml'));
  repo.commit(
    { 'deploy.yaml': DEPLOY_YAML.replace('values: [values/web.yaml]', 'values: [values/web-link.yaml]') },
    'values through a link',
  );
  const r = await deploy();
  // the values content is unchanged, but the values file's path is part of the plan: web runs again
  expect(r).toMatchObject({ status: 'succeeded', writes: [repo.head()] });
  expect(r.releases).toEqual({ web: 'succeeded', db: 'skipped' });
  expect(r.done?.planDigest).toBe((await planFromDisk()).digest);
});
