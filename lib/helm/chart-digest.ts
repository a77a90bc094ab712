import type { ChartDigestResolver } from '../deploy/plan';
import { parseYamlData } from '../deploy/yaml-data';
import { HelmgateError } from '../errors';

/**
 * What a pinned remote chart IS, as its repository says at plan time: for an `https://` repository
 * the `digest` of that version in its `index.yaml` (sha256 of the .tgz), for an `oci://` registry the
 * manifest digest of the tag. Plans record it and approvals bind to it; the runner refuses a pulled
 * chart whose digest differs (lib/runner/helm-cluster.ts). Both are written `sha256:<hex>`.
 */

export class ChartDigestError extends HelmgateError {
  override name = 'ChartDigestError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('source_unavailable', message, options);
  }
}

type Fetch = (url: string, init?: { method?: string; headers?: Record<string, string> }) => Promise<Response>;

/** The chart cache's word, for charts the image carries (no network needed for them). */
export interface CachedDigests {
  digestOf?(chart: { url: string; name: string; version: string }): Promise<string | undefined>;
}

const SHA256 = /^sha256:[0-9a-f]{64}$/;
const MAX_INDEX_BYTES = 64 * 1024 * 1024;
const OCI_ACCEPT = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

function indexUrl(repoUrl: string): string {
  return `${repoUrl.replace(/\/+$/, '')}/index.yaml`;
}

/** `oci://host/path` + name + tag → the registry's manifest URL for that tag. */
export function ociManifestUrl(repoUrl: string, name: string, version: string): string {
  const u = new URL(repoUrl);
  const repo = `${u.pathname.replace(/^\/+|\/+$/g, '')}/${name}`.replace(/^\/+/, '');
  // OCI tags cannot hold "+": helm writes SemVer build metadata with "_"
  return `https://${u.host}/v2/${repo}/manifests/${encodeURIComponent(version.replace(/\+/g, '_'))}`;
}

/** Parses `Bearer realm="…",service="…",scope="…"`. */
function bearerChallenge(
  header: string | null,
): { realm: string; params: Record<string, string> } | undefined {
  if (!header || !/^bearer\s/i.test(header)) return undefined;
  const params: Record<string, string> = {};
  for (const m of header.slice(7).matchAll(/(\w+)="([^"]*)"/g)) params[m[1] as string] = m[2] as string;
  const { realm, ...rest } = params;
  return realm ? { realm, params: rest } : undefined;
}

/**
 * The resolver the runner and the planners use: the image's chart cache first (charts baked in at
 * build time), then the repository over the network through `fetch` (the outbound guard, in AWS).
 * Results are remembered for the resolver's lifetime (one invocation).
 */
export function repositoryChartDigests(opts: {
  fetch: Fetch;
  cache?: CachedDigests;
  /**
   * Checks a URL before it is fetched (the outbound guard: the policy's hosts, public addresses only);
   * `token` for an OCI registry's token service, which may live on another host.
   */
  check?: (url: string, purpose: 'repository' | 'token') => Promise<unknown>;
}): ChartDigestResolver {
  const get: Fetch = async (url, init) => {
    await opts.check?.(url, 'repository');
    return opts.fetch(url, init);
  };
  const indexes = new Map<string, Promise<unknown>>();
  const loadIndex = (url: string) => {
    let p = indexes.get(url);
    if (!p) {
      p = (async () => {
        const res = await get(indexUrl(url));
        if (!res.ok) throw new ChartDigestError(`${indexUrl(url)} answered ${res.status}`);
        // a declared size over the limit is refused before the body is read
        if (Number(res.headers.get('content-length') ?? 0) > MAX_INDEX_BYTES)
          throw new ChartDigestError(`${indexUrl(url)} is too large`);
        const text = await res.text();
        if (text.length > MAX_INDEX_BYTES) throw new ChartDigestError(`${indexUrl(url)} is too large`);
        return parseYamlData(text, { maxAliasCount: 100 });
      })();
      p.catch(() => indexes.delete(url));
      indexes.set(url, p);
    }
    return p;
  };

  async function fromIndex(url: string, name: string, version: string): Promise<string> {
    const index = (await loadIndex(url)) as {
      entries?: Record<string, Array<{ version?: unknown; digest?: unknown }>>;
    };
    const entries = index?.entries?.[name];
    if (!Array.isArray(entries)) throw new ChartDigestError(`no chart ${name} in ${indexUrl(url)}`);
    const entry = entries.find((e) => String(e?.version) === version);
    if (!entry) throw new ChartDigestError(`no version ${version} of ${name} in ${indexUrl(url)}`);
    const digest = typeof entry.digest === 'string' ? `sha256:${entry.digest.toLowerCase()}` : '';
    if (!SHA256.test(digest))
      throw new ChartDigestError(`${indexUrl(url)} gives ${name} ${version} no sha256 digest`);
    return digest;
  }

  async function fromRegistry(url: string, name: string, version: string): Promise<string> {
    const manifest = ociManifestUrl(url, name, version);
    const head = (auth?: string) =>
      get(manifest, {
        method: 'HEAD',
        headers: { accept: OCI_ACCEPT, ...(auth ? { authorization: auth } : {}) },
      });
    let res = await head();
    if (res.status === 401) {
      // anonymous pull token (ghcr.io, Docker Hub, most public registries)
      const challenge = bearerChallenge(res.headers.get('www-authenticate'));
      if (!challenge) throw new ChartDigestError(`${manifest} needs credentials helmgate does not have`);
      const tokenUrl = new URL(challenge.realm);
      for (const [k, v] of Object.entries(challenge.params)) tokenUrl.searchParams.set(k, v);
      await opts.check?.(tokenUrl.toString(), 'token');
      const tokenRes = await opts.fetch(tokenUrl.toString());
      if (!tokenRes.ok)
        throw new ChartDigestError(`${challenge.realm} refused an anonymous token (${tokenRes.status})`);
      const body = (await tokenRes.json()) as { token?: string; access_token?: string };
      const token = body.token ?? body.access_token;
      if (!token) throw new ChartDigestError(`${challenge.realm} gave no token`);
      res = await head(`Bearer ${token}`);
    }
    if (!res.ok) throw new ChartDigestError(`${manifest} answered ${res.status}`);
    const digest = (res.headers.get('docker-content-digest') ?? '').toLowerCase();
    if (!SHA256.test(digest)) throw new ChartDigestError(`${manifest} gave no sha256 manifest digest`);
    return digest;
  }

  return {
    async digest(chart) {
      const cached = await opts.cache?.digestOf?.(chart);
      if (cached && SHA256.test(cached)) return cached;
      let protocol: string;
      try {
        protocol = new URL(chart.url).protocol;
      } catch (e) {
        throw new ChartDigestError(`not a chart repository URL: ${chart.url}`, { cause: e });
      }
      try {
        if (protocol === 'oci:') return await fromRegistry(chart.url, chart.name, chart.version);
        return await fromIndex(chart.url, chart.name, chart.version);
      } catch (e) {
        if (e instanceof HelmgateError) throw e;
        throw new ChartDigestError(
          `cannot read the digest of ${chart.name} ${chart.version} from ${chart.url}: ${e instanceof Error ? e.message : String(e)}`,
          { cause: e },
        );
      }
    },
  };
}
