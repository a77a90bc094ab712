import { describeError, HelmgateError } from '../errors';

/** Where the CLI writes: stdout carries the result (only JSON with --json), stderr everything else. */
export class Output {
  /** set once the target is known: every line passes through its redactor */
  redact: (s: string) => string = (s) => s;

  constructor(
    private readonly stdout: (s: string) => void,
    private readonly stderr: (s: string) => void,
    readonly json: boolean,
    /** ANSI colour in the text output (a terminal, no NO_COLOR, no --json) */
    readonly color = false,
    /** stderr is a terminal that may be redrawn in place (never with --json) */
    readonly live = false,
    /** the terminal's width, to count the rows a redrawn line takes when it wraps */
    private readonly columns = 80,
  ) {}

  /**
   * Progress drawn in place on a terminal: moves up over the `previous` lines drawn last time, clears
   * to the end of the screen and writes `lines` (stderr, like every note).
   */
  redraw(lines: readonly string[], previous: number): number {
    const up = previous > 0 ? `\x1b[${previous}F\x1b[J` : '';
    const text = this.redact(lines.map((l) => `${l}\n`).join(''));
    this.stderr(up + text);
    // a line longer than the terminal wraps: move up over every row it took
    const width = Math.max(1, this.columns);
    return text
      .split('\n')
      .slice(0, -1)
      .reduce((rows, l) => rows + Math.max(1, Math.ceil(l.replace(SGR_SEQUENCE, '').length / width)), 0);
  }

  /** A status word in its colour: green done, red failed, yellow waiting, cyan running, dim ended. */
  status(s: string): string {
    return this.paint(STATUS_COLOR[s] ?? '', s);
  }
  bold(s: string): string {
    return this.paint(SGR.bold, s);
  }
  dim(s: string): string {
    return this.paint(SGR.dim, s);
  }
  red(s: string): string {
    return this.paint(SGR.red, s);
  }
  private paint(code: string, s: string): string {
    return this.color && code && s ? `\x1b[${code}m${s}\x1b[0m` : s;
  }

  /** The command's result: JSON on stdout with --json, else the text. */
  result(value: unknown, text: string | (() => string)): void {
    if (this.json) this.stdout(this.redact(`${JSON.stringify(value, null, 2)}\n`));
    else {
      const t = typeof text === 'function' ? text() : text;
      this.stdout(this.redact(t.endsWith('\n') ? t : `${t}\n`));
    }
  }

  /** Progress and warnings: always stderr, so stdout stays parseable. */
  note(line: string): void {
    this.stderr(this.redact(`${line}\n`));
  }

  /** A failure: `{"error":{code,message}}` on stdout with --json, else a line on stderr. */
  fail(e: unknown, extra: Record<string, unknown> = {}): void {
    const code = e instanceof HelmgateError ? e.code : 'internal';
    const message = describeError(e);
    if (this.json)
      this.stdout(this.redact(`${JSON.stringify({ error: { code, message }, ...extra }, null, 2)}\n`));
    else this.stderr(this.redact(`helmgate: ${message}\n`));
  }
}

/** an SGR (colour) escape: it takes no room on the screen */
const SGR_SEQUENCE = new RegExp(`${'\x1b'}\\[[0-9;]*m`, 'g');

const SGR = { bold: '1', dim: '2', red: '31', green: '32', yellow: '33', cyan: '36' } as const;

const STATUS_COLOR: Record<string, string> = {
  succeeded: SGR.green,
  rendered: SGR.green,
  ok: SGR.green,
  failed: SGR.red,
  cancelled: SGR.red,
  MISSING: SGR.red,
  running: SGR.cyan,
  queued: SGR.yellow,
  awaiting_approval: SGR.yellow,
  'awaiting approval': SGR.yellow,
  open: SGR.yellow,
  rejected: SGR.dim,
  superseded: SGR.dim,
  expired: SGR.dim,
  skipped: SGR.dim,
};

/**
 * Whether text output gets colour: only on a terminal, never with --json or --no-color, and not when
 * NO_COLOR is set to anything but the empty string (https://no-color.org).
 */
export function wantsColor(opts: {
  isTTY: boolean;
  json: boolean;
  noColorFlag: boolean;
  env: Readonly<Record<string, string | undefined>>;
}): boolean {
  if (!opts.isTTY || opts.json || opts.noColorFlag) return false;
  const noColor = opts.env.NO_COLOR;
  return noColor === undefined || noColor === '';
}

/**
 * Rows as aligned columns (two spaces apart, the last column not padded). `style(column, text)` may
 * colour a cell: widths are measured on the text, so colour never shifts the columns.
 */
export function table(
  header: readonly string[],
  rows: ReadonlyArray<readonly string[]>,
  opts: {
    indent?: string;
    style?: (column: number, text: string) => string;
    head?: (s: string) => string;
  } = {},
): string {
  const all = [header, ...rows];
  const widths = header.map((_, c) => Math.max(...all.map((r) => (r[c] ?? '').length)));
  const line = (r: readonly string[], isHeader: boolean) =>
    (opts.indent ?? '') +
    r
      .map((cell, c) => {
        const pad = c === r.length - 1 ? '' : ' '.repeat((widths[c] ?? 0) - cell.length);
        const shown = isHeader ? (opts.head ?? ((x: string) => x))(cell) : (opts.style?.(c, cell) ?? cell);
        return shown + pad;
      })
      .join('  ')
      .trimEnd();
  return [line(header, true), ...rows.map((r) => line(r, false))].join('\n');
}

/** `850 ms`, `12.3 s`, `4m 05s`. */
export function duration(ms: number | undefined): string {
  if (ms === undefined) return '';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
}

/** `3m ago` / `in 23h`, for people; scripts get ISO timestamps from --json. */
export function relative(iso: string | undefined, now: Date): string {
  if (!iso) return '';
  const ms = new Date(iso).getTime() - now.getTime();
  const abs = Math.abs(ms);
  const unit =
    abs < 60_000
      ? `${Math.round(abs / 1000)}s`
      : abs < 3600_000
        ? `${Math.round(abs / 60_000)}m`
        : abs < 86_400_000
          ? `${Math.round(abs / 3600_000)}h`
          : `${Math.round(abs / 86_400_000)}d`;
  return ms < 0 ? `${unit} ago` : `in ${unit}`;
}

export function short(sha: string | undefined): string {
  return (sha ?? '?').slice(0, 12);
}
