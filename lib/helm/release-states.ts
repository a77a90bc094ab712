/**
 * Helm's release records, read in one go: helm 4 keeps every revision of a release as a Secret named
 * `sh.helm.release.v1.<release>.v<revision>` with the labels `owner=helm`, `name`, `status` and
 * `version` (helm.sh/helm/v4 pkg/storage/driver/secrets.go). Their labels alone say what each release
 * runs now, so one list of those Secrets' metadata (not their payloads) replaces a `helm status` per
 * release. Pure: the caller lists, this reads.
 */

/** The label selector of helm's release records. */
export const HELM_RELEASE_SELECTOR = 'owner=helm';

/** The metadata of one release record, as a list of PartialObjectMetadata (or of Secrets) returns it. */
export interface ReleaseRecordMeta {
  namespace?: string;
  name?: string;
  labels?: Record<string, string>;
}

/** What one release runs now: its newest revision and that revision's status. */
export interface LiveReleaseState {
  status: string;
  revision: number;
}

/** Release states keyed by `namespace/release`. */
export type ReleaseStates = ReadonlyMap<string, LiveReleaseState>;

export function releaseKey(namespace: string, release: string): string {
  return `${namespace}/${release}`;
}

/**
 * The newest revision per release, with its status. Records that are not helm's (no name, no
 * numeric version) are ignored; a release whose newest record is `uninstalled` (kept with
 * `--keep-history`) is reported as such, so the caller never mistakes it for deployed.
 */
export function releaseStatesFromRecords(
  records: readonly ReleaseRecordMeta[],
): Map<string, LiveReleaseState> {
  const out = new Map<string, LiveReleaseState>();
  for (const r of records) {
    const labels = r.labels ?? {};
    if (labels.owner !== 'helm' || !labels.name || r.namespace === undefined) continue;
    const revision = Number(labels.version);
    if (!Number.isInteger(revision) || revision < 1) continue;
    const key = releaseKey(r.namespace, labels.name);
    const seen = out.get(key);
    if (seen && seen.revision >= revision) continue;
    out.set(key, { status: labels.status ?? 'unknown', revision });
  }
  return out;
}
