import { createHmac } from 'node:crypto';
import { fixedClock } from '../../../lib/clock';
import { verifySlackRequest } from '../../../lib/slack/verify-request';

// Slack's documented example (https://api.slack.com/authentication/verifying-requests-from-slack)
const SECRET = '8f742231b10e8888abcd99yyyzzz85a5';
const TIMESTAMP = '1531420618';
const BODY = Buffer.from(
  'token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c',
);
const SIGNATURE = 'v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503';
const AT = new Date(Number(TIMESTAMP) * 1000);

const verify = (over: Partial<Parameters<typeof verifySlackRequest>[0]> = {}) =>
  verifySlackRequest({
    signingSecrets: [SECRET],
    body: BODY,
    signature: SIGNATURE,
    timestamp: TIMESTAMP,
    clock: fixedClock(AT),
    ...over,
  });

describe('verifySlackRequest', () => {
  it("accepts Slack's documented example with a clock at its timestamp", () => {
    expect(verify()).toEqual({ ok: true });
  });

  it('accepts a request within the five-minute window either side', () => {
    expect(verify({ clock: fixedClock(new Date(AT.getTime() + 299_000)) }).ok).toBe(true);
    expect(verify({ clock: fixedClock(new Date(AT.getTime() - 299_000)) }).ok).toBe(true);
  });

  it('rejects a stale timestamp (a replay) even with a valid signature', () => {
    expect(verify({ clock: fixedClock(new Date(AT.getTime() + 301_000)) })).toEqual({
      ok: false,
      reason: 'stale',
    });
  });

  it('rejects a timestamp from the future beyond the window', () => {
    expect(verify({ clock: fixedClock(new Date(AT.getTime() - 301_000)) })).toEqual({
      ok: false,
      reason: 'stale',
    });
  });

  it('rejects a body changed by one byte', () => {
    const tampered = Buffer.from(BODY.toString().replace('roadrunner', 'roadrunnes'));
    expect(verify({ body: tampered })).toEqual({ ok: false, reason: 'mismatch' });
  });

  it('rejects a signature made for another timestamp', () => {
    const other = String(Number(TIMESTAMP) + 1);
    expect(verify({ timestamp: other })).toEqual({ ok: false, reason: 'mismatch' });
  });

  it('accepts the previous secret during a rotation, whichever position it has', () => {
    expect(verify({ signingSecrets: ['a-brand-new-signing-secret-000', SECRET] }).ok).toBe(true);
    expect(verify({ signingSecrets: [SECRET, 'a-brand-new-signing-secret-000'] }).ok).toBe(true);
  });

  it('rejects a signature made with another secret', () => {
    expect(verify({ signingSecrets: ['another-secret-entirely-0000'] })).toEqual({
      ok: false,
      reason: 'mismatch',
    });
  });

  it('refuses everything when no secret is configured', () => {
    expect(verify({ signingSecrets: [] })).toEqual({ ok: false, reason: 'no_secret' });
    expect(verify({ signingSecrets: [''] })).toEqual({ ok: false, reason: 'no_secret' });
  });

  it.each([
    ['missing signature', { signature: undefined }, 'missing_headers'],
    ['missing timestamp', { timestamp: undefined }, 'missing_headers'],
    ['truncated signature', { signature: SIGNATURE.slice(0, -1) }, 'malformed'],
    ['upper-case hex', { signature: `v0=${SIGNATURE.slice(3).toUpperCase()}` }, 'malformed'],
    ['another version', { signature: `v1=${SIGNATURE.slice(3)}` }, 'malformed'],
    ['timestamp not a number', { timestamp: '1531420618.5' }, 'malformed'],
  ] as const)('rejects a %s before any HMAC', (_name, over, reason) => {
    expect(verify(over as never)).toEqual({ ok: false, reason });
  });

  it('signs over the raw bytes, not a decoded string', () => {
    const body = Buffer.from([0x70, 0x61, 0x79, 0x3d, 0xff, 0xfe]); // invalid UTF-8
    const sig = `v0=${createHmac('sha256', SECRET).update(`v0:${TIMESTAMP}:`).update(body).digest('hex')}`;
    expect(verify({ body, signature: sig }).ok).toBe(true);
  });
});
