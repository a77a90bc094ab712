import { matchesApiToken, parseApiTokens } from '../../../lib/auth/read-access';

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
