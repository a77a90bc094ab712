import { createHash } from 'node:crypto';
import { parseDocument } from 'yaml';
import * as z from 'zod';
import { canonicalJson } from '../deploy/canonical';
import { clusterLabel, copyClusterRef } from '../deploy/cluster-ref';
import { type DeployConfig, environmentNames } from '../deploy/deploy-config';
import { freezeInstant, isTimeZone, WEEKDAYS, type Weekday } from '../deploy/freeze';
import { yamlData } from '../deploy/yaml-data';
import { HelmgateError } from '../errors';

/**
 * The operator's policy: per repository and environment, the gate (approval mode, `after`, approvers)
 * and the reach (cluster credentials, Secrets Manager prefixes, namespaces, chart repositories,
 * health-check hosts) a deployment may have. It comes from helmgate's own configuration, never from
 * the pushed commit: the pushed `deploy.yaml` may only be stricter (lib/policy/check.ts). Format:
 * docs/policy.md. Pure: no store, helm, kube or SDK imports (the lint step checks it).
 */

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const HOSTNAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

const EnvironmentName = z.string().max(63).regex(DNS_LABEL, 'environment names are DNS labels');
const Namespace = z.string().max(63).regex(DNS_LABEL, 'namespaces are DNS labels');
const ReleaseName = z
  .string()
  .max(53)
  .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'helm release names are lowercase letters, digits, "-" and "."');
/** `owner/name`, or `*` for every accepted repository without an entry of its own. */
const RepositoryKey = z
  .string()
  .regex(/^(\*|[\w.-]+\/[\w.-]+)$/, 'repositories are written owner/name (or "*" for any other)');
/** A Secrets Manager name prefix: `idr/` (everything under it) or `idr/readonly` (that name and `idr/readonly/…`). */
const SecretPrefix = z
  .string()
  .regex(/^[\w/+=.@-]{1,512}$/, 'a Secrets Manager name prefix (letters, digits, /_+=.@-)')
  .refine((p) => p !== '/' && !p.startsWith('/'), 'a prefix names a path, not "/"');
const SecretName = z.string().regex(/^[\w/+=.@-]{1,512}$/, 'a Secrets Manager secret name (not an ARN)');
const Login = z.string().regex(/^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$/, 'a GitHub login');

/** Chart repositories are fetched over TLS only: `https://` index repositories or `oci://` registries. */
export const ChartRepositoryUrl = z.string().superRefine((v, ctx) => {
  if (!chartUrlProtocolOk(v))
    ctx.addIssue({ code: 'custom', message: `not an https:// or oci:// repository URL (got "${v}")` });
});

export function chartUrlProtocolOk(v: string): boolean {
  try {
    return ['https:', 'oci:'].includes(new URL(v).protocol);
  } catch {
    return false;
  }
}

export const ApprovalMode = z.enum(['none', 'auto', 'required']);
export type ApprovalMode = z.infer<typeof ApprovalMode>;

/** none < auto < required: a higher rank is stricter. */
export const APPROVAL_RANK: Record<ApprovalMode, number> = { none: 0, auto: 1, required: 2 };

export const PolicyApprovers = z.strictObject({
  /** GitHub logins */
  github: z.array(Login).default([]),
  /** `org/team-slug` */
  githubTeams: z.array(z.string().regex(/^[\w.-]+\/[\w.-]+$/, 'teams are written org/team-slug')).default([]),
  /** Slack user ids allowed to vote (each should map to a login in slackToGithub) */
  slack: z.array(z.string().regex(/^[UW][A-Z0-9]+$/, 'Slack user ids look like U0123ABCD')).default([]),
  /** Slack user id -> GitHub login: one person, one vote, whichever way they vote */
  slackToGithub: z.record(z.string(), Login).default({}),
  /** operator CLI principals (IAM ARNs in AWS, OS user names locally) allowed to vote */
  cli: z.array(z.string().min(1)).default([]),
  /** CLI principal -> GitHub login */
  cliToGithub: z.record(z.string(), Login).default({}),
  /** distinct people needed */
  required: z.number().int().min(1).max(20).default(1),
  /** may the pusher approve their own commit; absent = no (wherever approval is required) */
  allowSelfApproval: z.boolean().optional(),
});
export type PolicyApprovers = z.infer<typeof PolicyApprovers>;

const TimeZone = z.string().refine(isTimeZone, 'an IANA time zone such as Europe/London');
const WallClock = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'a wall-clock time HH:MM');

/** A date range: instants with an offset, or wall-clock `YYYY-MM-DD[THH:MM]` read in `timeZone`. */
const DateRangeFreeze = z
  .strictObject({
    from: z.string().max(40),
    to: z.string().max(40),
    timeZone: TimeZone.optional(),
    reason: z.string().max(200).optional(),
  })
  .superRefine((w, ctx) => {
    const from = freezeInstant(w.from, w.timeZone);
    const to = freezeInstant(w.to, w.timeZone);
    if (from === undefined || to === undefined)
      ctx.addIssue({
        code: 'custom',
        message:
          'from/to are ISO times with an offset (2026-12-24T00:00:00Z), or local YYYY-MM-DD[THH:MM] with a timeZone',
      });
    else if (from >= to) ctx.addIssue({ code: 'custom', message: 'a freeze window ends after it starts' });
  });

/** Every week on `days`, from `from` to `to` wall-clock time in `timeZone` (a `to` ≤ `from` ends the next day). */
const WeeklyFreeze = z.strictObject({
  weekly: z.strictObject({
    days: z.array(z.enum(WEEKDAYS as [Weekday, ...Weekday[]])).min(1),
    from: WallClock,
    to: WallClock,
  }),
  timeZone: TimeZone,
  reason: z.string().max(200).optional(),
});

/** Freeze windows (issue 13): deployments of the environment do not start inside one. */
const FreezeWindow = z.union([WeeklyFreeze, DateRangeFreeze]);

export const EnvironmentPolicy = z.strictObject({
  approval: ApprovalMode,
  /** the environment that must have succeeded for the same commit first */
  after: EnvironmentName.optional(),
  approvers: PolicyApprovers.default({
    github: [],
    githubTeams: [],
    slack: [],
    slackToGithub: {},
    cli: [],
    cliToGithub: {},
    required: 1,
  }),
  /**
   * how this environment reaches its cluster: the only cluster secret it uses, or an EKS cluster
   * reached through IAM with the environment's role (endpoint and CA from DescribeCluster, an EKS token)
   */
  cluster: z.union([
    z.strictObject({ secret: SecretName }),
    z.strictObject({
      eks: z.strictObject({
        name: z.string().regex(/^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$/, 'an EKS cluster name'),
        region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'an AWS region, e.g. eu-west-1'),
      }),
    }),
  ]),
  /** Secrets Manager names the releases and Kubernetes Secrets may reference */
  secretPrefixes: z.array(SecretPrefix).default([]),
  namespaces: z.array(Namespace).default([]),
  chartRepositories: z.array(ChartRepositoryUrl).default([]),
  /** hosts the http health checks may call (hostnames, lower case) */
  healthHosts: z
    .array(
      z
        .string()
        .transform((h) => h.toLowerCase())
        .pipe(z.string().regex(HOSTNAME, 'a hostname')),
    )
    .default([]),
  /**
   * `helm test` as part of health (issue 13, item 8): `true` requires every release of the environment to
   * declare `health.helmTest: true` in deploy.yaml, a list requires it of the releases named; a commit that
   * leaves it out is refused (rule `helmTest`), never silently tested. Absent: the commit decides.
   */
  requireHelmTest: z.union([z.boolean(), z.array(ReleaseName).min(1)]).optional(),
  /** when deployments do not start; an approved deployment waits and starts when the window ends */
  freezeWindows: z.array(FreezeWindow).max(50).default([]),
  /**
   * Releases removed from deploy.yaml: `allow` uninstalls them as part of a deployment (where approval is
   * required, only when the approval showed them as removed); `forbid` (the default) keeps them.
   */
  prune: z.enum(['allow', 'forbid']).default('forbid'),
  /**
   * After a failed health check: `rollback` returns every release this deployment changed to the
   * revision that ran before it (reverse dependency order); `keep` leaves the new revisions. Absent:
   * `rollback` where approval is required, `keep` elsewhere (see rollbackOnHealthFailure).
   */
  rollback: z.enum(['rollback', 'keep']).optional(),
  /**
   * What the scheduled drift check does when what runs differs from what helmgate deployed (helm's
   * release record, or the live objects against the deployed manifest): `warn` reports each change once
   * (Slack, a GitHub commit status, the dashboard); `correct` also redeploys the same commit through the
   * normal path (approval rules apply); `off` does not check. Absent: `warn` (see driftAction).
   */
  drift: z
    .enum(['off', 'warn', 'correct'], {
      error: 'drift is off | warn | correct (the earlier `{ action: … }` form is replaced by one word)',
    })
    .optional(),
});
export type EnvironmentPolicy = z.infer<typeof EnvironmentPolicy>;

export const RepositoryPolicy = z.strictObject({
  environments: z.record(EnvironmentName, EnvironmentPolicy),
});
export type RepositoryPolicy = z.infer<typeof RepositoryPolicy>;

export const Policy = z
  .strictObject({
    apiVersion: z.literal('helmgate/policy/v1', { error: 'apiVersion must be "helmgate/policy/v1"' }),
    repositories: z.record(RepositoryKey, RepositoryPolicy),
  })
  .superRefine((p, ctx) => {
    for (const [repo, rp] of Object.entries(p.repositories)) {
      for (const [env, e] of Object.entries(rp.environments)) {
        const at = ['repositories', repo, 'environments', env];
        if (e.after !== undefined && (e.after === env || !rp.environments[e.after]))
          ctx.addIssue({
            code: 'custom',
            path: [...at, 'after'],
            message: `"${e.after}" is not another environment of ${repo}`,
          });
        if (e.approval === 'auto' && e.after === undefined)
          ctx.addIssue({
            code: 'custom',
            path: [...at, 'approval'],
            message: 'approval "auto" promotes after another environment: set `after`',
          });
      }
      for (const problem of sharedNamespaces(rp))
        ctx.addIssue({
          code: 'custom',
          path: ['repositories', repo, 'environments', problem.environments[1], 'namespaces'],
          message: `environments ${problem.environments.join(' and ')} of ${repo} share namespace ${problem.namespace} on cluster ${problem.cluster}: each environment holds only its own lock, so one environment's pushed deploy.yaml could upgrade, roll back or uninstall the other's releases; give each environment namespaces of its own (or another cluster)`,
        });
    }
  });
export type Policy = z.infer<typeof Policy>;

/**
 * Pairs of a repository's environments that may deploy to the same namespace of the same cluster (same
 * cluster secret, or same EKS name and region). Helm release names are per namespace and helmgate locks
 * per environment, so such a pair could act on each other's releases (security review of issue 13).
 * Two different secrets that reach one cluster cannot be seen here; the docs say so.
 */
export function sharedNamespaces(rp: {
  environments: Record<string, Pick<EnvironmentPolicy, 'cluster' | 'namespaces'>>;
}): Array<{ environments: [string, string]; namespace: string; cluster: string }> {
  const seen = new Map<string, string>();
  const found: Array<{ environments: [string, string]; namespace: string; cluster: string }> = [];
  for (const [env, e] of Object.entries(rp.environments)) {
    const cluster = clusterLabel(e.cluster);
    for (const namespace of new Set(e.namespaces)) {
      const key = `${cluster}\n${namespace}`;
      const other = seen.get(key);
      if (other !== undefined && other !== env)
        found.push({ environments: [other, env], namespace, cluster });
      else seen.set(key, env);
    }
  }
  return found;
}

export class PolicyError extends HelmgateError {
  override name = 'PolicyError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('invalid_config', message, options);
  }
}

function zodProblems(error: z.ZodError, source: string): string {
  return `${source}: ${error.issues
    .slice(0, 20)
    .map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`)
    .join('; ')}`;
}

/** Parses a policy document (JSON or YAML). The error names the source and every bad field. */
export function parsePolicy(text: string, source = 'policy'): Policy {
  const doc = parseDocument(text, { uniqueKeys: true });
  if (doc.errors.length > 0)
    throw new PolicyError(`${source}: not valid YAML/JSON: ${doc.errors[0]?.message.split('\n')[0]}`);
  let data: unknown;
  try {
    data = yamlData(doc, { maxAliasCount: 100 });
  } catch (e) {
    throw new PolicyError(`${source}: ${(e as Error).message}`);
  }
  const parsed = Policy.safeParse(data ?? {});
  if (!parsed.success) throw new PolicyError(zodProblems(parsed.error, source));
  return parsed.data;
}

/** The repository's entry: its own, else `*`, else none. GitHub names compare case-insensitively. */
export function repositoryPolicy(policy: Policy, repository: string): RepositoryPolicy | undefined {
  const wanted = repository.toLowerCase();
  for (const [key, rp] of Object.entries(policy.repositories))
    if (key !== '*' && key.toLowerCase() === wanted) return rp;
  return Object.hasOwn(policy.repositories, '*') ? policy.repositories['*'] : undefined;
}

export function environmentPolicy(
  policy: Policy,
  repository: string,
  environment: string,
): EnvironmentPolicy | undefined {
  const rp = repositoryPolicy(policy, repository);
  return rp && Object.hasOwn(rp.environments, environment) ? rp.environments[environment] : undefined;
}

/** What a failed health check does in this environment: the policy's word, else by approval mode. */
export function rollbackOnHealthFailure(
  env: Pick<EnvironmentPolicy, 'rollback' | 'approval'>,
): 'rollback' | 'keep' {
  return env.rollback ?? (env.approval === 'required' ? 'rollback' : 'keep');
}

/**
 * What the drift check does in this environment: the policy's word, else `warn` everywhere. Warning is
 * read-only (it changes nothing in the cluster), so it is safe as a default even for production; a
 * correction redeploys, which an operator chooses explicitly.
 */
export function driftAction(env: Pick<EnvironmentPolicy, 'drift'>): 'off' | 'warn' | 'correct' {
  return env.drift ?? 'warn';
}

/** Self-approval is forbidden unless the policy allows it explicitly. */
export function selfApprovalAllowed(approvers: Pick<PolicyApprovers, 'allowSelfApproval'>): boolean {
  return approvers.allowSelfApproval === true;
}

/** Must this release of the environment run `helm test` as part of its health? */
export function helmTestRequired(env: Pick<EnvironmentPolicy, 'requireHelmTest'>, release: string): boolean {
  const r = env.requireHelmTest;
  return r === true || (Array.isArray(r) && r.includes(release));
}

/** sha256 of the whole policy (canonical JSON): shown beside every plan and approval as "which policy applied". */
export function policyDigest(policy: Policy): string {
  return createHash('sha256').update(canonicalJson(policy)).digest('hex');
}

/** One line for people: what the policy says about one environment. */
export function describeEnvironmentPolicy(env: EnvironmentPolicy): string {
  const gate =
    env.approval === 'required'
      ? `approval required (${env.approvers.required} of ${approverCount(env.approvers)} approver(s), self-approval ${selfApprovalAllowed(env.approvers) ? 'allowed' : 'forbidden'})`
      : env.approval === 'auto'
        ? 'promotes automatically'
        : 'deploys on push';
  const tests = env.requireHelmTest;
  return [
    gate + (env.after ? ` after ${env.after}` : ''),
    `cluster ${clusterLabel(env.cluster)}`,
    `secrets ${env.secretPrefixes.join(', ') || 'none'}`,
    `namespaces ${env.namespaces.join(', ') || 'none'}`,
    ...(tests === true
      ? ['helm test required of every release']
      : Array.isArray(tests)
        ? [`helm test required of ${tests.join(', ')}`]
        : []),
  ].join('; ');
}

function approverCount(a: PolicyApprovers): string {
  const n = new Set([...a.github.map((l) => l.toLowerCase()), ...a.githubTeams, ...a.slack, ...a.cli]).size;
  return a.githubTeams.length > 0 ? `${n}+` : String(n);
}

/**
 * Every chart repository and health-check host any environment of the policy allows: what an outbound
 * request guard may let the planner, the runner and the health checks reach.
 */
export function policyOutbound(policy: Policy): { chartRepositories: string[]; healthHosts: string[] } {
  const charts = new Set<string>();
  const hosts = new Set<string>();
  for (const rp of Object.values(policy.repositories))
    for (const env of Object.values(rp.environments)) {
      for (const c of env.chartRepositories) charts.add(c);
      for (const h of env.healthHosts) hosts.add(h);
    }
  return { chartRepositories: [...charts].sort(), healthHosts: [...hosts].sort() };
}

/**
 * The hosts requests on behalf of a commit may reach (the outbound guard's `hosts`, lib/http): the
 * hostnames of the allowed chart repositories and the allowed health hosts of `environment` in every
 * repository of the policy, or of every environment. Lower case, sorted, each once.
 */
export function outboundHosts(policy: Policy, environment?: string): string[] {
  const hosts = new Set<string>();
  for (const rp of Object.values(policy.repositories))
    for (const [name, env] of Object.entries(rp.environments)) {
      if (environment !== undefined && name !== environment) continue;
      for (const c of env.chartRepositories) {
        try {
          hosts.add(new URL(c).hostname.toLowerCase());
        } catch {
          // the schema refuses unparsable URLs; nothing to add
        }
      }
      for (const h of env.healthHosts) hosts.add(h);
    }
  return [...hosts].sort();
}

// ── sources ──────────────────────────────────────────────────────────────────────────────────────

/**
 * The legacy `HELMGATE_APPROVERS` (JSON, per environment, for every repository). Still accepted:
 * merged into the policy's approvers (lists united, the larger `required`, self-approval allowed only
 * if neither forbids it and one allows it explicitly).
 */
export const LegacyApprovers = z.record(
  z.string(),
  z
    .object({
      github: z.array(z.string().min(1)).default([]),
      githubTeams: z.array(z.string()).default([]),
      slack: z.array(z.string()).default([]),
      cli: z.array(z.string()).default([]),
      required: z.number().int().min(1).optional(),
      allowSelfApproval: z.boolean().optional(),
      slackToGithub: z.record(z.string(), z.string()).default({}),
      cliToGithub: z.record(z.string(), z.string()).default({}),
    })
    .strict(),
);
export type LegacyApprovers = z.infer<typeof LegacyApprovers>;

export function parseLegacyApprovers(raw: string | undefined): LegacyApprovers {
  if (raw === undefined || raw.trim() === '') return {};
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    throw new PolicyError('HELMGATE_APPROVERS is not JSON');
  }
  const parsed = LegacyApprovers.safeParse(json);
  if (!parsed.success) throw new PolicyError(zodProblems(parsed.error, 'HELMGATE_APPROVERS'));
  return parsed.data;
}

const uniq = <T>(xs: T[]) => [...new Set(xs)];

/** The policy with HELMGATE_APPROVERS folded into every repository's environment of the same name. */
export function mergeLegacyApprovers(policy: Policy, legacy: LegacyApprovers): Policy {
  if (Object.keys(legacy).length === 0) return policy;
  const repositories: Record<string, RepositoryPolicy> = {};
  for (const [repo, rp] of Object.entries(policy.repositories)) {
    const environments: Record<string, EnvironmentPolicy> = {};
    for (const [name, env] of Object.entries(rp.environments)) {
      const l = Object.hasOwn(legacy, name) ? legacy[name] : undefined;
      if (!l) {
        environments[name] = env;
        continue;
      }
      const a = env.approvers;
      const allow =
        a.allowSelfApproval === false || l.allowSelfApproval === false
          ? false
          : (a.allowSelfApproval ?? l.allowSelfApproval);
      environments[name] = {
        ...env,
        approvers: PolicyApprovers.parse({
          github: uniq([...a.github, ...l.github]),
          githubTeams: uniq([...a.githubTeams, ...l.githubTeams]),
          slack: uniq([...a.slack, ...l.slack]),
          slackToGithub: { ...l.slackToGithub, ...a.slackToGithub },
          cli: uniq([...a.cli, ...l.cli]),
          cliToGithub: { ...l.cliToGithub, ...a.cliToGithub },
          required: Math.max(a.required, l.required ?? 1),
          ...(allow !== undefined ? { allowSelfApproval: allow } : {}),
        }),
      };
    }
    repositories[repo] = { environments };
  }
  return { ...policy, repositories };
}

function hostOf(url: string): string | undefined {
  try {
    return new URL(url).hostname.toLowerCase();
  } catch {
    return undefined;
  }
}

/**
 * The local default: the policy the operator's own checkout implies, read once at start from the
 * working tree's deploy.yaml (never from a pushed commit). Each environment keeps its approval mode,
 * `after` and approvers block, its cluster secret, and exactly the secrets (by name), namespaces,
 * chart repositories and health hosts that file names, for every accepted repository; the releases it
 * tests with `helm test` must keep declaring it.
 */
export function policyFromDeployConfig(config: DeployConfig, repositories: readonly string[]): Policy {
  const environments: Record<string, unknown> = {};
  for (const name of environmentNames(config)) {
    const env = config.environments[name];
    if (!env) continue;
    const secrets = new Set<string>();
    const namespaces = new Set<string>();
    const charts = new Set<string>();
    const hosts = new Set<string>();
    const tested: string[] = [];
    for (const s of env.kubernetesSecrets) {
      namespaces.add(s.namespace);
      for (const ref of Object.values(s.data)) secrets.add(ref.secret);
    }
    for (const r of env.releases) {
      namespaces.add(r.namespace);
      for (const ref of Object.values(r.secretValues)) secrets.add(ref.secret);
      if (typeof r.chart !== 'string') {
        const url = config.chartRepositories[r.chart.repository];
        if (url !== undefined) charts.add(url);
      }
      for (const h of r.health.http) {
        const host = hostOf(h.url);
        if (host) hosts.add(host);
      }
      if (r.health.helmTest) tested.push(r.name);
    }
    const a = env.approvers;
    environments[name] = {
      approval: env.approval,
      ...(env.after !== undefined ? { after: env.after } : {}),
      ...(a
        ? {
            approvers: {
              github: a.github,
              githubTeams: a.githubTeams,
              slack: a.slack,
              ...(a.required !== undefined ? { required: a.required } : {}),
              ...(a.allowSelfApproval !== undefined ? { allowSelfApproval: a.allowSelfApproval } : {}),
            },
          }
        : {}),
      cluster: copyClusterRef(env.cluster),
      secretPrefixes: [...secrets].sort(),
      namespaces: [...namespaces].sort(),
      chartRepositories: [...charts].sort(),
      healthHosts: [...hosts].sort(),
      // the releases the checkout tests keep being tested: a push may not drop the line
      ...(tested.length > 0 ? { requireHelmTest: tested.sort() } : {}),
    };
  }
  const repos = repositories.length > 0 ? repositories : ['*'];
  const parsed = Policy.safeParse({
    apiVersion: 'helmgate/policy/v1',
    repositories: Object.fromEntries(repos.map((r) => [r, { environments }])),
  });
  if (!parsed.success) throw new PolicyError(zodProblems(parsed.error, 'policy from deploy.yaml'));
  return parsed.data;
}
