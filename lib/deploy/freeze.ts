/**
 * Freeze windows (issue 13, item 6): times when an environment's deployments do not start. Pure: the
 * time-zone arithmetic uses Intl only. A window is a date range (instants with an offset, or wall-clock
 * times in `timeZone`) or a weekly recurrence (days, wall-clock from/to in `timeZone`; a `to` at or
 * before `from` ends on the next day).
 */
export type Weekday = 'sun' | 'mon' | 'tue' | 'wed' | 'thu' | 'fri' | 'sat';
export const WEEKDAYS: readonly Weekday[] = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

export type FreezeWindow =
  | { from: string; to: string; timeZone?: string | undefined; reason?: string | undefined }
  | {
      weekly: { days: Weekday[]; from: string; to: string };
      timeZone: string;
      reason?: string | undefined;
    };

export interface Frozen {
  /** the instant the freeze (with any window overlapping or adjoining it) ends */
  until: Date;
  reason?: string;
}

export function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

const formatters = new Map<string, Intl.DateTimeFormat>();
function formatter(tz: string): Intl.DateTimeFormat {
  let f = formatters.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: tz,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    formatters.set(tz, f);
  }
  return f;
}

/** The wall-clock fields of instant `t` in `tz`, as a UTC epoch (a "wall" number). */
function wallOf(t: number, tz: string): number {
  const parts = formatter(tz).formatToParts(new Date(t));
  const get = (type: string) => Number(parts.find((p) => p.type === type)?.value);
  return Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'), get('second'));
}

/**
 * The instant whose wall clock in `tz` reads `wall`. In a spring-forward gap the later offset is used
 * (the wall time does not exist; the instant after the gap is what a clock would show); in a fall-back
 * overlap, the first of the two.
 */
export function zonedToUtc(wall: number, tz: string): number {
  const offsetAt = (t: number) => wallOf(t, tz) - Math.floor(t / 1000) * 1000;
  const t1 = wall - offsetAt(wall);
  const t2 = wall - offsetAt(t1);
  const candidates = [t1, t2].filter((t) => wallOf(t, tz) === Math.floor(wall / 1000) * 1000);
  // an overlap has two readings: the first; a gap has none: the instant after it
  return candidates.length > 0 ? Math.min(...candidates) : Math.max(t1, t2);
}

const WITH_OFFSET = /(Z|[+-]\d{2}:\d{2})$/i;
const LOCAL = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2}))?)?$/;

/** An instant of a date-range window: ISO with an offset, or a wall-clock date/time in `timeZone`. */
export function freezeInstant(text: string, timeZone: string | undefined): number | undefined {
  if (WITH_OFFSET.test(text)) {
    const t = Date.parse(text);
    return Number.isNaN(t) ? undefined : t;
  }
  const m = LOCAL.exec(text);
  if (!m || !timeZone || !isTimeZone(timeZone)) return undefined;
  const [, y, mo, d, h, mi, s] = m;
  const wall = Date.UTC(
    Number(y),
    Number(mo) - 1,
    Number(d),
    Number(h ?? 0),
    Number(mi ?? 0),
    Number(s ?? 0),
  );
  return zonedToUtc(wall, timeZone);
}

interface Interval {
  start: number;
  end: number;
  reason?: string | undefined;
}

function intervals(w: FreezeWindow, now: number): Interval[] {
  if (!('weekly' in w)) {
    const start = freezeInstant(w.from, w.timeZone);
    const end = freezeInstant(w.to, w.timeZone);
    return start !== undefined && end !== undefined && start < end ? [{ start, end, reason: w.reason }] : [];
  }
  const [fh, fm] = w.weekly.from.split(':').map(Number) as [number, number];
  const [th, tm] = w.weekly.to.split(':').map(Number) as [number, number];
  const overnight = th * 60 + tm <= fh * 60 + fm;
  const today = new Date(wallOf(now, w.timeZone));
  const out: Interval[] = [];
  // yesterday's overnight window may still run; a week and a day ahead covers chained windows
  for (let k = -1; k <= 8; k++) {
    const day = Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate() + k);
    if (!w.weekly.days.includes(WEEKDAYS[new Date(day).getUTCDay()] as Weekday)) continue;
    const start = zonedToUtc(day + (fh * 60 + fm) * 60_000, w.timeZone);
    const endDay = overnight ? day + 86_400_000 : day;
    const end = zonedToUtc(endDay + (th * 60 + tm) * 60_000, w.timeZone);
    if (start < end) out.push({ start, end, reason: w.reason });
  }
  return out;
}

/**
 * Whether `now` is inside a freeze, and until when: the end of the window holding `now`, extended
 * through every window that overlaps or adjoins it (a weekend freeze followed by a holiday freeze is one).
 */
export function frozenAt(windows: readonly FreezeWindow[], now: Date): Frozen | undefined {
  const t = now.getTime();
  const all = windows.flatMap((w) => intervals(w, t));
  const holding = all.filter((i) => i.start <= t && t < i.end);
  if (holding.length === 0) return undefined;
  let until = Math.max(...holding.map((i) => i.end));
  for (let grew = true; grew; ) {
    grew = false;
    for (const i of all)
      if (i.start <= until && i.end > until) {
        until = i.end;
        grew = true;
      }
  }
  const reason = holding.find((i) => i.reason)?.reason;
  return { until: new Date(until), ...(reason ? { reason } : {}) };
}
