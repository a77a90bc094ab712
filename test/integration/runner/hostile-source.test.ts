import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { lockName } from '../../../lib/deploy/lifecycle';
import { startDynalite, type TestDynamo } from '../../helpers/dynalite';
import { KubeApiStandIn } from '../../stand-ins/kube-api';
import { type Harness, makeHarness, runnerRepo } from './harness';

/**
 * Issue 12, end to end through the runner: a hostile commit fails its deployment promptly with a reason
 * naming the path (never `running` forever), and nothing of a run survives it.
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
`;

let db: TestDynamo;
let kube: KubeApiStandIn;
let repo: ReturnType<typeof runnerRepo>;
let h: Harness;

beforeAll(async () => {
  db = await startDynalite();
  kube = await KubeApiStandIn.start();
  repo = runnerRepo({ 'deploy.yaml': DEPLOY_YAML });
  h = makeHarness({ db, kube, repoDir: repo.dir });
});

afterAll(async () => {
  await kube.close();
  await db.close();
});

/** every directory a run left in the work root (the harness keeps only its secrets file there) */
const runDirs = () =>
  readdirSync(h.deps.workRoot, { withFileTypes: true })
    .filter((e) => e.isDirectory() && e.name !== 'not-ours')
    .map((e) => e.name);

test('a chart file that is a symlink to an absolute path outside the repository fails the run promptly, naming it', async () => {
  symlinkSync('/etc/hostname', path.join(repo.dir, 'charts/web/templates/host.yaml'));
  // bytes after the link in the archive: git would block on a full pipe once extraction stops
  const sha = repo.commit({ 'charts/web/zz.txt': randomBytes(256 * 1024).toString('base64') }, 'a link out');
  const d = await h.queue(sha);
  const started = Date.now();
  const result = await h.run(d.id);
  expect(Date.now() - started).toBeLessThan(15_000);
  expect(result.kind).toBe('finished');
  const failed = await db.store.getDeployment(d.id);
  expect(failed?.status).toBe('failed');
  expect(failed?.reason).toMatch(/charts\/web\/templates\/host\.yaml/);
  expect(h.calls.filter((c) => c.args[0] === 'upgrade')).toHaveLength(0);
  expect(runDirs()).toEqual([]);
  repo.git('rm', '-q', 'charts/web/templates/host.yaml', 'charts/web/zz.txt');
  repo.commit({}, 'link removed');
}, 60_000);

test('the work dir is gone after a thrown error', async () => {
  const d = await h.queue(repo.head());
  // the store fails as the run ends: runDeployment throws, after its work dir was made and used
  const store = Object.create(h.deps.store) as typeof h.deps.store;
  store.releaseLock = async () => {
    throw new Error('store down');
  };
  let seen: string[] = [];
  const source = {
    readFile: h.deps.source.readFile.bind(h.deps.source),
    async extractTree(r: string, sha: string, dest: string, signal?: AbortSignal) {
      await h.deps.source.extractTree(r, sha, dest, signal);
      seen = runDirs();
    },
  };
  await expect(h.run(d.id, { store, source })).rejects.toThrow('store down');
  expect(seen).toHaveLength(1); // it existed during the run
  expect(runDirs()).toEqual([]);
  await h.deps.store.releaseLock(lockName(d), h.deps.invocationId);
}, 60_000);

test('stale work dirs of dead runs (with a kubeconfig) are swept when a run starts', async () => {
  const stale = [
    path.join(h.deps.workRoot, 'helmgate-999999999-abc'),
    path.join(h.deps.workRoot, `helmgate-${process.pid}-old`),
  ];
  for (const dir of stale) {
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'kubeconfig'), 'token: left-behind', { mode: 0o600 });
  }
  const unrelated = path.join(h.deps.workRoot, 'not-ours');
  mkdirSync(unrelated, { recursive: true });
  const d = await h.queue(repo.head(), 'staging', { force: true });
  await h.run(d.id);
  for (const dir of stale) expect(existsSync(dir)).toBe(false);
  expect(existsSync(unrelated)).toBe(true);
}, 60_000);

test('a source that never answers fails the run at its step deadline', async () => {
  const d = await h.queue(repo.head());
  let aborted = false;
  const source = {
    readFile: async () => undefined,
    extractTree: (_r: string, _s: string, _d: string, signal?: AbortSignal) =>
      new Promise<void>(() => {
        signal?.addEventListener('abort', () => {
          aborted = true;
        });
      }),
  };
  const started = Date.now();
  const result = await h.run(d.id, { source, deadlines: { source: 300 } });
  expect(Date.now() - started).toBeLessThan(10_000);
  expect(result.kind).toBe('finished');
  const failed = await db.store.getDeployment(d.id);
  expect(failed?.status).toBe('failed');
  expect(failed?.reason).toMatch(/fetching the commit did not finish within 300 ms/);
  expect(aborted).toBe(true);
  expect(runDirs()).toEqual([]);
}, 60_000);
