import { fixedClock } from '../../../lib/clock';
import { Redactor } from '../../../lib/log/redact';
import { SecretResolver } from '../../../lib/secrets/secrets-provider';

function provider(values: Record<string, string>) {
  const calls: string[] = [];
  return {
    calls,
    values,
    getSecretString: async (id: string) => {
      calls.push(id);
      return values[id];
    },
  };
}

test('without a max age a resolver keeps what it read (one invocation)', async () => {
  const p = provider({ token: 'first-token-value' });
  const r = new SecretResolver(p, new Redactor());
  expect(await r.resolve({ secret: 'token' })).toBe('first-token-value');
  p.values.token = 'second-token-value';
  expect(await r.resolve({ secret: 'token' })).toBe('first-token-value');
  expect(p.calls).toEqual(['token']);
});

test('with a max age a rotated secret is read again once the copy is older (a warm container)', async () => {
  const clock = fixedClock('2026-11-26T00:00:00Z');
  const p = provider({ token: 'first-token-value' });
  const redactor = new Redactor();
  const r = new SecretResolver(p, redactor, { ms: 5 * 60_000, clock });
  expect(await r.resolve({ secret: 'token' })).toBe('first-token-value');
  p.values.token = 'second-token-value';
  clock.advance(5 * 60_000);
  expect(await r.resolve({ secret: 'token' })).toBe('first-token-value');
  expect(p.calls).toEqual(['token']);
  clock.advance(1);
  expect(await r.resolve({ secret: 'token' })).toBe('second-token-value');
  expect(p.calls).toEqual(['token', 'token']);
  // the old value stays masked wherever it still turns up
  expect(redactor.redact('first-token-value second-token-value')).toBe('*** ***');
});

test('a failed read is not kept: the next call asks again', async () => {
  const clock = fixedClock('2026-11-26T00:00:00Z');
  let fail = true;
  const r = new SecretResolver(
    {
      getSecretString: async () => {
        if (fail) throw new Error('throttled');
        return 'a-token-value';
      },
    },
    new Redactor(),
    { ms: 60_000, clock },
  );
  await expect(r.resolve({ secret: 'token' })).rejects.toThrow('throttled');
  fail = false;
  expect(await r.resolve({ secret: 'token' })).toBe('a-token-value');
});
