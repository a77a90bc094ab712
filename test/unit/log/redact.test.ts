import { fixedClock } from '../../../lib/clock';
import { createLogger, memorySink } from '../../../lib/log/logger';
import { Redactor } from '../../../lib/log/redact';

const SECRET = 'canary-S3cr3t-"quoted"-value';

describe('Redactor', () => {
  it('masks the raw value, its base64, base64url, JSON-escaped and URL-encoded forms', () => {
    const r = new Redactor();
    r.register(SECRET);
    const b64 = Buffer.from(SECRET).toString('base64');
    const text = [
      SECRET,
      b64,
      Buffer.from(SECRET).toString('base64url'),
      JSON.stringify(SECRET),
      encodeURIComponent(SECRET),
    ].join(' | ');
    const out = r.redact(text);
    expect(out).not.toContain(SECRET);
    expect(out).not.toContain(b64);
    expect(out).not.toContain('canary-S3cr3t-\\"quoted\\"-value');
    expect(out).not.toContain(encodeURIComponent(SECRET));
    expect(out).toContain('***');
  });

  it('masks each line of a multi-line secret', () => {
    const r = new Redactor();
    r.register('-----BEGIN KEY-----\nAAAABBBBCCCCDDDD\n-----END KEY-----');
    expect(r.redact('error near AAAABBBBCCCCDDDD here')).toBe('error near *** here');
  });

  it('leaves text alone when nothing is registered, and ignores too-short values', () => {
    const r = new Redactor();
    expect(r.redact('hello')).toBe('hello');
    r.register('ab');
    expect(r.redact('about')).toBe('about');
  });

  it('deep-redacts values', () => {
    const r = new Redactor();
    r.register(SECRET);
    expect(r.redactValue({ a: [{ b: `x ${SECRET} y` }] })).toEqual({ a: [{ b: 'x *** y' }] });
  });
});

describe('createLogger', () => {
  it('writes JSON lines with bindings and redacts at the sink', () => {
    const r = new Redactor();
    const sink = memorySink();
    const log = createLogger({ redactor: r, clock: fixedClock('2026-01-01T00:00:00Z'), write: sink.write });
    r.register(SECRET);
    log.child({ deliveryId: 'd-1' }).info('got it', { value: SECRET, err: new Error(`boom ${SECRET}`) });
    expect(sink.lines).toHaveLength(1);
    const rec = JSON.parse(sink.lines[0] ?? '{}');
    expect(rec).toMatchObject({
      level: 'info',
      msg: 'got it',
      deliveryId: 'd-1',
      time: '2026-01-01T00:00:00.000Z',
    });
    expect(sink.lines[0]).not.toContain('S3cr3t');
  });

  it('serializes an error with its code and cause chain, redacted', () => {
    const r = new Redactor();
    const sink = memorySink();
    const log = createLogger({ redactor: r, clock: fixedClock('2026-01-01T00:00:00Z'), write: sink.write });
    r.register(SECRET);
    const cause = Object.assign(new Error(`reset by ${SECRET}`), { code: 'ECONNRESET' });
    log.error('failed', {
      err: Object.assign(new Error('unavailable', { cause }), { code: 'source_unavailable' }),
    });
    expect(JSON.parse(sink.lines[0] ?? '{}').err).toEqual({
      name: 'Error',
      message: 'unavailable',
      code: 'source_unavailable',
      cause: { name: 'Error', message: 'reset by ***', code: 'ECONNRESET' },
    });
  });

  it('drops records below the level', () => {
    const sink = memorySink();
    const log = createLogger({
      redactor: new Redactor(),
      clock: fixedClock(0 as unknown as string),
      level: 'warn',
      write: sink.write,
    });
    log.info('no');
    log.warn('yes');
    expect(sink.lines.map((l) => JSON.parse(l).msg)).toEqual(['yes']);
  });
});
