import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { type ErrorCode, HelmgateError } from '../errors';
import type { Logger } from '../log/logger';

export type HttpEvent = APIGatewayProxyEventV2;
export type HttpResult = APIGatewayProxyStructuredResultV2 & { statusCode: number };
export type HttpHandler = (event: HttpEvent) => Promise<HttpResult>;

/** One table from error code to HTTP status; nothing else in helmgate knows status codes. */
export const STATUS_BY_CODE: Record<ErrorCode, number> = {
  bad_request: 400,
  invalid_signature: 401,
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  expired: 410,
  superseded: 410,
  gone: 410,
  payload_too_large: 413,
  unsupported_media_type: 415,
  invalid_config: 500,
  invalid_deploy_config: 422,
  secret_missing: 500,
  source_unavailable: 502,
  unavailable: 503,
  not_configured: 503,
  unsafe_source: 422,
  deadline_exceeded: 504,
  store_conflict: 409,
  helm_failed: 500,
  internal: 500,
};

/** Headers are case-insensitive; API Gateway v2 lower-cases them, the local adapter does too. */
export function header(event: HttpEvent, name: string): string | undefined {
  const h = event.headers ?? {};
  return (
    h[name.toLowerCase()] ?? Object.entries(h).find(([k]) => k.toLowerCase() === name.toLowerCase())?.[1]
  );
}

/** The exact bytes the client sent (API Gateway base64-encodes binary bodies). */
export function rawBody(event: HttpEvent): Buffer {
  if (event.body === undefined || event.body === null) return Buffer.alloc(0);
  return event.isBase64Encoded ? Buffer.from(event.body, 'base64') : Buffer.from(event.body, 'utf8');
}

export function json(statusCode: number, body: unknown, headers: Record<string, string> = {}): HttpResult {
  return {
    statusCode,
    headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers },
    body: JSON.stringify(body),
  };
}

export function html(
  statusCode: number,
  body: string,
  headers: Record<string, string> = {},
  cookies: string[] = [],
): HttpResult {
  return {
    statusCode,
    headers: { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', ...headers },
    body,
    ...(cookies.length > 0 ? { cookies } : {}),
  };
}

/**
 * 5xx codes whose message is for the caller: what is not set up, or that a dependency is down and a
 * retry will do (`Retry-After`). Their messages name settings, never values.
 */
const PUBLIC_5XX: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['unavailable', 'not_configured']);
export const RETRY_AFTER_SECONDS = 30;

/** Turns any error into a response: 4xx say what was wrong, 5xx say nothing about the inside. */
export function errorResponse(e: unknown, logger: Logger): HttpResult {
  if (e instanceof HelmgateError) {
    const status = STATUS_BY_CODE[e.code];
    if (PUBLIC_5XX.has(e.code)) {
      logger.warn('request refused: dependency unavailable or not configured', { err: e });
      return json(
        status,
        { error: e.code, message: e.message },
        e.code === 'unavailable' ? { 'retry-after': String(RETRY_AFTER_SECONDS) } : {},
      );
    }
    if (status >= 500) {
      logger.error('request failed', { err: e });
      return json(status, { error: 'internal_error', message: 'internal error; see the logs' });
    }
    return json(status, { error: e.code, message: e.message });
  }
  logger.error('unexpected error', { err: e });
  return json(500, { error: 'internal_error', message: 'internal error; see the logs' });
}

/**
 * The same for a page a person submitted a form on: 4xx (and a dependency that is unavailable) say
 * what was wrong in `page`'s words, anything else is logged as `what` and says nothing about the inside.
 */
export function errorPage(
  e: unknown,
  logger: Logger,
  what: string,
  page: (status: number, title: string, text: string) => HttpResult,
): HttpResult {
  if (e instanceof HelmgateError && (STATUS_BY_CODE[e.code] < 500 || e.code === 'unavailable'))
    return page(
      STATUS_BY_CODE[e.code],
      e.code === 'unauthenticated' ? 'Not logged in' : 'Not done',
      e.message,
    );
  logger.error(what, { err: e });
  return page(STATUS_BY_CODE.internal, 'Internal error', 'Something went wrong on our side; see the logs.');
}

export function badRequest(message: string): HelmgateError {
  return new HelmgateError('bad_request', message);
}

/** What a path parameter may hold: deployment ids are `[\w-]` (see lib/intake deploymentId). */
const PATH_PARAM = /^[\w.-]{1,200}$/;
/** Methods any route serves; everything else is refused before a handler runs. */
const KNOWN_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'POST']);
/** A year, subdomains left alone (the API's host only). */
export const HSTS_VALUE = 'max-age=31536000';

/**
 * Checks what every route shares before its handler runs: a known method and path parameters of
 * the one shape ids have. Returns the refusal, or undefined when the event may go on.
 */
export function refuseMalformed(event: HttpEvent): HttpResult | undefined {
  const method = event.requestContext?.http?.method ?? 'GET';
  if (!KNOWN_METHODS.has(method))
    return json(405, { error: 'method_not_allowed', message: `method ${method.slice(0, 20)} is not served` });
  for (const [name, value] of Object.entries(event.pathParameters ?? {}))
    if (value === undefined || !PATH_PARAM.test(value))
      return json(400, { error: 'bad_request', message: `malformed path parameter ${name.slice(0, 20)}` });
  return undefined;
}

export interface GuardOptions {
  logger?: Logger;
  /** adds Strict-Transport-Security to every answer (AWS, or a public https URL) */
  hsts?: boolean;
}

/**
 * Wraps a route's handler so that nothing a client sends can make it throw or answer a 5xx for the
 * client's own mistake: malformed events are refused with 4xx first, a throw (including a failed
 * first build of the handler's dependencies) becomes the error table's answer, and HSTS is added
 * where the API is served over https.
 */
export function guardHttp(handler: HttpHandler, opts: GuardOptions = {}): HttpHandler {
  const finish = (r: HttpResult): HttpResult =>
    opts.hsts ? { ...r, headers: { ...(r.headers ?? {}), 'strict-transport-security': HSTS_VALUE } } : r;
  return async (event: HttpEvent) => {
    const refused = refuseMalformed(event);
    if (refused) return finish(refused);
    try {
      return finish(await handler(event));
    } catch (e) {
      return finish(errorResponse(e, opts.logger ?? fallbackLogger));
    }
  };
}

/** Used only when a handler failed before it had its own logger (e.g. its configuration is invalid). */
const fallbackLogger: Logger = {
  debug: () => {},
  info: () => {},
  warn: (msg, fields) =>
    process.stderr.write(`${JSON.stringify({ level: 'warn', msg, code: codeOf(fields) })}\n`),
  error: (msg, fields) =>
    process.stderr.write(`${JSON.stringify({ level: 'error', msg, code: codeOf(fields) })}\n`),
  child: () => fallbackLogger,
};

/** Logs only the error's code and class: no message, since nothing redacts this stream. */
function codeOf(fields: Record<string, unknown> | undefined): string {
  const e = fields?.err;
  if (e instanceof HelmgateError) return e.code;
  return e instanceof Error ? e.name : 'unknown';
}
