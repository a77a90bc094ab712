import { createTwoFilesPatch } from 'diff';
import { stringify } from 'yaml';
import type { EnvironmentPlan, PlannedChart, PlannedRelease } from './plan';

/**
 * What one release deploys, kept after the deploy so the next approval can show what changes.
 * Holds merged values (which live in the repository anyway) and secret *names*: never secret values.
 */
export interface ReleaseSnapshot {
  name: string;
  namespace: string;
  chart: { ref: string; version?: string };
  mergedValues: Record<string, unknown>;
  /** helm value path -> `secret` or `secret#key` */
  secretValues: Array<{ path: string; secret: string }>;
  digest: string;
  /** declares `helm test` as part of its health (absent: it does not; snapshots before issue 13 item 8) */
  helmTest?: true;
}

export interface PlanSnapshot {
  environment: string;
  sha: string;
  digest: string;
  releases: ReleaseSnapshot[];
}

export type ReleaseChangeKind = 'new' | 'changed' | 'unchanged' | 'removed';

export interface ReleaseChange {
  name: string;
  change: ReleaseChangeKind;
  chart?: { from: string; to: string };
  /** unified diff of the YAML-dumped merged values (without secrets) */
  valuesDiff?: string;
  /** helm value paths whose secret reference was added, removed or points at another secret */
  secretKeysChanged: string[];
  /** for `changed` with no visible difference: the digest moved (local chart files, values file formatting) */
  note?: string;
}

/** Larger diffs are cut so an approval item stays far below DynamoDB's 400 KB item limit. */
export const MAX_VALUES_DIFF_CHARS = 48 * 1024;

function chartOf(c: PlannedChart): { ref: string; version?: string } {
  return c.kind === 'local'
    ? { ref: `./${c.path}` }
    : // a chart re-published under the same version shows as a change of its digest
      {
        ref: `${c.repository}/${c.name}`,
        version: c.digest ? `${c.version} (${c.digest.slice(0, 19)})` : c.version,
      };
}

/** A stored snapshot's chart as text; for a snapshot made by `chartOf` this equals `chartLabel` of the planned chart. */
function snapshotChartLabel(c: { ref: string; version?: string }): string {
  return c.version === undefined ? c.ref : `${c.ref}@${c.version}`;
}

function secretName(ref: { secret: string; key?: string }): string {
  return ref.key === undefined ? ref.secret : `${ref.secret}#${ref.key}`;
}

function releaseSnapshot(r: PlannedRelease): ReleaseSnapshot {
  return {
    name: r.name,
    namespace: r.namespace,
    chart: chartOf(r.chart),
    mergedValues: structuredClone(r.mergedValues),
    secretValues: r.secretValues.map((s) => ({ path: s.path, secret: secretName(s.ref) })),
    digest: r.digest,
    ...(r.health.helmTest ? { helmTest: true as const } : {}),
  };
}

/** The part of a plan an approval shows and a later approval compares against. */
export function snapshotOf(plan: EnvironmentPlan): PlanSnapshot {
  return {
    environment: plan.environment,
    sha: plan.sha,
    digest: plan.digest,
    releases: plan.releases.map(releaseSnapshot),
  };
}

function dumpValues(v: Record<string, unknown>): string {
  if (Object.keys(v).length === 0) return '{}\n';
  return stringify(v, { sortMapEntries: true, lineWidth: 0 });
}

function valuesDiff(
  name: string,
  from: Record<string, unknown>,
  to: Record<string, unknown>,
): string | undefined {
  const a = dumpValues(from);
  const b = dumpValues(to);
  if (a === b) return undefined;
  const patch = createTwoFilesPatch(
    `${name} (running)`,
    `${name} (this commit)`,
    a,
    b,
    undefined,
    undefined,
    {
      context: 3,
    },
  );
  // drop the "Index"/"===" preamble: people read the hunks
  const body = patch.replace(/^=+\n/m, '');
  return body.length > MAX_VALUES_DIFF_CHARS
    ? `${body.slice(0, MAX_VALUES_DIFF_CHARS)}\n… diff cut at ${MAX_VALUES_DIFF_CHARS} characters\n`
    : body;
}

function secretKeysChanged(
  from: ReleaseSnapshot['secretValues'],
  to: ReleaseSnapshot['secretValues'],
): string[] {
  const a = new Map(from.map((s) => [s.path, s.secret]));
  const b = new Map(to.map((s) => [s.path, s.secret]));
  const paths = new Set([...a.keys(), ...b.keys()]);
  return [...paths].filter((p) => a.get(p) !== b.get(p)).sort();
}

/**
 * Per release of `next`, what changes compared with `previous` (what the environment runs now;
 * undefined when nothing was deployed there by helmgate yet), then the releases `next` no longer has.
 * Pure.
 */
export function diffPlans(
  previous: PlanSnapshot | undefined,
  next: PlanSnapshot | EnvironmentPlan,
): ReleaseChange[] {
  const to = 'cluster' in next ? snapshotOf(next) : next;
  const before = new Map((previous?.releases ?? []).map((r) => [r.name, r]));
  const changes: ReleaseChange[] = [];
  for (const r of to.releases) {
    const old = before.get(r.name);
    if (!old) {
      const diff = valuesDiff(r.name, {}, r.mergedValues);
      changes.push({
        name: r.name,
        change: 'new',
        chart: { from: '', to: snapshotChartLabel(r.chart) },
        ...(diff ? { valuesDiff: diff } : {}),
        secretKeysChanged: r.secretValues.map((s) => s.path).sort(),
      });
      continue;
    }
    if (old.digest === r.digest) {
      changes.push({ name: r.name, change: 'unchanged', secretKeysChanged: [] });
      continue;
    }
    const fromLabel = snapshotChartLabel(old.chart);
    const toLabel = snapshotChartLabel(r.chart);
    const diff = valuesDiff(r.name, old.mergedValues, r.mergedValues);
    const secrets = secretKeysChanged(old.secretValues, r.secretValues);
    // declaring or dropping `helm test` is in the release digest (issue 13, item 8): say which
    const tests =
      (old.helmTest === true) !== (r.helmTest === true)
        ? `helm test ${r.helmTest ? 'added' : 'dropped'}`
        : undefined;
    const visible =
      fromLabel !== toLabel ||
      diff !== undefined ||
      secrets.length > 0 ||
      old.namespace !== r.namespace ||
      tests !== undefined;
    const notes = [
      ...(old.namespace !== r.namespace ? [`namespace ${old.namespace} → ${r.namespace}`] : []),
      ...(tests ? [tests] : []),
      ...(!visible ? ['chart files or values file text changed (merged values are the same)'] : []),
    ];
    changes.push({
      name: r.name,
      change: 'changed',
      ...(fromLabel !== toLabel ? { chart: { from: fromLabel, to: toLabel } } : {}),
      ...(diff ? { valuesDiff: diff } : {}),
      secretKeysChanged: secrets,
      ...(notes.length ? { note: notes.join('; ') } : {}),
    });
  }
  const names = new Set(to.releases.map((r) => r.name));
  for (const old of previous?.releases ?? []) {
    if (!names.has(old.name))
      changes.push({
        name: old.name,
        change: 'removed',
        chart: { from: snapshotChartLabel(old.chart), to: '' },
        secretKeysChanged: [],
      });
  }
  return changes;
}

/** One line per release, for Slack and the console: `jupyterhub: chart jupyterhub/jupyterhub@4.3.0 → 4.4.0, values changed`. */
export function summaryLines(changes: readonly ReleaseChange[]): string[] {
  return changes.map((c) => {
    switch (c.change) {
      case 'new':
        return `${c.name}: new (${c.chart?.to ?? 'chart'})`;
      case 'removed':
        return `${c.name}: removed from the plan (will be uninstalled where the policy allows pruning)`;
      case 'unchanged':
        return `${c.name}: unchanged`;
      default: {
        const parts: string[] = [];
        if (c.chart) parts.push(`chart ${c.chart.from} → ${c.chart.to}`);
        if (c.valuesDiff) parts.push('values changed');
        if (c.secretKeysChanged.length) parts.push(`secret keys changed: ${c.secretKeysChanged.join(', ')}`);
        if (c.note) parts.push(c.note);
        return `${c.name}: ${parts.join(', ') || 'changed'}`;
      }
    }
  });
}
