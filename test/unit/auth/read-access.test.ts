import { ApproversConfig } from '../../../lib/approval/approval-port';
import { matchesApiToken, parseApiTokens, ReadAccess } from '../../../lib/auth/read-access';
import { fixedClock, systemClock } from '../../../lib/clock';
import { createLogger } from '../../../lib/log/logger';
import { Redactor } from '../../../lib/log/redact';

describe('API tokens', () => {
  test('the secret is one token, a JSON list, or {"tokens": [...]} while rotating; blanks are dropped', () => {
    expect(parseApiTokens('abc')).toEqual(['abc']);
    expect(parseApiTokens(' abc \n')).toEqual(['abc']);
    expect(parseApiTokens('["a","","b"]')).toEqual(['a', 'b']);
    expect(parseApiTokens('{"tokens":["new","old"]}')).toEqual(['new', 'old']);
    expect(parseApiTokens('')).toEqual([]);
    expect(parseApiTokens(undefined)).toEqual([]);
  });

  test('a candidate matches any configured token exactly, never a prefix, an extension or an empty token', () => {
    expect(matchesApiToken('new', ['new', 'old'])).toBe(true);
    expect(matchesApiToken('old', ['new', 'old'])).toBe(true);
    expect(matchesApiToken('ne', ['new'])).toBe(false);
    expect(matchesApiToken('neww', ['new'])).toBe(false);
    expect(matchesApiToken('', [''])).toBe(false);
    expect(matchesApiToken('x', [])).toBe(false);
  });
});

describe('ReadAccess.mayRead', () => {
  const base = {
    apiTokens: async () => ['t'],
    signingKey: async () => 'k',
    cookies: { secure: false },
    clock: fixedClock('2026-01-01T00:00:00Z'),
    logger: createLogger({ redactor: new Redactor(), clock: systemClock, write: () => {} }),
  };
  const dora = { kind: 'github' as const, login: 'Dora', teams: [] };

  test('approvers per repository (the policy): an approver of one repository does not read another', async () => {
    const access = new ReadAccess({
      ...base,
      approvers: (repository) =>
        repository === 'org/a' ? ApproversConfig.parse({ production: { github: ['dora'] } }) : {},
    });
    expect(await access.mayRead(dora, 'org/a')).toBe(true);
    expect(await access.mayRead(dora, 'org/b')).toBe(false);
    expect(await access.mayRead({ kind: 'token' }, 'org/b')).toBe(true);
  });

  test('without a GitHub client only approvers and tokens read', async () => {
    const access = new ReadAccess({ ...base, approvers: {} });
    expect(await access.mayRead(dora, 'org/a')).toBe(false);
  });
});
