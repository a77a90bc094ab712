/**
 * Runs a DAG of releases with bounded concurrency: a release starts once everything it `needs`
 * has succeeded (or was skipped as unchanged); a failure stops its dependents, never unrelated
 * releases.
 */
export interface DagNode {
  name: string;
  needs: readonly string[];
}

export type NodeOutcome = 'succeeded' | 'skipped' | 'rendered' | 'failed' | 'deferred';

export interface DagResult {
  outcomes: Map<string, NodeOutcome | 'cancelled'>;
  /** for cancelled nodes: the dependency that stopped them */
  blockedBy: Map<string, string>;
}

const OK: readonly NodeOutcome[] = ['succeeded', 'skipped', 'rendered'];

export async function runDag(
  nodes: readonly DagNode[],
  run: (name: string) => Promise<NodeOutcome>,
  opts: { concurrency: number },
): Promise<DagResult> {
  const outcomes = new Map<string, NodeOutcome | 'cancelled'>();
  const blockedBy = new Map<string, string>();
  const pending = new Map(nodes.map((n) => [n.name, n]));
  const running = new Map<string, Promise<void>>();
  const concurrency = Math.max(1, opts.concurrency);

  const cancelDependents = () => {
    let changed = true;
    while (changed) {
      changed = false;
      for (const [name, node] of pending) {
        const bad = node.needs.find((n) => {
          const o = outcomes.get(n);
          return o !== undefined && !OK.includes(o as NodeOutcome);
        });
        if (bad) {
          pending.delete(name);
          outcomes.set(name, 'cancelled');
          blockedBy.set(name, bad);
          changed = true;
        }
      }
    }
  };

  while (pending.size > 0 || running.size > 0) {
    cancelDependents();
    for (const [name, node] of pending) {
      if (running.size >= concurrency) break;
      if (!node.needs.every((n) => OK.includes(outcomes.get(n) as NodeOutcome))) continue;
      pending.delete(name);
      const p = run(name)
        .catch((): NodeOutcome => 'failed')
        .then((o) => {
          outcomes.set(name, o);
          running.delete(name);
        });
      running.set(name, p);
    }
    if (running.size === 0) {
      // nothing runnable: whatever is left waits on something that will never finish
      for (const [name, node] of pending) {
        outcomes.set(name, 'cancelled');
        blockedBy.set(name, node.needs.find((n) => !outcomes.has(n)) ?? 'unknown');
      }
      pending.clear();
      break;
    }
    await Promise.race(running.values());
  }
  return { outcomes, blockedBy };
}
