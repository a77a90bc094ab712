import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { defaultHelmDir, ensureHelmBinary } from '../../lib/helm/helm-binary';
import { startDynalite, type TestDynamo } from '../helpers/dynalite';
import { type Harness, makeHarness, runnerRepo } from '../integration/runner/harness';
import { KubeApiStandIn } from '../stand-ins/kube-api';

const ROOT = path.resolve(__dirname, '../..');

/**
 * The helm binary for scenarios: jest's globalSetup sets HELMGATE_HELM_BIN; a bench run outside jest
 * extracts it the same way (once) and sets the variable, so the runner harness finds it either way.
 */
export function ensureHelmForScenarios(): string {
  const bin = ensureHelmBinary(defaultHelmDir(ROOT), process.env.HELMGATE_HELM_BIN);
  process.env.HELMGATE_HELM_BIN = bin;
  mkdirSync(path.join(ROOT, '.tmp'), { recursive: true });
  return bin;
}

/** One runner world: dynalite, the Kubernetes API stand-in, a git repository with the fixture charts, the harness. */
export interface RunnerWorld {
  db: TestDynamo;
  kube: KubeApiStandIn;
  repo: ReturnType<typeof runnerRepo>;
  h: Harness;
  close(): Promise<void>;
}

export async function startRunnerWorld(opts: {
  files: Record<string, string>;
  secrets?: Record<string, unknown>;
  retry?: { attempts?: number; baseMs?: number; capMs?: number };
  /** a wrapper in front of dynalite (the throttling stand-in): the store's endpoint */
  dynamo?: () => Promise<TestDynamo>;
}): Promise<RunnerWorld> {
  ensureHelmForScenarios();
  const db = await (opts.dynamo ?? startDynalite)();
  const kube = await KubeApiStandIn.start();
  const repo = runnerRepo(opts.files);
  const h = makeHarness({
    db,
    kube,
    repoDir: repo.dir,
    ...(opts.secrets ? { secrets: opts.secrets } : {}),
    ...(opts.retry ? { retry: opts.retry } : {}),
  });
  return {
    db,
    kube,
    repo,
    h,
    async close() {
      await kube.close();
      await db.close();
    },
  };
}

/** Sum of the time spent inside helm processes in [from, to) of the calls list (sequential calls only). */
export function helmMs(calls: ReadonlyArray<{ start: number; end: number }>): number {
  return calls.reduce((a, c) => a + (c.end - c.start), 0);
}

/** The union of the intervals helm processes ran (overlapping calls counted once). */
export function helmBusyMs(calls: ReadonlyArray<{ start: number; end: number }>): number {
  const sorted = [...calls].sort((a, b) => a.start - b.start);
  let busy = 0;
  let curStart = Number.NEGATIVE_INFINITY;
  let curEnd = Number.NEGATIVE_INFINITY;
  for (const c of sorted) {
    if (c.start > curEnd) {
      if (curEnd > curStart) busy += curEnd - curStart;
      curStart = c.start;
      curEnd = c.end;
    } else curEnd = Math.max(curEnd, c.end);
  }
  if (curEnd > curStart) busy += curEnd - curStart;
  return busy;
}
