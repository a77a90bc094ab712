import { randomUUID } from 'node:crypto';
import { sign } from '@octokit/webhooks-methods';
import type { HttpEvent } from '../../lib/http/lambda-http';

type Example = { name: string; examples: Array<Record<string, unknown>> };
const examples = require('@octokit/webhooks-examples') as Example[];

/** Real GitHub payloads from @octokit/webhooks-examples. */
export function githubExample(event: string, pick: (e: Record<string, unknown>) => boolean = () => true) {
  const found = examples.find((x) => x.name === event)?.examples.find(pick);
  if (!found) throw new Error(`no ${event} example`);
  return structuredClone(found) as Record<string, any>;
}

/** GitHub's push to the default branch (Codertocat/Hello-World, master). */
export function branchPush(overrides: { sha?: string; repository?: string; ref?: string } = {}) {
  const p = githubExample('push', (e) => e.ref === 'refs/heads/master' && e.deleted === false);
  if (overrides.sha) {
    p.after = overrides.sha;
    if (p.head_commit) p.head_commit.id = overrides.sha;
  }
  if (overrides.repository) p.repository.full_name = overrides.repository;
  if (overrides.ref) p.ref = overrides.ref;
  return p;
}

/** An API Gateway HTTP API v2 event, as AWS delivers it (body base64 by default, headers lower-case). */
export function httpEvent(opts: {
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  base64?: boolean;
}): HttpEvent {
  const body = opts.body === undefined ? undefined : Buffer.from(opts.body);
  const base64 = opts.base64 ?? true;
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(opts.headers ?? {})) headers[k.toLowerCase()] = v;
  return {
    version: '2.0',
    routeKey: `${opts.method ?? 'POST'} ${opts.path ?? '/webhook'}`,
    rawPath: opts.path ?? '/webhook',
    rawQueryString: '',
    headers,
    isBase64Encoded: body !== undefined && base64,
    ...(body !== undefined ? { body: base64 ? body.toString('base64') : body.toString('utf8') } : {}),
    requestContext: { http: { method: opts.method ?? 'POST', path: opts.path ?? '/webhook' } },
  } as unknown as HttpEvent;
}

export async function signedGithubEvent(
  secret: string,
  event: string,
  payload: unknown,
  opts: { deliveryId?: string; signature?: string | null; base64?: boolean } = {},
) {
  const body = typeof payload === 'string' ? payload : JSON.stringify(payload);
  const headers: Record<string, string> = {
    'Content-Type': 'application/json',
    'X-GitHub-Event': event,
    'X-GitHub-Delivery': opts.deliveryId ?? randomUUID(),
  };
  const sig = opts.signature === undefined ? await sign(secret, body) : opts.signature;
  if (sig !== null) headers['X-Hub-Signature-256'] = sig;
  return httpEvent({ body, headers, ...(opts.base64 !== undefined ? { base64: opts.base64 } : {}) });
}
