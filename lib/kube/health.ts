import { AppsV1Api, type KubeConfig, type V1Deployment, type V1StatefulSet } from '@kubernetes/client-node';
import { systemClock } from '../clock';
import { describeError, HelmgateError } from '../errors';
import { kubeApiError } from './kube-errors';

export type HealthResult = { healthy: true } | { healthy: false; reason: string };

export interface HealthCheckInput {
  namespace: string;
  release: string;
  /** wait for the release's Deployments and StatefulSets to be available */
  workloads: boolean;
  /** then expect each URL to answer GET with this status (redirects are not followed) */
  http: Array<{ url: string; expectStatus: number }>;
  /** for the whole check */
  timeoutMs: number;
  /** default 2000 */
  pollMs?: number;
  /** per HTTP request, default 10000 (capped by what is left of the timeout, but at least 1000) */
  requestTimeoutMs?: number;
}

export interface HealthDeps {
  fetch?: typeof fetch;
  sleep?: (ms: number) => Promise<void>;
  /** epoch milliseconds */
  now?: () => number;
}

const RELEASE_LABEL = 'app.kubernetes.io/instance';
const RELEASE_ANNOTATION = 'meta.helm.sh/release-name';

/**
 * Polls until every Deployment and StatefulSet of the release (label `app.kubernetes.io/instance` or helm's
 * `meta.helm.sh/release-name` annotation) is available and the HTTP checks answer as expected, or the
 * timeout passes. The reason names the workload or URL and what was wrong the last time it was looked at.
 */
export async function checkReleaseHealth(
  kc: KubeConfig,
  input: HealthCheckInput,
  deps: HealthDeps = {},
): Promise<HealthResult> {
  const now = deps.now ?? (() => systemClock.now().getTime());
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const doFetch = deps.fetch ?? fetch;
  const pollMs = input.pollMs ?? 2000;
  const deadline = now() + input.timeoutMs;

  /** a probe answers a problem (tried again until the deadline), or `{ final }`: no point trying again */
  const poll = async (
    probe: () => Promise<string | { final: string } | undefined>,
  ): Promise<string | undefined> => {
    for (;;) {
      const problem = await probe();
      if (problem === undefined) return undefined;
      if (typeof problem !== 'string') return problem.final;
      // no last-moment probe squeezed into what is left: it would only report its own tiny timeout
      if (now() + pollMs > deadline) return problem;
      await sleep(pollMs);
    }
  };

  if (input.workloads) {
    const apps = kc.makeApiClient(AppsV1Api);
    const problem = await poll(async () => {
      try {
        return workloadProblems(await releaseWorkloads(apps, input.namespace, input.release));
      } catch (e) {
        return describeError(kubeApiError(`could not list workloads in ${input.namespace}`, e));
      }
    });
    if (problem !== undefined)
      return {
        healthy: false,
        reason: `release ${input.release} not available after ${input.timeoutMs}ms: ${problem}`,
      };
  }

  for (const check of input.http) {
    const problem = await poll(() =>
      httpProblem(
        doFetch,
        check,
        Math.min(input.requestTimeoutMs ?? 10_000, Math.max(1000, deadline - now())),
      ),
    );
    if (problem !== undefined) return { healthy: false, reason: problem };
  }
  return { healthy: true };
}

async function releaseWorkloads(
  apps: AppsV1Api,
  namespace: string,
  release: string,
): Promise<Array<V1Deployment | V1StatefulSet>> {
  const [deployments, statefulSets] = await Promise.all([
    apps.listNamespacedDeployment({ namespace }),
    apps.listNamespacedStatefulSet({ namespace }),
  ]);
  const mine = (o: V1Deployment | V1StatefulSet) =>
    o.metadata?.labels?.[RELEASE_LABEL] === release ||
    o.metadata?.annotations?.[RELEASE_ANNOTATION] === release;
  return [
    ...deployments.items.filter(mine).map((d) => ({ ...d, kind: 'Deployment' })),
    ...statefulSets.items.filter(mine).map((s) => ({ ...s, kind: 'StatefulSet' })),
  ];
}

/** undefined when all are available, else one clause per workload that is not. */
export function workloadProblems(workloads: ReadonlyArray<V1Deployment | V1StatefulSet>): string | undefined {
  const problems: string[] = [];
  for (const w of workloads) {
    const p = workloadProblem(w);
    if (p) problems.push(`${w.kind ?? 'workload'} ${w.metadata?.name}: ${p}`);
  }
  return problems.length ? problems.join('; ') : undefined;
}

function workloadProblem(w: V1Deployment | V1StatefulSet): string | undefined {
  const want = w.spec?.replicas ?? 1;
  const generation = w.metadata?.generation ?? 0;
  const s = w.status;
  const observed = s?.observedGeneration ?? 0;
  if (observed < generation) return `generation ${generation} not yet observed (at ${observed})`;
  const counts: Array<[string, number | undefined]> = [
    ['updated', s?.updatedReplicas],
    ['ready', s?.readyReplicas],
    ['available', s?.availableReplicas],
  ];
  const short = counts.filter(([, n]) => (n ?? 0) !== want).map(([what, n]) => `${n ?? 0}/${want} ${what}`);
  if (short.length === 0) return undefined;
  const condition = (w as V1Deployment).status?.conditions?.find(
    (c) => c.type === 'Available' && c.status !== 'True',
  );
  return `${short.join(', ')}${condition?.message ? ` (${condition.message})` : ''}`;
}

async function httpProblem(
  doFetch: typeof fetch,
  check: { url: string; expectStatus: number },
  timeoutMs: number,
): Promise<string | { final: string } | undefined> {
  const shown = safeUrl(check.url);
  try {
    const res = await doFetch(check.url, { redirect: 'manual', signal: AbortSignal.timeout(timeoutMs) });
    await res.body?.cancel();
    if (res.status === check.expectStatus) return undefined;
    return `GET ${shown} answered ${res.status}, expected ${check.expectStatus}`;
  } catch (e) {
    const name = (e as { name?: string } | null)?.name;
    if (name === 'TimeoutError' || name === 'AbortError')
      return `GET ${shown} timed out after ${timeoutMs}ms`;
    // undici: TypeError('fetch failed') with the socket error (ECONNREFUSED, ENOTFOUND...) as its cause
    const cause = (e as { cause?: { code?: unknown; message?: unknown } } | null)?.cause;
    // refused by the outbound policy: asking again will not change that
    if (cause instanceof HelmgateError && cause.code === 'forbidden')
      return { final: `GET ${shown} failed (${cause.message})` };
    // a refusal by the outbound guard says why in its message (our own error, safe to show)
    const detail =
      cause instanceof HelmgateError
        ? cause.message
        : typeof cause?.code === 'string'
          ? cause.code
          : typeof cause?.message === 'string'
            ? cause.message
            : '';
    return `GET ${shown} failed${detail ? ` (${detail})` : ''}`;
  }
}

/** Without credentials or query string, which may carry tokens. */
function safeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return '(invalid URL)';
  }
}
