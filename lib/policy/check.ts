import { type ClusterRef, clusterLabel, copyClusterRef } from '../deploy/cluster-ref';
import type { DeployConfig, EnvironmentSpec } from '../deploy/deploy-config';
import { HelmgateError } from '../errors';
import {
  APPROVAL_RANK,
  type ApprovalMode,
  chartUrlProtocolOk,
  describeEnvironmentPolicy,
  type EnvironmentPolicy,
  environmentPolicy,
  helmTestRequired,
  type Policy,
  policyDigest,
  repositoryPolicy,
  selfApprovalAllowed,
} from './policy';

/**
 * The check of a pushed deploy config against the operator's policy. The commit may only be
 * stricter: a higher approval mode, an extra `after`, more approvals required, self-approval
 * forbidden, fewer approvers, more releases tested with `helm test`; everything it reaches (cluster
 * credentials, secrets, namespaces, chart repositories, health hosts) must lie inside what the policy
 * allows. Pure.
 */

export type PolicyRule =
  | 'repository'
  | 'environment'
  | 'approval'
  | 'after'
  | 'approvers'
  | 'approvers.required'
  | 'approvers.allowSelfApproval'
  | 'cluster'
  | 'secretPrefixes'
  | 'namespaces'
  | 'chartRepositories'
  | 'healthHosts'
  | 'helmTest';

export interface PolicyViolation {
  rule: PolicyRule;
  /** `policy: <env>.<rule> …; deploy.yaml says …` */
  message: string;
}

/** Who may approve, after the commit's narrowing; the shape the approval side consumes. */
export interface EffectiveApprovers {
  github: string[];
  githubTeams: string[];
  slack: string[];
  slackToGithub: Record<string, string>;
  cli: string[];
  cliToGithub: Record<string, string>;
  required: number;
  allowSelfApproval: boolean;
}

/** The gate and reach one deployment gets: never looser than the policy. */
export interface EffectiveEnvironment {
  repository: string;
  environment: string;
  approval: ApprovalMode;
  after?: string;
  approvers: EffectiveApprovers;
  cluster: ClusterRef;
  /** the policy's allowances (what the deployment uses lies within them) */
  secretPrefixes: string[];
  namespaces: string[];
  chartRepositories: string[];
  healthHosts: string[];
  /** sha256 of the whole policy document */
  policyDigest: string;
  /** one line for people: the policy's word on this environment */
  summary: string;
}

export interface PolicyCheck {
  /** absent when the policy does not know the repository or environment */
  effective?: EffectiveEnvironment;
  violations: PolicyViolation[];
}

/** The commit's own approvers block (already validated by the deploy-config schema). */
export type RequestedApprovers = NonNullable<EnvironmentSpec['approvers']>;

/** Does secret name `id` lie under one of the prefixes? `a/` covers `a/…`; `a/b` covers `a/b` and `a/b/…`. */
export function secretAllowed(id: string, prefixes: readonly string[]): boolean {
  return prefixes.some((p) =>
    p.endsWith('/') ? id.length > p.length && id.startsWith(p) : id === p || id.startsWith(`${p}/`),
  );
}

/** `https://X/charts/` and `https://x/charts` are one repository; anything unparsable is itself. */
export function normalizeChartUrl(url: string): string {
  try {
    const u = new URL(url.trim());
    return `${u.protocol}//${u.host.toLowerCase()}${u.pathname.replace(/\/+$/, '')}${u.search}`;
  } catch {
    return url.trim().replace(/\/+$/, '');
  }
}

export function chartRepositoryAllowed(url: string, allowed: readonly string[]): boolean {
  const n = normalizeChartUrl(url);
  return allowed.some((a) => normalizeChartUrl(a) === n);
}

export function healthHostOf(url: string): string | undefined {
  try {
    return new URL(url).hostname.toLowerCase();
  } catch {
    return undefined;
  }
}

const lower = (s: string) => s.toLowerCase();

/**
 * The effective approvers: the policy's, narrowed by what the commit asks for. A commit may raise
 * `required`, forbid self-approval and name a subset of the policy's approvers (a non-empty list
 * replaces the policy's list of that kind; an empty or absent one keeps it). Names outside the
 * policy are reported by `checkPlan` and never added here.
 */
export function effectiveApprovers(
  policy: EnvironmentPolicy['approvers'],
  requested: RequestedApprovers | undefined,
): EffectiveApprovers {
  const narrowing =
    requested !== undefined &&
    requested.github.length + requested.githubTeams.length + requested.slack.length > 0;
  const keep = (base: string[], asked: readonly string[], fold: (s: string) => string) => {
    if (!narrowing) return [...base];
    const wanted = new Set(asked.map(fold));
    return base.filter((b) => wanted.has(fold(b)));
  };
  return {
    // once a commit names people, only the named ones (that the policy also names) may approve
    github: keep(policy.github, requested?.github ?? [], lower),
    githubTeams: keep(policy.githubTeams, requested?.githubTeams ?? [], lower),
    slack: keep(policy.slack, requested?.slack ?? [], (s) => s),
    slackToGithub: { ...policy.slackToGithub },
    // the CLI is the operator's channel: a commit cannot name CLI principals, and does not remove them
    cli: [...policy.cli],
    cliToGithub: { ...policy.cliToGithub },
    required: Math.max(policy.required, requested?.required ?? 1),
    allowSelfApproval: selfApprovalAllowed(policy) && requested?.allowSelfApproval !== false,
  };
}

/**
 * Checks one environment of a pushed deploy config against the policy. `effective` is present when
 * the policy knows the environment; with violations it still says what the policy would allow, and
 * callers must not deploy.
 */
export function checkPlan(
  policy: Policy,
  repository: string,
  config: DeployConfig,
  environment: string,
  file = 'deploy.yaml',
): PolicyCheck {
  const violations: PolicyViolation[] = [];
  const violate = (rule: PolicyRule, message: string) =>
    violations.push({ rule, message: `policy: ${message}` });

  const spec = Object.hasOwn(config.environments, environment) ? config.environments[environment] : undefined;
  if (!repositoryPolicy(policy, repository)) {
    violate('repository', `repository ${repository} has no policy; nothing of it may deploy`);
    return { violations };
  }
  const env = environmentPolicy(policy, repository, environment);
  if (!env) {
    violate(
      'environment',
      `${environment} is not an environment of ${repository} in the policy; ${file} may not add one`,
    );
    return { violations };
  }
  if (!spec) {
    violate('environment', `${environment} is not in ${file}`);
    return { violations };
  }

  const at = (rule: string) => `${environment}.${rule}`;

  // ── the gate ───────────────────────────────────────────────────────────────────────────────────
  if (APPROVAL_RANK[spec.approval] < APPROVAL_RANK[env.approval])
    violate('approval', `${at('approval')} is ${env.approval}; ${file} says ${spec.approval}`);
  let approval: ApprovalMode =
    APPROVAL_RANK[spec.approval] > APPROVAL_RANK[env.approval] ? spec.approval : env.approval;

  let after = env.after;
  if (env.after !== undefined && spec.after !== env.after)
    violate('after', `${at('after')} is ${env.after}; ${file} says ${spec.after ?? 'nothing'}`);
  if (env.after === undefined && spec.after !== undefined) after = spec.after;
  // `after` is a gate too: an environment that waits for another cannot start at once, so `none` with
  // `after` promotes like `auto` (it starts when `after` succeeded, without a vote)
  if (approval === 'none' && after !== undefined) approval = 'auto';
  if (approval === 'auto' && after === undefined)
    violate('after', `${at('approval')} auto needs \`after\`; neither the policy nor ${file} sets it`);

  const requested = spec.approvers;
  if (requested) {
    const a = env.approvers;
    const logins = new Set(a.github.map(lower));
    const teams = new Set(a.githubTeams.map(lower));
    const slack = new Set(a.slack);
    const added = [
      ...requested.github.filter((l) => !logins.has(lower(l))),
      ...requested.githubTeams.filter((t) => !teams.has(lower(t))),
      ...requested.slack.filter((s) => !slack.has(s)),
    ];
    if (added.length > 0)
      violate(
        'approvers',
        `${at('approvers')} does not include ${added.join(', ')}; ${file} may name a subset of the policy's approvers, never add one`,
      );
    if (requested.required !== undefined && requested.required < a.required)
      violate(
        'approvers.required',
        `${at('approvers.required')} is ${a.required}; ${file} says ${requested.required}`,
      );
    if (requested.allowSelfApproval === true && !selfApprovalAllowed(a))
      violate(
        'approvers.allowSelfApproval',
        `${at('approvers.allowSelfApproval')} is false; ${file} says true`,
      );
  }

  // ── the reach ──────────────────────────────────────────────────────────────────────────────────
  if (
    clusterLabel(spec.cluster) !== clusterLabel(env.cluster) ||
    'secret' in spec.cluster !== 'secret' in env.cluster
  )
    violate(
      'cluster',
      'secret' in env.cluster
        ? `${at('cluster.secret')} is ${env.cluster.secret}; ${file} says ${clusterLabel(spec.cluster)}`
        : `${at('cluster')} is EKS ${env.cluster.eks.name} (${env.cluster.eks.region}); ${file} says ${clusterLabel(spec.cluster)}`,
    );

  const refs: Array<{ where: string; secret: string }> = [];
  for (const s of spec.kubernetesSecrets)
    for (const [key, ref] of Object.entries(s.data))
      refs.push({ where: `kubernetesSecrets ${s.namespace}/${s.name}.${key}`, secret: ref.secret });
  for (const r of spec.releases)
    for (const [p, ref] of Object.entries(r.secretValues))
      refs.push({ where: `release ${r.name} secretValues ${p}`, secret: ref.secret });
  for (const ref of refs)
    if (!secretAllowed(ref.secret, env.secretPrefixes))
      violate(
        'secretPrefixes',
        `${at('secretPrefixes')} is ${env.secretPrefixes.join(', ') || 'empty'}; ${file} reads ${ref.secret} (${ref.where})`,
      );

  const namespaces = new Set(env.namespaces);
  const used = [
    ...spec.releases.map((r) => ({ ns: r.namespace, what: `release ${r.name}` })),
    ...spec.kubernetesSecrets.map((s) => ({ ns: s.namespace, what: `Secret ${s.name}` })),
  ];
  for (const u of used)
    if (!namespaces.has(u.ns))
      violate(
        'namespaces',
        `${at('namespaces')} is ${env.namespaces.join(', ') || 'empty'}; ${file} deploys ${u.what} into ${u.ns}`,
      );

  for (const r of spec.releases) {
    if (typeof r.chart !== 'string') {
      const url = config.chartRepositories[r.chart.repository];
      if (url === undefined) continue; // the deploy-config validator reports it
      if (!chartUrlProtocolOk(url))
        violate(
          'chartRepositories',
          `chart repositories must be https:// or oci://; ${file} says ${url} (release ${r.name})`,
        );
      else if (!chartRepositoryAllowed(url, env.chartRepositories))
        violate(
          'chartRepositories',
          `${at('chartRepositories')} is ${env.chartRepositories.join(', ') || 'empty'}; ${file} pulls ${r.chart.name} from ${url} (release ${r.name})`,
        );
    }
    if (!r.health.helmTest && helmTestRequired(env, r.name))
      violate(
        'helmTest',
        `${at('requireHelmTest')} requires helm test of release ${r.name}; ${file} does not declare it (health.helmTest: true)`,
      );
    for (const h of r.health.http) {
      const host = healthHostOf(h.url);
      if (host === undefined || !env.healthHosts.includes(host))
        violate(
          'healthHosts',
          `${at('healthHosts')} is ${env.healthHosts.join(', ') || 'empty'}; ${file} checks ${h.url} (release ${r.name})`,
        );
    }
  }

  return {
    effective: {
      repository,
      environment,
      approval,
      ...(after !== undefined ? { after } : {}),
      approvers: effectiveApprovers(env.approvers, requested),
      cluster: copyClusterRef(env.cluster),
      secretPrefixes: [...env.secretPrefixes],
      namespaces: [...env.namespaces],
      chartRepositories: [...env.chartRepositories],
      healthHosts: [...env.healthHosts],
      policyDigest: policyDigest(policy),
      summary: describeEnvironmentPolicy(env),
    },
    violations,
  };
}

/** "policy abc123def456: <summary>": the line `helmgate plan` and the approval page show. */
export function policyLine(e: Pick<EffectiveEnvironment, 'policyDigest' | 'summary'>): string {
  return `policy ${e.policyDigest.slice(0, 12)}: ${e.summary}`;
}

/** Every violation in one reason (they are short and each names its rule). */
export function violationReason(violations: readonly PolicyViolation[]): string {
  const shown = violations.slice(0, 10).map((v) => v.message);
  if (violations.length > 10) shown.push(`… and ${violations.length - 10} more`);
  return shown.join('\n');
}

/** A deployment the policy forbids; the message lists every violation, each naming its rule. */
export class PolicyViolationError extends HelmgateError {
  override name = 'PolicyViolationError';
  readonly violations: PolicyViolation[];
  constructor(violations: PolicyViolation[]) {
    super('forbidden', violationReason(violations));
    this.violations = violations;
  }
}

/**
 * Who may approve each environment of a deployment's repository, as the approval side consumes it:
 * the policy's approvers, narrowed for the deployment's own environment by what its commit asked
 * (`requestedApprovers`, recorded at intake). A repository the policy does not know: nobody.
 */
export function approversFor(
  policy: Policy,
  d: { repository: string; environment: string; requestedApprovers?: RequestedApprovers | undefined },
): Record<string, EffectiveApprovers> {
  const rp = repositoryPolicy(policy, d.repository);
  const out: Record<string, EffectiveApprovers> = {};
  for (const [name, env] of Object.entries(rp?.environments ?? {}))
    out[name] = effectiveApprovers(env.approvers, name === d.environment ? d.requestedApprovers : undefined);
  return out;
}
