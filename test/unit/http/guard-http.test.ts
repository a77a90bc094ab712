import { HelmgateError } from '../../../lib/errors';
import { guardHttp, type HttpEvent, json } from '../../../lib/http/lambda-http';
import { lookup } from '../../../lib/lookup';

function event(method: string, pathParameters?: Record<string, string>): HttpEvent {
  return {
    rawPath: '/x',
    headers: {},
    ...(pathParameters ? { pathParameters } : {}),
    requestContext: { http: { method, path: '/x' } },
  } as unknown as HttpEvent;
}

describe('guardHttp (every AWS route and every local route)', () => {
  const ok = guardHttp(async () => json(200, { ok: true }), { hsts: true });

  it('adds Strict-Transport-Security when asked, on success and on refusal alike', async () => {
    expect((await ok(event('GET'))).headers?.['strict-transport-security']).toBe('max-age=31536000');
    expect((await ok(event('PUT'))).headers?.['strict-transport-security']).toBe('max-age=31536000');
    const plain = guardHttp(async () => json(200, {}));
    expect((await plain(event('GET'))).headers?.['strict-transport-security']).toBeUndefined();
  });

  it('refuses unknown methods with 405 and malformed path parameters with 400 before the handler runs', async () => {
    let ran = 0;
    const h = guardHttp(async () => {
      ran++;
      return json(200, {});
    });
    expect((await h(event('DELETE'))).statusCode).toBe(405);
    expect((await h(event('GET', { id: 'a'.repeat(201) }))).statusCode).toBe(400);
    expect((await h(event('GET', { id: 'a/b' }))).statusCode).toBe(400);
    expect((await h(event('GET', { id: '%E0%A4%A' }))).statusCode).toBe(400);
    expect((await h(event('GET', { id: 'a\u0000b' }))).statusCode).toBe(400);
    expect(ran).toBe(0);
    expect((await h(event('GET', { id: 'abc1234-production-0123456789' }))).statusCode).toBe(200);
    expect(ran).toBe(1);
  });

  it('answers a throw (a failed first build included) from the error table, with a public message for not_configured', async () => {
    const unconfigured = guardHttp(async () => {
      throw new HelmgateError(
        'not_configured',
        'Slack is not configured: secret helmgate/slack does not exist',
      );
    });
    const r = await unconfigured(event('POST'));
    expect(r.statusCode).toBe(503);
    expect(JSON.parse(r.body ?? '{}')).toEqual({
      error: 'not_configured',
      message: 'Slack is not configured: secret helmgate/slack does not exist',
    });
    const unavailable = guardHttp(async () => {
      throw new HelmgateError('unavailable', 'GitHub did not answer');
    });
    expect((await unavailable(event('POST'))).headers?.['retry-after']).toBe('30');
    const crashed = guardHttp(async () => {
      throw new TypeError('secret-bearing detail');
    });
    const c = await crashed(event('GET'));
    expect(c.statusCode).toBe(500);
    expect(c.body).not.toContain('secret-bearing');
  });
});

describe('lookup', () => {
  it('finds own properties only', () => {
    const t = { approved: 'yes' };
    expect(lookup(t, 'approved')).toBe('yes');
    expect(lookup(t, 'constructor')).toBeUndefined();
    expect(lookup(t, '__proto__')).toBeUndefined();
    expect(lookup(t, undefined)).toBeUndefined();
  });
});
