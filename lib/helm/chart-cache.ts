import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as z from 'zod';

/**
 * The chart cache baked into the deploy-runner image (scripts/prepull-charts.ts writes it at image
 * build time): the pinned remote charts of deploy.yaml as `.tgz` archives plus `index.json`. A deploy
 * then does not depend on a chart repository being up; whatever the cache cannot vouch for is pulled.
 */
export const CHART_CACHE_INDEX = 'index.json';

export const ChartCacheEntry = z.strictObject({
  /** the repository URL as deploy.yaml declares it (https://… or oci://…) */
  repository: z.string().min(1),
  name: z.string().min(1),
  version: z.string().min(1),
  /** archive file name inside the cache directory (no directories) */
  file: z
    .string()
    .min(1)
    .refine((f) => path.basename(f) === f && f !== '.' && f !== '..', 'a file name, not a path'),
  sha256: z.string().regex(/^[0-9a-f]{64}$/, 'lowercase hex sha256'),
  /** the repository's digest of the chart (`sha256:…`): the archive's for https, the manifest's for OCI */
  digest: z
    .string()
    .regex(/^sha256:[0-9a-f]{64}$/)
    .optional(),
});
export type ChartCacheEntry = z.infer<typeof ChartCacheEntry>;

export const ChartCacheIndex = z.array(ChartCacheEntry);
export type ChartCacheIndex = z.infer<typeof ChartCacheIndex>;

/** A pinned chart in a repository, as the plan names it. */
export interface ChartRef {
  url: string;
  name: string;
  version: string;
}

/** Port: a local archive for a pinned chart, or undefined when the cache cannot vouch for one. */
export interface ChartCache {
  /** Absolute path of the `.tgz` when repository, name, version and the file's sha256 all match the index. */
  lookup(chart: ChartRef): Promise<string | undefined>;
  /** The repository digest the image build recorded (`sha256:…`), for planning without the network. */
  digestOf(chart: ChartRef): Promise<string | undefined>;
}

/** `https://x/charts/` and `https://x/charts` are one repository. */
export function normalizeRepositoryUrl(url: string): string {
  return url.trim().replace(/\/+$/, '');
}

export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Reads and validates `index.json`; throws when it is missing or malformed. */
export async function readChartCacheIndex(dir: string): Promise<ChartCacheIndex> {
  const raw: unknown = JSON.parse(await readFile(path.join(dir, CHART_CACHE_INDEX), 'utf8'));
  return ChartCacheIndex.parse(raw);
}

export async function writeChartCacheIndex(dir: string, entries: ChartCacheIndex): Promise<void> {
  const sorted = [...ChartCacheIndex.parse(entries)].sort((a, b) =>
    `${a.repository} ${a.name} ${a.version}`.localeCompare(`${b.repository} ${b.name} ${b.version}`),
  );
  await writeFile(path.join(dir, CHART_CACHE_INDEX), `${JSON.stringify(sorted, null, 2)}\n`);
}

const noCache: ChartCache = { lookup: async () => undefined, digestOf: async () => undefined };

/**
 * Opens the cache in `dir` (env HELMGATE_CHART_CACHE in the runner image). No directory, no index or a
 * malformed index means an empty cache, never an error: the runner pulls instead. The archive is hashed
 * on every hit, so a file changed after the index was written is not used.
 */
export function openChartCache(dir: string | undefined): ChartCache {
  if (!dir) return noCache;
  const root = path.resolve(dir);
  let index: Promise<ChartCacheIndex> | undefined;
  const load = () => {
    index ??= readChartCacheIndex(root).catch(() => []);
    return index;
  };
  const find = async (chart: ChartRef) => {
    const url = normalizeRepositoryUrl(chart.url);
    return (await load()).find(
      (e) =>
        normalizeRepositoryUrl(e.repository) === url && e.name === chart.name && e.version === chart.version,
    );
  };
  return {
    async digestOf(chart) {
      const entry = await find(chart);
      if (!entry) return undefined;
      // an https chart's repository digest is its archive's sha256; OCI needs the recorded manifest digest
      return entry.digest ?? (chart.url.startsWith('oci:') ? undefined : `sha256:${entry.sha256}`);
    },
    async lookup(chart) {
      const entry = await find(chart);
      if (!entry) return undefined;
      const file = path.join(root, entry.file);
      try {
        return (await sha256File(file)) === entry.sha256 ? file : undefined;
      } catch {
        return undefined;
      }
    },
  };
}
