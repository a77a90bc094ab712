import type { KubeConfig } from '@kubernetes/client-node';
import type { ReleaseDiagnosis } from '../deploy/diagnosis';
import type { ObjectDrift } from '../deploy/drift';
import { type ReleaseStates, releaseStatesFromRecords } from '../helm/release-states';
import type { Logger } from '../log/logger';
import { diagnoseRelease } from './diagnosis';
import { releaseDrift } from './drift';
import { checkReleaseHealth, type HealthCheckInput, type HealthDeps, type HealthResult } from './health';
import { listHelmReleaseRecords, readReleaseManifest } from './release-records';
import { type SecretSpec, type SecretSyncResult, syncSecrets } from './secret-sync';

/**
 * The Kubernetes side of a deploy session over one KubeConfig (structurally the `KubeOps` port the
 * runner's cluster connector expects): secret sync, then health checks after helm.
 */
export interface KubeOperations {
  syncSecrets(secrets: SecretSpec[]): Promise<SecretSyncResult[]>;
  checkHealth(input: HealthCheckInput): Promise<HealthResult>;
  diagnose(input: {
    namespace: string;
    release: string;
    redact: (text: string) => string;
  }): Promise<ReleaseDiagnosis>;
  /** what helm runs now, per release: one list of helm's release records (metadata only) */
  releaseStates(namespaces: readonly string[]): Promise<ReleaseStates>;
  /** the live objects that differ from a deployed manifest (drift; see ./drift.ts) */
  releaseDrift(input: Parameters<typeof releaseDrift>[1]): Promise<ObjectDrift[]>;
  /** the raw manifest of one revision, from helm's release record (no helm process; see release-records.ts) */
  releaseManifest(input: Parameters<typeof readReleaseManifest>[1]): Promise<string | undefined>;
}

export function kubeOperations(
  kc: KubeConfig,
  deps: { digestKey: string; logger?: Logger; now?: () => Date; health?: HealthDeps },
): KubeOperations {
  return {
    async syncSecrets(secrets) {
      const results = await syncSecrets(kc, secrets, {
        digestKey: deps.digestKey,
        ...(deps.now ? { now: deps.now } : {}),
      });
      for (const r of results)
        deps.logger?.info('kubernetes secret synced', {
          namespace: r.namespace,
          secret: r.name,
          action: r.action,
          restarted: r.restarted,
          skipped: r.skipped,
        });
      return results;
    },
    checkHealth(input) {
      return checkReleaseHealth(kc, input, deps.health);
    },
    diagnose({ redact, ...input }) {
      return diagnoseRelease(kc, input, { redact, ...(deps.now ? { now: deps.now } : {}) });
    },
    async releaseStates(namespaces) {
      return releaseStatesFromRecords(await listHelmReleaseRecords(kc, namespaces));
    },
    releaseDrift(input) {
      return releaseDrift(kc, input);
    },
    releaseManifest(input) {
      return readReleaseManifest(kc, input);
    },
  };
}
