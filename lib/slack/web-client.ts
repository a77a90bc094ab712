import { LogLevel, type Logger as SlackLogger, WebClient } from '@slack/web-api';
import type { Logger } from '../log/logger';

export interface SlackClientOptions {
  botToken: string;
  /** default https://slack.com/api/; tests point it at a loopback recorder */
  slackApiUrl?: string;
  logger: Logger;
  /** retries per call after the first attempt (5xx, network errors, 429 after Retry-After); default 2 */
  retries?: number;
  /** per-request timeout, ms; default 10 s */
  timeoutMs?: number;
}

/**
 * A `WebClient` fit for Lambda: a few quick retries instead of the SDK's default of ten over thirty
 * minutes (a notification is refreshed by the next transition anyway), and the SDK's console logger
 * replaced by ours (which redacts at the sink).
 */
export function createSlackWebClient(opts: SlackClientOptions): WebClient {
  const url = opts.slackApiUrl ?? 'https://slack.com/api/';
  return new WebClient(opts.botToken, {
    slackApiUrl: url.endsWith('/') ? url : `${url}/`,
    logger: slackLogger(opts.logger),
    logLevel: LogLevel.WARN,
    retryConfig: {
      retries: opts.retries ?? 2,
      factor: 2,
      minTimeout: 200,
      maxTimeout: 2_000,
      randomize: true,
    },
    timeout: opts.timeoutMs ?? 10_000,
    // a token must never follow a redirect or an absolute URL to another host
    allowAbsoluteUrls: false,
  });
}

/** Adapts our logger to @slack/logger's interface; everything the SDK says stays at debug except warnings. */
export function slackLogger(logger: Logger): SlackLogger {
  let level: LogLevel = LogLevel.WARN;
  const text = (msg: unknown[]) =>
    msg.map((m) => (typeof m === 'string' ? m : m instanceof Error ? m.message : '')).join(' ');
  return {
    debug: (...msg: unknown[]) => logger.debug('slack sdk', { detail: text(msg) }),
    info: (...msg: unknown[]) => logger.debug('slack sdk', { detail: text(msg) }),
    warn: (...msg: unknown[]) => logger.warn('slack sdk warning', { detail: text(msg) }),
    error: (...msg: unknown[]) => logger.error('slack sdk error', { detail: text(msg) }),
    setLevel: (l: LogLevel) => {
      level = l;
    },
    getLevel: () => level,
    setName: () => undefined,
  };
}

/** Slack's error code (`channel_not_found`, `ratelimited`...) or the SDK error's code; never a request body. */
export function slackErrorCode(e: unknown): string {
  const err = e as { data?: { error?: unknown }; code?: unknown; name?: unknown };
  if (typeof err?.data?.error === 'string') return err.data.error;
  if (typeof err?.code === 'string') return err.code;
  return typeof err?.name === 'string' ? err.name : 'unknown';
}
