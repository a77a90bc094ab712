import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Deployment } from '../deploy/lifecycle';
import type { ManifestDiff } from '../deploy/manifest-diff';
import type { EnvironmentPlan } from '../deploy/plan';
import { describeError, HelmgateError } from '../errors';
import type { DeploymentStore } from '../store/deployment-store';
import { type ManifestPreviewDeps, previewManifests } from './manifest-preview';

/** What the preview job needs besides the preview's own dependencies. */
export interface PreviewJobDeps extends ManifestPreviewDeps {
  store: Pick<DeploymentStore, 'getApprovalRequest'>;
  /** the approval side: records the diff on the request (ApprovalService.recordPreview) */
  recordPreview?: (
    deploymentId: string,
    input: { planDigest: string; manifests?: ManifestDiff },
  ) => Promise<boolean>;
}

export type PreviewJobResult = { kind: 'waiting' | 'not-runnable'; reason: string };

const short = (digest: string) => digest.replace(/^sha256:/, '').slice(0, 12);

/**
 * The `preview` job (issue 13, item 1): the rendered-manifest diff of a deployment whose approval is open,
 * made in an invocation of THAT deployment, so the cluster is reached with its environment's role (the
 * invocation that finished the `after` environment never holds these credentials). The commit is fetched
 * and planned again (`planOf`); the diff is recorded only for the plan the approval is bound to. Whatever
 * goes wrong is recorded as the reason there is no diff, so the approval page says so instead of nothing.
 * Idempotent: a request that already has its diff, or is no longer pending, is left alone.
 */
export async function runPreviewJob(
  deps: PreviewJobDeps,
  d: Deployment,
  planOf: (sourceDir: string) => Promise<EnvironmentPlan>,
): Promise<PreviewJobResult> {
  const req = await deps.store.getApprovalRequest(d.id);
  if (d.status !== 'awaiting_approval' || req?.status !== 'pending')
    return { kind: 'not-runnable', reason: 'no open approval to preview' };
  if (!req.manifestsPending) return { kind: 'not-runnable', reason: 'the preview is already recorded' };
  if (!deps.recordPreview) return { kind: 'not-runnable', reason: 'no approval service configured' };
  const log = deps.logger.child({ deploymentId: d.id });
  const none = (unavailable: string): ManifestDiff => ({
    planDigest: req.planDigest,
    renderedAt: deps.clock.now().toISOString(),
    releases: [],
    unavailable,
  });
  const workDir = await mkdtemp(path.join(deps.workRoot, 'preview-job-'));
  // undefined: render-only mode (no cluster), where nothing runs to compare with — by design, not worth a line
  let manifests: ManifestDiff | undefined;
  try {
    const sourceDir = path.join(workDir, 'src');
    await mkdir(sourceDir, { mode: 0o700 });
    const plan = await planOf(sourceDir);
    if (plan.digest !== req.planDigest)
      manifests = none(
        `the commit now plans differently (${short(plan.digest)}) from the plan offered (${short(req.planDigest)}): deploying it would void this approval`,
      );
    else manifests = await previewManifests(deps, plan, { sourceDir, deployment: d });
  } catch (e) {
    const reason = deps.redactor
      .redact(e instanceof HelmgateError ? e.message : describeError(e))
      .slice(0, 500);
    log.warn('manifest preview failed', { reason });
    manifests = none(`the preview failed: ${reason}`);
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
  const recorded = await deps.recordPreview(d.id, {
    planDigest: req.planDigest,
    ...(manifests ? { manifests } : {}),
  });
  return recorded
    ? { kind: 'waiting', reason: 'manifest preview recorded' }
    : { kind: 'not-runnable', reason: 'the approval was decided or re-bound meanwhile; preview dropped' };
}
