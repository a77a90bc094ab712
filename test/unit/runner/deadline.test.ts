import { DeadlineError, withDeadline } from '../../../lib/runner/deadline';

test('a step past its deadline fails naming the step, and its signal aborts', async () => {
  let signal: AbortSignal | undefined;
  const err = await withDeadline('fetching the commit', 50, (s) => {
    signal = s;
    return new Promise<never>(() => {});
  }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(DeadlineError);
  expect((err as DeadlineError).code).toBe('deadline_exceeded');
  expect((err as Error).message).toBe('fetching the commit did not finish within 50 ms');
  expect(signal?.aborted).toBe(true);
});

test('a step in time returns its value; a late failure of an abandoned step is not unhandled', async () => {
  expect(await withDeadline('planning', 1000, async () => 42)).toBe(42);
  const unhandled: unknown[] = [];
  const onUnhandled = (e: unknown) => unhandled.push(e);
  process.on('unhandledRejection', onUnhandled);
  try {
    await expect(
      withDeadline(
        'syncing',
        10,
        () => new Promise((_, reject) => setTimeout(() => reject(new Error('late')), 30)),
      ),
    ).rejects.toThrow(/syncing did not finish/);
    await new Promise((r) => setTimeout(r, 60));
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
  expect(unhandled).toEqual([]);
});
