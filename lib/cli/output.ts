import { describeError, HelmgateError } from '../errors';

/** Where the CLI writes: stdout carries the result (only JSON with --json), stderr everything else. */
export class Output {
  /** set once the target is known: every line passes through its redactor */
  redact: (s: string) => string = (s) => s;

  constructor(
    private readonly stdout: (s: string) => void,
    private readonly stderr: (s: string) => void,
    readonly json: boolean,
  ) {}

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
