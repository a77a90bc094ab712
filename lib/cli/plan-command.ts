import { clusterLabel } from '../deploy/cluster-ref';
import { type ManifestDiff, manifestSummaryLines } from '../deploy/manifest-diff';
import { chartLabel, describePlan, type EnvironmentPlan } from '../deploy/plan';
import { diffPlans, type ReleaseChange, summaryLines } from '../deploy/plan-diff';
import { describeRef, type SecretRef, SecretResolver } from '../secrets/secrets-provider';
import { type Output, short } from './output';
import { environmentsOf, openCommit, openTargetCommit } from './plans';
import type { CliTarget } from './target';

/** The plan as scripts see it: structure and names, no values-file contents. */
function planJson(plan: EnvironmentPlan) {
  return {
    environment: plan.environment,
    sha: plan.sha,
    digest: plan.digest,
    approval: plan.approval,
    ...(plan.after !== undefined ? { after: plan.after } : {}),
    cluster: clusterLabel(plan.cluster),
    /** the operator policy the plan was checked against */
    ...(plan.policy ? { policy: plan.policy } : {}),
    releases: plan.releases.map((r) => ({
      name: r.name,
      namespace: r.namespace,
      chart: chartLabel(r.chart, { fullDigest: true }),
      values: r.valuesFiles.map((f) => f.path),
      secretValues: r.secretValues.map((s) => ({ path: s.path, ref: describeRef(s.ref) })),
      needs: r.needs,
      digest: r.digest,
    })),
    secretRefs: plan.secretRefs.map(describeRef),
  };
}

export interface EnvironmentPlanReport {
  environment: string;
  plan: ReturnType<typeof planJson>;
  /** what the environment runs now, as recorded at its last successful deploy */
  running: { sha: string; digest: string } | null;
  changes: ReleaseChange[];
  /** the rendered objects' diff made when this commit's approval was offered for this plan, if any */
  manifests: ManifestDiff | null;
}

/**
 * The rendered diff of an approval offered for this commit, environment and plan digest. Rendering needs
 * the environment's cluster credentials, so the CLI shows what the runner rendered at the offer.
 */
async function offeredManifests(
  t: CliTarget,
  repository: string,
  environment: string,
  plan: EnvironmentPlan,
): Promise<ManifestDiff | undefined> {
  const recent = await t.store.listByEnvironment(repository, environment, { limit: 20 });
  for (const d of recent.filter((x) => x.sha === plan.sha)) {
    const req = await t.store.getApprovalRequest(d.id);
    if (req?.manifests && req.manifests.planDigest === plan.digest) return req.manifests;
  }
  return undefined;
}

/** `plan <rev> [env]`: the plan of a commit from the local checkout, and what it changes in each environment. */
export async function planCommand(
  t: CliTarget,
  o: Output,
  rev: string,
  environment: string | undefined,
): Promise<number> {
  const repository = await t.repository();
  const tree = await openTargetCommit(t, rev, repository);
  try {
    const approvals = t.readApprovals();
    const reports: EnvironmentPlanReport[] = [];
    const texts: string[] = [];
    for (const env of environmentsOf(tree, environment)) {
      const plan = await tree.plan(env);
      const previous = await approvals.currentSnapshot(repository, env);
      const changes = diffPlans(previous, plan);
      const manifests = await offeredManifests(t, repository, env, plan);
      reports.push({
        environment: env,
        plan: planJson(plan),
        running: previous ? { sha: previous.sha, digest: previous.digest } : null,
        changes,
        manifests: manifests ?? null,
      });
      const lines = [describePlan(plan), ''];
      lines.push(
        previous
          ? `against what ${env} runs now (${short(previous.sha)}, plan ${short(previous.digest)}):`
          : `${env} runs nothing deployed by helmgate yet: every release is new`,
      );
      for (const s of summaryLines(changes)) lines.push(`  ${s}`);
      for (const c of changes) if (c.valuesDiff) lines.push('', c.valuesDiff.trimEnd());
      if (manifests) {
        lines.push('', `rendered objects (at the approval offer, ${manifests.renderedAt}):`);
        for (const s of manifestSummaryLines(manifests)) lines.push(`  ${s}`);
        for (const r of manifests.releases)
          for (const o of r.objects) if (o.diff) lines.push('', o.diff.trimEnd());
      } else if (plan.approval === 'required')
        lines.push('', 'rendered objects: shown once the approval is offered (rendered with the cluster)');
      texts.push(lines.join('\n'));
    }
    o.result({ repository, sha: tree.sha, environments: reports }, texts.join('\n\n'));
    return 0;
  } finally {
    await tree.dispose();
  }
}

export interface SecretsCheckReport {
  environment: string;
  checked: Array<{ ref: string; ok: boolean }>;
  missing: string[];
}

/** The pre-flight's findings for every environment (or one) of the checkout's commit `rev`. */
export interface SecretsCheckResult {
  sha: string;
  ok: boolean;
  environments: SecretsCheckReport[];
}

/** What the secrets pre-flight reads of a target: the checkout, the policy and the secrets. */
export type SecretsCheckTarget = Pick<
  CliTarget,
  | 'git'
  | 'repoDir'
  | 'deployConfigPath'
  | 'policy'
  | 'repository'
  | 'secretsProvider'
  | 'redactor'
  | 'renderOnly'
>;

/**
 * The runner's pre-flight on its own. Every secret the plan references (and the cluster credentials,
 * unless the local stack only renders) must exist and be non-empty. Values are resolved to test them
 * and never printed; the resolver registers them with the target's redactor.
 */
export async function checkSecrets(
  t: SecretsCheckTarget,
  environment: string | undefined,
  rev: string,
): Promise<SecretsCheckResult> {
  // which secrets a plan references does not depend on chart digests: no chart repository is asked
  const tree = await openCommit(t.git, t.repoDir, rev, t.deployConfigPath, {
    repository: await t.repository(),
    policy: t.policy().policy,
  });
  try {
    const resolver = new SecretResolver(t.secretsProvider, t.redactor);
    const reports: SecretsCheckReport[] = [];
    for (const env of environmentsOf(tree, environment)) {
      const plan = await tree.plan(env);
      const refs: SecretRef[] = [
        ...(t.renderOnly || !('secret' in plan.cluster) ? [] : [{ secret: plan.cluster.secret }]),
        ...plan.secretRefs,
      ];
      const checked: SecretsCheckReport['checked'] = [];
      for (const ref of refs) {
        const label = describeRef(ref);
        if (checked.some((c) => c.ref === label)) continue;
        checked.push({ ref: label, ok: (await resolver.tryResolve(ref)) !== undefined });
      }
      reports.push({ environment: env, checked, missing: checked.filter((c) => !c.ok).map((c) => c.ref) });
    }
    return { sha: tree.sha, ok: reports.every((r) => r.missing.length === 0), environments: reports };
  } finally {
    await tree.dispose();
  }
}

/** The pre-flight as text: per environment a count, then every reference with ok or MISSING. */
export function secretsCheckText(r: SecretsCheckResult, o: Output, renderOnly: boolean): string {
  const lines: string[] = [];
  for (const e of r.environments) {
    lines.push(
      `${e.environment} @ ${short(r.sha)}: ${e.checked.length} secret reference${e.checked.length === 1 ? '' : 's'}, ${e.missing.length ? `${e.missing.length} missing or empty` : 'all present'}`,
    );
    for (const c of e.checked)
      lines.push(`  ${c.ok ? o.status('ok') + ' '.repeat(5) : o.status('MISSING')}  ${c.ref}`);
  }
  if (renderOnly) lines.push('(render-only local stack: cluster credentials are not needed and not checked)');
  return lines.join('\n');
}

/** `secrets check [env]`: the runner's pre-flight on its own (exit 1 when something is missing). */
export async function secretsCheckCommand(
  t: CliTarget,
  o: Output,
  environment: string | undefined,
  rev: string,
): Promise<number> {
  const r = await checkSecrets(t, environment, rev);
  o.result(r, () => secretsCheckText(r, o, t.renderOnly));
  return r.ok ? 0 : 1;
}
