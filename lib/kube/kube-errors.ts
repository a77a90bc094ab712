import { HelmgateError } from '../errors';

/** The HTTP status of a failed @kubernetes/client-node call (its ApiException), else undefined. */
export function apiStatus(e: unknown): number | undefined {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

/**
 * A safe error for a failed Kubernetes API call. client-node's ApiException message embeds the whole
 * response body and headers, so it is never passed on: only the status, the Status reason and message
 * (with any of `secretValues` and their base64 forms scrubbed) and what we were doing. No cause is chained.
 */
export function kubeApiError(
  action: string,
  e: unknown,
  secretValues: readonly string[] = [],
): HelmgateError {
  const status = apiStatus(e);
  if (status === undefined) {
    // transport errors (ECONNREFUSED, ECONNRESET, TLS) carry no response body; their message is safe
    const detail =
      e instanceof Error ? (((e as { code?: unknown }).code as string | undefined) ?? e.message) : '';
    return new HelmgateError('internal', scrub(`${action}: ${detail || 'request failed'}`, secretValues));
  }
  const body = parseBody((e as { body?: unknown }).body);
  const reason = typeof body?.reason === 'string' ? body.reason : undefined;
  const message = typeof body?.message === 'string' ? body.message : undefined;
  const detail = [reason, message].filter(Boolean).join(': ');
  return new HelmgateError(
    'internal',
    scrub(`${action}: HTTP ${status}${detail ? ` ${detail}` : ''}`, secretValues),
  );
}

function parseBody(body: unknown): Record<string, unknown> | undefined {
  if (typeof body === 'object' && body !== null) return body as Record<string, unknown>;
  if (typeof body !== 'string') return undefined;
  try {
    const v: unknown = JSON.parse(body);
    return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function scrub(text: string, values: readonly string[]): string {
  let out = text;
  for (const v of values) {
    if (v.length < 4) continue;
    for (const form of [v, Buffer.from(v).toString('base64'), JSON.stringify(v).slice(1, -1)])
      out = out.split(form).join('***');
  }
  return out;
}
