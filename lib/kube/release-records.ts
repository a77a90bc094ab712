import { gunzipSync } from 'node:zlib';
import { CoreV1Api, type KubeConfig, setHeaderOptions } from '@kubernetes/client-node';
import { HELM_RELEASE_SELECTOR, type ReleaseRecordMeta } from '../helm/release-states';
import { apiStatus, kubeApiError } from './kube-errors';

/**
 * Asks for metadata only: the API server then sends each release record's labels without its payload
 * (a gzipped release with the whole manifest, up to 1 MiB per revision). A server that does not know
 * the form falls back to plain JSON, which carries the same metadata.
 */
const METADATA_ONLY = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json';

/**
 * Helm's release records (metadata only) in one list across all namespaces; when the credentials may
 * not list Secrets cluster-wide (403), one list per namespace of `namespaces`, in parallel.
 */
export async function listHelmReleaseRecords(
  kc: KubeConfig,
  namespaces: readonly string[],
): Promise<ReleaseRecordMeta[]> {
  const core = kc.makeApiClient(CoreV1Api);
  const options = setHeaderOptions('Accept', METADATA_ONLY);
  const meta = (
    items: ReadonlyArray<{
      metadata?: { namespace?: string; name?: string; labels?: Record<string, string> };
    }>,
  ) =>
    items.map((i) => ({
      ...(i.metadata?.namespace !== undefined ? { namespace: i.metadata.namespace } : {}),
      ...(i.metadata?.name !== undefined ? { name: i.metadata.name } : {}),
      ...(i.metadata?.labels ? { labels: i.metadata.labels } : {}),
    }));
  try {
    const list = await core.listSecretForAllNamespaces({ labelSelector: HELM_RELEASE_SELECTOR }, options);
    return meta(list.items ?? []);
  } catch (e) {
    if (apiStatus(e) !== 403) throw kubeApiError('listing helm release records', e);
  }
  const lists = await Promise.all(
    [...new Set(namespaces)].map(async (namespace) => {
      try {
        const list = await core.listNamespacedSecret(
          { namespace, labelSelector: HELM_RELEASE_SELECTOR },
          options,
        );
        return meta(list.items ?? []);
      } catch (e) {
        throw kubeApiError(`listing helm release records in ${namespace}`, e);
      }
    }),
  );
  return lists.flat();
}

/** A release record decompresses to at most this much (helm's own records stay under 1 MiB compressed). */
const MAX_RELEASE_JSON = 32 * 1024 * 1024;

/**
 * The manifest helm recorded for one revision of a release, read from its release record (the Secret
 * `sh.helm.release.v1.<release>.v<revision>`: base64 of gzipped JSON) in this process: what `helm get
 * manifest --revision` prints, without starting helm. Undefined when the record does not exist (never
 * installed, or the revision left helm's history). The record also holds the release's values, secrets
 * included: only `manifest` leaves this function, raw — the caller parses and redacts it at once.
 */
export async function readReleaseManifest(
  kc: KubeConfig,
  input: { namespace: string; release: string; revision: number },
): Promise<string | undefined> {
  const core = kc.makeApiClient(CoreV1Api);
  const name = `sh.helm.release.v1.${input.release}.v${input.revision}`;
  let secret: Awaited<ReturnType<CoreV1Api['readNamespacedSecret']>>;
  try {
    secret = await core.readNamespacedSecret({ name, namespace: input.namespace });
  } catch (e) {
    if (apiStatus(e) === 404) return undefined;
    throw kubeApiError(`reading helm's record of ${input.release} revision ${input.revision}`, e);
  }
  if (secret.metadata?.labels?.owner !== 'helm') return undefined;
  const value = secret.data?.release;
  if (typeof value !== 'string') return undefined;
  // the Secret's data is base64; inside it, helm's own base64 of (usually) gzipped JSON
  const inner = Buffer.from(Buffer.from(value, 'base64').toString('utf8'), 'base64');
  const json =
    inner[0] === 0x1f && inner[1] === 0x8b
      ? gunzipSync(inner, { maxOutputLength: MAX_RELEASE_JSON }).toString('utf8')
      : inner.toString('utf8');
  const manifest = (JSON.parse(json) as { manifest?: unknown }).manifest;
  return typeof manifest === 'string' ? manifest : undefined;
}
