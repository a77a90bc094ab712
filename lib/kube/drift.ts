import { type KubeConfig, KubernetesObjectApi } from '@kubernetes/client-node';
import { type FieldDrift, fieldDrift, type ObjectDrift } from '../deploy/drift';
import { indexObjects, objectLabel } from '../deploy/manifest-diff';

/**
 * Reads each object of a release's deployed manifest from the cluster and reports the ones that differ
 * from it (issue 13, item 4): deleted by hand, or a field helm set changed (`kubectl edit`, `kubectl
 * scale`). `deployed` is helm's manifest (HelmRunner.getManifestObjects); objects without a namespace
 * are read in the release's.
 */
export async function releaseDrift(
  kc: KubeConfig,
  input: { namespace: string; deployed: readonly unknown[] },
): Promise<ObjectDrift[]> {
  const api = KubernetesObjectApi.makeApiClient(kc);
  const out: ObjectDrift[] = [];
  for (const { ref, obj } of indexObjects(input.deployed).values()) {
    const namespace = ref.namespace ?? input.namespace;
    let live: Record<string, unknown> | undefined;
    try {
      live = (await api.read({
        apiVersion: ref.apiVersion,
        kind: ref.kind,
        metadata: { name: ref.name, namespace },
      })) as unknown as Record<string, unknown>;
    } catch (e) {
      if ((e as { code?: number }).code === 404) live = undefined;
      else throw e;
    }
    const label = objectLabel({ ...ref, namespace });
    if (!live) {
      out.push({ object: label, missing: true, fields: [] });
      continue;
    }
    const fields: FieldDrift[] = fieldDrift(obj, live, ref.kind);
    if (fields.length > 0) out.push({ object: label, fields });
  }
  return out;
}
