import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Deployment } from '../deploy/lifecycle';
import {
  boundManifestDiff,
  diffReleaseManifests,
  type ManifestDiff,
  type ReleaseManifestDiff,
} from '../deploy/manifest-diff';
import type { EnvironmentPlan, PlannedRelease } from '../deploy/plan';
import { describeError, HelmgateError } from '../errors';
import type { Logger } from '../log/logger';
import type { Redactor } from '../log/redact';
import { describeRef, type SecretResolver } from '../secrets/secrets-provider';

/** What opening a cluster session for a plan is given (the runner's sessions and the preview's). */
export interface SessionOpenContext {
  workDir: string;
  secrets: SecretResolver;
  deploymentId: string;
  digestKey: string;
  /** whose environment role signs an EKS token */
  repository?: string;
}

/** The part of a cluster session the preview needs (the runner's ClusterSession fits). */
interface PreviewSession {
  mode: 'deploy' | 'render';
  renderManifests?(
    release: PlannedRelease,
    input: { sourceDir: string; secretValues: Array<{ path: string; value: string }> },
  ): Promise<{ live: unknown[] | undefined; proposed: unknown[] }>;
  close(): Promise<void>;
}

export interface ManifestPreviewDeps {
  cluster: {
    open(plan: EnvironmentPlan, ctx: SessionOpenContext): Promise<PreviewSession>;
  };
  /** the resolver scoped to the deployment whose plan is previewed (its environment's secrets only) */
  secrets: (d: Pick<Deployment, 'id' | 'environment' | 'repository'>) => SecretResolver;
  workRoot: string;
  clock: { now(): Date };
  logger: Logger;
  redactor: Redactor;
  concurrency?: number;
}

/**
 * Renders what approving `plan` would change in its cluster, per release and object (issue 13, item 1):
 * `helm get manifest` of what runs against `helm template` of the proposal, with the environment's own
 * cluster credentials and secret values (redacted before they are compared). Never throws: what cannot
 * be rendered is said in `unavailable` or the release's `error`, and the approval is offered anyway;
 * undefined in render-only mode.
 */
export async function previewManifests(
  deps: ManifestPreviewDeps,
  plan: EnvironmentPlan,
  ctx: { sourceDir: string; deployment: Pick<Deployment, 'id' | 'environment' | 'repository'> },
): Promise<ManifestDiff | undefined> {
  const base = { planDigest: plan.digest, renderedAt: deps.clock.now().toISOString() };
  const log = deps.logger.child({ deploymentId: ctx.deployment.id });
  const workDir = await mkdtemp(path.join(deps.workRoot, 'preview-'));
  let session: PreviewSession | undefined;
  try {
    const secrets = deps.secrets(ctx.deployment);
    // the preview syncs no Kubernetes Secret, so it makes no content digest: a throwaway key, never stored
    const digestKey = randomBytes(32).toString('hex');
    session = await deps.cluster.open(plan, {
      workDir,
      secrets,
      deploymentId: ctx.deployment.id,
      digestKey,
      repository: ctx.deployment.repository,
    });
    const render = session.renderManifests?.bind(session);
    // render-only (no cluster): nothing runs to compare with, and that is by design, not worth a line
    if (session.mode !== 'deploy' || !render) return undefined;
    const releases: ReleaseManifestDiff[] = new Array(plan.releases.length);
    let next = 0;
    const worker = async () => {
      for (let i = next++; i < plan.releases.length; i = next++) {
        const release = plan.releases[i] as PlannedRelease;
        try {
          // shown: a render with placeholders for the secret values, so no template (`upper`, `b64enc`
          // twice, `reverse` … into a ConfigMap) can carry a secret onto the approval page before it
          // is approved; only Secret data, kept as keyed digests, comes from a render with the values
          const placeholders = release.secretValues.map((s) => ({
            path: s.path,
            value: `(secret ${describeRef(s.ref)})`,
          }));
          const shown = render(release, { sourceDir: ctx.sourceDir, secretValues: placeholders });
          const real =
            release.secretValues.length === 0
              ? undefined
              : Promise.all(
                  release.secretValues.map(async (s) => ({
                    path: s.path,
                    value: await secrets.resolve(s.ref),
                  })),
                ).then((secretValues) => render(release, { sourceDir: ctx.sourceDir, secretValues }));
          const { live, proposed: masked } = await shown;
          const proposed = real ? secretDataFrom((await real).proposed, masked) : masked;
          releases[i] = diffReleaseManifests({
            release: release.name,
            namespace: release.namespace,
            live,
            proposed,
          });
        } catch (e) {
          const error = deps.redactor.redact(describeReason(e)).slice(0, 500);
          log.warn('could not render the manifest diff of a release', { release: release.name, error });
          releases[i] = {
            release: release.name,
            namespace: release.namespace,
            objects: [],
            unchanged: 0,
            omitted: 0,
            error,
          };
        }
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, deps.concurrency ?? 4) }, worker));
    return { ...base, releases: boundManifestDiff(releases) };
  } catch (e) {
    const unavailable = deps.redactor.redact(describeReason(e)).slice(0, 500);
    log.warn('could not render the manifest diff', { error: unavailable });
    return { ...base, releases: [], unavailable };
  } finally {
    await session?.close().catch(() => undefined);
    await rm(workDir, { recursive: true, force: true });
  }
}

/**
 * The placeholder render's documents with each v1 Secret's `data` and `stringData` taken from the same
 * Secret (kind, namespace, name) of the render with the real values: those are keyed digests already
 * (parse-then-redact), so the diff can say which keys changed without any value. Nothing else of the
 * real render is used; a Secret it does not have keeps its placeholder digests (shown as changed).
 */
export function secretDataFrom(real: readonly unknown[], masked: readonly unknown[]): unknown[] {
  type Doc = { apiVersion?: unknown; kind?: unknown; metadata?: { name?: unknown; namespace?: unknown } };
  const key = (d: Doc) =>
    d && d.apiVersion === 'v1' && d.kind === 'Secret'
      ? JSON.stringify([d.metadata?.namespace ?? '', d.metadata?.name ?? ''])
      : undefined;
  const secrets = new Map<string, Record<string, unknown>>();
  for (const d of real as Doc[]) {
    const k = key(d);
    if (k !== undefined) secrets.set(k, d as Record<string, unknown>);
  }
  return (masked as Doc[]).map((d) => {
    const k = key(d);
    const from = k === undefined ? undefined : secrets.get(k);
    if (!from) return d;
    const { data: _d, stringData: _s, ...rest } = d as Record<string, unknown>;
    return {
      ...rest,
      ...(from.data !== undefined ? { data: from.data } : {}),
      ...(from.stringData !== undefined ? { stringData: from.stringData } : {}),
    };
  });
}

function describeReason(e: unknown): string {
  return e instanceof HelmgateError ? e.message : describeError(e);
}
