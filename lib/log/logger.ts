import type { Clock } from '../clock';
import type { Redactor } from './redact';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type LogFields = Record<string, unknown>;

/** JSON-lines logger. Bindings carry correlation ids (deliveryId, deploymentId). Redaction happens at the sink. */
export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  child(bindings: LogFields): Logger;
}

export interface LoggerOptions {
  redactor: Redactor;
  clock: Clock;
  level?: LogLevel;
  /** Where lines go; defaults to stdout. Every line passes through the redactor first. */
  write?: (line: string) => void;
  bindings?: LogFields;
}

export function createLogger(opts: LoggerOptions): Logger {
  const min = ORDER[opts.level ?? 'info'];
  const write = opts.write ?? ((line: string) => process.stdout.write(`${line}\n`));
  const make = (bindings: LogFields): Logger => {
    const emit = (level: LogLevel, msg: string, fields?: LogFields) => {
      if (ORDER[level] < min) return;
      const record = {
        level,
        time: opts.clock.now().toISOString(),
        msg,
        ...bindings,
        ...serializeFields(fields),
      };
      write(opts.redactor.redact(safeStringify(record)));
    };
    return {
      debug: (m, f) => emit('debug', m, f),
      info: (m, f) => emit('info', m, f),
      warn: (m, f) => emit('warn', m, f),
      error: (m, f) => emit('error', m, f),
      child: (b) => make({ ...bindings, ...b }),
    };
  };
  return make(opts.bindings ?? {});
}

function serializeFields(fields?: LogFields): LogFields {
  if (!fields) return {};
  const out: LogFields = {};
  for (const [k, v] of Object.entries(fields)) {
    out[k] = v instanceof Error ? serializeError(v, 0) : v;
  }
  return out;
}

/** name, message, `code` and the `cause` chain (a few levels: causes can be cyclic). */
function serializeError(e: Error, depth: number): LogFields {
  const code = (e as { code?: unknown }).code;
  const cause = e.cause;
  return {
    name: e.name,
    message: e.message,
    ...(code !== undefined ? { code } : {}),
    ...(cause === undefined || depth >= 4
      ? {}
      : { cause: cause instanceof Error ? serializeError(cause, depth + 1) : cause }),
  };
}

function safeStringify(v: unknown): string {
  try {
    return JSON.stringify(v);
  } catch {
    return JSON.stringify({ msg: 'unserializable log record' });
  }
}

/** Collects lines in memory: tests assert on what was logged. */
export function memorySink(): { lines: string[]; write: (line: string) => void } {
  const lines: string[] = [];
  return { lines, write: (line) => lines.push(line) };
}
