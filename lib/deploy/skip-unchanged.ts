/**
 * Skip-unchanged, as one pure rule: a release is skipped only when what would be deployed is what
 * helmgate last deployed (same digest of plan and secret values) AND the cluster still runs exactly
 * that (helm's newest revision is the one we recorded, and it is `deployed`). Anything else — a
 * rollback or upgrade by hand, a failed or pending revision, an uninstall — is drift at the helm level,
 * and the release is deployed again. So is a release the scheduled drift check marked `drifted` (its live
 * objects changed by hand: `kubectl edit`), which helm's record alone cannot show.
 */

export interface RecordedRelease {
  digest: string;
  revision: number;
  /**
   * the drift check found the live objects changed behind helmgate's back (what it found, one line):
   * the release is deployed again even though helm's record still matches. Cleared by the next successful
   * deploy of the release (its state is rewritten) or by a check that finds it back in line.
   */
  drifted?: string;
}

export interface LiveRelease {
  status: string;
  revision: number;
}

export type SkipDecision =
  | { skip: true; revision: number }
  | { skip: false; why: 'forced' | 'first' | 'changed' | 'drifted'; detail?: string };

export function skipDecision(input: {
  force: boolean;
  digest: string;
  recorded: RecordedRelease | undefined;
  live: LiveRelease | undefined;
}): SkipDecision {
  const { recorded, live } = input;
  if (input.force) return { skip: false, why: 'forced' };
  if (!recorded) return { skip: false, why: 'first' };
  if (recorded.digest !== input.digest) return { skip: false, why: 'changed' };
  if (!live)
    return {
      skip: false,
      why: 'drifted',
      detail: `helm has no release (helmgate deployed revision ${recorded.revision})`,
    };
  if (recorded.drifted) return { skip: false, why: 'drifted', detail: recorded.drifted };
  if (live.status !== 'deployed' || live.revision !== recorded.revision)
    return {
      skip: false,
      why: 'drifted',
      detail: `helm runs revision ${live.revision} (${live.status}); helmgate deployed revision ${recorded.revision}`,
    };
  return { skip: true, revision: live.revision };
}
