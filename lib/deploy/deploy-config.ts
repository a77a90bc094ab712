import path from 'node:path';
import { type Document, isAlias, isMap, isScalar, isSeq, LineCounter, type Node, parseDocument } from 'yaml';
import * as z from 'zod';
import { HelmgateError } from '../errors';
import { parseDuration } from './duration';
import { isForbiddenKey, parsePath } from './values-merge';
import { yamlData } from './yaml-data';

/**
 * The deploy config (`deploy.yaml` at the repository root), read at the pushed commit. The format is
 * documented in docs/deploy-config.md; this file is its single source of truth in code. Strict
 * everywhere: an unknown key is a typo until proven otherwise.
 */

// ── names ────────────────────────────────────────────────────────────────────────────────────────

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** Semantic Versioning 2.0.0, exactly one version (no range, no `v`, no `latest`). */
const EXACT_SEMVER =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/;

const EnvironmentName = z
  .string()
  .max(63)
  .regex(DNS_LABEL, 'environment names are lowercase letters, digits and "-" (like a DNS label)');
const ReleaseName = z
  .string()
  .max(53, 'helm release names are at most 53 characters')
  .regex(DNS_SUBDOMAIN, 'helm release names are lowercase letters, digits, "-" and "."');
const Namespace = z
  .string()
  .max(63)
  .regex(DNS_LABEL, 'namespaces are lowercase letters, digits and "-" (a DNS label)');
const RepositoryName = z
  .string()
  .regex(/^[A-Za-z0-9][\w.-]*$/, 'repository names are letters, digits, "_", "-", "."');
/** Secrets Manager ids: names (`a/b/c`) or ARNs. */
const SecretId = z.string().regex(/^[\w/+=.@:-]{1,2048}$/, 'not a Secrets Manager secret name or ARN');

/** A string the YAML author may have written as a number (`version: 4.4` is a float to YAML). */
const stringish = z.preprocess((v) => (typeof v === 'number' ? String(v) : v), z.string());

const Duration = stringish.superRefine((v, ctx) => {
  if (parseDuration(v) === undefined)
    ctx.addIssue({
      code: 'custom',
      message: /^\d+$/.test(v)
        ? `a duration needs a unit, like "${v}s" (got "${v}")`
        : `not a duration: use Go's form, like 300s, 10m or 1h30m (got "${v}")`,
    });
});

/** A path inside the repository: relative, normalized, never leaving it. */
function repoPath(what: string) {
  return z.string().superRefine((v, ctx) => {
    const problem = repoPathProblem(v);
    if (problem) ctx.addIssue({ code: 'custom', message: `${what} ${problem} (got "${v}")` });
  });
}

function repoPathProblem(v: string): string | undefined {
  if (v.trim() === '') return 'must not be empty';
  if (v.includes('\\')) return 'must use "/" as separator';
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(v)) return 'must be a path inside the repository, not a URL';
  if (v.startsWith('/') || /^[A-Za-z]:/.test(v))
    return 'must be relative to the repository root, not absolute';
  const n = path.posix.normalize(v);
  if (n === '..' || n.startsWith('../')) return 'must stay inside the repository';
  return undefined;
}

/** `./charts/x/` → `charts/x`: one spelling per path, so digests and messages agree. */
export function normalizeRepoPath(v: string): string {
  const n = path.posix.normalize(v).replace(/\/+$/, '');
  return n === '' ? '.' : n;
}

// ── schema ───────────────────────────────────────────────────────────────────────────────────────

export const SecretRefSpec = z.strictObject({
  secret: SecretId,
  /** a key in the secret's JSON; without it the whole secret string is the value */
  key: z
    .string()
    .min(1)
    .refine((k) => !isForbiddenKey(k), { error: (i) => `the key "${String(i.input)}" is not allowed` })
    .optional(),
});
export type SecretRefSpec = z.infer<typeof SecretRefSpec>;

export const RemoteChart = z.strictObject({
  repository: RepositoryName,
  name: z.string().regex(/^[A-Za-z0-9][\w.-]*$/, 'not a chart name'),
  version: stringish.superRefine((v, ctx) => {
    if (!EXACT_SEMVER.test(v))
      ctx.addIssue({ code: 'custom', message: `remote charts must pin an exact version (got "${v}")` });
  }),
});
export type RemoteChart = z.infer<typeof RemoteChart>;

/** A string is a local chart directory; an object is a chart from a declared repository. */
export const ChartSpec = z.union([repoPath('a local chart path'), RemoteChart], {
  error: 'expected a local chart path ("./charts/x") or { repository, name, version }',
});
export type ChartSpec = z.infer<typeof ChartSpec>;

const HttpCheck = z.strictObject({
  url: z.string().superRefine((v, ctx) => {
    let ok = false;
    try {
      ok = ['http:', 'https:'].includes(new URL(v).protocol);
    } catch {}
    if (!ok) ctx.addIssue({ code: 'custom', message: `not an http(s) URL (got "${v}")` });
  }),
  expectStatus: z.number().int().min(100).max(599).default(200),
});

const Health = z.strictObject({
  /** every Deployment/StatefulSet of the release available */
  workloads: z.boolean().default(true),
  http: z.array(HttpCheck).default([]),
});

export const ReleaseSpec = z.strictObject({
  name: ReleaseName,
  namespace: Namespace,
  chart: ChartSpec,
  /** in order; the right-most wins */
  values: z.array(repoPath('a values file path')).default([]),
  /** helm `--set`-style value path -> secret; sent to helm on stdin, never written by us */
  secretValues: z
    .record(
      z.string().superRefine((v, ctx) => {
        try {
          parsePath(v);
        } catch (e) {
          ctx.addIssue({ code: 'custom', message: `not a value path: ${(e as Error).message}` });
        }
      }),
      SecretRefSpec,
    )
    .default({}),
  /** release names of the same environment that must succeed first */
  needs: z.array(z.string()).default([]),
  timeout: Duration.optional(),
  health: Health.default({ workloads: true, http: [] }),
});
export type ReleaseSpec = z.infer<typeof ReleaseSpec>;

const WorkloadRef = z.strictObject({
  kind: z.enum(['Deployment', 'StatefulSet', 'DaemonSet']),
  name: z.string().regex(DNS_SUBDOMAIN, 'not a Kubernetes object name'),
});

export const KubernetesSecretSpec = z.strictObject({
  name: z.string().max(253).regex(DNS_SUBDOMAIN, 'not a Kubernetes Secret name'),
  namespace: Namespace,
  /** key in the Kubernetes Secret -> Secrets Manager secret (+ JSON key) */
  data: z
    .record(
      z.string().regex(/^[-._a-zA-Z0-9]+$/, 'Secret keys are letters, digits, "-", "_" and "."'),
      SecretRefSpec,
    )
    .refine((d) => Object.keys(d).length > 0, 'a Secret needs at least one key'),
  /** workloads restarted when the Secret's content changes */
  restart: z.array(WorkloadRef).default([]),
});
export type KubernetesSecretSpec = z.infer<typeof KubernetesSecretSpec>;

/**
 * The commit's wish, never a grant: who may approve is the operator's policy (lib/policy). A pushed
 * block may only narrow it (a subset of the policy's approvers, a larger `required`, self-approval
 * forbidden); anything looser fails the deployment. See docs/policy.md.
 */
const Approvers = z.strictObject({
  github: z.array(z.string().min(1)).default([]),
  githubTeams: z.array(z.string().regex(/^[\w.-]+\/[\w.-]+$/, 'teams are written org/team-slug')).default([]),
  slack: z.array(z.string().regex(/^[UW][A-Z0-9]+$/, 'Slack user ids look like U0123ABCD')).default([]),
  /** absent: the policy's */
  required: z.number().int().min(1).optional(),
  /** absent: the policy's (which forbids self-approval unless it says otherwise) */
  allowSelfApproval: z.boolean().optional(),
});

export const ApprovalMode = z.enum(['none', 'required', 'auto']);
export type ApprovalMode = z.infer<typeof ApprovalMode>;

export const EnvironmentSpec = z.strictObject({
  /** none: deploy on push · required: a person approves · auto: promote once `after` succeeded */
  approval: ApprovalMode,
  /** the environment that must have succeeded for the same commit first */
  after: z.string().optional(),
  approvers: Approvers.optional(),
  /** the cluster secret, or an EKS cluster reached through IAM; the policy must say the same */
  cluster: z.union([
    z.strictObject({ secret: SecretId }),
    z.strictObject({
      eks: z.strictObject({
        name: z.string().regex(/^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$/, 'an EKS cluster name'),
        region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'an AWS region, e.g. eu-west-1'),
      }),
    }),
  ]),
  kubernetesSecrets: z.array(KubernetesSecretSpec).default([]),
  releases: z.array(ReleaseSpec),
});
export type EnvironmentSpec = z.infer<typeof EnvironmentSpec>;

/**
 * Chart repositories are fetched over TLS only. Tests serve charts from a loopback HTTP server and
 * say so with `allowLoopbackHttpCharts` (a parse option no production path sets).
 */
let loopbackHttpCharts = false;

function chartRepositoryUrlOk(v: string): boolean {
  try {
    const u = new URL(v);
    if (u.protocol === 'https:' || u.protocol === 'oci:') return true;
    return loopbackHttpCharts && u.protocol === 'http:' && u.hostname === '127.0.0.1';
  } catch {
    return false;
  }
}

export const DeployConfig = z.strictObject({
  apiVersion: z.literal('helmgate/v1', { error: 'apiVersion must be "helmgate/v1"' }),
  chartRepositories: z
    .record(
      RepositoryName,
      z.string().superRefine((v, ctx) => {
        if (!chartRepositoryUrlOk(v))
          ctx.addIssue({ code: 'custom', message: `not an https:// or oci:// repository URL (got "${v}")` });
      }),
    )
    .default({}),
  defaults: z.strictObject({ timeout: Duration.optional() }).default({}),
  environments: z
    .record(EnvironmentName, EnvironmentSpec)
    .refine((e) => Object.keys(e).length > 0, 'at least one environment is needed'),
});
export type DeployConfig = z.infer<typeof DeployConfig>;

/** helm's own default, used when neither the release nor `defaults` sets a timeout */
export const DEFAULT_TIMEOUT_SECONDS = 300;

// ── errors ───────────────────────────────────────────────────────────────────────────────────────

export interface DeployConfigIssue {
  file: string;
  /** dotted path, `environments.staging.releases[1].chart.version`; '' for the whole file */
  path: string;
  /** 1-based */
  line?: number;
  message: string;
}

export function formatIssue(i: DeployConfigIssue): string {
  return `${i.file}${i.line !== undefined ? `:${i.line}` : ''}${i.path ? ` ${i.path}` : ''}: ${i.message}`;
}

/** At most this many issues are spelled out in the message (all are in `issues`). */
const MESSAGE_ISSUES = 20;

export class DeployConfigError extends HelmgateError {
  override name = 'DeployConfigError';
  readonly issues: DeployConfigIssue[];
  constructor(issues: DeployConfigIssue[], options?: { cause?: unknown }) {
    const lines = issues.slice(0, MESSAGE_ISSUES).map(formatIssue);
    if (issues.length > MESSAGE_ISSUES) lines.push(`… and ${issues.length - MESSAGE_ISSUES} more`);
    super('invalid_deploy_config', lines.join('\n'), options);
    this.issues = issues;
  }
}

// ── parsing ──────────────────────────────────────────────────────────────────────────────────────

type Seg = string | number;

export function formatPath(segs: readonly Seg[]): string {
  let out = '';
  for (const s of segs) {
    if (typeof s === 'number') out += `[${s}]`;
    else if (/^[A-Za-z_][\w-]*$/.test(s)) out += out ? `.${s}` : s;
    else out += `[${JSON.stringify(s)}]`;
  }
  return out;
}

/**
 * The 1-based line of the node at `segs` — for a map entry, the line of its key (a block value starts
 * on the next line) — or of the nearest ancestor that exists (a missing key is reported where its map is).
 */
function lineAt(doc: Document, lc: LineCounter, segs: readonly Seg[]): number | undefined {
  let node: unknown = doc.contents;
  let offset = (node as Node | null)?.range?.[0];
  for (const seg of segs) {
    if (isAlias(node)) node = node.resolve(doc);
    if (isMap(node)) {
      const pair = node.items.find(
        (p) => (isScalar(p.key) ? String(p.key.value) : String(p.key)) === String(seg),
      );
      if (!pair) break;
      offset = (pair.key as Node | null)?.range?.[0] ?? offset;
      node = pair.value;
    } else if (isSeq(node) && typeof seg === 'number') {
      const item = node.items[seg] as Node | undefined;
      if (!item) break;
      offset = item.range?.[0] ?? offset;
      node = item;
    } else break;
  }
  return offset === undefined ? undefined : lc.linePos(offset).line;
}

interface RawIssue {
  path: Seg[];
  message: string;
}

/** zod issues → ours: one issue per unknown key (at the key's line), unions opened up where one branch clearly applies. */
function fromZod(issues: readonly z.core.$ZodIssue[], prefix: Seg[] = []): RawIssue[] {
  const out: RawIssue[] = [];
  for (const issue of issues) {
    const at = [...prefix, ...(issue.path as Seg[])];
    if (issue.code === 'unrecognized_keys') {
      for (const k of issue.keys) out.push({ path: [...at, k], message: `unknown key "${k}"` });
    } else if (issue.code === 'invalid_key') {
      // a record key that failed its own schema (an environment name, a secretValues path): say why
      out.push(...fromZod(issue.issues as z.core.$ZodIssue[], at));
    } else if (issue.code === 'invalid_union') {
      // A branch that failed only because the input has another type is not the one the author meant.
      const meant = issue.errors.filter(
        (b) => !(b.length === 1 && b[0]?.code === 'invalid_type' && b[0].path.length === 0),
      );
      const [only] = meant;
      if (meant.length === 1 && only) out.push(...fromZod(only, at));
      else out.push({ path: at, message: issue.message });
    } else {
      out.push({ path: at, message: issue.message });
    }
  }
  return out;
}

/** Cross-field rules the schema cannot express. Runs on a schema-valid config. */
function semanticIssues(config: DeployConfig): RawIssue[] {
  const out: RawIssue[] = [];
  const envNames = Object.keys(config.environments);
  for (const [envName, env] of Object.entries(config.environments)) {
    const base: Seg[] = ['environments', envName];
    if (env.after !== undefined) {
      if (env.after === envName)
        out.push({ path: [...base, 'after'], message: 'an environment cannot come after itself' });
      else if (!config.environments[env.after])
        out.push({
          path: [...base, 'after'],
          message: `"${env.after}" is not an environment (known: ${envNames.join(', ')})`,
        });
    } else if (env.approval === 'auto') {
      out.push({
        path: [...base, 'approval'],
        message: 'approval "auto" promotes after another environment: set `after`',
      });
    }

    const firstIndex = new Map<string, number>();
    env.releases.forEach((r, i) => {
      const first = firstIndex.get(r.name);
      if (first !== undefined)
        out.push({
          path: [...base, 'releases', i, 'name'],
          message: `release "${r.name}" is already defined at releases[${first}]`,
        });
      else firstIndex.set(r.name, i);
    });

    env.releases.forEach((r, i) => {
      const at: Seg[] = [...base, 'releases', i];
      r.needs.forEach((n, j) => {
        if (n === r.name)
          out.push({ path: [...at, 'needs', j], message: `release "${r.name}" cannot need itself` });
        else if (!firstIndex.has(n))
          out.push({
            path: [...at, 'needs', j],
            message: `"${n}" is not a release of environment ${envName}`,
          });
      });
      if (typeof r.chart !== 'string' && !(r.chart.repository in config.chartRepositories))
        out.push({
          path: [...at, 'chart', 'repository'],
          message: `chart repository "${r.chart.repository}" is not declared in chartRepositories`,
        });
    });

    const cycle = findCycle(env.releases.map((r) => ({ name: r.name, needs: r.needs })));
    if (cycle) {
      const i = firstIndex.get(cycle[0] as string) ?? 0;
      out.push({
        path: [...base, 'releases', i, 'needs'],
        message: `dependency cycle: ${cycle.join(' → ')}`,
      });
    }

    const secretIndex = new Map<string, number>();
    env.kubernetesSecrets.forEach((s, i) => {
      const id = `${s.namespace}/${s.name}`;
      const first = secretIndex.get(id);
      if (first !== undefined)
        out.push({
          path: [...base, 'kubernetesSecrets', i, 'name'],
          message: `Secret ${id} is already defined at kubernetesSecrets[${first}]`,
        });
      else secretIndex.set(id, i);
    });
  }

  const afterCycle = findCycle(
    Object.entries(config.environments).map(([name, env]) => ({
      name,
      needs: env.after && env.after !== name && config.environments[env.after] ? [env.after] : [],
    })),
  );
  if (afterCycle)
    out.push({
      path: ['environments', afterCycle[0] as string, 'after'],
      message: `environments wait for each other: ${afterCycle.join(' → ')}`,
    });
  return out;
}

/**
 * The first dependency cycle among `nodes`, as names with the first repeated at the end
 * (`a → b → a`), or undefined. Unknown names in `needs` are ignored (reported elsewhere).
 */
export function findCycle(
  nodes: ReadonlyArray<{ name: string; needs: readonly string[] }>,
): string[] | undefined {
  const needs = new Map(nodes.map((n) => [n.name, n.needs]));
  const state = new Map<string, 'visiting' | 'done'>();
  const stack: string[] = [];
  const visit = (name: string): string[] | undefined => {
    const s = state.get(name);
    if (s === 'done') return undefined;
    if (s === 'visiting') return [...stack.slice(stack.indexOf(name)), name];
    state.set(name, 'visiting');
    stack.push(name);
    for (const n of needs.get(name) ?? []) {
      if (!needs.has(n)) continue;
      const c = visit(n);
      if (c) return c;
    }
    stack.pop();
    state.set(name, 'done');
    return undefined;
  };
  for (const n of nodes) {
    const c = visit(n.name);
    if (c) return c;
  }
  return undefined;
}

/**
 * Parses and validates a deploy config. Throws DeployConfigError listing every problem found, each
 * with file, dotted path and line. YAML syntax errors are reported before anything else.
 */
export function parseDeployConfig(
  text: string,
  file = 'deploy.yaml',
  options: { allowLoopbackHttpCharts?: boolean } = {},
): DeployConfig {
  loopbackHttpCharts = options.allowLoopbackHttpCharts === true;
  try {
    return parseDeployConfigText(text, file);
  } finally {
    loopbackHttpCharts = false;
  }
}

function parseDeployConfigText(text: string, file: string): DeployConfig {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new DeployConfigError(
      doc.errors.map((e) => ({
        file,
        path: '',
        ...(e.linePos ? { line: e.linePos[0].line } : {}),
        message: `YAML: ${e.message.replace(/ at line \d+, column \d+:[\s\S]*$/, '')}`,
      })),
    );
  }
  const toIssue = (r: RawIssue): DeployConfigIssue => {
    const line = lineAt(doc, lc, r.path);
    return { file, path: formatPath(r.path), ...(line !== undefined ? { line } : {}), message: r.message };
  };

  let data: unknown;
  try {
    data = yamlData(doc, { maxAliasCount: 100 });
  } catch (e) {
    throw new DeployConfigError([{ file, path: '', message: `YAML: ${(e as Error).message}` }], { cause: e });
  }
  const forbidden = forbiddenKeys(data);
  if (forbidden.length > 0)
    throw new DeployConfigError(
      forbidden.map((at) =>
        toIssue({
          path: at,
          message: `"${String(at.at(-1))}" is not allowed as a key (it names an object's prototype)`,
        }),
      ),
    );
  const parsed = DeployConfig.safeParse(data ?? {});
  if (!parsed.success) throw new DeployConfigError(fromZod(parsed.error.issues).map(toIssue));
  const semantic = semanticIssues(parsed.data);
  if (semantic.length > 0) throw new DeployConfigError(semantic.map(toIssue));
  return parsed.data;
}

/**
 * Paths of every map key that names a prototype (`__proto__`, `constructor`, `prototype`), at any depth:
 * refused before the schema builds objects from them (issue 12).
 */
function forbiddenKeys(data: unknown, at: Seg[] = [], out: Seg[][] = []): Seg[][] {
  if (Array.isArray(data)) {
    for (const [i, v] of data.entries()) forbiddenKeys(v, [...at, i], out);
  } else if (typeof data === 'object' && data !== null)
    for (const k of Object.keys(data)) {
      if (isForbiddenKey(k)) out.push([...at, k]);
      else forbiddenKeys((data as Record<string, unknown>)[k], [...at, k], out);
    }
  return out;
}

// ── helpers ──────────────────────────────────────────────────────────────────────────────────────

/** Environment names in the order the file lists them. */
export function environmentNames(config: DeployConfig): string[] {
  return Object.keys(config.environments);
}

export function environmentSpec(config: DeployConfig, env: string): EnvironmentSpec {
  const spec = Object.hasOwn(config.environments, env) ? config.environments[env] : undefined;
  if (!spec)
    throw new DeployConfigError([
      {
        file: 'deploy.yaml',
        path: 'environments',
        message: `no environment "${env}" (known: ${environmentNames(config).join(', ')})`,
      },
    ]);
  return spec;
}

export function environmentApproval(config: DeployConfig, env: string): ApprovalMode {
  return environmentSpec(config, env).approval;
}

/** Seconds: the release's timeout, else `defaults.timeout`, else helm's 5m. */
export function releaseTimeoutSeconds(config: DeployConfig, release: ReleaseSpec): number {
  const t = release.timeout ?? config.defaults.timeout;
  return (t === undefined ? undefined : parseDuration(t)) ?? DEFAULT_TIMEOUT_SECONDS;
}
