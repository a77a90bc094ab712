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

export function html(statusCode: number, body: string, headers: Record<string, string> = {}): HttpResult {
  return {
    statusCode,
    headers: { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', ...headers },
    body,
  };
}

/** Turns any error into a response: 4xx say what was wrong, 5xx say nothing about the inside. */
export function errorResponse(e: unknown, logger: Logger): HttpResult {
  if (e instanceof HelmgateError) {
    const status = STATUS_BY_CODE[e.code];
    if (status >= 500) {
      logger.error('request failed', { err: e });
      return json(status, { error: 'internal_error', message: 'internal error; see the logs' });
    }
    return json(status, { error: e.code, message: e.message });
  }
  logger.error('unexpected error', { err: e });
  return json(500, { error: 'internal_error', message: 'internal error; see the logs' });
}

export function badRequest(message: string): HelmgateError {
  return new HelmgateError('bad_request', message);
}
