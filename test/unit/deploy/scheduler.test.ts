import { type NodeOutcome, runDag } from '../../../lib/deploy/scheduler';

function deferred() {
  let resolve!: (o: NodeOutcome) => void;
  const promise = new Promise<NodeOutcome>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** Resolves once every promise reaction queued so far has run (a macrotask comes after all microtasks). */
const settled = () => new Promise<void>((r) => setImmediate(r));

describe('runDag', () => {
  it('runs independent releases in parallel up to the concurrency bound', async () => {
    let active = 0;
    let peak = 0;
    // every release waits until three run at once: a bound below 3 never gets there (the test times
    // out), no bound lets all five in before the first finishes (peak 5)
    let threeRunning!: () => void;
    const gate = new Promise<void>((r) => {
      threeRunning = r;
    });
    const nodes = ['a', 'b', 'c', 'd', 'e'].map((name) => ({ name, needs: [] }));
    await runDag(
      nodes,
      async () => {
        active++;
        peak = Math.max(peak, active);
        if (active === 3) threeRunning();
        await gate;
        active--;
        return 'succeeded';
      },
      { concurrency: 3 },
    );
    expect(peak).toBe(3);
  });

  it('starts a release only after everything it needs succeeded or was skipped', async () => {
    const order: string[] = [];
    const gates = { scratch: deferred(), other: deferred() };
    const done = runDag(
      [
        { name: 'scratch', needs: [] },
        { name: 'other', needs: [] },
        { name: 'hub', needs: ['scratch', 'other'] },
      ],
      async (name) => {
        order.push(`start ${name}`);
        if (name === 'hub') return 'succeeded';
        return gates[name as 'scratch' | 'other'].promise;
      },
      { concurrency: 4 },
    );
    await settled();
    expect(order).toEqual(['start scratch', 'start other']);
    gates.scratch.resolve('succeeded');
    await settled();
    expect(order).not.toContain('start hub');
    gates.other.resolve('skipped');
    const result = await done;
    expect(order).toEqual(['start scratch', 'start other', 'start hub']);
    expect(result.outcomes.get('hub')).toBe('succeeded');
  });

  it('stops the dependents of a failure (transitively) but not unrelated releases', async () => {
    const ran: string[] = [];
    const result = await runDag(
      [
        { name: 'a', needs: [] },
        { name: 'b', needs: ['a'] },
        { name: 'c', needs: ['b'] },
        { name: 'x', needs: [] },
      ],
      async (name) => {
        ran.push(name);
        return name === 'a' ? 'failed' : 'succeeded';
      },
      { concurrency: 2 },
    );
    expect(ran.sort()).toEqual(['a', 'x']);
    expect(Object.fromEntries(result.outcomes)).toEqual({
      a: 'failed',
      b: 'cancelled',
      c: 'cancelled',
      x: 'succeeded',
    });
    expect(result.blockedBy.get('b')).toBe('a');
    expect(result.blockedBy.get('c')).toBe('b');
  });

  it('treats a thrown error as a failure, and a deferred release blocks its dependents', async () => {
    const result = await runDag(
      [
        { name: 'boom', needs: [] },
        { name: 'later', needs: [] },
        { name: 'after-later', needs: ['later'] },
      ],
      async (name) => {
        if (name === 'boom') throw new Error('x');
        return name === 'later' ? 'deferred' : 'succeeded';
      },
      { concurrency: 1 },
    );
    expect(result.outcomes.get('boom')).toBe('failed');
    expect(result.outcomes.get('after-later')).toBe('cancelled');
  });
});
