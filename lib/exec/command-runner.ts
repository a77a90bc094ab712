import { spawn } from 'node:child_process';
import { type ErrorCode, HelmgateError } from '../errors';

export interface RunOptions {
  /** Written to the child's stdin, which is then closed (secret values travel this way, never in argv). */
  stdin?: string | Buffer;
  /** The child's whole environment: build it with `allowlistedEnv`, nothing is inherited. */
  env: Record<string, string>;
  cwd?: string;
  /** Kill the child (SIGTERM, then SIGKILL after a grace period) when it runs longer than this. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface CommandResult {
  /** Exit code; null when the child was killed by a signal (timeout, abort). */
  code: number | null;
  stdout: string;
  stderr: string;
  durationMs: number;
  /** True when we killed the child because `timeoutMs` passed. */
  timedOut?: boolean;
}

/**
 * Port: runs one program with an argv array — never through a shell, so no argument is ever parsed
 * as shell syntax. Resolves with whatever the child did (a non-zero exit is not an error here: the
 * caller decides); rejects with `ExecError` only when the program could not be started.
 */
export interface CommandRunner {
  run(command: string, args: readonly string[], opts: RunOptions): Promise<CommandResult>;
}

/** Lines of stderr an error keeps. */
export const STDERR_TAIL_LINES = 20;

/**
 * A child process that failed. The message names the program and its subcommand only: arguments are
 * never echoed (helm arguments are paths and names today, but an error message is the wrong place to
 * find out that changed). `stderrTail` is already redacted by whoever built the error.
 */
export class ExecError extends HelmgateError {
  override name = 'ExecError';
  readonly command: string;
  readonly exitCode: number | null;
  readonly stderrTail: string;
  readonly timedOut: boolean;
  readonly durationMs: number;

  constructor(opts: {
    code?: ErrorCode;
    /** e.g. "helm upgrade" — program and subcommand, never the other arguments */
    command: string;
    exitCode: number | null;
    /** redacted */
    stderrTail: string;
    timedOut?: boolean;
    durationMs?: number;
    cause?: unknown;
  }) {
    const lastLine = errorSummary(opts.stderrTail);
    const how = opts.timedOut
      ? 'timed out'
      : opts.exitCode === null
        ? 'was killed'
        : opts.exitCode === -1
          ? 'could not start'
          : `exited with code ${opts.exitCode}`;
    super(
      opts.code ?? 'internal',
      `${opts.command} ${how}${lastLine ? `: ${truncate(lastLine, 500)}` : ''}`,
      {
        cause: opts.cause,
      },
    );
    this.command = opts.command;
    this.exitCode = opts.exitCode;
    this.stderrTail = opts.stderrTail;
    this.timedOut = opts.timedOut ?? false;
    this.durationMs = opts.durationMs ?? 0;
  }
}

export function isExecError(e: unknown): e is ExecError {
  return e instanceof ExecError;
}

/**
 * The line of stderr that says what went wrong. Helm ends some failures with a hint ("Use --debug flag to
 * render out invalid YAML"), so that is the last line starting with "Error:", with the indented lines that
 * continue it (helm 4 splits template errors: `Error: x.yaml:2:40` / `  executing … at <.Values.a>:` / …).
 */
export function errorSummary(stderr: string): string {
  const lines = stderr.split(/\r?\n/);
  const start = lines.findLastIndex((l) => /^error:/i.test(l.trim()));
  if (start < 0)
    return (
      lines
        .map((l) => l.trim())
        .filter(Boolean)
        .at(-1) ?? ''
    );
  const parts = [lines[start]!.trim()];
  for (const l of lines.slice(start + 1)) {
    if (!/^\s+\S/.test(l)) break;
    parts.push(l.trim());
  }
  return parts.join(' ');
}

/** The last `lines` non-empty lines of `text`. */
export function tailLines(text: string, lines = STDERR_TAIL_LINES): string {
  const all = text.replace(/\s+$/, '').split(/\r?\n/);
  return all.slice(-lines).join('\n');
}

function truncate(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}

const BASE_ENV_KEYS = ['PATH', 'HOME', 'TMPDIR', 'LANG'] as const;
const EXTRA_ENV_KEY = /^(HELM_[A-Z0-9_]+|KUBECONFIG)$/;

/**
 * The environment a child gets: PATH, HOME, TMPDIR and LANG from `source`, plus the explicit HELM_* and
 * KUBECONFIG variables in `extra`. Nothing else passes — no AWS_* credentials, no tokens, no helm
 * settings the operator's shell happens to have. A key in `extra` outside that allowlist is a
 * programming error and throws, rather than being dropped silently.
 */
export function allowlistedEnv(
  source: Readonly<Record<string, string | undefined>>,
  extra: Readonly<Record<string, string>> = {},
): Record<string, string> {
  // no prototype: spawn copies inherited enumerable keys too (for…in), so a polluted Object.prototype
  // would otherwise reach every child (issue 12)
  const env = Object.create(null) as Record<string, string>;
  for (const key of BASE_ENV_KEYS) {
    const v = source[key];
    if (v !== undefined && v !== '') env[key] = v;
  }
  for (const [key, v] of Object.entries(extra)) {
    if (!EXTRA_ENV_KEY.test(key)) {
      throw new HelmgateError('internal', `environment variable ${key} is not allowed for child processes`);
    }
    env[key] = v;
  }
  return env;
}

export interface ProcessRunnerOptions {
  /** Monotonic milliseconds for `durationMs`; defaults to performance.now. */
  now?: () => number;
  /** Output beyond this many characters per stream is dropped from the middle (head and tail kept). */
  maxOutputChars?: number;
  /** Between SIGTERM and SIGKILL when a timeout or abort stops the child. */
  killGraceMs?: number;
}

/** The real CommandRunner: node's spawn with `shell: false`. */
export function createProcessRunner(options: ProcessRunnerOptions = {}): CommandRunner {
  const now = options.now ?? (() => performance.now());
  const maxChars = options.maxOutputChars ?? 32 * 1024 * 1024;
  const killGraceMs = options.killGraceMs ?? 5000;

  return {
    run(command, args, opts) {
      const started = now();
      return new Promise<CommandResult>((resolve, reject) => {
        if (opts.signal?.aborted) {
          resolve({ code: null, stdout: '', stderr: 'aborted before start', durationMs: 0 });
          return;
        }
        // a deadline already spent: the program is never started (rather than racing a 0 ms timer)
        if (opts.timeoutMs !== undefined && opts.timeoutMs <= 0) {
          resolve({
            code: null,
            stdout: '',
            stderr: 'deadline passed before start',
            durationMs: 0,
            timedOut: true,
          });
          return;
        }
        const child = spawn(command, [...args], {
          env: ownEnv(opts.env),
          ...(opts.cwd !== undefined ? { cwd: opts.cwd } : {}),
          shell: false,
          stdio: ['pipe', 'pipe', 'pipe'],
          windowsHide: true,
        });
        const stdout = new OutputBuffer(maxChars);
        const stderr = new OutputBuffer(maxChars);
        let timedOut = false;
        let settled = false;
        let killTimer: NodeJS.Timeout | undefined;
        let graceTimer: NodeJS.Timeout | undefined;

        const stop = () => {
          if (child.exitCode !== null || child.signalCode !== null) return;
          child.kill('SIGTERM');
          graceTimer = setTimeout(() => child.kill('SIGKILL'), killGraceMs);
          graceTimer.unref();
        };
        if (opts.timeoutMs !== undefined) {
          killTimer = setTimeout(
            () => {
              timedOut = true;
              stop();
            },
            Math.max(0, opts.timeoutMs),
          );
        }
        const onAbort = () => stop();
        opts.signal?.addEventListener('abort', onAbort, { once: true });

        const cleanup = () => {
          if (killTimer) clearTimeout(killTimer);
          if (graceTimer) clearTimeout(graceTimer);
          opts.signal?.removeEventListener('abort', onAbort);
        };

        child.stdout.setEncoding('utf8');
        child.stderr.setEncoding('utf8');
        child.stdout.on('data', (d: string) => stdout.push(d));
        child.stderr.on('data', (d: string) => stderr.push(d));
        // A child that exits without reading all of stdin makes the write fail with EPIPE: that is the
        // child's business (its exit code tells), not a crash of ours.
        child.stdin.on('error', () => {});

        child.on('error', (err: NodeJS.ErrnoException) => {
          if (settled) return;
          settled = true;
          cleanup();
          reject(
            new ExecError({
              command: commandLabel(command, args),
              exitCode: -1,
              stderrTail: err.code ?? 'spawn failed',
              durationMs: now() - started,
              cause: err,
            }),
          );
        });
        child.on('close', (code) => {
          if (settled) return;
          settled = true;
          cleanup();
          resolve({
            code,
            stdout: stdout.text(),
            stderr: stderr.text(),
            durationMs: now() - started,
            ...(timedOut ? { timedOut } : {}),
          });
        });

        if (opts.stdin !== undefined) child.stdin.end(opts.stdin);
        else child.stdin.end();
      });
    },
  };
}

/** The own string entries of `env` on a null-prototype object: nothing inherited reaches the child. */
export function ownEnv(env: Readonly<Record<string, string>>): Record<string, string> {
  const out = Object.create(null) as Record<string, string>;
  for (const key of Object.keys(env)) {
    const v = env[key];
    if (typeof v === 'string') out[key] = v;
  }
  return out;
}

/** "helm upgrade": the program's base name and its first argument when that is a plain word. */
export function commandLabel(command: string, args: readonly string[]): string {
  const base = command.split(/[\\/]/).at(-1) ?? command;
  const sub = args[0];
  return sub !== undefined && /^[a-z][a-z-]*$/.test(sub) ? `${base} ${sub}` : base;
}

/** Keeps the head and the tail of a stream when it is larger than `max` characters. */
class OutputBuffer {
  private head = '';
  private tail = '';
  private dropped = 0;
  constructor(private readonly max: number) {}

  push(chunk: string): void {
    if (this.head.length < this.max / 2) {
      const room = Math.floor(this.max / 2) - this.head.length;
      this.head += chunk.slice(0, room);
      chunk = chunk.slice(room);
    }
    if (chunk.length === 0) return;
    this.tail += chunk;
    const over = this.tail.length - Math.ceil(this.max / 2);
    if (over > 0) {
      this.tail = this.tail.slice(over);
      this.dropped += over;
    }
  }

  text(): string {
    return this.dropped > 0
      ? `${this.head}\n… (${this.dropped} characters dropped) …\n${this.tail}`
      : this.head + this.tail;
  }
}
