import fc from 'fast-check';
import type { DeployConfig } from '../../lib/deploy/deploy-config';
import { checkPlan } from '../../lib/policy/check';
import { APPROVAL_RANK, type ApprovalMode, Policy } from '../../lib/policy/policy';
import { checkProperty, type PropertyReport, summaryLine } from './harness';

// Random pairs of (operator policy, pushed deploy.yaml) over small pools, so that "inside" and
// "outside" both come up often. The oracle below says independently whether the commit is looser
// than the policy anywhere; checkPlan must agree, and whatever it calls effective must never be
// looser than the policy.

const MODES: ApprovalMode[] = ['none', 'auto', 'required'];
const LOGINS = ['alice', 'bob', 'carol', 'dave'];
const TEAMS = ['org/ops', 'org/dev'];
const SLACK = ['U1', 'U2', 'U3'];
const SECRETS = [
  'idr/readonly',
  'idr/readonly/extra',
  'idr/readonlyx',
  'idr/vae/oauth',
  'helmgate/github-webhook',
  'helmgate/staging/cluster',
  'helmgate/production/cluster',
  'other/x',
];
const PREFIXES = ['idr/', 'idr/readonly', 'helmgate/staging/', 'other/x', 'idr/vae'];
const CLUSTERS = ['helmgate/staging/cluster', 'helmgate/production/cluster'];
const NAMESPACES = ['hub', 'web', 'grafana'];
const CHARTS = [
  'https://charts.example.org/helm',
  'https://charts.example.org/helm/',
  'https://CHARTS.example.org/helm',
  'https://evil.example.org/helm',
  'oci://registry.example.org/charts',
  'http://charts.example.org/helm',
];
const HOSTS = ['a.example.org', 'b.example.org', 'evil.example.org'];

const subset = <T>(xs: readonly T[]) => fc.subarray([...xs]);
type ValueOf<A> = A extends fc.Arbitrary<infer T> ? T : never;

const envPolicyArb = fc.record({
  approval: fc.constantFrom(...MODES),
  withAfter: fc.boolean(),
  github: subset(LOGINS),
  githubTeams: subset(TEAMS),
  slack: subset(SLACK),
  required: fc.integer({ min: 1, max: 3 }),
  allowSelfApproval: fc.option(fc.boolean(), { nil: undefined }),
  cluster: fc.constantFrom(...CLUSTERS),
  secretPrefixes: subset(PREFIXES),
  namespaces: subset(NAMESPACES),
  chartRepositories: subset(CHARTS.filter((c) => !c.startsWith('http:'))),
  healthHosts: subset(HOSTS),
  // issue 13 item 8: releases are named r0, r1, r2; r9 is one the commit never deploys
  requireHelmTest: fc.constantFrom<boolean | string[] | undefined>(
    undefined,
    false,
    true,
    ['r0'],
    ['r1', 'r9'],
  ),
});

type EnvPolicyIn = ValueOf<typeof envPolicyArb>;

/** Mostly inside what the policy allows, sometimes anything: one loosening at a time comes up often. */
function mostly<T>(inside: readonly T[], anything: readonly T[]): fc.Arbitrary<T> {
  const any = fc.constantFrom(...anything);
  return inside.length === 0
    ? any
    : fc.oneof({ arbitrary: fc.constantFrom(...inside), weight: 6 }, { arbitrary: any, weight: 1 });
}
/** A subset of what is allowed, sometimes with one item from anywhere added. */
function mostlySubset<T>(inside: readonly T[], anything: readonly T[]): fc.Arbitrary<T[]> {
  return fc.oneof(
    { arbitrary: subset(inside), weight: 6 },
    {
      arbitrary: fc
        .tuple(subset(inside), fc.constantFrom(...anything))
        .map(([xs, x]) => [...new Set([...xs, x])]),
      weight: 1,
    },
  );
}

function envConfigArb(p: EnvPolicyIn, policyAfter: string | undefined) {
  const okSecrets = SECRETS.filter((id) => p.secretPrefixes.some((pre) => underPrefix(id, pre)));
  const okCharts = CHARTS.filter(
    (c) => !c.startsWith('http:') && p.chartRepositories.some((a) => sameRepo(a, c)),
  );
  return fc.record({
    approval: mostly(
      MODES.filter((m) => APPROVAL_RANK[m] >= APPROVAL_RANK[p.approval]),
      MODES,
    ),
    after:
      policyAfter !== undefined
        ? mostly<string | undefined>([policyAfter], [undefined, 'staging', 'production'])
        : fc.constantFrom<string | undefined>(undefined, undefined, 'staging', 'production'),
    approvers: fc.option(
      fc.record({
        github: mostlySubset(p.github, [...LOGINS, 'mallory']),
        githubTeams: mostlySubset(p.githubTeams, [...TEAMS, 'org/evil']),
        slack: mostlySubset(p.slack, [...SLACK, 'U9']),
        required: fc.option(
          mostly(
            [1, 2, 3, 4].filter((n) => n >= p.required),
            [1, 2, 3, 4],
          ),
          { nil: undefined },
        ),
        allowSelfApproval: fc.option(
          p.allowSelfApproval === true ? fc.boolean() : mostly([false], [true, false]),
          { nil: undefined },
        ),
      }),
      { nil: undefined },
    ),
    cluster: mostly([p.cluster], [...CLUSTERS, 'helmgate/github-webhook']),
    kubeSecrets: fc.array(
      fc.record({ namespace: mostly(p.namespaces, NAMESPACES), secret: mostly(okSecrets, SECRETS) }),
      { maxLength: 2 },
    ),
    releases: fc.array(
      fc.record({
        namespace: mostly(p.namespaces, NAMESPACES),
        chart: fc.option(mostly(okCharts, CHARTS), { nil: undefined }),
        secrets: mostlySubset(okSecrets, SECRETS),
        hosts: mostlySubset(p.healthHosts, HOSTS),
        helmTest: fc.oneof(
          { arbitrary: fc.constant(true), weight: 3 },
          { arbitrary: fc.constant(false), weight: 1 },
        ),
      }),
      { maxLength: 3 },
    ),
  });
}

const policyAfterOf = (p: EnvPolicyIn, env: string) =>
  p.withAfter || p.approval === 'auto' ? (env === 'staging' ? 'production' : 'staging') : undefined;

const caseArb = fc
  .record({
    staging: envPolicyArb,
    production: envPolicyArb,
    env: fc.constantFrom('staging', 'production', 'qa'),
  })
  // a valid policy gives two environments on one cluster no namespace in common (sharedNamespaces)
  .map((c) =>
    c.staging.cluster === c.production.cluster
      ? {
          ...c,
          production: {
            ...c.production,
            namespaces: c.production.namespaces.filter((n) => !c.staging.namespaces.includes(n)),
          },
        }
      : c,
  )
  .chain((c) => {
    const p = c.env === 'production' ? c.production : c.staging;
    return envConfigArb(p, policyAfterOf(p, c.env === 'qa' ? 'staging' : c.env)).map((config) => ({
      ...c,
      config,
    }));
  });
type Case = ValueOf<typeof caseArb>;

function policyOf(c: Case): Policy {
  const env = (e: EnvPolicyIn, after: string) => ({
    approval: e.approval,
    ...(e.withAfter || e.approval === 'auto' ? { after } : {}),
    approvers: {
      github: e.github,
      githubTeams: e.githubTeams,
      slack: e.slack,
      required: e.required,
      ...(e.allowSelfApproval !== undefined ? { allowSelfApproval: e.allowSelfApproval } : {}),
    },
    cluster: { secret: e.cluster },
    secretPrefixes: e.secretPrefixes,
    namespaces: e.namespaces,
    chartRepositories: e.chartRepositories,
    healthHosts: e.healthHosts,
    ...(e.requireHelmTest !== undefined ? { requireHelmTest: e.requireHelmTest } : {}),
  });
  return Policy.parse({
    apiVersion: 'helmgate/policy/v1',
    repositories: {
      'org/repo': {
        environments: { staging: env(c.staging, 'production'), production: env(c.production, 'staging') },
      },
    },
  });
}

/** Built directly, not parsed: the policy check must hold even for what the deploy-config schema refuses. */
function configOf(c: Case): DeployConfig {
  const e = c.config;
  const repos: Record<string, string> = {};
  CHARTS.forEach((url, i) => {
    repos[`r${i}`] = url;
  });
  return {
    apiVersion: 'helmgate/v1',
    chartRepositories: repos,
    defaults: {},
    environments: {
      [c.env]: {
        approval: e.approval,
        ...(e.after !== undefined ? { after: e.after } : {}),
        ...(e.approvers
          ? {
              approvers: {
                github: e.approvers.github,
                githubTeams: e.approvers.githubTeams,
                slack: e.approvers.slack,
                ...(e.approvers.required !== undefined ? { required: e.approvers.required } : {}),
                ...(e.approvers.allowSelfApproval !== undefined
                  ? { allowSelfApproval: e.approvers.allowSelfApproval }
                  : {}),
              },
            }
          : {}),
        cluster: { secret: e.cluster },
        kubernetesSecrets: e.kubeSecrets.map((s, i) => ({
          name: `s${i}`,
          namespace: s.namespace,
          data: { k: { secret: s.secret } },
          restart: [],
        })),
        releases: e.releases.map((r, i) => ({
          name: `r${i}`,
          namespace: r.namespace,
          chart:
            r.chart === undefined
              ? './charts/x'
              : { repository: `r${CHARTS.indexOf(r.chart)}`, name: 'x', version: '1.0.0' },
          values: [],
          secretValues: Object.fromEntries(r.secrets.map((s, j) => [`v${j}`, { secret: s }])),
          needs: [],
          health: {
            workloads: true,
            http: r.hosts.map((h) => ({ url: `https://${h}/health`, expectStatus: 200 })),
            helmTest: r.helmTest,
          },
        })),
      },
    },
  } as DeployConfig;
}

// ── the oracle: segment-wise, written apart from the implementation ──────────────────────────────
function underPrefix(id: string, prefix: string): boolean {
  const dir = prefix.endsWith('/');
  const p = prefix.split('/').filter(Boolean);
  const s = id.split('/');
  if (s.length < p.length || (dir && s.length === p.length)) return false;
  return p.every((seg, i) => seg === s[i]);
}
function sameRepo(a: string, b: string): boolean {
  const n = (u: string) => {
    const x = new URL(u);
    return `${x.protocol}//${x.host.toLowerCase()}${x.pathname.replace(/\/+$/, '')}`;
  };
  return n(a) === n(b);
}

function looserThanPolicy(c: Case): string[] {
  const why: string[] = [];
  if (c.env === 'qa') return ['unknown environment'];
  const p = c[c.env as 'staging' | 'production'];
  const e = c.config;
  const policyAfter = policyAfterOf(p, c.env);
  if (APPROVAL_RANK[e.approval] < APPROVAL_RANK[p.approval]) why.push('approval');
  if (policyAfter !== undefined && e.after !== policyAfter) why.push('after');
  const mode = APPROVAL_RANK[e.approval] > APPROVAL_RANK[p.approval] ? e.approval : p.approval;
  if (mode === 'auto' && policyAfter === undefined && e.after === undefined) why.push('auto without after');
  if (e.approvers) {
    if (e.approvers.github.some((l) => !p.github.includes(l))) why.push('approver added');
    if (e.approvers.githubTeams.some((t) => !p.githubTeams.includes(t))) why.push('team added');
    if (e.approvers.slack.some((s) => !p.slack.includes(s))) why.push('slack added');
    if (e.approvers.required !== undefined && e.approvers.required < p.required) why.push('required');
    if (e.approvers.allowSelfApproval === true && p.allowSelfApproval !== true) why.push('self');
  }
  if (e.cluster !== p.cluster) why.push('cluster');
  const refs = [...e.kubeSecrets.map((s) => s.secret), ...e.releases.flatMap((r) => r.secrets)];
  if (refs.some((id) => !p.secretPrefixes.some((pre) => underPrefix(id, pre)))) why.push('secret');
  const nss = [...e.kubeSecrets.map((s) => s.namespace), ...e.releases.map((r) => r.namespace)];
  if (nss.some((n) => !p.namespaces.includes(n))) why.push('namespace');
  for (const r of e.releases) {
    if (
      r.chart !== undefined &&
      (r.chart.startsWith('http:') || !p.chartRepositories.some((a) => sameRepo(a, r.chart as string)))
    )
      why.push('chart');
    if (r.hosts.some((h) => !p.healthHosts.includes(h))) why.push('host');
  }
  e.releases.forEach((r, i) => {
    const req = p.requireHelmTest;
    if (!r.helmTest && (req === true || (Array.isArray(req) && req.includes(`r${i}`)))) why.push('helm test');
  });
  return why;
}

async function checkCase(c: Case): Promise<string[]> {
  const problems: string[] = [];
  const policy = policyOf(c);
  const result = checkPlan(policy, 'org/repo', configOf(c), c.env);
  const looser = looserThanPolicy(c);
  if (looser.length > 0 && result.violations.length === 0)
    problems.push(`looser (${looser.join(', ')}) but no violation`);
  if (looser.length === 0 && result.violations.length > 0)
    problems.push(`not looser but violations: ${result.violations.map((v) => v.message).join(' | ')}`);
  for (const v of result.violations)
    if (!v.message.startsWith('policy: ')) problems.push(`reason without rule: ${v.message}`);
  const eff = result.effective;
  if (c.env === 'qa') {
    if (eff) problems.push('an unknown environment got an effective policy');
    return problems;
  }
  if (!eff) return [...problems, 'no effective policy for a known environment'];
  const p = policy.repositories['org/repo']?.environments[c.env];
  if (!p) return [...problems, 'test bug'];
  if (APPROVAL_RANK[eff.approval] < APPROVAL_RANK[p.approval]) problems.push('effective approval looser');
  if (p.after !== undefined && eff.after !== p.after) problems.push('effective after differs');
  const a = eff.approvers;
  if (a.github.some((l) => !p.approvers.github.includes(l)))
    problems.push('effective approver outside policy');
  if (a.githubTeams.some((t) => !p.approvers.githubTeams.includes(t)))
    problems.push('effective team outside policy');
  if (a.slack.some((s) => !p.approvers.slack.includes(s))) problems.push('effective Slack id outside policy');
  if (a.required < p.approvers.required) problems.push('effective required lower');
  if (a.allowSelfApproval && p.approvers.allowSelfApproval !== true)
    problems.push('effective self-approval looser');
  if (JSON.stringify(eff.cluster) !== JSON.stringify(p.cluster)) problems.push('effective cluster differs');
  const within = (xs: string[], ys: string[]) => xs.every((x) => ys.includes(x));
  if (!within(eff.secretPrefixes, p.secretPrefixes)) problems.push('effective secret prefixes looser');
  if (!within(eff.namespaces, p.namespaces)) problems.push('effective namespaces looser');
  if (!within(eff.chartRepositories, p.chartRepositories))
    problems.push('effective chart repositories looser');
  if (!within(eff.healthHosts, p.healthHosts)) problems.push('effective health hosts looser');
  return problems;
}

const NUM_RUNS = 1000;

describe('checkPlan over random (policy, deploy.yaml) pairs (fast-check)', () => {
  let report: PropertyReport;

  beforeAll(async () => {
    report = await checkProperty('policy: the commit is never looser', caseArb, checkCase, {
      numRuns: NUM_RUNS,
    });
    console.log(summaryLine(report));
  });

  it('reports a violation exactly when the commit is looser anywhere, and the effective policy is never looser', () => {
    expect(report.examples).toEqual([]);
    expect(report.runs).toBe(NUM_RUNS);
  });
});
