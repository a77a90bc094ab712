import { frozenAt, zonedToUtc } from '../../../lib/deploy/freeze';
import { parsePolicy } from '../../../lib/policy/policy';

const at = (iso: string) => new Date(iso);

describe('freeze windows', () => {
  const weekend = {
    weekly: { days: ['fri' as const], from: '18:00', to: '08:00' },
    timeZone: 'Europe/London',
    reason: 'weekend',
  };

  test('a weekly overnight window holds from its start to the next morning, in its own time zone', () => {
    // Friday 27 Nov 2026, London = UTC in winter
    expect(frozenAt([weekend], at('2026-11-27T17:59:00Z'))).toBeUndefined();
    expect(frozenAt([weekend], at('2026-11-27T18:00:00Z'))).toEqual({
      until: at('2026-11-28T08:00:00Z'),
      reason: 'weekend',
    });
    expect(frozenAt([weekend], at('2026-11-28T07:59:59Z'))?.until).toEqual(at('2026-11-28T08:00:00Z'));
    expect(frozenAt([weekend], at('2026-11-28T08:00:00Z'))).toBeUndefined();
  });

  test('summer time moves the window in UTC (Intl zone arithmetic, no fixed offsets)', () => {
    // Friday 3 July 2026, London = UTC+1
    expect(frozenAt([weekend], at('2026-07-03T17:30:00Z'))?.until).toEqual(at('2026-07-04T07:00:00Z'));
    expect(frozenAt([weekend], at('2026-07-03T16:59:00Z'))).toBeUndefined();
    // wall 01:30 on the spring-forward night in New York does not exist: the instant after the gap
    expect(new Date(zonedToUtc(Date.UTC(2026, 2, 8, 2, 30), 'America/New_York')).toISOString()).toBe(
      '2026-03-08T07:30:00.000Z',
    );
  });

  test('a date range in local dates, and windows that adjoin it, make one freeze', () => {
    const holidays = { from: '2026-12-24', to: '2026-12-28', timeZone: 'Asia/Tokyo', reason: 'holidays' };
    const after = { from: '2026-12-27T15:00:00Z', to: '2026-12-29T00:00:00Z' };
    // 2026-12-24 00:00 in Tokyo is 2026-12-23T15:00Z
    expect(frozenAt([holidays], at('2026-12-23T14:59:00Z'))).toBeUndefined();
    expect(frozenAt([holidays, after], at('2026-12-23T15:00:00Z'))).toEqual({
      until: at('2026-12-29T00:00:00Z'),
      reason: 'holidays',
    });
  });

  test('the policy refuses bad zones, bad clock times and local times without a zone', () => {
    const doc = (w: string) => `apiVersion: helmgate/policy/v1
repositories:
  "*":
    environments:
      production:
        approval: required
        cluster: { secret: c }
        freezeWindows: [${w}]
`;
    expect(() =>
      parsePolicy(doc('{ weekly: { days: [sat], from: "00:00", to: "24:00" }, timeZone: UTC }')),
    ).toThrow(/HH:MM/);
    expect(() =>
      parsePolicy(doc('{ weekly: { days: [sat], from: "00:00", to: "23:00" }, timeZone: Mars/Base }')),
    ).toThrow(/IANA/);
    expect(() => parsePolicy(doc('{ from: "2026-12-24", to: "2026-12-26" }'))).toThrow(/with a timeZone/);
    expect(() => parsePolicy(doc('{ from: "2026-12-26T00:00:00Z", to: "2026-12-24T00:00:00Z" }'))).toThrow(
      /ends after it starts/,
    );
    const ok = parsePolicy(
      doc('{ weekly: { days: [sat, sun], from: "00:00", to: "00:00" }, timeZone: UTC }'),
    );
    const env = ok.repositories['*']?.environments.production;
    // a whole weekend, Saturday 00:00 to Monday 00:00, chained
    expect(frozenAt(env?.freezeWindows ?? [], at('2026-11-28T10:00:00Z'))?.until).toEqual(
      at('2026-11-30T00:00:00Z'),
    );
  });
});
