import { createHash } from 'node:crypto';
import { isMap, LineCounter, parseDocument } from 'yaml';
import { describeRef, type SecretRef } from '../secrets/secrets-provider';
import { canonicalJson } from './canonical';
import { type ClusterRef, copyClusterRef } from './cluster-ref';
import {
  type ApprovalMode,
  type DeployConfig,
  DeployConfigError,
  type DeployConfigIssue,
  environmentSpec,
  findCycle,
  normalizeRepoPath,
  type ReleaseSpec,
  releaseTimeoutSeconds,
  type SecretRefSpec,
} from './deploy-config';
import { formatDuration } from './duration';
import { mergeValues, type Values } from './values-merge';
import { yamlData } from './yaml-data';

/**
 * Port: the repository tree at one commit (the extracted tarball or a git checkout). Paths are
 * repository-relative with "/" separators; implementations refuse paths that leave the tree.
 */
export interface SourceReader {
  /** The file's text, or undefined when there is no such file. */
  readFile(relPath: string): Promise<string | undefined>;
  exists(relPath: string): Promise<boolean>;
  /** Every file under `dir`, recursively, as repository-relative paths (for local chart digests). */
  listFiles(dir: string): Promise<string[]>;
}

export type PlannedChart =
  | { kind: 'local'; path: string }
  | {
      kind: 'repo';
      repository: string;
      url: string;
      name: string;
      version: string;
      /**
       * `sha256:<hex>`: the index digest (https) or the OCI manifest digest, read when the plan was made.
       * Part of the release and plan digests, so an approval covers exactly this chart; the runner
       * refuses a pulled chart with another. Absent only when the planner had no resolver.
       */
      digest?: string;
    };

/** Port: the digest a chart repository gives a pinned chart now (lib/helm/chart-digest.ts). */
export interface ChartDigestResolver {
  digest(chart: { url: string; name: string; version: string }): Promise<string>;
}

export interface PlannedRelease {
  name: string;
  namespace: string;
  chart: PlannedChart;
  valuesFiles: Array<{ path: string; content: string }>;
  /**
   * The values files merged as helm merges `-f` files, WITHOUT secrets. A `null` is kept: it tells helm
   * to delete that chart default (see values-merge.ts).
   */
  mergedValues: Record<string, unknown>;
  secretValues: Array<{ path: string; ref: SecretRef }>;
  needs: string[];
  timeoutSeconds: number;
  health: { workloads: boolean; http: Array<{ url: string; expectStatus: number }> };
  /**
   * sha256 of what helm installs: name, namespace, chart reference and version (local charts: every
   * file of the chart directory), values files (path and content, in order), secret value paths and
   * secret *names* — never secret values. Not `needs`, timeout or health: they change how we deploy,
   * not what, and the runner uses this digest to skip unchanged releases.
   */
  digest: string;
}

export interface PlannedKubeSecret {
  name: string;
  namespace: string;
  data: Array<{ key: string; ref: SecretRef }>;
  restart: Array<{ kind: 'Deployment' | 'StatefulSet' | 'DaemonSet'; name: string }>;
}

export interface EnvironmentPlan {
  environment: string;
  sha: string;
  approval: ApprovalMode;
  after?: string;
  cluster: ClusterRef;
  releases: PlannedRelease[];
  kubernetesSecrets: PlannedKubeSecret[];
  /** every distinct {secret,key} the releases and Kubernetes Secrets reference, for the pre-flight check */
  secretRefs: SecretRef[];
  /** the operator policy the plan was checked against (set by the runner's planAt): digest and one line */
  policy?: { digest: string; summary: string };
  /**
   * sha256 of the deploy content, independent of the commit: environment name, cluster secret name,
   * each release's digest with its needs, timeout and health, and the Kubernetes Secrets (names and
   * refs). Two commits that deploy the same thing have the same digest, so an approval survives a
   * commit that only touched unrelated files (README, CI), and is voided by anything that changes what
   * is deployed. The approval gate itself (approval, after, approvers) is not part of it.
   */
  digest: string;
}

/** Bumped when what goes into a digest changes, so old and new digests never compare equal by accident. */
const DIGEST_VERSION = 'helmgate-plan/v1';

function sha256(data: string): string {
  return createHash('sha256').update(data).digest('hex');
}

function toRef(spec: SecretRefSpec): SecretRef {
  return spec.key === undefined ? { secret: spec.secret } : { secret: spec.secret, key: spec.key };
}

/**
 * Turns one environment of a validated config into a plan, reading the commit's files through
 * `source`: every values file must exist and be a YAML map, every local chart directory must hold a
 * Chart.yaml. Throws DeployConfigError naming the release and the file. Pure apart from `source`.
 */
export async function planEnvironment(input: {
  config: DeployConfig;
  environment: string;
  sha: string;
  source: SourceReader;
  /** for messages; default deploy.yaml */
  configFile?: string;
  /** pins each remote chart to its digest; without it remote charts carry none (offline tools only) */
  charts?: ChartDigestResolver;
}): Promise<EnvironmentPlan> {
  const { config, environment, sha, source } = input;
  const file = input.configFile ?? 'deploy.yaml';
  const env = environmentSpec(config, environment);
  const issues: DeployConfigIssue[] = [];

  // releases are planned concurrently (file reads overlap); their issues are kept in release order
  const planned = await Promise.all(
    env.releases.map(async (spec, i) => {
      const own: DeployConfigIssue[] = [];
      const at = `environments.${environment}.releases[${i}]`;
      const release = await planRelease(config, spec, source, {
        file,
        at,
        ...(input.charts ? { charts: input.charts } : {}),
        report: (x) => own.push(x),
      });
      return { release, own };
    }),
  );
  const releases: PlannedRelease[] = [];
  for (const p of planned) {
    issues.push(...p.own);
    if (p.release) releases.push(p.release);
  }
  if (issues.length > 0) throw new DeployConfigError(issues);

  const kubernetesSecrets: PlannedKubeSecret[] = env.kubernetesSecrets.map((s) => ({
    name: s.name,
    namespace: s.namespace,
    data: Object.entries(s.data).map(([key, ref]) => ({ key, ref: toRef(ref) })),
    restart: s.restart.map((w) => ({ kind: w.kind, name: w.name })),
  }));

  const seen = new Map<string, SecretRef>();
  for (const r of releases) for (const s of r.secretValues) seen.set(describeRef(s.ref), s.ref);
  for (const s of kubernetesSecrets) for (const d of s.data) seen.set(describeRef(d.ref), d.ref);

  const digest = sha256(
    canonicalJson({
      v: DIGEST_VERSION,
      environment,
      // a secret's name as before (existing plan digests stay); an EKS cluster as its own object
      cluster: 'secret' in env.cluster ? env.cluster.secret : copyClusterRef(env.cluster),
      releases: releases.map((r) => ({
        digest: r.digest,
        needs: r.needs,
        timeoutSeconds: r.timeoutSeconds,
        health: r.health,
      })),
      kubernetesSecrets: kubernetesSecrets.map((s) => ({
        name: s.name,
        namespace: s.namespace,
        data: s.data.map((d) => [d.key, d.ref.secret, d.ref.key ?? null]),
        restart: s.restart,
      })),
    }),
  );

  return {
    environment,
    sha,
    approval: env.approval,
    ...(env.after !== undefined ? { after: env.after } : {}),
    cluster: copyClusterRef(env.cluster),
    releases,
    kubernetesSecrets,
    secretRefs: [...seen.values()],
    digest,
  };
}

async function planRelease(
  config: DeployConfig,
  spec: ReleaseSpec,
  source: SourceReader,
  ctx: {
    file: string;
    at: string;
    report: (issue: DeployConfigIssue) => void;
    charts?: ChartDigestResolver;
  },
): Promise<PlannedRelease | undefined> {
  let ok = true;
  /** `where` defaults to the release in the deploy config; a values file's own syntax error points into that file */
  const fail = (message: string, where: { file?: string; path: string; line?: number | undefined }) => {
    ok = false;
    ctx.report({
      file: where.file ?? ctx.file,
      path: where.path,
      ...(where.line !== undefined ? { line: where.line } : {}),
      message: `release ${spec.name}: ${message}`,
    });
  };

  let chart: PlannedChart;
  const chartFiles: Array<[string, string]> = [];
  if (typeof spec.chart === 'string') {
    const dir = normalizeRepoPath(spec.chart);
    chart = { kind: 'local', path: dir };
    const manifest = dir === '.' ? 'Chart.yaml' : `${dir}/Chart.yaml`;
    if (!(await source.exists(manifest))) {
      fail(
        `local chart ${dir} has no Chart.yaml at this commit (a remote chart is written { repository, name, version })`,
        {
          path: `${ctx.at}.chart`,
        },
      );
    } else {
      const files = [...(await source.listFiles(dir))].sort();
      const contents = await Promise.all(files.map((f) => source.readFile(f)));
      for (const [k, f] of files.entries()) {
        const content = contents[k];
        if (content !== undefined) chartFiles.push([f, sha256(content)]);
      }
    }
  } else {
    const url = config.chartRepositories[spec.chart.repository] as string;
    let digest: string | undefined;
    if (ctx.charts) {
      try {
        digest = await ctx.charts.digest({ url, name: spec.chart.name, version: spec.chart.version });
      } catch (e) {
        fail(
          `cannot pin chart ${spec.chart.name} ${spec.chart.version} to a digest: ${e instanceof Error ? e.message : String(e)}`,
          { path: `${ctx.at}.chart` },
        );
      }
    }
    chart = {
      kind: 'repo',
      repository: spec.chart.repository,
      url,
      name: spec.chart.name,
      version: spec.chart.version,
      ...(digest !== undefined ? { digest } : {}),
    };
  }

  const valuesFiles: Array<{ path: string; content: string }> = [];
  const layers: Values[] = [];
  for (const [j, raw] of spec.values.entries()) {
    const p = normalizeRepoPath(raw);
    const content = await source.readFile(p);
    if (content === undefined) {
      fail(`values file ${p} does not exist at this commit`, { path: `${ctx.at}.values[${j}]` });
      continue;
    }
    valuesFiles.push({ path: p, content });
    const lc = new LineCounter();
    const doc = parseDocument(content, { lineCounter: lc, uniqueKeys: true });
    const [err] = doc.errors;
    if (err) {
      const why = err.message.replace(/ at line \d+, column \d+:[\s\S]*$/, '');
      fail(`values file ${p} is not valid YAML: ${why}`, { file: p, path: '', line: err.linePos?.[0].line });
      continue;
    }
    if (doc.contents !== null && !isMap(doc.contents)) {
      fail(`values file ${p} must be a map of values`, { file: p, path: '', line: 1 });
      continue;
    }
    let layer: Values | null;
    try {
      layer = yamlData(doc, { maxAliasCount: 1000 }) as Values | null;
    } catch (e) {
      fail(`values file ${p} cannot be read: ${(e as Error).message}`, { file: p, path: '', line: 1 });
      continue;
    }
    layers.push(layer ?? {});
  }
  if (!ok) return undefined;

  const secretValues = Object.entries(spec.secretValues).map(([path, ref]) => ({ path, ref: toRef(ref) }));
  const timeoutSeconds = releaseTimeoutSeconds(config, spec);
  const health = {
    workloads: spec.health.workloads,
    http: spec.health.http.map((h) => ({ url: h.url, expectStatus: h.expectStatus })),
  };

  const digest = sha256(
    canonicalJson({
      v: DIGEST_VERSION,
      name: spec.name,
      namespace: spec.namespace,
      chart: chart.kind === 'local' ? { kind: 'local', path: chart.path, files: chartFiles } : chart,
      values: valuesFiles.map((f) => [f.path, sha256(f.content)]),
      secretValues: secretValues.map((s) => [s.path, s.ref.secret, s.ref.key ?? null]),
    }),
  );

  return {
    name: spec.name,
    namespace: spec.namespace,
    chart,
    valuesFiles,
    mergedValues: mergeValues(...layers),
    secretValues,
    needs: [...spec.needs],
    timeoutSeconds,
    health,
    digest,
  };
}

/**
 * Releases grouped in layers: every release's needs are in earlier layers, so a layer may run in
 * parallel. Within a layer, config order. Throws DeployConfigError on a cycle (parseDeployConfig
 * already refuses them; this guards hand-built input).
 */
export function topologicalLayers<T extends { name: string; needs: readonly string[] }>(
  releases: readonly T[],
): T[][] {
  const cycle = findCycle(releases);
  if (cycle)
    throw new DeployConfigError([
      { file: 'deploy.yaml', path: '', message: `dependency cycle: ${cycle.join(' → ')}` },
    ]);
  const known = new Set(releases.map((r) => r.name));
  const placed = new Set<string>();
  const layers: T[][] = [];
  let rest = [...releases];
  while (rest.length > 0) {
    const layer = rest.filter((r) => r.needs.every((n) => placed.has(n) || !known.has(n)));
    for (const r of layer) placed.add(r.name);
    layers.push(layer);
    rest = rest.filter((r) => !placed.has(r.name));
  }
  return layers;
}

/**
 * The chart as people read it: `./path`, or `repository/name@version (sha256:<first 12 hex>)`.
 * `fullDigest` keeps the whole digest (the CLI's JSON, which scripts compare).
 */
export function chartLabel(c: PlannedChart, opts: { fullDigest?: boolean } = {}): string {
  if (c.kind === 'local') return `./${c.path}`;
  const digest = c.digest && (opts.fullDigest ? c.digest : c.digest.slice(0, 19));
  return `${c.repository}/${c.name}@${c.version}${digest ? ` (${digest})` : ''}`;
}

/**
 * The bare chart reference recorded on a release's result: the path as written, or
 * `repository/name@version`, without digest (the digest is part of the release digest already).
 */
export function chartReference(c: PlannedChart): string {
  return c.kind === 'local' ? c.path : `${c.repository}/${c.name}@${c.version}`;
}

/** A plain-text account of the plan for people (approval page, Slack, logs). No secret values exist here to leak. */
export function describePlan(plan: EnvironmentPlan): string {
  const lines: string[] = [];
  const gate =
    plan.approval === 'none'
      ? 'deploys on push'
      : plan.approval === 'required'
        ? 'needs approval'
        : 'promotes automatically';
  lines.push(
    `${plan.environment} @ ${plan.sha.slice(0, 12)} — ${gate}${plan.after ? ` after ${plan.after}` : ''} (plan ${plan.digest.slice(0, 12)})`,
  );
  if (plan.policy) lines.push(`policy ${plan.policy.digest.slice(0, 12)}: ${plan.policy.summary}`);
  lines.push(
    'secret' in plan.cluster
      ? `cluster credentials: ${plan.cluster.secret}`
      : `cluster: EKS ${plan.cluster.eks.name} (${plan.cluster.eks.region}) through the environment role`,
  );
  if (plan.kubernetesSecrets.length > 0) {
    lines.push('Kubernetes Secrets:');
    for (const s of plan.kubernetesSecrets) {
      const restart = s.restart.length
        ? `; restarts ${s.restart.map((w) => `${w.kind}/${w.name}`).join(', ')}`
        : '';
      lines.push(
        `  ${s.namespace}/${s.name}: ${s.data.map((d) => `${d.key} ← ${describeRef(d.ref)}`).join(', ')}${restart}`,
      );
    }
  }
  lines.push(plan.releases.length ? 'releases (in order of dependencies):' : 'releases: none');
  topologicalLayers(plan.releases).forEach((layer, i) => {
    for (const r of layer) {
      const needs = r.needs.length ? `, after ${r.needs.join(', ')}` : '';
      lines.push(
        `  ${i + 1}. ${r.name} in ${r.namespace}: ${chartLabel(r.chart)} (timeout ${formatDuration(r.timeoutSeconds)}${needs})`,
      );
      if (r.valuesFiles.length) lines.push(`     values: ${r.valuesFiles.map((f) => f.path).join(', ')}`);
      for (const s of r.secretValues) lines.push(`     secret value ${s.path} ← ${describeRef(s.ref)}`);
      const checks = [
        r.health.workloads ? 'workloads available' : '',
        ...r.health.http.map((h) => `${h.url} → ${h.expectStatus}`),
      ].filter(Boolean);
      if (checks.length) lines.push(`     health: ${checks.join('; ')}`);
    }
  });
  return lines.join('\n');
}
