import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseDeployConfig } from '../../../lib/deploy/deploy-config';
import { createProcessRunner } from '../../../lib/exec/command-runner';
import {
  CHART_CACHE_INDEX,
  openChartCache,
  readChartCacheIndex,
  sha256File,
  writeChartCacheIndex,
} from '../../../lib/helm/chart-cache';
import { createHelmRunner } from '../../../lib/helm/helm-runner';
import { Redactor } from '../../../lib/log/redact';
import { prepullCharts, remoteCharts } from '../../../scripts/prepull-charts';

// The real helm binary packages a tiny chart, a loopback HTTP chart repository serves it, and the
// prepull script pulls it with `helm pull --repo` exactly as the image build does.
const helmBin = process.env.HELMGATE_HELM_BIN as string;

let work: string;
let repoDir: string;
let server: Server;
let repoUrl: string;
let packaged: Buffer;
const requests: string[] = [];

function helmEnv(home: string): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: home,
    HELM_CACHE_HOME: path.join(home, 'cache'),
    HELM_CONFIG_HOME: path.join(home, 'config'),
    HELM_DATA_HOME: path.join(home, 'data'),
  };
}

async function fixtureChart(dir: string, name: string, version: string): Promise<string> {
  const chart = path.join(dir, name);
  await mkdir(path.join(chart, 'templates'), { recursive: true });
  await writeFile(path.join(chart, 'Chart.yaml'), `apiVersion: v2\nname: ${name}\nversion: ${version}\n`);
  await writeFile(path.join(chart, 'values.yaml'), 'greeting: hello\n');
  await writeFile(
    path.join(chart, 'templates', 'cm.yaml'),
    'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  greeting: {{ .Values.greeting | quote }}\n',
  );
  return chart;
}

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'helmgate-chart-cache-'));
  repoDir = path.join(work, 'repo');
  await mkdir(repoDir, { recursive: true });
  const home = path.join(work, 'helm-home');
  const chart = await fixtureChart(work, 'tiny', '0.1.0');
  execFileSync(helmBin, ['package', chart, '--destination', repoDir], { env: helmEnv(home) });
  packaged = await readFile(path.join(repoDir, 'tiny-0.1.0.tgz'));

  server = createServer((req, res) => {
    requests.push(req.url ?? '');
    const file = path.join(repoDir, path.basename(req.url ?? ''));
    readFile(file).then(
      (body) => res.writeHead(200).end(body),
      () => res.writeHead(404).end('not found'),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  repoUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/charts/`;
  execFileSync(helmBin, ['repo', 'index', repoDir, '--url', repoUrl], { env: helmEnv(home) });
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  await rm(work, { recursive: true, force: true });
});

function deployConfig(url: string) {
  return parseDeployConfig(
    [
      'apiVersion: helmgate/v1',
      'chartRepositories:',
      `  loopback: ${url}`,
      'environments:',
      '  staging:',
      '    approval: none',
      '    cluster: { secret: helmgate/staging/cluster }',
      '    releases:',
      '      - name: tiny',
      '        namespace: tiny',
      '        chart: { repository: loopback, name: tiny, version: 0.1.0 }',
      '      - name: local',
      '        namespace: tiny',
      '        chart: ./charts/local',
      '  production:',
      '    approval: required',
      '    cluster: { secret: helmgate/production/cluster }',
      '    releases:',
      '      - name: tiny',
      '        namespace: tiny',
      '        chart: { repository: loopback, name: tiny, version: 0.1.0 }',
      '',
    ].join('\n'),
    'deploy.yaml',
    // test-only: the loopback chart repository speaks plain HTTP
    { allowLoopbackHttpCharts: true },
  );
}

function realHelm(home: string) {
  return createHelmRunner({
    commandRunner: createProcessRunner(),
    helmBin,
    homeDir: home,
    redactor: new Redactor(),
    baseEnv: process.env,
  });
}

describe('remoteCharts', () => {
  it('lists each pinned remote chart once and skips local chart paths', () => {
    expect(remoteCharts(deployConfig('https://charts.example.org/'))).toEqual([
      { url: 'https://charts.example.org/', name: 'tiny', version: '0.1.0' },
    ]);
  });
});

describe('prepull then lookup', () => {
  let cacheDir: string;

  beforeAll(async () => {
    cacheDir = path.join(work, 'cache');
    await prepullCharts({
      config: deployConfig(repoUrl),
      outDir: cacheDir,
      helm: realHelm(path.join(work, 'pull-home')),
    });
  });

  it('pulls the chart over HTTP and indexes it with the digest of the served archive', async () => {
    expect(requests.some((r) => r.endsWith('index.yaml'))).toBe(true);
    expect(requests.some((r) => r.endsWith('tiny-0.1.0.tgz'))).toBe(true);
    const index = await readChartCacheIndex(cacheDir);
    expect(index).toEqual([
      {
        repository: repoUrl,
        name: 'tiny',
        version: '0.1.0',
        file: 'tiny-0.1.0.tgz',
        sha256: createHash('sha256').update(packaged).digest('hex'),
      },
    ]);
  });

  it('finds the archive for the same repository (trailing slash or not), name and version', async () => {
    const cache = openChartCache(cacheDir);
    const expected = path.join(cacheDir, 'tiny-0.1.0.tgz');
    expect(await cache.lookup({ url: repoUrl, name: 'tiny', version: '0.1.0' })).toBe(expected);
    expect(await cache.lookup({ url: repoUrl.replace(/\/$/, ''), name: 'tiny', version: '0.1.0' })).toBe(
      expected,
    );
  });

  it('misses on another version, name or repository', async () => {
    const cache = openChartCache(cacheDir);
    expect(await cache.lookup({ url: repoUrl, name: 'tiny', version: '0.1.1' })).toBeUndefined();
    expect(await cache.lookup({ url: repoUrl, name: 'other', version: '0.1.0' })).toBeUndefined();
    expect(
      await cache.lookup({ url: 'https://elsewhere.example.org/charts/', name: 'tiny', version: '0.1.0' }),
    ).toBeUndefined();
  });

  it('the cached archive is a chart helm can render', async () => {
    const archive = await openChartCache(cacheDir).lookup({ url: repoUrl, name: 'tiny', version: '0.1.0' });
    const rendered = await realHelm(path.join(work, 'render-home')).template({
      release: 'from-cache',
      namespace: 'tiny',
      chart: { kind: 'local', path: archive as string },
      valuesFiles: [],
    });
    expect(rendered).toContain('name: from-cache');
    expect(rendered).toContain('greeting: "hello"');
  });
});

describe('a cache it cannot vouch for', () => {
  async function cacheWith(files: Record<string, Buffer | string>): Promise<string> {
    const dir = await mkdtemp(path.join(work, 'c-'));
    for (const [name, body] of Object.entries(files)) await writeFile(path.join(dir, name), body);
    return dir;
  }
  const ref = () => ({ url: repoUrl, name: 'tiny', version: '0.1.0' });
  const entry = (over: Record<string, string> = {}) => ({
    repository: repoUrl,
    name: 'tiny',
    version: '0.1.0',
    file: 'tiny-0.1.0.tgz',
    sha256: createHash('sha256').update(packaged).digest('hex'),
    ...over,
  });

  it('misses when the archive changed after the index was written (digest mismatch)', async () => {
    const dir = await cacheWith({ 'tiny-0.1.0.tgz': Buffer.concat([packaged, Buffer.from('x')]) });
    await writeChartCacheIndex(dir, [entry()]);
    expect(await openChartCache(dir).lookup(ref())).toBeUndefined();
  });

  it('misses when the index records another digest', async () => {
    const dir = await cacheWith({ 'tiny-0.1.0.tgz': packaged });
    await writeChartCacheIndex(dir, [entry({ sha256: 'a'.repeat(64) })]);
    expect(await openChartCache(dir).lookup(ref())).toBeUndefined();
  });

  it('hits with the same files and a correct index (the control for the two above)', async () => {
    const dir = await cacheWith({ 'tiny-0.1.0.tgz': packaged });
    await writeChartCacheIndex(dir, [entry()]);
    expect(await openChartCache(dir).lookup(ref())).toBe(path.join(dir, 'tiny-0.1.0.tgz'));
    expect(await sha256File(path.join(dir, 'tiny-0.1.0.tgz'))).toBe(entry().sha256);
  });

  it('misses when the indexed archive is missing', async () => {
    const dir = await cacheWith({});
    await writeChartCacheIndex(dir, [entry()]);
    expect(await openChartCache(dir).lookup(ref())).toBeUndefined();
  });

  it('misses, without throwing, on a corrupt or absent index, an unset or missing directory', async () => {
    const corrupt = await cacheWith({ 'tiny-0.1.0.tgz': packaged, [CHART_CACHE_INDEX]: '{not json' });
    expect(await openChartCache(corrupt).lookup(ref())).toBeUndefined();
    const noIndex = await cacheWith({ 'tiny-0.1.0.tgz': packaged });
    expect(await openChartCache(noIndex).lookup(ref())).toBeUndefined();
    expect(await openChartCache(undefined).lookup(ref())).toBeUndefined();
    expect(await openChartCache(path.join(work, 'does-not-exist')).lookup(ref())).toBeUndefined();
  });

  it('ignores an index whose file names a path outside the cache', async () => {
    const dir = await cacheWith({});
    await writeFile(path.join(work, 'outside.tgz'), packaged);
    await writeFile(path.join(dir, CHART_CACHE_INDEX), JSON.stringify([entry({ file: '../outside.tgz' })]));
    expect(await openChartCache(dir).lookup(ref())).toBeUndefined();
  });
});
