import type { Deployment, DeploymentStatus } from '../deploy/deployment';
import { DEPLOYMENT_STATUSES } from '../deploy/lifecycle';
import { HelmgateError } from '../errors';

/**
 * One page of deployments, newest first. `environment` needs `repository` (environments are named
 * per repository). Each filter is answered by a table index, never by filtering a limited list:
 * environment → GSI1 (`ENV#<repository>#<environment>`), status → GSI3 (the `status` attribute),
 * both → GSI1 with status checked inside the query, reading on until the page is full.
 */
export interface DeploymentQuery {
  repository?: string;
  environment?: string;
  status?: DeploymentStatus;
  /** 1..200, default 50 */
  limit?: number;
  /** `next` of the previous page of the same query */
  cursor?: string;
}

export interface DeploymentPage {
  deployments: Deployment[];
  /** present when there may be more: pass it as `cursor` */
  next?: string;
}

export const MAX_PAGE = 200;
const MAX_CURSOR_CHARS = 2048;
const ID = /^[\w.-]{1,200}$/;
/** `owner/name` as HELMGATE_REPOSITORIES has it */
export const REPOSITORY = /^[\w.-]{1,100}\/[\w.-]{1,100}$/;

export function badCursor(): HelmgateError {
  return new HelmgateError('bad_request', 'cursor is not valid for this query; start again without it');
}

/** Checks the query's own fields (not the cursor): 400s with what is wrong. */
export function validateQuery(
  q: DeploymentQuery,
): Required<Pick<DeploymentQuery, 'limit'>> & DeploymentQuery {
  if (q.environment !== undefined && !ID.test(q.environment))
    throw new HelmgateError('bad_request', 'environment must be 1-200 of [A-Za-z0-9_.-]');
  if (q.repository !== undefined && !REPOSITORY.test(q.repository))
    throw new HelmgateError('bad_request', 'repository must be owner/name');
  if (q.status !== undefined && !(DEPLOYMENT_STATUSES as readonly string[]).includes(q.status))
    throw new HelmgateError('bad_request', `status must be one of ${DEPLOYMENT_STATUSES.join(', ')}`);
  if (q.environment !== undefined && q.repository === undefined)
    throw new HelmgateError(
      'bad_request',
      'an environment is listed per repository: add ?repository=owner/name',
    );
  const limit = q.limit ?? 50;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE)
    throw new HelmgateError('bad_request', `limit must be 1..${MAX_PAGE}`);
  return { ...q, limit };
}

/** Opaque to clients: base64url JSON of the query it belongs to and the last item's keys. */
export function encodeCursor(query: string, key: Record<string, unknown>): string {
  return Buffer.from(JSON.stringify({ q: query, k: key }), 'utf8').toString('base64url');
}

/**
 * The key inside a cursor, only if the cursor was made for `query` and holds exactly `attrs`, all
 * strings (so it can only move within the partition this query reads anyway).
 */
export function decodeCursor(
  cursor: string,
  query: string,
  attrs: readonly string[],
): Record<string, string> {
  if (cursor.length > MAX_CURSOR_CHARS || !/^[\w-]+$/.test(cursor)) throw badCursor();
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw badCursor();
  }
  const c = parsed as { q?: unknown; k?: unknown } | null;
  if (typeof c !== 'object' || c === null || c.q !== query) throw badCursor();
  const k = c.k as Record<string, unknown> | null;
  if (typeof k !== 'object' || k === null || Array.isArray(k)) throw badCursor();
  const keys = Object.keys(k).sort();
  if (keys.join('\0') !== [...attrs].sort().join('\0')) throw badCursor();
  const out: Record<string, string> = Object.create(null);
  for (const a of attrs) {
    const v = k[a];
    if (typeof v !== 'string' || v.length > 512) throw badCursor();
    out[a] = v;
  }
  return { ...out };
}
