import { driftAction, environmentPolicy, parsePolicy } from '../../../lib/policy/policy';

const policyWith = (drift: string) => `apiVersion: helmgate/policy/v1
repositories:
  o/r:
    environments:
      staging:
        approval: none
        cluster: { secret: helmgate/staging/cluster }
${drift ? `        drift: ${drift}\n` : ''}`;

test('drift is one word per environment, warn when absent', () => {
  const env = (text: string) => environmentPolicy(parsePolicy(text), 'o/r', 'staging');
  expect(driftAction(env(policyWith('')) as never)).toBe('warn');
  for (const w of ['off', 'warn', 'correct'] as const)
    expect(driftAction(env(policyWith(w)) as never)).toBe(w);
});

test('the earlier reserved `{ action }` form and unknown words are refused, saying what to write', () => {
  expect(() => parsePolicy(policyWith('{ action: report }'))).toThrow(
    /drift: drift is off \| warn \| correct \(the earlier `\{ action: … \}` form is replaced by one word\)/,
  );
  expect(() => parsePolicy(policyWith('block'))).toThrow(/drift is off \| warn \| correct/);
});
