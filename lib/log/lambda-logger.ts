import { type LogItem, Logger as PowertoolsLogger } from '@aws-lambda-powertools/logger';
import type { Context } from 'aws-lambda';
import type { LogFields, Logger, LogLevel } from './logger';
import type { Redactor } from './redact';

/**
 * The Logger port in AWS Lambda, through Powertools Logger: every line carries the service, the
 * X-Ray trace id, and — once the handler is wrapped in {@link withLambdaContext} — the request id,
 * cold start, function name/ARN/memory. Errors are serialized with name, message, stack, their own
 * fields (`code`) and their `cause` chain.
 *
 * Powertools formats the record; our {@link Redactor} stays the one place secrets are masked: the
 * finished JSON line passes through it before it is written, as with `createLogger`.
 */
export interface LambdaLoggerOptions {
  redactor: Redactor;
  level?: LogLevel;
  serviceName?: string;
  /** Where lines go; defaults to stdout. Every line passes through the redactor first. */
  write?: (line: string) => void;
}

/** Keys Powertools owns on every line; a field with such a name is kept under `field_<key>`. */
const RESERVED = new Set(['level', 'message', 'sampling_rate', 'service', 'timestamp']);

const POWERTOOLS_LEVEL = { debug: 'DEBUG', info: 'INFO', warn: 'WARN', error: 'ERROR' } as const;

class RedactingPowertoolsLogger extends PowertoolsLogger {
  constructor(
    private readonly sink: { redactor: Redactor; write: (line: string) => void },
    options: ConstructorParameters<typeof PowertoolsLogger>[0],
  ) {
    super(options);
  }

  protected override printLog(_logLevel: number, log: LogItem): void {
    log.prepareForPrint();
    this.sink.write(this.sink.redactor.redact(JSON.stringify(log.getAttributes(), this.getJsonReplacer())));
  }
}

/** Loggers of this process, so that one invocation's context reaches loggers built before and after it. */
const live = new Set<RedactingPowertoolsLogger>();
let current: LambdaContextLike | undefined;

/** What the Lambda runtime passes as `context` (the runner's handler types only what it uses). */
export type LambdaContextLike = Pick<Context, 'awsRequestId'> & Partial<Context>;

export function createLambdaLogger(opts: LambdaLoggerOptions): Logger {
  const write = opts.write ?? ((line: string) => process.stdout.write(`${line}\n`));
  const pt = new RedactingPowertoolsLogger(
    { redactor: opts.redactor, write },
    {
      serviceName: opts.serviceName ?? 'helmgate',
      logLevel: POWERTOOLS_LEVEL[opts.level ?? 'info'],
    },
  );
  live.add(pt);
  if (current) pt.addContext(current as Context);
  const make = (bindings: LogFields): Logger => {
    const attrs = (fields?: LogFields) => {
      const out: LogFields = {};
      for (const [k, v] of Object.entries({ ...bindings, ...fields }))
        out[RESERVED.has(k) ? `field_${k}` : k] = v;
      return out;
    };
    return {
      debug: (m, f) => pt.debug(m, attrs(f)),
      info: (m, f) => pt.info(m, attrs(f)),
      warn: (m, f) => pt.warn(m, attrs(f)),
      error: (m, f) => pt.error(m, attrs(f)),
      child: (b) => make({ ...bindings, ...b }),
    };
  };
  return make({});
}

/** Tells every Lambda logger of this process which invocation the following lines belong to. */
export function enterInvocation(context: LambdaContextLike): void {
  current = context;
  for (const pt of live) pt.addContext(context as Context);
}

/** Wraps a Lambda handler so that its lines carry the invocation's request id and cold start. */
export function withLambdaContext<E, R, C extends LambdaContextLike>(
  handler: (event: E, context: C) => Promise<R>,
): (event: E, context: C) => Promise<R> {
  return (event, context) => {
    if (context?.awsRequestId) enterInvocation(context);
    return handler(event, context);
  };
}
