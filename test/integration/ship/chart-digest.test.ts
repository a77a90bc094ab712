import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { systemClock } from '../../../lib/clock';
import { parseDeployConfig } from '../../../lib/deploy/deploy-config';
import { planEnvironment } from '../../../lib/deploy/plan';
import { createProcessRunner } from '../../../lib/exec/command-runner';
import { openChartCache, writeChartCacheIndex } from '../../../lib/helm/chart-cache';
import { ChartDigestError, repositoryChartDigests } from '../../../lib/helm/chart-digest';
import { OutboundRefusedError, outboundGuard } from '../../../lib/http/outbound-guard';
import { createLogger, memorySink } from '../../../lib/log/logger';
import { Redactor } from '../../../lib/log/redact';
import { helmClusterConnector } from '../../../lib/runner/helm-cluster';
import { directorySourceReader } from '../../../lib/runner/source-reader';
import { SecretResolver } from '../../../lib/secrets/secrets-provider';

// Approved charts are the charts that run (issue 11, item 7): the plan pins each remote chart to the
// digest its repository's index.yaml gives, and the runner refuses an archive with another digest.
// The real helm binary packages the chart; a loopback HTTP repository serves it (plain HTTP is allowed
// here by the explicit test-only parse option).
const helmBin = process.env.HELMGATE_HELM_BIN as string;

let work: string;
let repoDir: string;
let server: Server;
let repoUrl: string;
const served = new Map<string, Buffer>();

function helmEnv(home: string): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: home,
    HELM_CACHE_HOME: path.join(home, 'cache'),
    HELM_CONFIG_HOME: path.join(home, 'config'),
    HELM_DATA_HOME: path.join(home, 'data'),
  };
}

/** Packages chart `tiny` 0.1.0 with this greeting and (re)writes the repository index. */
async function publish(greeting: string): Promise<Buffer> {
  const chart = path.join(work, 'src', 'tiny');
  await mkdir(path.join(chart, 'templates'), { recursive: true });
  await writeFile(path.join(chart, 'Chart.yaml'), 'apiVersion: v2\nname: tiny\nversion: 0.1.0\n');
  await writeFile(path.join(chart, 'values.yaml'), `greeting: ${greeting}\n`);
  await writeFile(
    path.join(chart, 'templates', 'cm.yaml'),
    'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  greeting: {{ .Values.greeting | quote }}\n',
  );
  const home = path.join(work, 'helm-home');
  execFileSync(helmBin, ['package', chart, '--destination', repoDir], { env: helmEnv(home) });
  execFileSync(helmBin, ['repo', 'index', repoDir, '--url', repoUrl], { env: helmEnv(home) });
  for (const f of ['tiny-0.1.0.tgz', 'index.yaml']) served.set(f, await readFile(path.join(repoDir, f)));
  return served.get('tiny-0.1.0.tgz') as Buffer;
}

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'helmgate-chart-digest-'));
  repoDir = path.join(work, 'repo');
  await mkdir(repoDir, { recursive: true });
  server = createServer((req, res) => {
    const body = served.get(path.basename(req.url ?? ''));
    if (body) res.writeHead(200).end(body);
    else res.writeHead(404).end('not found');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  repoUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/charts/`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  await rm(work, { recursive: true, force: true });
});

const config = () =>
  parseDeployConfig(
    `apiVersion: helmgate/v1
chartRepositories:
  loopback: ${repoUrl}
environments:
  staging:
    approval: none
    cluster: { secret: helmgate/staging/cluster }
    releases:
      - name: tiny
        namespace: tiny
        chart: { repository: loopback, name: tiny, version: 0.1.0 }
`,
    'deploy.yaml',
    { allowLoopbackHttpCharts: true },
  );

async function plan(resolver = repositoryChartDigests({ fetch })) {
  const src = path.join(work, 'tree');
  await mkdir(src, { recursive: true });
  return planEnvironment({
    config: config(),
    environment: 'staging',
    sha: 'a'.repeat(40),
    source: directorySourceReader(src),
    charts: resolver,
  });
}

async function render(p: Awaited<ReturnType<typeof plan>>, cacheDir?: string) {
  const redactor = new Redactor();
  const logger = createLogger({ redactor, clock: systemClock, write: memorySink().write, level: 'error' });
  const workDir = await mkdtemp(path.join(work, 'run-'));
  const connector = helmClusterConnector({
    helmBin,
    commandRunner: createProcessRunner(),
    redactor,
    clock: systemClock,
    logger,
    renderRoot: path.join(work, 'rendered'),
    baseEnv: process.env,
    // the loopback chart repository is named, as tests name their stand-ins
    outbound: outboundGuard({ cidrs: ['127.0.0.1/32'] }),
    ...(cacheDir ? { chartCache: openChartCache(cacheDir) } : {}),
  });
  const session = await connector.open(p, {
    workDir,
    secrets: new SecretResolver({ getSecretString: async () => undefined }, redactor),
    deploymentId: `d-${path.basename(workDir)}`,
    digestKey: 'test-digest-key',
  });
  const release = p.releases[0];
  if (!release) throw new Error('no release');
  return session.runRelease(release, { sourceDir: workDir, secretValues: [], deadline: Date.now() + 60_000 });
}

describe('remote chart digests', () => {
  it('the plan pins a remote chart to the digest of its index entry, and the plan digest covers it', async () => {
    const archive = await publish('hello');
    const first = await plan();
    expect(first.releases[0]?.chart).toMatchObject({ kind: 'repo', digest: sha(archive) });

    await publish('re-published under the same version');
    const second = await plan();
    expect(second.releases[0]?.chart).toMatchObject({ digest: sha(served.get('tiny-0.1.0.tgz') as Buffer) });
    expect(second.digest).not.toBe(first.digest);
  });

  it('the runner renders the planned chart, and refuses one re-published after the plan was made', async () => {
    await publish('hello');
    const planned = await plan();
    expect(await render(planned)).toMatchObject({ status: 'rendered' });

    await publish('swapped after approval');
    const out = await render(planned);
    expect(out.status).toBe('failed');
    expect(out.reason).toContain('is not the planned chart');
    const pinned = planned.releases[0]?.chart;
    expect(out.reason).toContain(`pinned ${pinned?.kind === 'repo' ? pinned.digest : '?'}`);
  });

  it('a chart cache entry of another digest is not used: the runner pulls and checks what arrives', async () => {
    const stale = await publish('old build');
    const cacheDir = path.join(work, 'cache');
    await mkdir(cacheDir, { recursive: true });
    await writeFile(path.join(cacheDir, 'tiny-0.1.0.tgz'), stale);
    await writeChartCacheIndex(cacheDir, [
      {
        repository: repoUrl,
        name: 'tiny',
        version: '0.1.0',
        file: 'tiny-0.1.0.tgz',
        sha256: sha(stale).slice(7),
      },
    ]);
    // the cache vouches for the old archive: planning from it pins the old digest ...
    const fromCache = await plan(repositoryChartDigests({ fetch, cache: openChartCache(cacheDir) }));
    expect(fromCache.releases[0]?.chart).toMatchObject({ digest: sha(stale) });
    expect(await render(fromCache, cacheDir)).toMatchObject({ status: 'rendered' });
    // ... a plan made from the repository after a re-publish pins the new one, and the cache is bypassed
    await publish('new build');
    const fresh = await plan();
    expect(await render(fresh, cacheDir)).toMatchObject({ status: 'rendered' });
  });

  it('an unknown version or an unreachable repository fails the plan with why, naming the release', async () => {
    await publish('hello');
    const resolver = repositoryChartDigests({ fetch });
    await expect(resolver.digest({ url: repoUrl, name: 'tiny', version: '9.9.9' })).rejects.toThrow(
      ChartDigestError,
    );
    const broken = repositoryChartDigests({
      fetch: async () => {
        throw new Error('connect ECONNREFUSED');
      },
    });
    await expect(plan(broken)).rejects.toThrow(/release tiny: cannot pin chart tiny 0\.1\.0 to a digest/);
  });
});

describe('the outbound check', () => {
  it('runs before every request the resolver makes; a refusal fails the plan and nothing is fetched', async () => {
    const fetched: string[] = [];
    const resolver = repositoryChartDigests({
      fetch: async (url) => {
        fetched.push(url);
        return new Response('', { status: 500 });
      },
      check: async (url) => {
        throw new OutboundRefusedError(`refused: ${new URL(url).hostname} is not an allowed host`);
      },
    });
    await expect(
      resolver.digest({ url: 'https://169.254.169.254/charts', name: 'x', version: '1.0.0' }),
    ).rejects.toThrow('refused: 169.254.169.254 is not an allowed host');
    expect(fetched).toEqual([]);
  });
});

describe('OCI manifest digests', () => {
  it('reads the manifest digest with an anonymous bearer token, as public registries want', async () => {
    const digest = `sha256:${'b'.repeat(64)}`;
    const seen: string[] = [];
    const registry = createServer((req, res) => {
      seen.push(`${req.method} ${req.url} ${req.headers.authorization ?? ''}`);
      if (req.url?.startsWith('/token')) return res.writeHead(200).end(JSON.stringify({ token: 't0k' }));
      if (req.headers.authorization !== 'Bearer t0k')
        return res
          .writeHead(401, {
            'www-authenticate': `Bearer realm="http://127.0.0.1:${(registry.address() as AddressInfo).port}/token",service="reg",scope="repository:charts/tiny:pull"`,
          })
          .end();
      res.writeHead(200, { 'docker-content-digest': digest }).end();
    });
    await new Promise<void>((resolve) => registry.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(registry.address() as AddressInfo).port}`;
    try {
      const checked: string[] = [];
      const resolver = repositoryChartDigests({
        // the registry is reached over https in real life; the stand-in speaks http on loopback
        fetch: (url, init) => fetch(url.replace('https://registry.test', base), init),
        check: async (url, purpose) => void checked.push(`${purpose} ${new URL(url).pathname}`),
      });
      await expect(
        resolver.digest({ url: 'oci://registry.test/charts', name: 'tiny', version: '0.1.0+build.1' }),
      ).resolves.toBe(digest);
      expect(seen).toEqual([
        'HEAD /v2/charts/tiny/manifests/0.1.0_build.1 ',
        'GET /token?service=reg&scope=repository%3Acharts%2Ftiny%3Apull ',
        'HEAD /v2/charts/tiny/manifests/0.1.0_build.1 Bearer t0k',
      ]);
      // every request was checked first; the token service as such (it may live on another host)
      expect(checked).toEqual([
        'repository /v2/charts/tiny/manifests/0.1.0_build.1',
        'token /token',
        'repository /v2/charts/tiny/manifests/0.1.0_build.1',
      ]);
    } finally {
      await new Promise((resolve) => registry.close(resolve));
    }
  });
});
