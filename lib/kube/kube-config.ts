import { rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { parseYamlData } from '../deploy/yaml-data';
import { HelmgateError } from '../errors';

/**
 * The cluster secret's accepted shapes (a Secrets Manager SecretString):
 * - JSON `{"kubeconfig": "<kubeconfig YAML>"}`;
 * - JSON `{"server", "certificateAuthorityData", "token", "insecureSkipTlsVerify"?}` (a service-account
 *   token; `certificateAuthorityData` is base64 PEM, as in a kubeconfig; not needed for http:// or when
 *   `insecureSkipTlsVerify` is true);
 * - a kubeconfig YAML document as is.
 */
export interface ClusterSecretFields {
  server: string;
  certificateAuthorityData?: string;
  token: string;
  insecureSkipTlsVerify?: boolean;
}

/**
 * Builds a KubeConfig from the cluster secret. Errors name the secret (when given) and the missing or
 * wrong field, never any part of the value: parser errors are dropped rather than chained, because they
 * quote the input.
 */
export function kubeConfigFromSecret(secretString: string, opts: { secretName?: string } = {}): KubeConfig {
  const where = opts.secretName ? `cluster secret ${opts.secretName}` : 'cluster secret';
  const fail = (what: string): never => {
    throw new HelmgateError('invalid_config', `${where}: ${what}`);
  };
  const text = secretString.trim();
  if (text === '') fail('is empty');

  let json: unknown;
  if (text.startsWith('{')) {
    try {
      json = JSON.parse(text);
    } catch {
      fail('looks like JSON but does not parse');
    }
  }
  if (json !== undefined) {
    if (typeof json !== 'object' || json === null || Array.isArray(json)) return fail('is not a JSON object');
    const o = json as Record<string, unknown>;
    if ('kubeconfig' in o) {
      if (typeof o.kubeconfig !== 'string' || o.kubeconfig.trim() === '')
        return fail('"kubeconfig" must be a non-empty string holding a kubeconfig YAML document');
      return fromKubeconfigYaml(o.kubeconfig, fail);
    }
    return fromFields(o, fail);
  }
  return fromKubeconfigYaml(text, fail);
}

function fromFields(o: Record<string, unknown>, fail: (what: string) => never): KubeConfig {
  const missing = ['server', 'token'].filter(
    (k) => typeof o[k] !== 'string' || (o[k] as string).trim() === '',
  );
  if (missing.length)
    fail(
      `missing ${missing.map((k) => `"${k}"`).join(' and ')} (expected {"kubeconfig": "..."} or {"server", "certificateAuthorityData", "token"})`,
    );
  const server = String(o.server).trim();
  let url: URL | undefined;
  try {
    url = new URL(server);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:'))
    fail('"server" must be an http(s) URL');
  const insecure = o.insecureSkipTlsVerify;
  if (insecure !== undefined && typeof insecure !== 'boolean')
    fail('"insecureSkipTlsVerify" must be a boolean');
  const ca = o.certificateAuthorityData;
  if (ca !== undefined && (typeof ca !== 'string' || !/^[A-Za-z0-9+/=\s]+$/.test(ca)))
    fail('"certificateAuthorityData" must be base64 (PEM certificates, base64-encoded as in a kubeconfig)');
  if (url?.protocol === 'https:' && ca === undefined && insecure !== true)
    fail('missing "certificateAuthorityData" (or set "insecureSkipTlsVerify": true, never in production)');
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [
      {
        name: 'helmgate',
        server,
        // client-node 1.x refuses an http:// server unless this is set; there is no TLS to verify there
        skipTLSVerify: insecure === true || url?.protocol === 'http:',
        ...(typeof ca === 'string' ? { caData: ca.replace(/\s+/g, '') } : {}),
      },
    ],
    users: [{ name: 'helmgate', token: String(o.token).trim() }],
    contexts: [{ name: 'helmgate', cluster: 'helmgate', user: 'helmgate' }],
    currentContext: 'helmgate',
  });
  return kc;
}

function fromKubeconfigYaml(text: string, fail: (what: string) => never): KubeConfig {
  let doc: unknown;
  try {
    doc = parseYamlData(text, { maxAliasCount: 100 });
  } catch {
    fail('is neither JSON nor a kubeconfig YAML document');
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc))
    fail('is neither JSON nor a kubeconfig YAML document');
  const kc = new KubeConfig();
  try {
    kc.loadFromString(text);
  } catch (e) {
    // client-node's messages name fields ("clusters[0].name is missing"), not values; keep only those
    const m = e instanceof Error ? /^[\w[\]. ]+ (is missing|missing)/.exec(e.message)?.[0] : undefined;
    fail(`kubeconfig is invalid${m ? `: ${m}` : ''}`);
  }
  const context = kc.getCurrentContext();
  if (!context) fail('kubeconfig has no current-context');
  if (!kc.getContextObject(context))
    fail(`kubeconfig current-context "${context}" is not among its contexts`);
  const cluster = kc.getCurrentCluster();
  if (!cluster) fail(`kubeconfig context "${context}" names no known cluster`);
  if (!cluster?.server) fail(`kubeconfig cluster "${cluster?.name}" has no server`);
  if (!kc.getCurrentUser()) fail(`kubeconfig context "${context}" names no known user`);
  return kc;
}

/** Where `writeKubeconfig` puts helm's config in `dir`. */
export function kubeconfigPath(dir: string): string {
  return path.join(dir, 'kubeconfig');
}

let writes = 0;

/**
 * Writes the config for helm (`--kubeconfig`) as `<dir>/kubeconfig`, readable by this user only, and
 * returns its path. The caller owns `dir` and removes it after the run. The file is replaced whole
 * (written beside it, then renamed over it): an EKS token refresh rewrites it while helm processes may
 * be starting, and a reader must see the old config or the new one, never a truncated file.
 */
export async function writeKubeconfig(kc: KubeConfig, dir: string): Promise<string> {
  const file = kubeconfigPath(dir);
  writes += 1;
  const next = `${file}.${process.pid}.${writes}.tmp`;
  await writeFile(next, kc.exportConfig(), { mode: 0o600, flag: 'wx' });
  await rename(next, file);
  return file;
}
