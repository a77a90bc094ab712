import { duration, Output, table, wantsColor } from '../../../lib/cli/output';

describe('wantsColor', () => {
  const on = { isTTY: true, json: false, noColorFlag: false, env: {} };
  it('colours a terminal, and nothing else', () => {
    expect(wantsColor(on)).toBe(true);
    expect(wantsColor({ ...on, isTTY: false })).toBe(false);
    expect(wantsColor({ ...on, json: true })).toBe(false);
    expect(wantsColor({ ...on, noColorFlag: true })).toBe(false);
  });
  it('respects NO_COLOR when set to anything but the empty string (no-color.org)', () => {
    expect(wantsColor({ ...on, env: { NO_COLOR: '1' } })).toBe(false);
    expect(wantsColor({ ...on, env: { NO_COLOR: 'false' } })).toBe(false);
    expect(wantsColor({ ...on, env: { NO_COLOR: '' } })).toBe(true);
  });
});

describe('table', () => {
  it('aligns columns under their heading, measured without the colour codes', () => {
    const o = new Output(
      () => {},
      () => {},
      false,
      true,
    );
    const text = table(
      ['ID', 'STATUS', 'DETAIL'],
      [
        ['a-long-id', 'failed', 'why'],
        ['b', 'succeeded', ''],
      ],
      { style: (c, t) => (c === 1 ? o.status(t) : t) },
    );
    // biome-ignore lint/suspicious/noControlCharactersInRegex: stripping ANSI colour codes
    const plain = text.replace(/\x1b\[[0-9;]*m/g, '').split('\n');
    expect(plain).toEqual([
      'ID         STATUS     DETAIL',
      'a-long-id  failed     why',
      'b          succeeded',
    ]);
    expect(text).toContain('\x1b[31mfailed\x1b[0m');
    expect(text).toContain('\x1b[32msucceeded\x1b[0m');
  });

  it('has no colour codes when colour is off', () => {
    const o = new Output(
      () => {},
      () => {},
      false,
      false,
    );
    expect(o.status('failed')).toBe('failed');
    expect(o.bold('x')).toBe('x');
  });
});

describe('duration', () => {
  it.each([
    [undefined, ''],
    [850, '850 ms'],
    [12_340, '12.3 s'],
    [245_000, '4m 05s'],
  ])('%s ms reads %s', (ms, text) => {
    expect(duration(ms)).toBe(text);
  });
});
