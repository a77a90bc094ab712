import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { outboundGuard } from '../../../lib/http/outbound-guard';
import { Policy } from '../../../lib/policy/policy';
import { helmClusterConnector } from '../../../lib/runner/helm-cluster';
import { clusterAccessFromSecret } from '../../../lib/runner/kube-access';
import { startDynalite, type TestDynamo } from '../../helpers/dynalite';
import { KubeApiStandIn } from '../../stand-ins/kube-api';
import { type Harness, makeHarness, runnerRepo, timingRunner } from './harness';

/**
 * Issue 12 item 4, through the runner: URLs from the commit (chart repositories, health.http) reach
 * only what the outbound policy allows. A loopback server stands in for an internal address.
 */

let db: TestDynamo;
let kube: KubeApiStandIn;
let internal: Server;
let internalUrl: string;
const internalHits: string[] = [];
let repo: ReturnType<typeof runnerRepo>;
let h: Harness;

const deployYaml = (extra: { health?: string; chart?: string; repos?: string }) => `apiVersion: helmgate/v1
${extra.repos ?? ''}environments:
  staging:
    approval: none
    cluster: { secret: test/cluster }
    releases:
      - name: web
        namespace: web
        chart: ${extra.chart ?? './charts/web'}
${extra.health ?? ''}`;

beforeAll(async () => {
  db = await startDynalite();
  kube = await KubeApiStandIn.start();
  internal = createServer((req, res) => {
    internalHits.push(req.url ?? '');
    res.writeHead(200).end('internal answer');
  });
  await new Promise<void>((r) => internal.listen(0, '127.0.0.1', r));
  internalUrl = `http://127.0.0.1:${(internal.address() as AddressInfo).port}`;
  repo = runnerRepo({ 'deploy.yaml': deployYaml({}) });
  // the operator policy allows these hosts (issue 11): the guard still refuses their addresses
  h = makeHarness({
    db,
    kube,
    repoDir: repo.dir,
    policy: Policy.parse({
      apiVersion: 'helmgate/policy/v1',
      repositories: {
        '*': {
          environments: {
            staging: {
              approval: 'none',
              cluster: { secret: 'test/cluster' },
              namespaces: ['web'],
              chartRepositories: ['https://169.254.169.254/latest/'],
              healthHosts: ['127.0.0.1'],
            },
          },
        },
      },
    }),
  });
});

afterAll(async () => {
  await new Promise((r) => internal.close(r));
  await kube.close();
  await db.close();
});

const connector = (cidrs: string[]) =>
  helmClusterConnector({
    helmBin: process.env.HELMGATE_HELM_BIN as string,
    commandRunner: timingRunner(h.calls),
    redactor: h.redactor,
    clock: h.deps.clock,
    logger: h.deps.logger,
    access: clusterAccessFromSecret({
      logger: h.deps.logger,
      upgradeFlags: ['--disable-openapi-validation'],
      outbound: outboundGuard({ cidrs }),
    }),
    outbound: outboundGuard({ cidrs }),
    retry: { attempts: 1, baseMs: 10, capMs: 10 },
    baseEnv: process.env,
  });

test('a health check URL on an internal address is refused without a request, and the release fails saying why', async () => {
  const sha = repo.commit(
    {
      'deploy.yaml': deployYaml({
        health: `        health:\n          workloads: false\n          http:\n            - url: ${internalUrl}/latest/meta-data/iam/security-credentials/\n`,
      }),
    },
    'health check on an internal address',
  );
  const d = await h.queue(sha);
  const before = internalHits.length;
  await h.run(d.id);
  const done = await db.store.getDeployment(d.id);
  expect(done?.status).toBe('failed');
  expect(done?.reason).toMatch(/127\.0\.0\.1 is a loopback address, not allowed/);
  expect(internalHits.length - before).toBe(0);
}, 60_000);

test('the same check passes when the policy names that range explicitly', async () => {
  const d = await h.queue(repo.head(), 'staging', { force: true });
  const before = internalHits.length;
  await h.run(d.id, { cluster: connector(['127.0.0.1/32']) });
  expect((await db.store.getDeployment(d.id))?.status).toBe('succeeded');
  expect(internalHits.length - before).toBeGreaterThan(0);
}, 60_000);

test('a chart repository on the metadata service address is refused before helm is asked to pull', async () => {
  const sha = repo.commit(
    {
      'deploy.yaml': deployYaml({
        repos: 'chartRepositories:\n  meta: https://169.254.169.254/latest/\n',
        chart: '{ repository: meta, name: x, version: 1.0.0 }',
      }),
    },
    'chart repository on the metadata service',
  );
  const d = await h.queue(sha);
  const before = h.calls.length;
  await h.run(d.id);
  const done = await db.store.getDeployment(d.id);
  expect(done?.status).toBe('failed');
  expect(done?.reason).toMatch(/169\.254\.169\.254 is a linkLocal address/);
  expect(h.calls.slice(before).filter((c) => c.args[0] === 'pull')).toEqual([]);
}, 60_000);
