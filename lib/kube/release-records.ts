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
