import {
  cookieSettingsFor,
  csrfToken,
  newSession,
  readSession,
  safeReturnPath,
  sessionCookie,
  signValue,
  verifyCsrf,
  verifyValue,
} from '../../../lib/auth/session';
import { cryptoRandom } from '../../../lib/random';

const KEY = 'signing-key';
const now = new Date('2026-01-01T00:00:00Z');

describe('session cookies', () => {
  test('a session cookie is HttpOnly, Secure, SameSite=Lax, expiring, and reads back', () => {
    const s = newSession({ login: 'alice', teams: ['Org/Platform'] }, cryptoRandom, now);
    const c = sessionCookie(KEY, s, { secure: true }, now);
    expect(c).toMatch(/^__Host-helmgate_session=/);
    expect(c).toContain('HttpOnly');
    expect(c).toContain('Secure');
    expect(c).toContain('SameSite=Lax');
    expect(c).toContain('Max-Age=3600'); // the default lifetime: one hour
    const value = (c.split(';')[0] as string).split('=')[1];
    const back = readSession(KEY, { cookies: [`__Host-helmgate_session=${value}`] }, { secure: true }, now);
    expect(back).toEqual({ ...s, teams: ['org/platform'] });
    expect(
      readSession(KEY, { cookies: [`__Host-helmgate_session=${value}`] }, { secure: true }, new Date(s.exp)),
    ).toBeUndefined();
    expect(
      readSession('other-key', { cookies: [`__Host-helmgate_session=${value}`] }, { secure: true }, now),
    ).toBeUndefined();
  });

  test('Secure is omitted only for a loopback http public URL', () => {
    expect(cookieSettingsFor('http://127.0.0.1:3000')).toEqual({ secure: false });
    expect(cookieSettingsFor('https://helmgate.example.org')).toEqual({ secure: true });
    expect(cookieSettingsFor('http://helmgate.example.org')).toEqual({ secure: true });
  });

  test('a tampered payload or a value signed for another purpose does not verify', () => {
    const signed = signValue(KEY, 'oauth-state', { state: 'x' });
    expect(verifyValue(KEY, 'oauth-state', signed)).toEqual({ state: 'x' });
    expect(verifyValue(KEY, 'session', signed)).toBeUndefined();
    const [, mac] = signed.split('.');
    const forged = `${Buffer.from(JSON.stringify({ state: 'y' })).toString('base64url')}.${mac}`;
    expect(verifyValue(KEY, 'oauth-state', forged)).toBeUndefined();
  });

  test('CSRF tokens are bound to the session and to the approval', () => {
    const a = newSession({ login: 'alice', teams: [] }, cryptoRandom, now);
    const b = newSession({ login: 'alice', teams: [] }, cryptoRandom, now);
    const t = csrfToken(a, 'approval:1');
    expect(verifyCsrf(a, 'approval:1', t)).toBe(true);
    expect(verifyCsrf(b, 'approval:1', t)).toBe(false);
    expect(verifyCsrf(a, 'approval:2', t)).toBe(false);
    expect(verifyCsrf(a, 'approval:1', undefined)).toBe(false);
  });

  test('the return path after login stays on our approval pages and deployment views', () => {
    expect(safeReturnPath('/approvals/abc?token=x_-1')).toBe('/approvals/abc?token=x_-1');
    expect(safeReturnPath('/deployments')).toBe('/deployments');
    expect(safeReturnPath('/deployments/dep-1?x=1')).toBe('/deployments/dep-1?x=1');
    for (const bad of [
      '/deployments//evil.example',
      '/deploymentsx',
      '//evil.example/approvals/x',
      'https://evil.example/',
      '/\\evil',
      '/approvals/../x',
      undefined,
    ])
      expect(safeReturnPath(bad)).toBe('/');
  });
});
