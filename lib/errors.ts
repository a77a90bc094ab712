/**
 * Every error helmgate raises on purpose carries a `code` from this union. Only lib/http maps codes
 * to HTTP status; messages never contain secret values (the redactor guards logs as a second line).
 */
export type ErrorCode =
  | 'bad_request'
  | 'invalid_signature'
  | 'forbidden'
  | 'not_found'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'conflict'
  | 'expired'
  | 'superseded'
  | 'gone'
  | 'unauthenticated'
  | 'invalid_config'
  | 'invalid_deploy_config'
  | 'secret_missing'
  | 'source_unavailable'
  /** a dependency failed in a way that may pass (GitHub 5xx, rate limit, network): retry later */
  | 'unavailable'
  /** an optional feature was asked for but this installation has not set it up (Slack, GitHub login) */
  | 'not_configured'
  /** the commit's tree holds something refused: a link out, a device file, a FIFO (issue 12) */
  | 'unsafe_source'
  /** a step of a run passed its deadline */
  | 'deadline_exceeded'
  | 'store_conflict'
  | 'helm_failed'
  | 'internal';

export class HelmgateError extends Error {
  override name = 'HelmgateError';
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

export function isHelmgateError(e: unknown): e is HelmgateError {
  return e instanceof HelmgateError;
}

/** A message safe to record: our own errors' messages, otherwise the error's class name only. */
export function describeError(e: unknown): string {
  if (e instanceof HelmgateError) return e.message;
  if (e instanceof Error) return `${e.name}: ${e.message}`;
  return String(e);
}
