import type { DeploymentStore } from '../store/deployment-store';
import { type CookieSettings, readSession, type Session } from './session';

/** The table's generic items: all a session record needs. */
export type SessionItems = Pick<DeploymentStore, 'putItem' | 'getItem'>;

const KIND = 'SESSION';

interface SessionRecord extends Record<string, unknown> {
  login: string;
  exp: number;
  revoked: boolean;
}

/**
 * Server-side record of each login, so a session can be ended before its cookie expires: logout
 * revokes it, and a signed cookie whose record is missing or revoked is no session at all. The
 * record holds the login and expiry only (no token, no teams). In AWS the table's TTL removes it a
 * day after it expired; dynalite ignores TTL, so expiry is also checked here.
 */
export class SessionRegistry {
  constructor(private readonly items: SessionItems) {}

  async register(s: Session): Promise<void> {
    await this.items.putItem(
      KIND,
      s.sid,
      { login: s.login, exp: s.exp, revoked: false } satisfies SessionRecord,
      {
        ttl: new Date(s.exp + 86400_000),
      },
    );
  }

  async isActive(s: Session, now: Date): Promise<boolean> {
    const r = await this.items.getItem<SessionRecord>(KIND, s.sid);
    return r !== undefined && r.revoked !== true && r.login === s.login && r.exp > now.getTime();
  }

  async revoke(s: Session, now: Date): Promise<void> {
    await this.items.putItem(
      KIND,
      s.sid,
      { login: s.login, exp: s.exp, revoked: true, revokedAt: now.toISOString() },
      { ttl: new Date(s.exp + 86400_000) },
    );
  }
}

/**
 * The request's session: a valid signed cookie, not expired, and (when a registry is given) still
 * registered and not revoked.
 */
export async function readActiveSession(opts: {
  key: string;
  event: { cookies?: string[]; headers?: Record<string, string | undefined> };
  cookies: CookieSettings;
  now: Date;
  registry?: SessionRegistry | undefined;
}): Promise<Session | undefined> {
  const s = readSession(opts.key, opts.event, opts.cookies, opts.now);
  if (!s || !opts.registry) return s;
  return (await opts.registry.isActive(s, opts.now)) ? s : undefined;
}

/** Where a handler reads sessions from: its signing key, cookie settings and (optionally) the registry. */
export interface SessionSource {
  signingKey: () => Promise<string>;
  cookies: CookieSettings;
  sessions?: SessionRegistry | undefined;
}

/** `readActiveSession` with a handler's own session settings. */
export async function requestSession(
  deps: SessionSource,
  event: { cookies?: string[]; headers?: Record<string, string | undefined> },
  now: Date,
): Promise<Session | undefined> {
  return readActiveSession({
    key: await deps.signingKey(),
    event,
    cookies: deps.cookies,
    now,
    registry: deps.sessions,
  });
}
