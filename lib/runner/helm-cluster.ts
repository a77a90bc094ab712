import { mkdir, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Clock } from '../clock';
import type { ReleaseDiagnosis } from '../deploy/diagnosis';
import type { ObjectDrift } from '../deploy/drift';
import type { EnvironmentPlan, PlannedRelease } from '../deploy/plan';
import { failedHooks } from '../deploy/release-tests';
import { describeError, HelmgateError } from '../errors';
import type { CommandRunner } from '../exec/command-runner';
import { resolveInTree, UnsafeSourceError, verifyTree } from '../github/source-tree';
import { sha256File } from '../helm/chart-cache';
import type { HelmChartSource, HelmConnection } from '../helm/helm-args';
import { createHelmRunner, type HelmRunner } from '../helm/helm-runner';
import { deployRelease, type RetryPolicy, renderRelease, undoFailedUpgrade } from '../helm/release-deployer';
import { type ReleaseStates, releaseKey } from '../helm/release-states';
import { guardFor, type OutboundFor, type OutboundGuard, OutboundRefusedError } from '../http/outbound-guard';
import type { Logger } from '../log/logger';
import type { Redactor } from '../log/redact';
import type { SecretResolver } from '../secrets/secrets-provider';
import { withDeadline } from './deadline';
import { runReleaseTests } from './release-tests';
import type { ClusterConnector, ClusterSession, ReleaseOutcome } from './runner';

/** One Kubernetes Secret to create or update, with its values resolved. */
export interface KubeSecretWrite {
  namespace: string;
  name: string;
  data: Record<string, string>;
  restart: Array<{ kind: 'Deployment' | 'StatefulSet' | 'DaemonSet'; name: string }>;
}

export type HealthResult = { healthy: true } | { healthy: false; reason: string };

/** What the runner needs from the Kubernetes API besides helm (lib/kube implements it). */
export interface KubeOps {
  syncSecrets(secrets: KubeSecretWrite[]): Promise<unknown>;
  checkHealth(input: {
    namespace: string;
    release: string;
    workloads: boolean;
    http: Array<{ url: string; expectStatus: number }>;
    timeoutMs: number;
  }): Promise<HealthResult>;
  /**
   * The failing pods' states, events and log tails (issue 13), redacted with `redact`; called when a
   * release failed, before anything is rolled back.
   */
  diagnose?(input: {
    namespace: string;
    release: string;
    /** failed `helm test` hooks: their pods are diagnosed first */
    testPods?: readonly string[];
    redact: (text: string) => string;
  }): Promise<ReleaseDiagnosis>;
  /** what helm runs now per release (`namespace/name`), from one read; absent: one `helm list` instead */
  releaseStates?(namespaces: readonly string[]): Promise<ReleaseStates>;
  /** the raw manifest of one revision from helm's release record, without a helm process (drift) */
  releaseManifest?(input: {
    namespace: string;
    release: string;
    revision: number;
  }): Promise<string | undefined>;
  /** the live objects of a deployed manifest that differ from it, each masked with `mask` first (drift) */
  releaseDrift?(input: {
    namespace: string;
    deployed: readonly unknown[];
    mask: (live: Record<string, unknown>) => Record<string, unknown>;
  }): Promise<ObjectDrift[]>;
}

/** How a session reaches the cluster: helm's connection plus the Kubernetes client side. */
export interface ClusterAccess {
  helm: HelmConnection;
  kube: KubeOps;
  /** extra helm upgrade flags (tests: `--disable-openapi-validation` for the loopback stand-in) */
  upgradeFlags?: string[];
  /**
   * What must be on disk before helm first runs (the kubeconfig file `helm` names): done on the first
   * helm command, so a session that runs none (a no-op redeploy) writes nothing.
   */
  prepareHelm?: () => Promise<void>;
}

/** Where a remote chart archive comes from before helm is asked to download it. */
export interface ChartLookup {
  lookup(chart: { url: string; name: string; version: string }): Promise<string | undefined>;
  /** the recorded repository digest (needed to use a cached OCI chart) */
  digestOf?(chart: { url: string; name: string; version: string }): Promise<string | undefined>;
}

export interface HelmClusterOptions {
  helmBin: string;
  commandRunner: CommandRunner;
  redactor: Redactor;
  clock: Clock;
  logger: Logger;
  /**
   * Resolves the cluster for a plan (AWS: the plan's cluster secret → kubeconfig; locally: $KUBECONFIG).
   * Absent: render-only — `helm template` into `renderRoot/<deployment>/<release>/`, nothing deployed.
   */
  access?: (
    plan: EnvironmentPlan,
    ctx: { workDir: string; secrets: SecretResolver; digestKey: string },
  ) => Promise<ClusterAccess>;
  renderRoot?: string;
  /** false when `access` does not use the plan's cluster secret (a local KUBECONFIG); default true */
  readsClusterSecret?: boolean;
  chartCache?: ChartLookup;
  /**
   * Where chart repositories may be fetched from (issue 12): the repository URL's host is resolved and
   * checked before helm is asked to pull. Default: public unicast addresses only.
   */
  outbound?: OutboundFor;
  sleep?: (ms: number) => Promise<void>;
  retry?: Partial<RetryPolicy>;
  /**
   * A release whose helm upgrade fails is undone by the runner, as helm's `--rollback-on-failure` did, but
   * only after its failing pods were read (issue 13, item 2): back to the revision that ran before, a failed
   * first install uninstalled (lib/helm/release-deployer.ts undoFailedUpgrade). Helm is then run with
   * `--wait` (watcher), as that flag implied, so a revision that never becomes ready fails helm. Default true.
   */
  rollbackOnFailure?: boolean;
  /**
   * Time kept back from each helm attempt for the diagnosis and the undo after it fails (ms); default
   * UNDO_RESERVE_MS. Part of the deadline logic: a failed upgrade must still be rolled back in this
   * invocation.
   */
  undoReserveMs?: number;
  /** an attempt that cannot get this much helm `--timeout` is handed off; default 30 (tests: less) */
  minAttemptSeconds?: number;
  /** `--wait` on upgrades. Default false: the health checks below do the waiting, with reasons. */
  wait?: boolean;
  baseEnv?: Readonly<Record<string, string | undefined>>;
}

const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Kept back from a helm attempt for what follows its failure: the diagnosis (≤ 30 s), then the undo. */
export const UNDO_RESERVE_MS = 60_000;

/**
 * How long the diagnosis and the undo of a failed upgrade may take, from what is left before `deadline`
 * (the runner's; its safety margin before Lambda's limit lies beyond it). The diagnosis gets a third of
 * what is left (5–30 s). The rollback's `--timeout` is what is left less 10 s, between 10 s and the
 * release's timeout (it runs without `--wait`, so that only bounds hooks), and its process gets 10 s more:
 * even started past the deadline it ends within 20 s, inside the runner's margin (60 s).
 */
export function undoBudget(opts: { deadline: number; now: number; timeoutSeconds: number }): {
  diagnoseMs: number;
  rollback: { timeoutSeconds: number; processTimeoutMs: number };
} {
  const left = opts.deadline - opts.now;
  const timeoutSeconds = Math.max(10, Math.min(opts.timeoutSeconds, Math.floor(left / 1000) - 10));
  return {
    diagnoseMs: Math.max(5_000, Math.min(30_000, Math.floor(left / 3))),
    rollback: { timeoutSeconds, processTimeoutMs: timeoutSeconds * 1000 + 10_000 },
  };
}

/**
 * The ClusterConnector over the real helm binary: pulls pinned charts (from the image's chart cache when
 * name, version and digest match), runs `upgrade --install` with recovery and retries, then the release's
 * health checks; or renders only when no cluster is configured.
 */
export function helmClusterConnector(opts: HelmClusterOptions): ClusterConnector {
  return {
    readsClusterSecret: opts.access !== undefined && opts.readsClusterSecret !== false,
    async open(plan, ctx): Promise<ClusterSession> {
      const homeDir = path.join(ctx.workDir, 'helm-home');
      const chartsDir = path.join(ctx.workDir, 'charts');
      const access = opts.access ? await opts.access(plan, ctx) : undefined;
      // helm's directories (and the kubeconfig it reads) are made before the first helm command, not when
      // the session opens: a session that runs none — a no-op redeploy — writes nothing to remove again
      let prepared: Promise<unknown> | undefined;
      const prepare = () => {
        prepared ??= Promise.all([
          mkdir(homeDir, { recursive: true, mode: 0o700 }),
          mkdir(chartsDir, { recursive: true, mode: 0o700 }),
          access?.prepareHelm?.(),
        ]).catch((e: unknown) => {
          // the next command tries again
          prepared = undefined;
          throw e;
        });
        return prepared;
      };
      const helm = createHelmRunner({
        commandRunner: afterFirst(prepare, opts.commandRunner),
        helmBin: opts.helmBin,
        homeDir,
        redactor: opts.redactor,
        ...(access ? { connection: access.helm } : {}),
        ...(access?.upgradeFlags ? { upgradeFlags: access.upgradeFlags } : {}),
        ...(opts.baseEnv ? { baseEnv: opts.baseEnv } : {}),
      });
      const charts = chartFetcher(
        helm,
        chartsDir,
        opts.chartCache,
        guardFor(opts.outbound, plan.environment),
      );
      const log = opts.logger.child({ deploymentId: ctx.deploymentId });

      if (!access) {
        const renderRoot = opts.renderRoot;
        if (!renderRoot) throw new HelmgateError('internal', 'render-only mode needs a render directory');
        return {
          mode: 'render',
          async releaseStatus() {
            return undefined;
          },
          async releaseStates() {
            return new Map();
          },
          async syncSecrets() {},
          async runRelease(release, input) {
            const started = opts.clock.now().getTime();
            const chart = await charts.resolve(release, input.sourceDir);
            if ('failure' in chart) return { status: 'failed', attempts: 1, reason: chart.failure };
            const outputDir = path.join(renderRoot, ctx.deploymentId, release.name);
            const r = await renderRelease(
              { helm, clock: opts.clock },
              { ...helmInput(release, chart.source, input), outputDir },
            );
            log.info('release rendered', {
              release: release.name,
              outputDir,
              ms: opts.clock.now().getTime() - started,
            });
            return outcome(r);
          },
          async close() {},
        };
      }

      return {
        mode: 'deploy',
        async releaseStatus(release) {
          const s = await helm.status(release.name, release.namespace);
          return s ? { status: s.status, revision: s.revision } : undefined;
        },
        async rollbackRelease(release, revision, deadline) {
          const seconds = Math.max(
            30,
            Math.min(release.timeoutSeconds, Math.floor((deadline - opts.clock.now().getTime()) / 1000)),
          );
          await helm.rollback(release.name, release.namespace, revision, {
            timeoutSeconds: seconds,
            processTimeoutMs: seconds * 1000 + 10_000,
          });
        },
        async releaseStates(releases) {
          if (access.kube.releaseStates)
            return access.kube.releaseStates([...new Set(releases.map((r) => r.namespace))]);
          const all = await helm.list();
          return new Map(
            all.map((r) => [releaseKey(r.namespace, r.name), { status: r.status, revision: r.revision }]),
          );
        },
        async syncSecrets(p) {
          if (p.kubernetesSecrets.length === 0) return;
          const writes: KubeSecretWrite[] = [];
          for (const s of p.kubernetesSecrets) {
            const data: Record<string, string> = {};
            for (const d of s.data) data[d.key] = await ctx.secrets.resolve(d.ref);
            writes.push({ namespace: s.namespace, name: s.name, data, restart: s.restart });
          }
          await access.kube.syncSecrets(writes);
        },
        async driftOf(r, revision) {
          const releaseDrift = access.kube.releaseDrift?.bind(access.kube);
          const mask = helm.redactLiveObjects?.bind(helm);
          if (!releaseDrift || !mask || !helm.getManifestObjects)
            throw new HelmgateError('internal', 'this cluster session cannot compare live objects');
          // the manifest of the revision helmgate deployed, read from helm's record in this process and
          // parsed-then-redacted at once (no helm process per release); without that read, or when the
          // revision left helm's history: `helm get manifest` (of the revision, else the newest)
          const fromRecord =
            revision !== undefined && access.kube.releaseManifest && helm.parseManifestObjects
              ? await access.kube.releaseManifest({ namespace: r.namespace, release: r.name, revision })
              : undefined;
          const deployed =
            (fromRecord !== undefined ? helm.parseManifestObjects?.(fromRecord) : undefined) ??
            (revision !== undefined
              ? await helm.getManifestObjects(r.name, r.namespace, revision)
              : undefined) ??
            (await helm.getManifestObjects(r.name, r.namespace));
          if (!deployed) return undefined;
          return releaseDrift({
            namespace: r.namespace,
            deployed,
            mask: (live) => mask([live])[0] as Record<string, unknown>,
          });
        },
        async uninstallRelease(r) {
          await helm.uninstall(r.name, r.namespace, { timeoutSeconds: 300 });
        },
        async renderManifests(release, input) {
          const chart = await charts.resolve(release, input.sourceDir);
          if ('failure' in chart) throw new HelmgateError('helm_failed', chart.failure);
          if (!helm.getManifestObjects || !helm.templateObjects)
            throw new HelmgateError('internal', 'this helm runner cannot render manifests');
          const [live, proposed] = await Promise.all([
            helm.getManifestObjects(release.name, release.namespace),
            helm.templateObjects(helmInput(release, chart.source, input)),
          ]);
          return { live, proposed };
        },
        async runRelease(release, input) {
          const chart = await charts.resolve(release, input.sourceDir);
          if ('failure' in chart) return { status: 'failed', attempts: 1, reason: chart.failure };
          const undo = opts.rollbackOnFailure ?? true;
          const r = await deployRelease(
            {
              helm,
              clock: opts.clock,
              sleep: opts.sleep ?? delay,
              logger: log,
              ...(opts.retry ? { retry: opts.retry } : {}),
              ...(opts.minAttemptSeconds !== undefined ? { minAttemptSeconds: opts.minAttemptSeconds } : {}),
            },
            {
              ...helmInput(release, chart.source, input),
              timeoutSeconds: release.timeoutSeconds,
              // helm waits for the workloads, as `--rollback-on-failure` made it: not ready in time fails helm
              wait: opts.wait ?? undo,
              // what follows a failure (diagnosis, undo) must still fit before the deadline
              deadline: input.deadline - (undo ? (opts.undoReserveMs ?? UNDO_RESERVE_MS) : 0),
            },
          );
          const out = outcome(r);
          if (r.recovered)
            log.warn('stuck release recovered before the upgrade', { release: release.name, ...r.recovered });
          /** what the cluster shows about the failure, collected now: before any rollback (issue 13) */
          const budget = () =>
            undoBudget({
              deadline: input.deadline,
              now: opts.clock.now().getTime(),
              timeoutSeconds: release.timeoutSeconds,
            });
          const diagnosed = async (o: ReleaseOutcome): Promise<ReleaseOutcome> => {
            const diagnose = access.kube.diagnose?.bind(access.kube);
            if (!diagnose) return o;
            const diagnosis = await withDeadline(`diagnosing ${release.name}`, budget().diagnoseMs, () =>
              diagnose({
                namespace: release.namespace,
                release: release.name,
                // a failed `helm test`: its failing hooks' pods first (issue 13, item 8)
                ...(o.tests ? { testPods: failedHooks(o.tests).map((h) => h.name) } : {}),
                redact: (t) => opts.redactor.redact(t),
              }),
            ).catch((e) => {
              log.warn('diagnosis failed', { release: release.name, err: e });
              return undefined;
            });
            // a helm error with no failing pods (a template or API error) needs no "no failing pods found"
            const empty = diagnosis && diagnosis.pods.length === 0 && !diagnosis.error;
            return diagnosis && !(empty && o.failure === 'helm') ? { ...o, diagnosis } : o;
          };
          if (out.status === 'failed') {
            // the evidence first, then the undo: rolling back replaces the failing pods, and their logs with them
            const failed = await diagnosed({ ...out, failure: 'helm' });
            if (!undo || r.before === undefined || r.beforeLastAttempt === undefined) return failed;
            const undone = await undoFailedUpgrade(
              { helm },
              {
                release: release.name,
                namespace: release.namespace,
                before: r.before,
                beforeLastAttempt: r.beforeLastAttempt,
                ...budget().rollback,
              },
            );
            if (undone.outcome === 'left')
              log.warn('failed upgrade not undone: the release has a revision it did not write', {
                release: release.name,
                reason: undone.reason,
              });
            else if (undone.outcome === 'failed')
              log.error('undoing the failed upgrade failed', {
                release: release.name,
                reason: undone.reason,
              });
            else if (undone.outcome !== 'unchanged')
              log.warn('failed upgrade undone after its diagnosis', { release: release.name, ...undone });
            return undone.outcome === 'unchanged' ? failed : { ...failed, undone };
          }
          if (out.status !== 'succeeded') return out;
          const { health } = release;
          /**
           * `helm test` once ready and healthy, when declared (issue 13, item 8): a failure fails the release
           * as a failed check does (diagnosis of the failing test pods first, then the policy's rollback)
           */
          const tested = async (o: ReleaseOutcome): Promise<ReleaseOutcome> => {
            if (!release.health.helmTest) return o;
            const tests = await runReleaseTests(
              { helm, clock: opts.clock, redactor: opts.redactor, sleep: opts.sleep ?? delay },
              { release, deadline: input.deadline },
            );
            log.info('helm test finished', {
              release: release.name,
              outcome: tests.outcome,
              hooks: tests.hooks.length,
              ms: tests.durationMs,
            });
            if (tests.outcome === 'passed') return { ...o, tests };
            return diagnosed({
              ...o,
              status: 'failed',
              failure: 'health',
              reason: opts.redactor.redact(`helm test failed: ${tests.reason ?? 'a test hook failed'}`),
              tests,
            });
          };
          if (!health.workloads && health.http.length === 0) return tested(out);
          const timeoutMs = Math.max(
            5_000,
            Math.min(release.timeoutSeconds * 1000, input.deadline - opts.clock.now().getTime()),
          );
          // the checks poll until timeoutMs; the deadline also bounds a Kubernetes API call that never answers
          const h = await withDeadline(`health checks of ${release.name}`, timeoutMs + 30_000, () =>
            access.kube.checkHealth({
              namespace: release.namespace,
              release: release.name,
              workloads: health.workloads,
              http: health.http,
              timeoutMs,
            }),
          ).catch((e): HealthResult => ({ healthy: false, reason: describeError(e) }));
          if (h.healthy) return tested(out);
          return diagnosed({
            ...out,
            status: 'failed',
            failure: 'health',
            reason: opts.redactor.redact(`health check failed: ${h.reason}`),
          });
        },
        async close() {},
      };
    },
  };
}

/** Every helm process waits for `prepare()` (it runs once; later processes reuse it). */
function afterFirst(prepare: () => Promise<unknown>, runner: CommandRunner): CommandRunner {
  return {
    async run(command, args, opts) {
      await prepare();
      return runner.run(command, args, opts);
    },
  };
}

/**
 * Why the release's local chart directory or values files may not be given to helm (a link out of the
 * tree, a FIFO, a device), or undefined when they are closed (issue 12, source-tree.ts).
 */
async function closedInputs(release: PlannedRelease, sourceDir: string): Promise<string | undefined> {
  try {
    if (release.chart.kind === 'local') {
      const dir = await resolveInTree(sourceDir, release.chart.path);
      if (dir === undefined) return `chart directory ${release.chart.path} does not exist`;
      await verifyTree(sourceDir, path.relative(await realpath(sourceDir), dir));
    }
    for (const f of release.valuesFiles) {
      const real = await resolveInTree(sourceDir, f.path);
      if (real !== undefined && !(await stat(real)).isFile())
        throw new UnsafeSourceError(f.path, 'is not a regular file');
    }
    return undefined;
  } catch (e) {
    if (e instanceof UnsafeSourceError) return e.message;
    throw e;
  }
}

function helmInput(
  release: PlannedRelease,
  chart: HelmChartSource,
  input: { sourceDir: string; secretValues: Array<{ path: string; value: string }> },
) {
  return {
    release: release.name,
    namespace: release.namespace,
    chart,
    valuesFiles: release.valuesFiles.map((f) => path.join(input.sourceDir, f.path)),
    secretValues: input.secretValues,
  };
}

function outcome(r: {
  status: 'succeeded' | 'failed' | 'deferred' | 'rendered';
  revision?: number;
  attempts: number;
  reason?: string;
  errorTail?: string;
}): ReleaseOutcome {
  return {
    status: r.status,
    attempts: r.attempts,
    ...(r.revision !== undefined ? { revision: r.revision } : {}),
    ...(r.reason ? { reason: r.reason } : {}),
    ...(r.errorTail ? { errorTail: r.errorTail } : {}),
  };
}

/**
 * Local charts are directories of the extracted commit; remote charts come from the chart cache when it
 * has the exact archive, else one `helm pull` per chart per session (shared by releases using it). A
 * chart that cannot be fetched fails the releases that use it, with a reason that says so.
 */
function chartFetcher(
  helm: HelmRunner,
  dir: string,
  cache: ChartLookup | undefined,
  outbound: OutboundGuard,
) {
  const pulls = new Map<string, Promise<{ source: HelmChartSource } | { failure: string }>>();
  return {
    async resolve(
      release: PlannedRelease,
      sourceDir: string,
    ): Promise<{ source: HelmChartSource } | { failure: string }> {
      const c = release.chart;
      if (c.kind === 'local') {
        // helm follows links inside a chart: it only gets a directory whose every entry stays in the tree
        const closed = await closedInputs(release, sourceDir);
        if (closed) return { failure: closed };
        return { source: { kind: 'local', path: path.join(sourceDir, c.path) } };
      }
      const closed = await closedInputs(release, sourceDir);
      if (closed) return { failure: closed };
      const key = `${c.url}\0${c.name}\0${c.version}\0${c.digest ?? ''}`;
      let p = pulls.get(key);
      if (!p) {
        const oci = c.url.startsWith('oci:');
        const ref = { url: c.url, name: c.name, version: c.version };
        /** the chart's digest, as this archive (https) or helm's report (OCI) shows it */
        const digestOf = async (file: string, reported: string | undefined) =>
          oci ? reported : `sha256:${await sha256File(file)}`;
        p = (async () => {
          const cached = await cache?.lookup(ref);
          if (cached) {
            const cachedDigest = oci ? await cache?.digestOf?.(ref) : await digestOf(cached, undefined);
            // a cache entry of another digest is not the planned chart: pull, and check what arrives
            if (c.digest === undefined || cachedDigest === c.digest)
              return { source: { kind: 'local', path: cached } as HelmChartSource };
          }
          let pulled: { file: string; reportedDigest?: string };
          try {
            // helm resolves and connects itself: the host is checked here, before it is asked to
            await outbound.check(c.url);
          } catch (e) {
            if (e instanceof OutboundRefusedError)
              return { failure: `chart repository ${c.url}: ${e.message}` };
            throw e;
          }
          try {
            const destination = path.join(dir, String(pulls.size));
            await mkdir(destination, { recursive: true, mode: 0o700 });
            pulled = await helm.pullChart({ repoUrl: c.url, name: c.name, version: c.version, destination });
          } catch (e) {
            return {
              failure: `chart ${c.name} ${c.version} could not be fetched from ${c.url} (not in the chart cache; ${describeError(e)})`,
            };
          }
          if (c.digest !== undefined) {
            const got = await digestOf(pulled.file, pulled.reportedDigest);
            if (got !== c.digest)
              return {
                failure: `chart ${c.name} ${c.version} from ${c.url} is not the planned chart: its digest is ${got ?? 'unknown (helm reported none)'}, the plan (and its approval) pinned ${c.digest}; refusing to deploy it`,
              };
          }
          return { source: { kind: 'local', path: pulled.file } as HelmChartSource };
        })();
        pulls.set(key, p);
      }
      return p;
    },
  };
}
