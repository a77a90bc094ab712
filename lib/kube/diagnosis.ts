import {
  CoreV1Api,
  type CoreV1Event,
  type KubeConfig,
  type V1ContainerStatus,
  type V1Pod,
} from '@kubernetes/client-node';
import { systemClock } from '../clock';
import {
  type ContainerDiagnosis,
  clip,
  DIAGNOSIS_LIMITS,
  logTail,
  type PodDiagnosis,
  type ReleaseDiagnosis,
} from '../deploy/diagnosis';
import { describeError } from '../errors';
import { kubeApiError } from './kube-errors';

const RELEASE_LABEL = 'app.kubernetes.io/instance';

export interface DiagnoseInput {
  namespace: string;
  release: string;
  /**
   * `helm test` hooks that failed (issue 13, item 8): their pods (named so, or a Job's, labelled
   * `job-name=<hook>`) are diagnosed first, whatever their labels and phase.
   */
  testPods?: readonly string[];
}

export interface DiagnoseDeps {
  /** every string that leaves here goes through it (log lines, event and state messages) */
  redact: (text: string) => string;
  now?: () => Date;
}

/**
 * Collects what explains a failing release while it is still there (issue 13, item 2): the release's
 * pods that are not healthy (label `app.kubernetes.io/instance`), each container's state
 * (CrashLoopBackOff, ImagePullBackOff, OOMKilled…), the pod's recent events and the last lines of each
 * unhealthy container's log (its previous run's when it restarted). Bounded by DIAGNOSIS_LIMITS and
 * redacted. Never throws: an API failure is reported in `error` with whatever was collected.
 */
export async function diagnoseRelease(
  kc: KubeConfig,
  input: DiagnoseInput,
  deps: DiagnoseDeps,
): Promise<ReleaseDiagnosis> {
  const at = (deps.now?.() ?? systemClock.now()).toISOString();
  const core = kc.makeApiClient(CoreV1Api);
  const r = deps.redact;
  let pods: V1Pod[];
  const tests = new Set(input.testPods ?? []);
  const isTest = (p: V1Pod) =>
    tests.has(p.metadata?.name ?? '') || tests.has(p.metadata?.labels?.['job-name'] ?? '');
  try {
    if (tests.size > 0) {
      // one list of the namespace: the test pods need not carry the release's label
      const all = (await core.listNamespacedPod({ namespace: input.namespace })).items;
      pods = [
        ...all.filter(isTest),
        ...all.filter(
          (p) => !isTest(p) && p.metadata?.labels?.[RELEASE_LABEL] === input.release && unhealthy(p),
        ),
      ];
    } else {
      const list = await core.listNamespacedPod({
        namespace: input.namespace,
        labelSelector: `${RELEASE_LABEL}=${input.release}`,
      });
      pods = list.items.filter(unhealthy);
    }
  } catch (e) {
    return {
      at,
      pods: [],
      error: r(describeError(kubeApiError(`could not list pods in ${input.namespace}`, e))),
    };
  }
  let events: CoreV1Event[] = [];
  let error: string | undefined;
  try {
    events = (await core.listNamespacedEvent({ namespace: input.namespace })).items;
  } catch (e) {
    error = r(describeError(kubeApiError(`could not list events in ${input.namespace}`, e)));
  }
  const shown = pods.slice(0, DIAGNOSIS_LIMITS.pods);
  const out: PodDiagnosis[] = [];
  for (const pod of shown) {
    const name = pod.metadata?.name ?? '?';
    const statuses = (pod.status?.containerStatuses ?? []).slice(0, DIAGNOSIS_LIMITS.containersPerPod);
    const containers: ContainerDiagnosis[] = [];
    for (const s of statuses) {
      const c = containerOf(s, r);
      // a failed test's log is its evidence, even while it still runs (a hung test)
      if (!c.ready || c.restarts > 0 || isTest(pod)) {
        const text = await podLog(core, input.namespace, name, s.name, c.restarts > 0);
        if (text) c.logTail = logTail(r(text));
      }
      containers.push(c);
    }
    const uid = pod.metadata?.uid;
    const podEvents = events
      .filter(
        (e) =>
          e.involvedObject?.kind === 'Pod' &&
          e.involvedObject?.name === name &&
          // not an earlier pod of the same name (a test pod re-created by the next `helm test`)
          !(uid && e.involvedObject.uid && e.involvedObject.uid !== uid),
      )
      .sort((a, b) => eventTime(a) - eventTime(b))
      .slice(-DIAGNOSIS_LIMITS.eventsPerPod)
      .map((e) =>
        clip(
          r(
            `${e.type ?? 'Normal'} ${e.reason ?? ''}: ${e.message ?? ''}${(e.count ?? 1) > 1 ? ` (x${e.count})` : ''}`,
          ),
          DIAGNOSIS_LIMITS.messageChars,
        ),
      );
    out.push({ name, phase: pod.status?.phase ?? 'Unknown', containers, events: podEvents });
  }
  return {
    at,
    pods: out,
    ...(pods.length > shown.length ? { omittedPods: pods.length - shown.length } : {}),
    ...(error ? { error } : {}),
  };
}

function unhealthy(pod: V1Pod): boolean {
  const phase = pod.status?.phase;
  if (phase === 'Succeeded') return false;
  if (phase !== 'Running') return true;
  return (pod.status?.containerStatuses ?? []).some((c) => !c.ready || (c.restartCount ?? 0) > 0);
}

function containerOf(s: V1ContainerStatus, r: (t: string) => string): ContainerDiagnosis {
  const st = s.state;
  const last = s.lastState?.terminated;
  const state: ContainerDiagnosis['state'] = st?.waiting
    ? 'waiting'
    : st?.terminated
      ? 'terminated'
      : st?.running
        ? 'running'
        : 'unknown';
  const reason = st?.waiting?.reason ?? st?.terminated?.reason;
  const message = st?.waiting?.message ?? st?.terminated?.message ?? last?.message;
  const exitCode = st?.terminated?.exitCode ?? last?.exitCode;
  return {
    name: s.name,
    state,
    ...(reason ? { reason: clip(r(reason), 80) } : {}),
    ...(message ? { message: clip(r(message), DIAGNOSIS_LIMITS.messageChars) } : {}),
    ...(exitCode !== undefined ? { exitCode } : {}),
    ...(last?.reason ? { lastReason: clip(r(last.reason), 80) } : {}),
    restarts: s.restartCount ?? 0,
    ready: s.ready === true,
  };
}

async function podLog(
  core: CoreV1Api,
  namespace: string,
  name: string,
  container: string,
  previous: boolean,
): Promise<string | undefined> {
  const read = (prev: boolean) =>
    core.readNamespacedPodLog({
      name,
      namespace,
      container,
      tailLines: DIAGNOSIS_LIMITS.logLines,
      limitBytes: 64 * 1024,
      ...(prev ? { previous: true } : {}),
    });
  try {
    return await read(previous);
  } catch {
    if (!previous) return undefined;
    // no previous run kept (yet): what the current one printed
    return read(false).catch(() => undefined);
  }
}

function eventTime(e: CoreV1Event): number {
  const t = e.lastTimestamp ?? e.eventTime ?? e.metadata?.creationTimestamp;
  return t ? new Date(t as unknown as string).getTime() : 0;
}
