import { createHmac, timingSafeEqual } from 'node:crypto';
import { parse, serialize } from 'cookie';
import type { Random } from '../random';

/** Who is logged in: enough to decide approvals, nothing more (the GitHub access token is not kept). */
export interface Session {
  /** random id of this login: the server-side record that logout revokes (lib/auth/session-registry) */
  sid: string;
  login: string;
  /** `org/slug`, lower-case */
  teams: string[];
  /** per-session secret the CSRF tokens are derived from */
  csrf: string;
  /** epoch ms */
  exp: number;
}

export interface CookieSettings {
  /** omit `Secure` only for a local http://127.0.0.1 public URL */
  secure: boolean;
}

/** Default login lifetime (HELMGATE_SESSION_TTL_MINUTES overrides it): one hour, was eight. */
export const SESSION_TTL_MS = 3600_000;
export const STATE_TTL_MS = 10 * 60_000;

/** `__Host-` binds the cookie to our origin (needs Secure, Path=/, no Domain); plain names for local http. */
export function sessionCookieName(s: CookieSettings): string {
  return s.secure ? '__Host-helmgate_session' : 'helmgate_session';
}
export function stateCookieName(s: CookieSettings): string {
  return s.secure ? '__Host-helmgate_oauth' : 'helmgate_oauth';
}

/** Secure unless the public URL is plain http on loopback (the local stack). */
export function cookieSettingsFor(publicUrl: string): CookieSettings {
  const u = new URL(publicUrl);
  const local = u.protocol === 'http:' && (u.hostname === '127.0.0.1' || u.hostname === 'localhost');
  return { secure: !local };
}

function mac(key: string, purpose: string, payload: string): Buffer {
  return createHmac('sha256', key).update(`helmgate/${purpose}/v1\0${payload}`).digest();
}

/** `payload.mac`, both base64url; the purpose is inside the MAC so a state cookie is never a session. */
export function signValue(key: string, purpose: string, value: unknown): string {
  const payload = Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');
  return `${payload}.${mac(key, purpose, payload).toString('base64url')}`;
}

export function verifyValue<T>(key: string, purpose: string, signed: string | undefined): T | undefined {
  if (!signed || signed.length > 8192) return undefined;
  const dot = signed.indexOf('.');
  if (dot <= 0) return undefined;
  const payload = signed.slice(0, dot);
  const given = Buffer.from(signed.slice(dot + 1), 'base64url');
  const want = mac(key, purpose, payload);
  if (given.length !== want.length || !timingSafeEqual(given, want)) return undefined;
  try {
    return JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as T;
  } catch {
    return undefined;
  }
}

/** Cookies from an API Gateway v2 event (`cookies` array) or a Cookie header. */
export function readCookies(event: {
  cookies?: string[];
  headers?: Record<string, string | undefined>;
}): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = [...(event.cookies ?? [])];
  const header = event.headers?.cookie ?? event.headers?.Cookie;
  if (header) lines.push(header);
  for (const line of lines) {
    for (const [k, v] of Object.entries(parse(line))) if (v !== undefined && out[k] === undefined) out[k] = v;
  }
  return out;
}

function setCookie(name: string, value: string, maxAgeSeconds: number, s: CookieSettings): string {
  return serialize(name, value, {
    httpOnly: true,
    secure: s.secure,
    sameSite: 'lax',
    path: '/',
    maxAge: maxAgeSeconds,
  });
}

export function newSession(
  input: { login: string; teams: string[] },
  random: Random,
  now: Date,
  ttlMs: number = SESSION_TTL_MS,
): Session {
  return {
    sid: random.bytes(24).toString('base64url'),
    login: input.login,
    teams: input.teams.map((t) => t.toLowerCase()),
    csrf: random.bytes(32).toString('base64url'),
    exp: now.getTime() + ttlMs,
  };
}

export function sessionCookie(key: string, session: Session, s: CookieSettings, now: Date): string {
  return setCookie(
    sessionCookieName(s),
    signValue(key, 'session', session),
    Math.floor((session.exp - now.getTime()) / 1000),
    s,
  );
}

export function clearCookie(name: string, s: CookieSettings): string {
  return setCookie(name, '', 0, s);
}

export function readSession(
  key: string,
  event: { cookies?: string[]; headers?: Record<string, string | undefined> },
  s: CookieSettings,
  now: Date,
): Session | undefined {
  const v = verifyValue<Session>(key, 'session', readCookies(event)[sessionCookieName(s)]);
  if (
    !v ||
    typeof v.sid !== 'string' ||
    typeof v.login !== 'string' ||
    !Array.isArray(v.teams) ||
    typeof v.csrf !== 'string'
  )
    return undefined;
  if (typeof v.exp !== 'number' || v.exp <= now.getTime()) return undefined;
  return v;
}

/** A CSRF token for one form: bound to the session's secret and to what the form acts on. */
export function csrfToken(session: Session, purpose: string): string {
  return createHmac('sha256', session.csrf).update(`csrf\0${purpose}`).digest('base64url');
}

export function verifyCsrf(session: Session, purpose: string, given: string | undefined): boolean {
  if (!given) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(csrfToken(session, purpose));
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The OAuth round trip's state: random, with where to go back, in a short-lived signed cookie. */
export interface OAuthState {
  state: string;
  returnTo: string;
  exp: number;
}

export function stateCookie(key: string, st: OAuthState, s: CookieSettings): string {
  return setCookie(stateCookieName(s), signValue(key, 'oauth-state', st), Math.floor(STATE_TTL_MS / 1000), s);
}

export function readState(
  key: string,
  event: { cookies?: string[]; headers?: Record<string, string | undefined> },
  s: CookieSettings,
  now: Date,
): OAuthState | undefined {
  const v = verifyValue<OAuthState>(key, 'oauth-state', readCookies(event)[stateCookieName(s)]);
  if (!v || typeof v.state !== 'string' || typeof v.returnTo !== 'string' || typeof v.exp !== 'number')
    return undefined;
  return v.exp > now.getTime() ? v : undefined;
}

/**
 * Where a login (or a vote from a dashboard page) may send the browser back to: our own approval and
 * dashboard pages only (no open redirect through `//evil`, `/\evil` or absolute URLs).
 */
export function safeReturnPath(raw: string | undefined): string {
  if (!raw) return '/';
  if (!/^\/(approvals\/[\w.-]+|deployments(\/[\w.-]+)?|metrics)?(\?[\w=&%.-]*)?$/.test(raw)) return '/';
  return raw;
}
