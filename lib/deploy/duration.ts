/**
 * Go-style durations as helm's `--timeout` takes them (`300s`, `10m`, `1h30m`, `1.5h`), in whole
 * seconds. Sub-second units are refused: helm's timeouts are never that short, and a plan records
 * seconds. A bare number is refused too (Go's time.ParseDuration wants a unit except for "0").
 */
const UNIT_SECONDS: Record<string, number> = { h: 3600, m: 60, s: 1 };
const DURATION = /^(?:\d+(?:\.\d+)?[hms])+$/;
const PART = /(\d+(?:\.\d+)?)([hms])/g;

/** Seconds, or undefined when `text` is not a positive whole-second Go duration. */
export function parseDuration(text: string): number | undefined {
  if (!DURATION.test(text)) return undefined;
  let seconds = 0;
  for (const [, amount, unit] of text.matchAll(PART))
    seconds += Number(amount) * (UNIT_SECONDS[unit as string] ?? 0);
  // 1.5h is fine; 0.5s is not a whole second. Round away float noise (0.1h = 360.00000000000006).
  const rounded = Math.round(seconds * 1e6) / 1e6;
  if (!Number.isInteger(rounded) || rounded <= 0) return undefined;
  return rounded;
}

/** The inverse, for humans: 5400 -> "1h30m", 90 -> "1m30s". */
export function formatDuration(seconds: number): string {
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  return `${h ? `${h}h` : ''}${m ? `${m}m` : ''}${s || (!h && !m) ? `${s}s` : ''}`;
}
