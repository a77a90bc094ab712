import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Clock } from '../clock';
import { type DeployConfig, parseDeployConfig } from '../deploy/deploy-config';
import type { ReleaseDiagnosis } from '../deploy/diagnosis';
import type { ObjectDrift } from '../deploy/drift';
import { frozenAt } from '../deploy/freeze';
import { describeOverride, overrideHolds } from '../deploy/freeze-override';
import { type Deployment, deadRuns, lockName, type ReleaseResult, refusal } from '../deploy/lifecycle';
import type { ManifestDiff } from '../deploy/manifest-diff';
import {
  type ChartDigestResolver,
  chartReference,
  type EnvironmentPlan,
  type PlannedRelease,
  planEnvironment,
  type SourceReader,
} from '../deploy/plan';
import type { ReleaseTests } from '../deploy/release-tests';
import { type NodeOutcome, runDag } from '../deploy/scheduler';
import { type RecordedRelease, skipDecision } from '../deploy/skip-unchanged';
import type { DeployJob, Dispatcher } from '../dispatch/dispatcher';
import { describeError, HelmgateError } from '../errors';
import type { FetchedTree, RepoSource } from '../github/repo-source';
import type { UndoResult } from '../helm/release-deployer';
import { type ReleaseStates, releaseKey } from '../helm/release-states';
import { type Applied, handle, movedOrCurrent } from '../lifecycle/apply';
import type { Logger } from '../log/logger';
import type { Redactor } from '../log/redact';
import type { Notifier } from '../notify/notifier';
import { checkPlan, PolicyViolationError } from '../policy/check';
import { environmentPolicy, type Policy, rollbackOnHealthFailure } from '../policy/policy';
import { DIGEST_KEY_SECRET, keyedHash } from '../secrets/digest-key';
import { SecretMissingError, type SecretResolver } from '../secrets/secrets-provider';
import type { DeploymentStore } from '../store/deployment-store';
import { DEFAULT_STEP_DEADLINES, type StepDeadlines, withDeadline } from './deadline';
import { previewManifests, type SessionOpenContext } from './manifest-preview';
import { runPreviewJob } from './preview-job';
import { PLAN_SNAPSHOT_KIND, planSnapshotId, pruneRemoved } from './prune';
import { describeRollback, type RollbackStep, rollbackEnvironment } from './rollback';
import { directorySourceReader } from './source-reader';
import { openWorkDir } from './work-dir';

/** What a cluster session can do for one release (helm + health), deploying or rendering. */
export interface ReleaseOutcome {
  status: 'succeeded' | 'failed' | 'rendered' | 'deferred';
  revision?: number;
  attempts: number;
  reason?: string;
  errorTail?: string;
  /** why it failed: helm itself, or the health checks after a helm success */
  failure?: 'helm' | 'health';
  /** `helm test` of the release, when its health declares it (a failure is a `health` failure) */
  tests?: ReleaseTests;
  /** what the cluster showed when it failed (collected before any rollback) */
  diagnosis?: ReleaseDiagnosis;
  /** a failed helm upgrade, undone after its diagnosis: rolled back, or a first install uninstalled */
  undone?: Exclude<UndoResult, { outcome: 'unchanged' }>;
}

export interface ClusterSession {
  mode: 'deploy' | 'render';
  /** helm's view of the release: for skip-unchanged */
  releaseStatus(release: PlannedRelease): Promise<{ status: string; revision: number } | undefined>;
  /** `helm rollback` to an earlier revision (deploy mode only): the policy's rollback on a failed health check */
  rollbackRelease?(release: PlannedRelease, revision: number, deadline: number): Promise<void>;
  /** what helm runs now for every release of the plan, from ONE read of the cluster (skip-unchanged, drift) */
  releaseStates(releases: readonly PlannedRelease[]): Promise<ReleaseStates>;
  /** create/update the Kubernetes Secrets of the plan, restarting readers when content changed */
  syncSecrets(plan: EnvironmentPlan): Promise<void>;
  /** helm upgrade --install (or template) of one release, then its health checks */
  runRelease(
    release: PlannedRelease,
    input: { sourceDir: string; secretValues: Array<{ path: string; value: string }>; deadline: number },
  ): Promise<ReleaseOutcome>;
  /**
   * What the release runs now (`helm get manifest`; undefined when not installed) and what the plan would
   * render (`helm template`), as objects parsed then redacted: for the manifest diff shown before approval.
   */
  renderManifests?(
    release: PlannedRelease,
    input: { sourceDir: string; secretValues: Array<{ path: string; value: string }> },
  ): Promise<{ live: unknown[] | undefined; proposed: unknown[] }>;
  /**
   * The release's live objects that differ from the manifest of `revision` (else helm's newest), each
   * redacted as the manifest is before the comparison; undefined when helm has no such release. Drift
   * checks; deploy mode only.
   */
  driftOf?(
    release: { name: string; namespace: string },
    revision?: number,
  ): Promise<ObjectDrift[] | undefined>;
  /** `helm uninstall` of a release removed from deploy.yaml (pruning). Deploy mode only. */
  uninstallRelease?(release: { name: string; namespace: string }): Promise<void>;
  close(): Promise<void>;
}

/** Port: opens a cluster session for a plan (credentials from the plan's cluster secret, or render-only). */
export interface ClusterConnector {
  /**
   * Whether sessions read the plan's cluster secret (AWS). Not in render-only mode, nor with a local
   * KUBECONFIG: then the pre-flight does not ask for it.
   */
  readonly readsClusterSecret: boolean;
  open(plan: EnvironmentPlan, ctx: SessionOpenContext): Promise<ClusterSession>;
}

/** The approval side the runner calls (ApprovalService implements it). */
export interface FinishedHook {
  /** a deployment reached a terminal state: promotion gate (auto-promote, offer approvals, fail waiters) */
  onDeploymentFinished(
    d: Deployment,
    ctx: {
      plan?: EnvironmentPlan;
      /**
       * the commit's tree, for planning a waiting environment (read from memory when it is held there);
       * always passed, also when this run's own plan was refused: a waiting environment must still be
       * planned to be failed behind it (a tree that could not be fetched reads as that error)
       */
      source?: SourceReader;
      /** the tree on disk, when this run wrote it */
      sourceDir?: string;
    },
  ): Promise<void>;
  /** open the approval request of a deployment in `awaiting_approval` for this plan */
  offer(deploymentId: string, input: { plan: EnvironmentPlan; manifests?: ManifestDiff }): Promise<unknown>;
  /** a `preview` job's rendered diff onto the open approval request (false: decided or re-bound meanwhile) */
  recordPreview?(
    deploymentId: string,
    input: { planDigest: string; manifests?: ManifestDiff },
  ): Promise<boolean>;
}

export interface RunnerDeps {
  store: DeploymentStore;
  source: RepoSource;
  dispatcher: Dispatcher;
  notifier: Notifier;
  clock: Clock;
  logger: Logger;
  redactor: Redactor;
  /**
   * A fresh resolver per invocation (values cached for this invocation only), for this deployment:
   * in AWS it reads through the deployment's environment role (lib/runner/environment-secrets.ts).
   */
  secrets: (d: Pick<Deployment, 'id' | 'repository' | 'environment'>) => SecretResolver;
  /**
   * The runner's own secrets (the digest key), read with the runner's own credentials; default: the
   * deployment's resolver (locally, where there are no roles).
   */
  ownSecrets?: () => SecretResolver;
  /** the operator's policy: checked before any secret is read; a violation fails the deployment */
  policy: Policy;
  /** pins remote charts to their repository digests when planning (approved charts are the charts that run) */
  charts?: ChartDigestResolver;
  cluster: ClusterConnector;
  finished?: FinishedHook;
  /** private temp dirs are made here (mode 0700) */
  workRoot: string;
  deployConfigPath: string;
  /** ms left in this invocation (Lambda's getRemainingTimeInMillis); Infinity locally */
  remainingTimeMs: () => number;
  /** identifies this invocation as lock holder */
  invocationId: string;
  concurrency?: number;
  lockLeaseMs?: number;
  /** time kept back from the Lambda limit for recording results and handing off */
  safetyMarginMs?: number;
  /** redeploy releases even when unchanged */
  force?: boolean;
  /** the secret holding the installation's digest key; default `helmgate/digest-key` */
  digestKeySecret?: string;
  /** per-step deadlines (ms); see DEFAULT_STEP_DEADLINES */
  deadlines?: Partial<StepDeadlines>;
}

export type RunResult =
  | { kind: 'finished'; deployment: Deployment }
  | { kind: 'handed-off'; deployment: Deployment; continuation: number }
  | { kind: 'waiting'; reason: string }
  | { kind: 'not-runnable'; reason: string };

/** Item kind holding the last successful state of one release (for skip-unchanged and the drift check). */
export const RELEASE_STATE = 'RELSTATE';

/**
 * The digest that decides "unchanged": the release's plan digest plus its secret values, an HMAC keyed
 * with the installation key (a stored digest must not let anyone confirm a guessed secret offline).
 */
export function releaseStateDigest(
  release: PlannedRelease,
  secretValues: Array<{ path: string; value: string }>,
  digestKey: string,
): string {
  const h = keyedHash(digestKey).update(release.digest);
  for (const s of [...secretValues].sort((a, b) => a.path.localeCompare(b.path))) {
    const value = Buffer.from(s.value, 'utf8');
    h.update('\0secret\0').update(s.path).update(`\0${value.length}\0`).update(value);
  }
  return `hmac-sha256:${h.digest('hex')}`;
}

export function releaseStateId(d: Pick<Deployment, 'repository' | 'environment'>, release: string): string {
  return `${d.repository}#${d.environment}#${release}`;
}

/** What helmgate last deployed per release (its store) and what helm runs now (one read of the cluster). */
async function knownStates(
  deps: RunnerDeps,
  deployment: Deployment,
  plan: EnvironmentPlan,
  session: ClusterSession,
): Promise<{
  recorded: Map<string, RecordedRelease>;
  live: ReleaseStates;
  planSnapshot: { item: { snapshotJson?: string } | undefined };
}> {
  const [items, live] = await Promise.all([
    // one round trip for every release's record, not one per release, and the environment's plan
    // snapshot (pruning reads it when nothing ran)
    deps.store.getItems<Record<string, unknown>>([
      ...plan.releases.map((r) => ({ kind: RELEASE_STATE, id: releaseStateId(deployment, r.name) })),
      { kind: PLAN_SNAPSHOT_KIND, id: planSnapshotId(deployment) },
    ]),
    session.releaseStates(plan.releases),
  ]);
  return {
    planSnapshot: { item: items[plan.releases.length] as { snapshotJson?: string } | undefined },
    recorded: new Map(
      plan.releases.flatMap((r, i) => {
        const item = items[i] as (RecordedRelease & Record<string, unknown>) | undefined;
        return item
          ? [
              [
                r.name,
                {
                  digest: item.digest,
                  revision: item.revision,
                  ...(item.drifted ? { drifted: item.drifted } : {}),
                },
              ] as const,
            ]
          : [];
      }),
    ),
    live,
  };
}

/**
 * Runs one dispatched deployment: lock the environment, fetch the exact commit, plan, pre-flight the
 * secrets, sync Kubernetes Secrets, run the releases as a DAG, record every result, notify, hand off
 * before Lambda's limit, and hand the environment to the next queued deployment.
 */
export async function runDeployment(deps: RunnerDeps, job: DeployJob): Promise<RunResult> {
  // everything the run writes (source tree, kubeconfig, helm home) lives in one directory that is
  // removed however the run ends; stale ones of dead runs are swept first (issue 12)
  const work = await openWorkDir(deps.workRoot);
  try {
    return await runDeploymentIn({ ...deps, workRoot: work.dir }, job);
  } finally {
    await work.remove();
  }
}

/** The deadline of one step: its configured limit, never beyond what is left of the invocation. */
function stepMs(deps: RunnerDeps, step: keyof StepDeadlines): number {
  const limit = deps.deadlines?.[step] ?? DEFAULT_STEP_DEADLINES[step];
  // a few seconds before Lambda would kill the invocation, so the failure is still recorded
  return Math.max(0, Math.min(limit, deps.remainingTimeMs() - 5_000));
}

async function runDeploymentIn(deps: RunnerDeps, job: DeployJob): Promise<RunResult> {
  const log = deps.logger.child({ deploymentId: job.deploymentId });
  const existing = await deps.store.getDeployment(job.deploymentId);
  if (!existing) return { kind: 'not-runnable', reason: 'no such deployment' };
  if (job.purpose === 'offer') return offerApproval(deps, existing);
  if (job.purpose === 'preview')
    return runPreviewJob(
      {
        ...deps,
        ...(deps.finished?.recordPreview
          ? { recordPreview: deps.finished.recordPreview.bind(deps.finished) }
          : {}),
      },
      existing,
      async (sourceDir) => {
        await withDeadline('fetching the commit', stepMs(deps, 'source'), (signal) =>
          deps.source.extractTree(existing.repository, existing.sha, sourceDir, signal),
        );
        return withDeadline('planning', stepMs(deps, 'plan'), () =>
          planAt(sourceDir, deps.deployConfigPath, existing, deps),
        );
      },
    );
  const refused = refusal({ type: 'run-started', target: existing }, deps.clock.now().toISOString());
  if (refused) return { kind: 'not-runnable', reason: refused };

  // a freeze window (issue 13): the deployment stays queued, approved or not, and the sweeper starts it
  // when the window ends; a continuation of a run that already started is not stopped half-way
  const envPolicy = environmentPolicy(deps.policy, existing.repository, existing.environment);
  const frozen =
    envPolicy && !job.continuation ? frozenAt(envPolicy.freezeWindows, deps.clock.now()) : undefined;
  // ... unless the environment's approvers overrode the freeze it waits in (lib/deploy/freeze-override)
  if (frozen && overrideHolds(existing.freezeOverride, deps.clock.now(), frozen.until))
    log.info('freeze overridden; deployment starts inside it', { until: frozen.until.toISOString() });
  else if (frozen) {
    const until = frozen.until.toISOString();
    const reason = `frozen until ${until}${frozen.reason ? ` (${frozen.reason})` : ''}: starts when the freeze ends`;
    if (existing.frozenUntil !== until)
      await deps.store.update(existing.id, { frozenUntil: until, reason }, deps.clock.now());
    log.info('environment frozen; deployment stays queued', { until });
    return { kind: 'waiting', reason };
  }

  const leaseMs = deps.lockLeaseMs ?? 120_000;
  const lock = lockName(existing);
  const lease = await deps.store.acquireLock(lock, deps.invocationId, leaseMs, deps.clock.now());
  if (!lease) {
    const holder = await deps.store.getLock(lock);
    log.info('environment busy; deployment stays queued', { holder: holder?.holder });
    return {
      kind: 'waiting',
      reason: `environment ${existing.environment} is being deployed by ${holder?.holder ?? 'another run'}`,
    };
  }

  // the run's own private directory (runDeployment made it, and removes it with everything in it)
  const workDir = deps.workRoot;
  // the commit is fetched and planned, its secrets pre-flighted and the cluster session opened while the
  // environment's bookkeeping below goes on (none of these writes anything); a failure surfaces where it
  // is awaited, and fails the run there. The tree is written to disk only for helm: at once when the
  // deployment is forced, else once a release is found changed
  const tree = commitTree(deps, existing, workDir);
  const sourceDir = tree.dir;
  if (deps.force ?? existing.force) tree.written().catch(() => undefined);
  const planning = (async () =>
    withDeadline('planning', stepMs(deps, 'plan'), async () =>
      planFrom(await tree.reader(), deps.deployConfigPath, existing, deps),
    ))();
  planning.catch(() => undefined);
  // the deployment's secrets through its environment's role; the digest key is the runner's own
  const secrets = deps.secrets(existing);
  const own = deps.ownSecrets?.() ?? secrets;
  const connecting = (async () => {
    const plan = await planning;
    // an approval binds the plan: no secret is read for another one
    if (existing.planDigest && existing.planDigest !== plan.digest)
      throw new HelmgateError('conflict', 'the plan differs from the one that was approved; approval void');
    const keyRef = { secret: deps.digestKeySecret ?? DIGEST_KEY_SECRET };
    const refs = [
      ...(deps.cluster.readsClusterSecret && 'secret' in plan.cluster
        ? [{ secret: plan.cluster.secret }]
        : []),
      ...plan.secretRefs,
    ];
    await withDeadline('the secrets pre-flight', stepMs(deps, 'secrets'), async () => {
      // both at once; the deployment's secrets are reported first when both fail
      const [mine, runner] = await Promise.allSettled([secrets.preflight(refs), own.preflight([keyRef])]);
      if (mine.status === 'rejected') throw mine.reason;
      if (runner.status === 'rejected') throw runner.reason;
    });
    const digestKey = await own.resolve(keyRef);
    const session = await withDeadline('connecting to the cluster', stepMs(deps, 'cluster'), () =>
      deps.cluster.open(plan, {
        workDir,
        secrets,
        deploymentId: existing.id,
        digestKey,
        repository: existing.repository,
      }),
    );
    return { digestKey, session };
  })();
  connecting.catch(() => undefined);

  // we hold the lock, so no other run of the environment is alive: a `running` one there is dead. They
  // are marked while this one starts (neither write needs the other)
  const takeOver = (async () => {
    const environment = await deps.store.listByEnvironment(existing.repository, existing.environment, {
      limit: 50,
    });
    for (const dead of deadRuns(environment, existing.id))
      await handle(deps, { type: 'dead-run', target: dead, takenOverBy: existing.id });
  })();
  const [[started]] = await Promise.all([handle(deps, { type: 'run-started', target: existing }), takeOver]);
  if (started?.kind !== 'moved') {
    await (await connecting.catch(() => undefined))?.session.close();
    await Promise.all([
      deps.store.releaseLock(lock, deps.invocationId),
      rm(workDir, { recursive: true, force: true }),
    ]);
    return { kind: 'not-runnable', reason: 'deployment was taken or superseded meanwhile' };
  }
  let deployment: Deployment = started.deployment;

  let lostLock = false;
  const renew = setInterval(
    () => {
      deps.store.renewLock(lock, deps.invocationId, leaseMs, deps.clock.now()).then(
        (ok) => {
          if (!ok) lostLock = true;
        },
        (e) => log.warn('lock renewal failed', { err: e }),
      );
    },
    Math.max(1000, Math.floor(leaseMs / 3)),
  );
  renew.unref?.();

  let plan: EnvironmentPlan | undefined;
  let result: Extract<RunResult, { deployment: Deployment }>;
  try {
    plan = await planning;
    const { digestKey, session } = await connecting;
    try {
      deployment = await deps.store.update(
        deployment.id,
        {
          planDigest: plan.digest,
          releases: plan.releases.map((r) => ({
            name: r.name,
            namespace: r.namespace,
            status: 'pending',
            attempts: 0,
            chart: chartReference(r.chart),
          })),
        },
        deps.clock.now(),
      );
      result = await runReleases(deps, {
        deployment,
        plan,
        session,
        secrets,
        sourceDir: tree.written,
        job,
        digestKey,
        isLockLost: () => lostLock,
      });
    } finally {
      await session.close();
    }
  } catch (e) {
    const reason =
      e instanceof SecretMissingError || e instanceof HelmgateError ? e.message : describeError(e);
    log.error('deployment failed', { reason: deps.redactor.redact(reason) });
    result = await finish(deps, deployment, { outcome: 'failed', reason: deps.redactor.redact(reason) });
  } finally {
    clearInterval(renew);
  }

  await deps.store.releaseLock(lock, deps.invocationId);
  if (result.kind === 'handed-off') {
    // dispatched only now that the lock is free, or the continuation would find it taken
    await deps.dispatcher.dispatch({ deploymentId: result.deployment.id, continuation: result.continuation });
  } else if (result.kind === 'finished') {
    if (deps.finished) {
      // the waiting environments are planned from this commit whether or not this run planned it (a
      // refused plan fails them: staging failed) or wrote it to disk; a tree that cannot be read at all
      // fails their planning with why, rather than leaving them awaiting an approval that never opens
      const source = await tree.reader().catch((e: unknown) => unreadableTree(e));
      await deps.finished
        // the next environment's rendered diff is made by its own preview job, with its own credentials
        .onDeploymentFinished(result.deployment, {
          ...(plan ? { plan } : {}),
          source,
          ...(tree.isWritten() ? { sourceDir } : {}),
        })
        .catch((e) => log.error('promotion gate failed', { err: e }));
    }
    // the environment is free: its newest queued deployment runs next, older queued ones give way
    await handle(
      deps,
      { type: 'environment-free', exceptId: result.deployment.id },
      {
        environment: await deps.store.listByEnvironment(
          result.deployment.repository,
          result.deployment.environment,
          {
            limit: 50,
          },
        ),
      },
    );
  }
  return result;
}

/**
 * The commit's tree for one run: fetched once; read for planning from memory when the source holds it
 * there (RepoSource.fetchTree), else from `dir` after extraction; written to `dir` (inside the run's work
 * directory) only when `written()` is called — when a release runs, or a manifest preview renders.
 */
function commitTree(deps: RunnerDeps, d: Pick<Deployment, 'repository' | 'sha'>, workDir: string) {
  const dir = path.join(workDir, 'src');
  const source = deps.source;
  let fetched: Promise<FetchedTree> | undefined;
  let written: Promise<string> | undefined;
  let done = false;
  let reader: Promise<SourceReader> | undefined;
  const fetch = () => {
    fetched ??= withDeadline('fetching the commit', stepMs(deps, 'source'), async (signal) => {
      if (source.fetchTree) return source.fetchTree(d.repository, d.sha, { scratchDir: workDir, signal });
      await mkdir(dir, { mode: 0o700 });
      await source.extractTree(d.repository, d.sha, dir, signal);
      return { writeTo: async () => undefined };
    });
    return fetched;
  };
  const write = (): Promise<string> => {
    written ??= (async () => {
      const t = await fetch();
      await withDeadline("writing the commit's tree", stepMs(deps, 'source'), (signal) =>
        t.writeTo(dir, signal),
      );
      done = true;
      return dir;
    })();
    return written;
  };
  return {
    dir,
    written: write,
    isWritten: () => done,
    reader(): Promise<SourceReader> {
      reader ??= (async () => {
        const t = await fetch();
        if (t.reader) return t.reader;
        return directorySourceReader(await write());
      })();
      return reader;
    },
  };
}

/** A reader of a commit whose tree could not be fetched: every read fails with why. */
function unreadableTree(e: unknown): SourceReader {
  const fail = async (): Promise<never> => {
    throw e;
  };
  return { readFile: fail, exists: fail, listFiles: fail };
}

/**
 * Deploy configs parsed recently in this process, by their exact text: parsing is a pure function of
 * the text (and its path, for messages), so the same text — the same commit again, or another commit
 * that left deploy.yaml alone — is not parsed again. Each caller gets its own copy.
 */
const parsedConfigs = new Map<string, DeployConfig>();

function parseOnce(text: string, deployConfigPath: string): DeployConfig {
  const key = `${deployConfigPath}\0${text}`;
  const hit = parsedConfigs.get(key);
  if (hit) {
    // most recently used last
    parsedConfigs.delete(key);
    parsedConfigs.set(key, hit);
    return structuredClone(hit);
  }
  const config = parseDeployConfig(text, deployConfigPath);
  if (text.length > 1024 * 1024) return config;
  parsedConfigs.set(key, config);
  if (parsedConfigs.size > 8) parsedConfigs.delete(parsedConfigs.keys().next().value as string);
  return structuredClone(config);
}

/**
 * Parses the deploy config of an extracted tree, checks the environment against the operator's
 * policy (a violation throws PolicyViolationError naming the rule, before anything the commit names
 * is fetched or read) and plans it, pinning remote charts with `charts`. The plan says which policy
 * applied.
 */
export function planAt(
  sourceDir: string,
  deployConfigPath: string,
  d: Pick<Deployment, 'repository' | 'environment' | 'sha'>,
  opts: { policy: Policy; charts?: ChartDigestResolver | undefined },
): Promise<EnvironmentPlan> {
  return planFrom(directorySourceReader(sourceDir), deployConfigPath, d, opts);
}

/** `planAt` over any reader of the commit's tree (the in-memory one of RepoSource.fetchTree). */
export async function planFrom(
  reader: SourceReader,
  deployConfigPath: string,
  d: Pick<Deployment, 'repository' | 'environment' | 'sha'>,
  opts: { policy: Policy; charts?: ChartDigestResolver | undefined },
): Promise<EnvironmentPlan> {
  const text = await reader.readFile(deployConfigPath);
  if (text === undefined)
    throw new HelmgateError('invalid_deploy_config', `${deployConfigPath} does not exist at ${d.sha}`);
  const config = parseOnce(text, deployConfigPath);
  if (!config.environments[d.environment])
    throw new HelmgateError(
      'invalid_deploy_config',
      `environment ${d.environment} is not in ${deployConfigPath} at ${d.sha}`,
    );
  const check = checkPlan(opts.policy, d.repository, config, d.environment, deployConfigPath);
  if (!check.effective || check.violations.length > 0) throw new PolicyViolationError(check.violations);
  const plan = await planEnvironment({
    config,
    environment: d.environment,
    sha: d.sha,
    source: reader,
    ...(opts.charts ? { charts: opts.charts } : {}),
  });
  return {
    ...plan,
    approval: check.effective.approval,
    ...(check.effective.after !== undefined ? { after: check.effective.after } : {}),
    policy: { digest: check.effective.policyDigest, summary: check.effective.summary },
  };
}

/**
 * `offer` jobs: a deployment waiting for approval with no `after` environment is planned from its
 * commit and its approval request opened. A plan that cannot be made fails the deployment with why.
 */
async function offerApproval(deps: RunnerDeps, d: Deployment): Promise<RunResult> {
  const refused = refusal({ type: 'offer-opened', target: d }, deps.clock.now().toISOString());
  if (refused) return { kind: 'not-runnable', reason: refused };
  if (!deps.finished) return { kind: 'not-runnable', reason: 'no approval service configured' };
  const workDir = await mkdtemp(path.join(deps.workRoot, 'offer-'));
  try {
    const sourceDir = path.join(workDir, 'src');
    await mkdir(sourceDir, { mode: 0o700 });
    await withDeadline('fetching the commit', stepMs(deps, 'source'), (signal) =>
      deps.source.extractTree(d.repository, d.sha, sourceDir, signal),
    );
    const plan = await withDeadline('planning', stepMs(deps, 'plan'), () =>
      planAt(sourceDir, deps.deployConfigPath, d, deps),
    );
    const manifests = await previewManifests(deps, plan, { sourceDir, deployment: d });
    await deps.finished.offer(d.id, { plan, ...(manifests ? { manifests } : {}) });
    return { kind: 'waiting', reason: 'approval offered' };
  } catch (e) {
    const reason = deps.redactor.redact(e instanceof HelmgateError ? e.message : describeError(e));
    deps.logger.error('could not plan the deployment for approval', { deploymentId: d.id, reason });
    const [blocked] = await handle(deps, {
      type: 'unplannable',
      target: d,
      reason: `cannot plan for approval: ${reason}`,
    });
    return blocked?.kind === 'moved'
      ? { kind: 'finished', deployment: blocked.deployment }
      : { kind: 'not-runnable', reason: 'deployment changed meanwhile' };
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

async function runReleases(
  deps: RunnerDeps,
  ctx: {
    deployment: Deployment;
    plan: EnvironmentPlan;
    session: ClusterSession;
    secrets: SecretResolver;
    /** the commit's tree on disk, written on the first call (a no-op run never writes it) */
    sourceDir: () => Promise<string>;
    job: DeployJob;
    digestKey: string;
    isLockLost: () => boolean;
  },
): Promise<Extract<RunResult, { deployment: Deployment }>> {
  const { plan, session } = ctx;
  let deployment = ctx.deployment;
  const results = new Map<string, ReleaseResult>(
    plan.releases.map((r) => [
      r.name,
      {
        name: r.name,
        namespace: r.namespace,
        status: 'pending',
        attempts: 0,
        chart: chartReference(r.chart),
      },
    ]),
  );
  const byName = new Map(plan.releases.map((r) => [r.name, r]));
  // releases that reached the cluster and failed there (helm or health): policy `rollback` applies
  const clusterFailed = new Set<string>();
  // failed upgrades undone after their diagnosis, for the deployment's reason
  const undoSteps: RollbackStep[] = [];
  const margin = deps.safetyMarginMs ?? 60_000;
  const deadline = deps.clock.now().getTime() + deps.remainingTimeMs() - margin;
  const force = deps.force ?? deployment.force ?? false;
  let writes = Promise.resolve();
  const record = (r: ReleaseResult) => {
    results.set(r.name, r);
    // results are written in order, one at a time; a failing write is logged and the next write carries the state
    writes = writes
      .then(async () => {
        deployment = await deps.store.update(
          deployment.id,
          { releases: [...results.values()] },
          deps.clock.now(),
        );
      })
      .catch((e) =>
        deps.logger.warn('recording release result failed', { deploymentId: deployment.id, err: e }),
      );
  };

  // skip-unchanged reads the cluster ONCE for the whole environment (not a `helm status` per release), and
  // what helmgate recorded for every release at once, while the Kubernetes Secrets are synced
  const [, known] = await Promise.all([
    session.mode === 'deploy'
      ? withDeadline('syncing Kubernetes Secrets', stepMs(deps, 'syncSecrets'), () =>
          session.syncSecrets(plan),
        )
      : undefined,
    !force && session.mode === 'deploy' ? knownStates(deps, deployment, plan, session) : undefined,
  ]);
  const prepared = new Map(
    await Promise.all(
      plan.releases.map(async (release) => {
        const secretValues = await Promise.all(
          release.secretValues.map(async (s) => ({ path: s.path, value: await ctx.secrets.resolve(s.ref) })),
        );
        const digest = releaseStateDigest(release, secretValues, ctx.digestKey);
        const skip = skipDecision({
          force: known === undefined,
          digest,
          recorded: known?.recorded.get(release.name),
          live: known?.live.get(releaseKey(release.namespace, release.name)),
        });
        return [release.name, { secretValues, digest, skip }] as const;
      }),
    ),
  );
  // the tree goes to disk (for helm) only now that a release is known to run
  if (session.mode !== 'deploy' || [...prepared.values()].some((p) => !p.skip.skip))
    ctx.sourceDir().catch(() => undefined);
  // unchanged releases are settled before anything runs: one write (with the first result, or the
  // finish) instead of one per release
  for (const [name, p] of prepared) {
    const release = byName.get(name) as PlannedRelease;
    if (p.skip.skip)
      results.set(name, {
        name,
        namespace: release.namespace,
        status: 'skipped',
        reason: 'unchanged',
        revision: p.skip.revision,
        attempts: 0,
        durationMs: 0,
        chart: chartReference(release.chart),
      });
    else if (p.skip.why === 'drifted')
      deps.logger.warn('release drifted from what helmgate deployed; deploying it again', {
        deploymentId: deployment.id,
        release: name,
        detail: p.skip.detail,
      });
  }

  const dag = await runDag(
    plan.releases.map((r) => ({ name: r.name, needs: r.needs })),
    async (name): Promise<NodeOutcome> => {
      const release = byName.get(name) as PlannedRelease;
      const { secretValues, digest, skip } = prepared.get(name) as NonNullable<
        ReturnType<typeof prepared.get>
      >;
      if (skip.skip) return 'skipped';
      const started = deps.clock.now().getTime();
      if (ctx.isLockLost()) {
        record({
          ...(results.get(name) as ReleaseResult),
          status: 'failed',
          reason: 'environment lock lost',
        });
        return 'failed';
      }
      const stateId = releaseStateId(deployment, release.name);
      record({ ...(results.get(name) as ReleaseResult), status: 'running' });
      let sourceDir: string;
      try {
        sourceDir = await ctx.sourceDir();
      } catch (e) {
        const why = e instanceof HelmgateError ? e.message : describeError(e);
        record({
          ...(results.get(name) as ReleaseResult),
          status: 'failed',
          reason: deps.redactor.redact(`the commit's tree could not be written for helm: ${why}`),
        });
        return 'failed';
      }
      const out = await session.runRelease(release, { sourceDir, secretValues, deadline });
      const base: ReleaseResult = {
        name,
        namespace: release.namespace,
        status: out.status === 'deferred' ? 'pending' : out.status,
        attempts: out.attempts,
        durationMs: deps.clock.now().getTime() - started,
        chart: chartReference(release.chart),
        ...(out.revision !== undefined ? { revision: out.revision } : {}),
        ...(out.reason ? { reason: deps.redactor.redact(out.reason) } : {}),
        ...(out.errorTail ? { errorTail: deps.redactor.redact(out.errorTail) } : {}),
        ...(out.tests ? { tests: out.tests } : {}),
        ...(out.diagnosis ? { diagnosis: out.diagnosis } : {}),
        ...(out.undone?.outcome === 'rolled-back' ? { rolledBackTo: out.undone.to } : {}),
        ...(out.undone?.outcome === 'uninstalled' ? { uninstalled: true } : {}),
      };
      if (out.failure) clusterFailed.add(name);
      if (out.undone) undoSteps.push(undoStep(name, out.undone));
      if (out.status === 'deferred') base.reason = 'handed to a fresh invocation (time limit)';
      record(base);
      if (out.status === 'succeeded' && out.revision !== undefined)
        await deps.store.putItem(RELEASE_STATE, stateId, {
          digest,
          revision: out.revision,
          deploymentId: deployment.id,
          at: deps.clock.now().toISOString(),
        });
      return out.status;
    },
    { concurrency: deps.concurrency ?? 4 },
  );
  for (const [name, outcome] of dag.outcomes) {
    if (outcome === 'cancelled') {
      const r = results.get(name) as ReleaseResult;
      const blocker = dag.blockedBy.get(name) ?? 'a dependency';
      const blockerOutcome = dag.outcomes.get(blocker);
      record({
        ...r,
        status: blockerOutcome === 'deferred' ? 'pending' : 'cancelled',
        reason:
          blockerOutcome === 'deferred'
            ? `waits for ${blocker} (handed off)`
            : `dependency ${blocker} failed`,
      });
    }
  }
  await writes;

  const outcomes = [...dag.outcomes.entries()];
  const deferred = outcomes.some(([, o]) => o === 'deferred');
  const failedNames = outcomes.filter(([, o]) => o === 'failed').map(([n]) => n);
  if (deferred && failedNames.length === 0) {
    const continuation = (ctx.job.continuation ?? 0) + 1;
    const [handed] = await handle(
      deps,
      { type: 'hand-off', target: deployment, continuation, releases: [...results.values()] },
      {},
      { holdDispatch: true },
    );
    return { kind: 'handed-off', deployment: settled(handed, deployment), continuation };
  }
  const releases = [...results.values()];
  if (failedNames.length > 0 || outcomes.some(([, o]) => o === 'cancelled')) {
    const reasons = failedNames.map((n) => `${n}: ${results.get(n)?.reason ?? 'failed'}`);
    // the diagnosis is already recorded (collected inside runRelease, before a failed upgrade was undone
    // there): only now is the rest of the environment rolled back, by the policy
    const envSteps =
      clusterFailed.size > 0 && session.mode === 'deploy' ? await rollbackOnFailure(deps, ctx, results) : [];
    const steps = [...undoSteps, ...envSteps];
    const rolledBack = steps.length > 0 ? describeRollback(steps) : '';
    return finish(deps, deployment, {
      outcome: 'failed',
      releases: [...results.values()],
      // the rollback summary leads: it must survive the length bound
      reason: deps.redactor
        .redact(`${rolledBack ? `${rolledBack}. ` : ''}release(s) failed: ${reasons.join('; ')}`)
        .slice(0, 1000),
    });
  }
  const final = session.mode === 'render' ? 'rendered' : 'succeeded';
  // releases removed from deploy.yaml go only after everything in it deployed, and only as the policy
  // and the approval allow (lib/deploy/prune.ts)
  const pruned =
    session.mode === 'deploy'
      ? await pruneRemoved(deps, {
          deployment,
          plan,
          session,
          stateKind: RELEASE_STATE,
          // nothing ran (a no-op): the snapshot read with the release states a moment ago is current
          ...(known && outcomes.every(([, o]) => o === 'skipped') ? { snapshot: known.planSnapshot } : {}),
        })
      : [];
  const pruneFailed = pruned.filter((r) => r.status === 'failed');
  if (pruneFailed.length > 0)
    return finish(deps, deployment, {
      outcome: 'failed',
      releases: [...releases, ...pruned],
      reason: pruneFailed
        .map((r) => `${r.name}: ${r.reason}`)
        .join('; ')
        .slice(0, 1000),
    });
  return finish(deps, deployment, {
    outcome: final,
    releases: [...releases, ...pruned],
    ...(final === 'rendered'
      ? { reason: 'rendered only: no cluster configured (helm template), nothing was deployed' }
      : ctx.job.continuation
        ? // replaces the "continuing in invocation n" of the hand-off
          {
            reason: `finished in invocation ${ctx.job.continuation + 1} (handed off near Lambda's time limit)`,
          }
        : deployment.freezeOverride
          ? // replaces the "overridden … starts now" it was dispatched with
            {
              reason: `started inside the ${describeOverride(deployment.freezeOverride)}`.slice(0, 1000),
            }
          : deployment.frozenUntil
            ? // replaces the "frozen until" it waited with
              { reason: `started when the freeze ended (${deployment.frozenUntil})` }
            : {}),
  });
}

/** A failed upgrade's undo (helm-cluster.ts), as a step of the deployment's rollback summary. */
function undoStep(release: string, undone: NonNullable<ReleaseOutcome['undone']>): RollbackStep {
  if (undone.outcome === 'rolled-back') return { release, to: undone.to, outcome: 'rolled-back' };
  if (undone.outcome === 'uninstalled') return { release, outcome: 'uninstalled' };
  if (undone.outcome === 'left') return { release, outcome: 'left', reason: undone.reason };
  return {
    release,
    ...(undone.to !== undefined ? { to: undone.to } : {}),
    outcome: 'failed',
    reason: undone.reason,
  };
}

/**
 * Policy `rollback` (issue 13, item 3): after a release failed in the cluster (its health check, or its
 * helm upgrade — itself already undone), every other release this deployment changed goes back to the
 * revision that ran before, dependents first. Returns the steps ([] under `keep`), and marks each release
 * result with the revision it returned to.
 */
async function rollbackOnFailure(
  deps: RunnerDeps,
  ctx: { deployment: Deployment; plan: EnvironmentPlan; session: ClusterSession },
  results: Map<string, ReleaseResult>,
): Promise<RollbackStep[]> {
  const env = environmentPolicy(deps.policy, ctx.deployment.repository, ctx.deployment.environment);
  if (!env || rollbackOnHealthFailure(env) === 'keep') return [];
  const changed = new Map<string, number>();
  for (const r of results.values())
    if ((r.status === 'succeeded' || r.status === 'failed') && r.revision !== undefined)
      changed.set(r.name, r.revision);
  const steps = await rollbackEnvironment({
    session: ctx.session,
    releases: ctx.plan.releases,
    changed,
    // a rollback is worth finishing even near the limit: helm gets at least its minimum
    deadline: deps.clock.now().getTime() + Math.max(60_000, deps.remainingTimeMs() - 10_000),
    logger: deps.logger.child({ deploymentId: ctx.deployment.id }),
  });
  for (const s of steps)
    if (s.outcome === 'rolled-back' && s.to !== undefined) {
      const r = results.get(s.release);
      if (r) results.set(s.release, { ...r, rolledBackTo: s.to });
    }
  return steps;
}

/** The deployment after a move: the moved one, or (lost write) what it is now, or what we had. */
function settled(a: Applied | undefined, fallback: Deployment): Deployment {
  return (a ? movedOrCurrent([a]) : undefined) ?? fallback;
}

/** running → succeeded / rendered / failed, through the lifecycle. */
async function finish(
  deps: RunnerDeps,
  deployment: Deployment,
  input: {
    outcome: 'succeeded' | 'rendered' | 'failed';
    reason?: string;
    releases?: ReleaseResult[];
  },
): Promise<{ kind: 'finished'; deployment: Deployment }> {
  const [done] = await handle(deps, { type: 'run-finished', target: deployment, ...input });
  return { kind: 'finished', deployment: settled(done, deployment) };
}
