import { createHash } from 'node:crypto';
import { mkdir, mkdtemp } from 'node:fs/promises';
import path from 'node:path';
import {
  DRIFT_KIND,
  type DriftChange,
  driftChanges,
  driftDigest,
  driftItemId,
  driftSummary,
  type EnvironmentDrift,
  fitDrift,
  helmDrift,
  type ReleaseDrift,
  type ReportedDrift,
  releaseDriftOf,
} from '../deploy/drift';
import { type Deployment, lockName } from '../deploy/lifecycle';
import type { DeployJob } from '../dispatch/dispatcher';
import { describeError, HelmgateError } from '../errors';
import { releaseKey } from '../helm/release-states';
import { handle } from '../lifecycle/apply';
import type { DriftNotice } from '../notify/notifier';
import { driftAction, environmentPolicy } from '../policy/policy';
import { DIGEST_KEY_SECRET } from '../secrets/digest-key';
import { withDeadline } from './deadline';
import {
  type ClusterSession,
  planAt,
  RELEASE_STATE,
  type RunnerDeps,
  type RunResult,
  releaseStateId,
  runDeployment,
} from './runner';
import { openWorkDir } from './work-dir';

/**
 * The scheduled drift check (issue 13, item 4), a job of the deploy runner — the one process that holds
 * an environment's cluster credentials (through the environment's role) — dispatched by the sweeper as
 * `{deploymentId: <what runs>, purpose: 'drift'}`. For every release helmgate deployed in the
 * environment it compares helm's release record (revision, status; one list read for the environment)
 * with what helmgate recorded, and the live objects with the manifest of the revision helmgate deployed,
 * each live object redacted exactly as the manifest is before it is compared. Each change is reported
 * once (a digest per release, stored per environment); under the policy's `correct` the same commit is
 * redeployed through the normal path. It holds the environment lock while it reads, so it never sees a
 * deployment half-way.
 */

export type DriftCheckResult = {
  kind: 'drift-checked';
  reason: string;
  drifted: string[];
  /** changes reported by this check */
  reported: number;
  /**
   * where the time went: fetching and planning the commit, reading its secrets and opening the cluster
   * (`prepare`); helm's records and the live objects (`compare`); storing and reporting (`record`)
   */
  ms: { prepare: number; compare: number; record: number };
  correction?: string;
};

/** Runs one runner job: a drift check, or a deployment (runDeployment). */
export async function runJob(deps: RunnerDeps, job: DeployJob): Promise<RunResult | DriftCheckResult> {
  return job.purpose === 'drift' ? checkDrift(deps, job.deploymentId) : runDeployment(deps, job);
}

const ACTIVE = new Set<Deployment['status']>(['queued', 'running', 'awaiting_approval']);

export async function checkDrift(
  deps: RunnerDeps,
  deploymentId: string,
): Promise<RunResult | DriftCheckResult> {
  const current = await deps.store.getDeployment(deploymentId);
  if (!current) return { kind: 'not-runnable', reason: 'no such deployment' };
  const env = environmentPolicy(deps.policy, current.repository, current.environment);
  const action = env ? driftAction(env) : 'off';
  if (action === 'off') return { kind: 'not-runnable', reason: 'drift checks are off for this environment' };
  if (current.status !== 'succeeded') return { kind: 'not-runnable', reason: 'not a succeeded deployment' };
  const list = await deps.store.listByEnvironment(current.repository, current.environment, { limit: 50 });
  const runs = list.find((d) => d.status === 'succeeded');
  if (runs?.id !== current.id)
    return { kind: 'not-runnable', reason: `${runs?.id ?? 'nothing'} runs there now, not ${current.id}` };

  const lock = lockName(current);
  const leaseMs = deps.lockLeaseMs ?? 120_000;
  // a holder of its own: a local process runs deployments and checks under one invocation id, and
  // "already ours" must never let a check in beside a deployment
  const holder = `${deps.invocationId}/drift`;
  const lease = await deps.store.acquireLock(lock, holder, leaseMs, deps.clock.now());
  if (!lease) return { kind: 'waiting', reason: 'a deployment holds the environment; checked next time' };
  const renew = setInterval(
    () => {
      deps.store
        .renewLock(lock, holder, leaseMs, deps.clock.now())
        .catch((e) => deps.logger.warn('lock renewal failed', { err: e }));
    },
    Math.max(1000, Math.floor(leaseMs / 3)),
  );
  renew.unref?.();
  const work = await openWorkDir(deps.workRoot);
  try {
    return await checkLocked(deps, current, action, work.dir);
  } catch (e) {
    const reason = deps.redactor.redact(e instanceof HelmgateError ? e.message : describeError(e));
    deps.logger.error('drift check failed', { deploymentId: current.id, reason });
    return { kind: 'not-runnable', reason: `drift check failed: ${reason}` };
  } finally {
    clearInterval(renew);
    await work.remove();
    await deps.store.releaseLock(lock, holder);
    // a deployment that arrived while the check held the lock waited for it: it runs now
    await handle(
      deps,
      { type: 'environment-free' },
      {
        environment: await deps.store.listByEnvironment(current.repository, current.environment, {
          limit: 50,
        }),
      },
    );
  }
}

async function checkLocked(
  deps: RunnerDeps,
  current: Deployment,
  action: 'warn' | 'correct',
  workRoot: string,
): Promise<DriftCheckResult | RunResult> {
  const log = deps.logger.child({ deploymentId: current.id, job: 'drift' });
  const now = deps.clock.now().toISOString();
  const t0 = deps.clock.now().getTime();
  const workDir = await mkdtemp(path.join(workRoot, 'drift-'));
  const sourceDir = path.join(workDir, 'src');
  await mkdir(sourceDir, { mode: 0o700 });
  await withDeadline('fetching the commit', 120_000, (signal) =>
    deps.source.extractTree(current.repository, current.sha, sourceDir, signal),
  );
  const plan = await withDeadline('planning', 120_000, () =>
    // charts are not pinned (no chart repository is asked): the check needs the releases and their
    // secret references, and compares with what helm recorded, not with what the charts would render
    planAt(sourceDir, deps.deployConfigPath, current, { policy: deps.policy }),
  );
  // every secret the deployment used is read (through the environment's role) so the redactor knows
  // it before anything is read from the cluster: a live object is masked with the same knowledge
  const secrets = deps.secrets(current);
  const own = deps.ownSecrets?.() ?? secrets;
  const digestKey = await own.resolve({ secret: deps.digestKeySecret ?? DIGEST_KEY_SECRET });
  await secrets.preflight([
    ...(deps.cluster.readsClusterSecret && 'secret' in plan.cluster ? [{ secret: plan.cluster.secret }] : []),
    ...plan.secretRefs,
  ]);
  const session = await withDeadline('connecting to the cluster', 60_000, () =>
    deps.cluster.open(plan, {
      workDir,
      secrets,
      deploymentId: current.id,
      digestKey,
      repository: current.repository,
    }),
  );
  let found: Awaited<ReturnType<typeof readDrift>>;
  let t1 = t0;
  let t2 = t0;
  try {
    if (session.mode !== 'deploy' || !session.driftOf)
      return { kind: 'not-runnable', reason: 'no cluster to compare with (render-only)' };
    t1 = deps.clock.now().getTime();
    found = await withDeadline('comparing what runs', 300_000, () =>
      readDrift(deps, current, plan.releases, session),
    );
    t2 = deps.clock.now().getTime();
  } finally {
    await session.close();
  }

  const id = driftItemId(current);
  const previous = await deps.store.getItem<EnvironmentDrift & Record<string, unknown>>(DRIFT_KIND, id);
  // what was reported carries over a new deployment: a drift it repaired is reported back in line once
  const before = previous?.releases ?? {};
  const changes = driftChanges(before, found.drifts, found.checked);
  const releases: Record<string, ReportedDrift> = {};
  for (const [name, r] of Object.entries(before)) if (!found.checked.includes(name)) releases[name] = r;
  for (const d of found.drifts) {
    const was = Object.hasOwn(before, d.release) ? before[d.release] : undefined;
    const digest = driftDigest(d);
    releases[d.release] =
      was && was.digest === digest ? was : { digest, since: was?.since ?? now, reportedAt: now, drift: d };
  }
  // skip-unchanged reads the mark from the release's state: a drifted release is deployed again
  for (const name of found.checked) {
    // as read for the comparison, under the same lock: nothing has written it since
    const state = found.states.get(name) as ({ drifted?: string } & Record<string, unknown>) | undefined;
    if (!state) continue;
    const drifted = Object.hasOwn(releases, name) ? releases[name] : undefined;
    const mark = drifted ? driftSummary(drifted.drift).slice(0, 300) : undefined;
    if (state.drifted === mark) continue;
    const { drifted: _old, ...rest } = state;
    await deps.store.putItem(RELEASE_STATE, releaseStateId(current, name), {
      ...rest,
      ...(mark ? { drifted: `the drift check found: ${mark}` } : {}),
    });
  }

  const drifted = Object.keys(releases).sort();
  let correction: DriftNotice['correction'];
  let stored = previous?.correction;
  if (action === 'correct' && drifted.length > 0) {
    const forDigest = combinedDigest(releases);
    const environment = await deps.store.listByEnvironment(current.repository, current.environment, {
      limit: 50,
    });
    const active = environment.find((d) => ACTIVE.has(d.status));
    // a newer deployment that failed may have upgraded some releases: redeploying this older commit
    // would take them back, which is a rollback, not a correction
    const failedSince = environment.find((d) => d.status === 'failed' && d.createdAt > current.createdAt);
    if (active)
      correction = {
        skipped: `${active.id} is ${active.status.replace('_', ' ')}: it redeploys the drifted releases`,
      };
    else if (failedSince)
      correction = {
        skipped: `${failedSince.id} (newer) failed: redeploying ${current.sha.slice(0, 7)} would roll its releases back`,
      };
    else if (stored?.forDigest === forDigest)
      correction = { skipped: `${stored.deploymentId} was opened for this drift already` };
    else {
      const opened = await openCorrection(deps, current, plan, releases, environment);
      correction = { deploymentId: opened.id, waitsForApproval: opened.status === 'awaiting_approval' };
      stored = { deploymentId: opened.id, forDigest, at: now };
    }
  }
  const record: EnvironmentDrift = {
    repository: current.repository,
    environment: current.environment,
    sha: current.sha,
    deploymentId: current.id,
    checkedAt: now,
    releases,
    ...(Object.keys(found.errors).length ? { errors: found.errors } : {}),
    ...(stored ? { correction: stored } : {}),
  };
  await deps.store.putItem(DRIFT_KIND, id, fitDrift(record) as unknown as Record<string, unknown>);

  const opened = correction && 'deploymentId' in correction;
  if ((changes.length > 0 || opened) && deps.notifier.driftChanged)
    await deps.notifier.driftChanged({
      repository: current.repository,
      environment: current.environment,
      sha: current.sha,
      ...(previous && previous.sha !== current.sha && Object.keys(previous.releases).length > 0
        ? { previousSha: previous.sha }
        : {}),
      deploymentId: current.id,
      checkedAt: now,
      changes,
      drifted,
      action,
      ...(correction ? { correction } : {}),
    });
  const timings = {
    prepare: t1 - t0,
    compare: t2 - t1,
    record: deps.clock.now().getTime() - t2,
  };
  log.info('drift checked', {
    releases: found.checked.length,
    drifted,
    reported: changes.map((c: DriftChange) => `${c.release}: ${c.kind}`),
    errors: Object.keys(found.errors),
    ms: timings,
  });
  return {
    kind: 'drift-checked',
    ms: timings,
    reason: drifted.length ? `drifted: ${drifted.join(', ')}` : 'in line',
    drifted,
    reported: changes.length,
    ...(correction && 'deploymentId' in correction ? { correction: correction.deploymentId } : {}),
  };
}

/** helm's records in one read, then each release's live objects, for releases helmgate deployed. */
async function readDrift(
  deps: RunnerDeps,
  current: Deployment,
  releases: ReadonlyArray<{ name: string; namespace: string }>,
  session: ClusterSession,
): Promise<{
  drifts: ReleaseDrift[];
  checked: string[];
  errors: Record<string, string>;
  /** each release's recorded state, as read for the comparison */
  states: Map<string, Record<string, unknown> | undefined>;
}> {
  const [live, recorded] = await Promise.all([
    session.releaseStates(releases as Parameters<ClusterSession['releaseStates']>[0]),
    Promise.all(
      releases.map((r) =>
        deps.store.getItem<{ revision: number } & Record<string, unknown>>(
          RELEASE_STATE,
          releaseStateId(current, r.name),
        ),
      ),
    ),
  ]);
  const drifts: ReleaseDrift[] = [];
  const checked: string[] = [];
  const errors: Record<string, string> = {};
  // two releases at a time, each reading up to 8 objects at once (lib/kube/drift.ts): the API server
  // sees at most 16 requests of a check at once
  let next = 0;
  const one = async (i: number) => {
    const r = releases[i] as (typeof releases)[number];
    const state = recorded[i];
    // never deployed by helmgate (a first install that failed): nothing to compare with
    if (!state) return;
    const now = live.get(releaseKey(r.namespace, r.name));
    try {
      const helm = helmDrift(state.revision, now);
      const objects = now ? ((await session.driftOf?.(r, state.revision)) ?? []) : [];
      const d = releaseDriftOf({ release: r.name, namespace: r.namespace, helm, objects });
      if (d) drifts.push(d);
      checked.push(r.name);
    } catch (e) {
      errors[r.name] = deps.redactor
        .redact(e instanceof HelmgateError ? e.message : describeError(e))
        .slice(0, 300);
    }
  };
  await Promise.all(
    [0, 1].map(async () => {
      while (next < releases.length) await one(next++);
    }),
  );
  drifts.sort((a, b) => a.release.localeCompare(b.release));
  const states = new Map(releases.map((r, i) => [r.name, recorded[i]] as const));
  return { drifts, checked: checked.sort(), errors, states };
}

function combinedDigest(releases: Record<string, ReportedDrift>): string {
  const h = createHash('sha256');
  for (const name of Object.keys(releases).sort()) h.update(`${name}\0${releases[name]?.digest}\0`);
  return `sha256:${h.digest('hex')}`;
}

/**
 * `correct`: the same commit again, as a new deployment through the normal path — queued where the
 * environment deploys without approval (or already promoted this commit: `auto`), waiting for approval
 * (and offered) where it is required. The people who had a hand in the commit stay who they were, so the
 * four-eyes rule holds for the correction as it did for the commit.
 */
async function openCorrection(
  deps: RunnerDeps,
  current: Deployment,
  plan: { approval?: Deployment['approval']; policy?: Deployment['policy'] },
  releases: Record<string, ReportedDrift>,
  environment: readonly Deployment[],
): Promise<Deployment> {
  const at = deps.clock.now().toISOString();
  const approval = plan.approval ?? current.approval;
  const waits = approval === 'required';
  const summary = Object.values(releases)
    .map((r) => driftSummary(r.drift, 1))
    .join('; ');
  const hash = createHash('sha256')
    .update(`drift\0${current.id}\0${at}\0${deps.invocationId}`)
    .digest('hex')
    .slice(0, 10);
  const d: Deployment = {
    id: `${current.sha.slice(0, 7)}-${current.environment.replace(/[^\w-]/g, '_')}-drift-${hash}`,
    repository: current.repository,
    environment: current.environment,
    sha: current.sha,
    ref: current.ref,
    status: waits ? 'awaiting_approval' : 'queued',
    approval,
    ...(current.pusher ? { pusher: current.pusher } : {}),
    ...(current.involved ? { involved: current.involved } : {}),
    ...(current.commitMessage ? { commitMessage: current.commitMessage } : {}),
    ...(current.commitUrl ? { commitUrl: current.commitUrl } : {}),
    ...(current.requestedApprovers ? { requestedApprovers: current.requestedApprovers } : {}),
    ...(plan.policy ? { policy: plan.policy } : {}),
    createdAt: at,
    updatedAt: at,
    trigger: 'redeploy',
    requestedBy: 'helmgate drift check',
    reason: deps.redactor.redact(`drift correction of ${current.id}: ${summary}`).slice(0, 1000),
  };
  if (!(await deps.store.createDeployment(d)))
    throw new HelmgateError('conflict', `deployment ${d.id} exists already`);
  await deps.store.appendAudit({
    deploymentId: d.id,
    at,
    actor: 'helmgate drift check',
    via: 'system',
    action: 'redeploy',
    outcome: 'created',
    detail: `drift correction of ${current.id} (${Object.keys(releases).sort().join(', ')})`,
  });
  await deps.notifier.deploymentChanged(d);
  await handle(deps, { type: 'created', deployment: d, offer: waits }, { environment: [...environment, d] });
  return (await deps.store.getDeployment(d.id)) ?? d;
}
