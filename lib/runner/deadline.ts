import { HelmgateError } from '../errors';

/** How long each step of a run may take before it fails the run (ms). */
export interface StepDeadlines {
  /** fetching and extracting the commit's tree */
  source: number;
  /** parsing deploy.yaml and planning (reads of the tree) */
  plan: number;
  /** the secrets pre-flight */
  secrets: number;
  /** opening the cluster session (cluster secret, kubeconfig) */
  cluster: number;
  /** creating/updating the plan's Kubernetes Secrets */
  syncSecrets: number;
}

export const DEFAULT_STEP_DEADLINES: StepDeadlines = {
  source: 180_000,
  plan: 60_000,
  secrets: 60_000,
  cluster: 60_000,
  syncSecrets: 120_000,
};

export class DeadlineError extends HelmgateError {
  override name = 'DeadlineError';
  readonly step: string;
  constructor(step: string, ms: number) {
    super('deadline_exceeded', `${step} did not finish within ${formatMs(ms)}`);
    this.step = step;
  }
}

function formatMs(ms: number): string {
  return ms >= 1000 ? `${Math.round(ms / 1000)} s` : `${Math.max(0, Math.round(ms))} ms`;
}

/**
 * Runs one step of a run with a deadline: when `ms` pass first, `fn`'s signal aborts (so a child
 * process or request it started is stopped) and the step fails with a `DeadlineError` naming it —
 * whatever `fn` does afterwards is ignored. No input can hold a run forever (issue 12).
 */
export async function withDeadline<T>(
  step: string,
  ms: number,
  fn: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => {
        const err = new DeadlineError(step, ms);
        controller.abort(err);
        reject(err);
      },
      Math.max(0, ms),
    );
  });
  const work = fn(controller.signal);
  // a late rejection of the abandoned step must not become an unhandled rejection
  work.catch(() => {});
  try {
    return await Promise.race([work, expired]);
  } finally {
    clearTimeout(timer);
  }
}
