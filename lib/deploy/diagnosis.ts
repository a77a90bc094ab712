/**
 * What was seen in the cluster when a release failed (issue 13, item 2): the failing pods, their
 * containers' states, the recent events and the last lines of their logs. Collected by the runner
 * before anything is rolled back, redacted, bounded, and kept with the release result. Pure: the
 * types, the bounds and one text rendering shared by `helmgate show`, the deployment page and Slack.
 */
export interface ContainerDiagnosis {
  name: string;
  /** `running`, `waiting` or `terminated` */
  state: 'running' | 'waiting' | 'terminated' | 'unknown';
  /** CrashLoopBackOff, ImagePullBackOff, OOMKilled, Error… (the current state's, else the last one's) */
  reason?: string;
  message?: string;
  exitCode?: number;
  /** how its previous run ended, when it restarted: OOMKilled, Error… */
  lastReason?: string;
  restarts: number;
  ready: boolean;
  /** the last lines of the container's log (of its previous run when it restarted), redacted */
  logTail?: string;
}

export interface PodDiagnosis {
  name: string;
  phase: string;
  containers: ContainerDiagnosis[];
  /** `Warning BackOff: Back-off restarting failed container (x12)`, newest last */
  events: string[];
}

export interface ReleaseDiagnosis {
  /** ISO time it was collected */
  at: string;
  pods: PodDiagnosis[];
  /** pods left out by the bounds */
  omittedPods?: number;
  /** why nothing could be collected (API error), when that is the case */
  error?: string;
}

/** Bounds: a diagnosis is stored in the deployment record (DynamoDB items are ≤ 400 KB). */
export const DIAGNOSIS_LIMITS = {
  pods: 5,
  containersPerPod: 4,
  eventsPerPod: 8,
  logLines: 20,
  lineChars: 240,
  messageChars: 300,
} as const;

export function clip(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}

/** The last `lines` lines of a log, each clipped. */
export function logTail(text: string, lines: number = DIAGNOSIS_LIMITS.logLines): string {
  const all = text.replace(/\r\n/g, '\n').trimEnd().split('\n');
  return all
    .slice(-lines)
    .map((l) => clip(l, DIAGNOSIS_LIMITS.lineChars))
    .join('\n');
}

/** Plain text for people: one block per pod, its containers, events and log tails. */
export function formatDiagnosis(d: ReleaseDiagnosis): string {
  const out: string[] = [];
  if (d.error) out.push(`diagnosis incomplete: ${d.error}`);
  if (d.pods.length === 0 && !d.error) out.push('no failing pods found');
  for (const p of d.pods) {
    out.push(`pod ${p.name} (${p.phase})`);
    for (const c of p.containers) {
      const bits = [
        c.state,
        c.reason,
        c.lastReason ? `last run ended ${c.lastReason}` : undefined,
        c.exitCode !== undefined ? `exit ${c.exitCode}` : undefined,
        `${c.restarts} restart${c.restarts === 1 ? '' : 's'}`,
        c.ready ? 'ready' : 'not ready',
      ].filter(Boolean);
      out.push(`  container ${c.name}: ${bits.join(', ')}${c.message ? ` — ${c.message}` : ''}`);
      if (c.logTail) {
        out.push(`  last log lines of ${c.name}:`);
        for (const l of c.logTail.split('\n')) out.push(`    | ${l}`);
      }
    }
    for (const e of p.events) out.push(`  event: ${e}`);
  }
  if (d.omittedPods) out.push(`(${d.omittedPods} more failing pods not shown)`);
  return out.join('\n');
}
