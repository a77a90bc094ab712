import { type KubeConfig, KubernetesObjectApi } from '@kubernetes/client-node';
import { type ObjectDrift, objectDrift } from '../deploy/drift';
import { indexObjects, objectLabel } from '../deploy/manifest-diff';
import { HelmgateError } from '../errors';
import { kubeApiError } from './kube-errors';

/** How many objects of one release are read at once. */
const READ_CONCURRENCY = 8;
/** A release with more objects is not compared (the pushed chart decides how many there are). */
export const MAX_OBJECTS = 500;

/** One object client per KubeConfig: it caches the API's resource discovery across the releases. */
const clients = new WeakMap<KubeConfig, KubernetesObjectApi>();
function objectApi(kc: KubeConfig): KubernetesObjectApi {
  let api = clients.get(kc);
  if (!api) {
    api = KubernetesObjectApi.makeApiClient(kc);
    clients.set(kc, api);
  }
  return api;
}

/**
 * Reads each object of a release's deployed manifest from the cluster and reports the ones that differ
 * from it (issue 13, item 4): deleted by hand, or a field helm set changed (`kubectl edit`, `kubectl
 * scale`). `deployed` is helm's manifest, parsed then redacted (HelmRunner.getManifestObjects); `mask`
 * gives each live object the same redaction (HelmRunner.redactLiveObjects) BEFORE it is compared, so a
 * raw secret read from the cluster never reaches a drift. Objects without a namespace are read in the
 * release's. In the manifest's order.
 */
export async function releaseDrift(
  kc: KubeConfig,
  input: {
    namespace: string;
    deployed: readonly unknown[];
    mask: (live: Record<string, unknown>) => Record<string, unknown>;
  },
): Promise<ObjectDrift[]> {
  const api = objectApi(kc);
  const objects = [...indexObjects(input.deployed).values()];
  if (objects.length > MAX_OBJECTS)
    throw new HelmgateError(
      'payload_too_large',
      `the release has ${objects.length} objects; the drift check compares at most ${MAX_OBJECTS}`,
    );
  const out: Array<ObjectDrift | undefined> = new Array(objects.length);
  let next = 0;
  const worker = async () => {
    while (next < objects.length) {
      const i = next++;
      const { ref, obj } = objects[i] as (typeof objects)[number];
      const namespace = ref.namespace ?? input.namespace;
      let live: Record<string, unknown> | undefined;
      try {
        live = (await api.read({
          apiVersion: ref.apiVersion,
          kind: ref.kind,
          metadata: { name: ref.name, namespace },
        })) as unknown as Record<string, unknown>;
      } catch (e) {
        if ((e as { code?: number }).code !== 404) throw kubeApiError(`reading ${objectLabel(ref)}`, e);
      }
      out[i] = objectDrift({
        label: objectLabel({ ...ref, namespace }),
        kind: ref.kind,
        deployed: obj,
        // the raw object goes no further than this line
        live: live ? input.mask(live) : undefined,
      });
    }
  };
  await Promise.all(Array.from({ length: Math.min(READ_CONCURRENCY, objects.length) }, worker));
  return out.filter((o): o is ObjectDrift => o !== undefined);
}
