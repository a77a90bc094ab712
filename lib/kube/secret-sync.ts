import {
  AppsV1Api,
  CoreV1Api,
  type KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  type V1Secret,
} from '@kubernetes/client-node';
import { systemClock } from '../clock';
import { HelmgateError } from '../errors';
import { keyedHash } from '../secrets/digest-key';
import { apiStatus, kubeApiError } from './kube-errors';

export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY_VALUE = 'helmgate';
export const DIGEST_ANNOTATION = 'helmgate.io/content-digest';
export const RESTARTED_AT_ANNOTATION = 'helmgate.io/restartedAt';

export type RestartableKind = 'Deployment' | 'StatefulSet' | 'DaemonSet';

/** One Kubernetes Secret helmgate owns, with its values resolved, and the workloads that read it. */
export interface SecretSpec {
  namespace: string;
  name: string;
  data: Record<string, string>;
  restart: Array<{ kind: RestartableKind; name: string }>;
}

export interface SecretSyncResult {
  namespace: string;
  name: string;
  action: 'created' | 'updated' | 'unchanged';
  /** `Kind/name` of each workload restarted because the Secret changed */
  restarted: string[];
  /** `Kind/name` of listed workloads that do not exist (yet): nothing to restart */
  skipped: string[];
}

export interface SecretSyncDeps {
  /** the installation's digest key (lib/secrets/digest-key.ts) */
  digestKey: string;
  now?: () => Date;
}

/**
 * HMAC-SHA256 (hex, prefixed `hmac-sha256:`) keyed with the installation key, over the entries sorted by
 * key, so the digest does not depend on key order and a weak value cannot be guessed from it offline.
 */
export function contentDigest(data: Record<string, string>, key: string): string {
  const entries = Object.keys(data)
    .sort()
    .map((k) => [k, data[k]]);
  return `hmac-sha256:${keyedHash(key).update(JSON.stringify(entries)).digest('hex')}`;
}

/**
 * Creates or updates each Secret (type Opaque, labelled as managed by helmgate, annotated with its content
 * digest), creating its namespace if missing. An unchanged digest writes nothing; a change updates the
 * Secret and restarts the listed workloads the way `kubectl rollout restart` does. A Secret that exists
 * but is not labelled as helmgate's is never overwritten. Values never reach errors: see kubeApiError.
 */
export async function syncSecrets(
  kc: KubeConfig,
  secrets: readonly SecretSpec[],
  deps: SecretSyncDeps,
): Promise<SecretSyncResult[]> {
  const core = kc.makeApiClient(CoreV1Api);
  const apps = kc.makeApiClient(AppsV1Api);
  const now = deps.now ?? (() => systemClock.now());
  const namespaces = new Map<string, Promise<void>>();
  const results: SecretSyncResult[] = [];
  // a Secret that exists has its namespace: the namespace is looked at only before creating one (an
  // unchanged Secret then costs one read)
  const namespaceOf = (name: string) => {
    let ns = namespaces.get(name);
    if (!ns) {
      ns = ensureNamespace(core, name);
      namespaces.set(name, ns);
    }
    return ns;
  };
  for (const spec of secrets) {
    const action = await writeSecret(core, spec, deps.digestKey, () => namespaceOf(spec.namespace));
    const result: SecretSyncResult = {
      namespace: spec.namespace,
      name: spec.name,
      action,
      restarted: [],
      skipped: [],
    };
    if (action === 'updated') {
      const at = now().toISOString();
      for (const w of spec.restart) {
        const done = await restartWorkload(apps, spec.namespace, w, at);
        (done ? result.restarted : result.skipped).push(`${w.kind}/${w.name}`);
      }
    }
    results.push(result);
  }
  return results;
}

async function ensureNamespace(core: CoreV1Api, name: string): Promise<void> {
  try {
    await core.readNamespace({ name });
    return;
  } catch (e) {
    if (apiStatus(e) !== 404) throw kubeApiError(`could not read namespace ${name}`, e);
  }
  try {
    await core.createNamespace({
      body: { metadata: { name, labels: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE } } },
    });
  } catch (e) {
    if (apiStatus(e) !== 409) throw kubeApiError(`could not create namespace ${name}`, e);
  }
}

async function writeSecret(
  core: CoreV1Api,
  spec: SecretSpec,
  key: string,
  ensureNamespace: () => Promise<void>,
): Promise<SecretSyncResult['action']> {
  const { namespace, name } = spec;
  const values = Object.values(spec.data);
  const digest = contentDigest(spec.data, key);
  const data: Record<string, string> = {};
  for (const [k, v] of Object.entries(spec.data)) data[k] = Buffer.from(v, 'utf8').toString('base64');
  const desired = (existing?: V1Secret): V1Secret => ({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: {
      name,
      namespace,
      labels: { ...existing?.metadata?.labels, [MANAGED_BY_LABEL]: MANAGED_BY_VALUE },
      annotations: { ...existing?.metadata?.annotations, [DIGEST_ANNOTATION]: digest },
      ...(existing?.metadata?.resourceVersion ? { resourceVersion: existing.metadata.resourceVersion } : {}),
    },
    type: 'Opaque',
    data,
  });

  // one retry covers a concurrent writer (409 on create or on a stale resourceVersion)
  for (let attempt = 1; ; attempt++) {
    let existing: V1Secret | undefined;
    try {
      existing = await core.readNamespacedSecret({ name, namespace });
    } catch (e) {
      if (apiStatus(e) !== 404) throw kubeApiError(`could not read Secret ${namespace}/${name}`, e, values);
    }
    try {
      if (!existing) {
        await ensureNamespace();
        await core.createNamespacedSecret({ namespace, body: desired() });
        return 'created';
      }
      if (existing.metadata?.labels?.[MANAGED_BY_LABEL] !== MANAGED_BY_VALUE)
        throw new HelmgateError(
          'conflict',
          `Secret ${namespace}/${name} exists but is not managed by helmgate (no label ${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}); refusing to overwrite it`,
        );
      // the stored data is checked too, so a hand edit that left the annotation in place is repaired
      if (
        existing.metadata?.annotations?.[DIGEST_ANNOTATION] === digest &&
        storedDigest(existing, key) === digest
      )
        return 'unchanged';
      await core.replaceNamespacedSecret({ name, namespace, body: desired(existing) });
      return 'updated';
    } catch (e) {
      if (e instanceof HelmgateError) throw e;
      if (apiStatus(e) === 409 && attempt < 2) continue;
      throw kubeApiError(
        `could not ${existing ? 'update' : 'create'} Secret ${namespace}/${name}`,
        e,
        values,
      );
    }
  }
}

function storedDigest(s: V1Secret, key: string): string {
  const data: Record<string, string> = {};
  for (const [k, v] of Object.entries(s.data ?? {})) data[k] = Buffer.from(v, 'base64').toString('utf8');
  return contentDigest(data, key);
}

/** `kubectl rollout restart`: bump a pod-template annotation. False when the workload does not exist. */
async function restartWorkload(
  apps: AppsV1Api,
  namespace: string,
  w: { kind: RestartableKind; name: string },
  at: string,
): Promise<boolean> {
  const param = {
    name: w.name,
    namespace,
    body: { spec: { template: { metadata: { annotations: { [RESTARTED_AT_ANNOTATION]: at } } } } },
  };
  const options = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
  try {
    if (w.kind === 'Deployment') await apps.patchNamespacedDeployment(param, options);
    else if (w.kind === 'StatefulSet') await apps.patchNamespacedStatefulSet(param, options);
    else await apps.patchNamespacedDaemonSet(param, options);
    return true;
  } catch (e) {
    if (apiStatus(e) === 404) return false;
    throw kubeApiError(`could not restart ${w.kind} ${namespace}/${w.name}`, e);
  }
}
