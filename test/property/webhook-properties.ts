import { createHmac, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { makeGithubWebhookHandler } from '../../handlers/github-webhook';
import { fixedClock } from '../../lib/clock';
import type { Deployment } from '../../lib/deploy/deployment';
import { RecordingDispatcher } from '../../lib/dispatch/dispatcher';
import { type HttpEvent, rawBody } from '../../lib/http/lambda-http';
import { createLogger, memorySink } from '../../lib/log/logger';
import { Redactor } from '../../lib/log/redact';
import type { Notifier } from '../../lib/notify/notifier';
import { MemoryBranchState } from '../fakes/memory-branch-state';
import { startDynalite } from '../helpers/dynalite';
import { branchPush } from '../helpers/events';
import { MemoryRepoSource } from '../helpers/memory-source';
import { policyOf } from '../helpers/policy';
import {
  bodyBytes,
  checkProperty,
  countingWrites,
  headerName,
  headerValue,
  leaks,
  type PropertyOptions,
  type PropertyReport,
  tally,
} from './harness';

const REPO = 'Codertocat/Hello-World';
const DEPLOY_YAML = readFileSync(path.join(__dirname, '../fixtures/intake/deploy.yaml'), 'utf8');
/** commits the repository source knows: a good config, a broken one, none at all */
const KNOWN_SHAS = ['1'.repeat(40), '2'.repeat(40), '3'.repeat(40)] as const;

class CountingNotifier implements Notifier {
  count = 0;
  async deploymentChanged(_d: Deployment): Promise<void> {
    this.count++;
  }
}

function hmacHex(algo: 'sha256' | 'sha1', secret: string, body: Buffer): string {
  return createHmac(algo, secret).update(body).digest('hex');
}

/** How a request fails to be signed by the registered secret. */
type Forgery =
  | { kind: 'missing' }
  | { kind: 'garbage'; value: string }
  | { kind: 'random-hex'; hex: string }
  | { kind: 'other-secret'; secret: string }
  | { kind: 'other-body'; extra: Uint8Array }
  | { kind: 'sha1' }
  | { kind: 'prefix-only' };

const forgery: fc.Arbitrary<Forgery> = fc.oneof(
  fc.constant({ kind: 'missing' as const }),
  headerValue.map((value) => ({ kind: 'garbage' as const, value })),
  fc.stringMatching(/^[0-9a-f]{64}$/).map((hex) => ({ kind: 'random-hex' as const, hex })),
  fc.string({ maxLength: 40 }).map((s) => ({ kind: 'other-secret' as const, secret: `not-the-secret:${s}` })),
  fc.uint8Array({ minLength: 1, maxLength: 8 }).map((extra) => ({ kind: 'other-body' as const, extra })),
  fc.constant({ kind: 'sha1' as const }),
  fc.constant({ kind: 'prefix-only' as const }),
);

function forgedSignature(f: Forgery, secret: string, body: Buffer): string | undefined {
  switch (f.kind) {
    case 'missing':
      return undefined;
    case 'garbage':
      return f.value;
    case 'random-hex':
      return `sha256=${f.hex}`;
    case 'other-secret':
      return `sha256=${hmacHex('sha256', f.secret, body)}`;
    case 'other-body':
      return `sha256=${hmacHex('sha256', secret, Buffer.concat([body, Buffer.from(f.extra)]))}`;
    case 'sha1':
      // GitHub's legacy X-Hub-Signature value, correct for this body, in the SHA-256 header
      return `sha1=${hmacHex('sha1', secret, body)}`;
    case 'prefix-only':
      return 'sha256=';
  }
}

interface RequestShape {
  body: Buffer | undefined;
  base64: boolean;
  /** a body string that is not valid base64 although the flag says so */
  notReallyBase64: string | undefined;
  headers: Record<string, string>;
  signatureHeaderName: string;
}

const SIGNATURE_HEADER_SPELLINGS = ['x-hub-signature-256', 'X-Hub-Signature-256', 'X-HUB-SIGNATURE-256'];

function buildEvent(r: RequestShape, signature: string | undefined): HttpEvent {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(r.headers))
    if (k.toLowerCase() !== 'x-hub-signature-256') headers[k] = v;
  if (signature !== undefined) headers[r.signatureHeaderName] = signature;
  const body =
    r.notReallyBase64 !== undefined
      ? r.notReallyBase64
      : r.body === undefined
        ? undefined
        : r.base64
          ? r.body.toString('base64')
          : r.body.toString('utf8');
  return {
    version: '2.0',
    routeKey: 'POST /webhook',
    rawPath: '/webhook',
    rawQueryString: '',
    headers,
    isBase64Encoded: r.base64,
    ...(body !== undefined ? { body } : {}),
    requestContext: { http: { method: 'POST', path: '/webhook' } },
  } as unknown as HttpEvent;
}

/** A push that would be accepted if it were signed: the real example, at a commit the source knows. */
const genuinePush = fc
  .constantFrom(...KNOWN_SHAS)
  .map((sha) => Buffer.from(JSON.stringify(branchPush({ sha })), 'utf8'));

const extraHeaders = fc.dictionary(headerName, headerValue, { maxKeys: 6 });

function requestShape(body: fc.Arbitrary<Buffer>): fc.Arbitrary<RequestShape> {
  return fc.record({
    body: fc.option(body, { nil: undefined, freq: 10 }),
    base64: fc.boolean(),
    notReallyBase64: fc.option(fc.string({ maxLength: 60 }), { nil: undefined, freq: 10 }),
    headers: fc
      .record({
        standard: fc.record({
          'content-type': fc.constantFrom('application/json', 'application/json; charset=utf-8'),
          'x-github-event': fc.constantFrom('push', 'ping', 'issues'),
          'x-github-delivery': fc.uuid(),
        }),
        extra: extraHeaders,
        dropStandard: fc.boolean(),
      })
      .map(({ standard, extra, dropStandard }) => (dropStandard ? extra : { ...standard, ...extra })),
    signatureHeaderName: fc.constantFrom(...SIGNATURE_HEADER_SPELLINGS),
  });
}

/** Paths inside a push payload that the handler reads, to replace with arbitrary JSON. */
const PUSH_PATHS = [
  ['ref'],
  ['after'],
  ['before'],
  ['deleted'],
  ['created'],
  ['repository'],
  ['repository', 'full_name'],
  ['repository', 'default_branch'],
  ['head_commit'],
  ['head_commit', 'id'],
  ['head_commit', 'message'],
  ['head_commit', 'url'],
  ['head_commit', 'author'],
  ['pusher'],
  ['pusher', 'name'],
  ['sender'],
  ['sender', 'login'],
  ['commits'],
] as const;

function setPath(target: Record<string, unknown>, keys: readonly string[], value: unknown): void {
  let cur: unknown = target;
  for (const k of keys.slice(0, -1)) {
    if (typeof cur !== 'object' || cur === null) return;
    cur = (cur as Record<string, unknown>)[k];
  }
  if (typeof cur === 'object' && cur !== null)
    (cur as Record<string, unknown>)[keys.at(-1) as string] = value;
}

/** The real push example with some of the fields the handler reads replaced by arbitrary JSON. */
const mutatedPush = fc
  .record({
    sha: fc.oneof(fc.constantFrom(...KNOWN_SHAS), fc.stringMatching(/^[0-9a-f]{40}$/)),
    changes: fc.array(
      fc.tuple(
        fc.constantFrom(...PUSH_PATHS),
        fc.oneof(
          fc.jsonValue({ maxDepth: 2 }),
          fc.constantFrom(REPO, 'refs/heads/master', 'master', 'refs/tags/v1', '0'.repeat(40)),
        ),
      ),
      { maxLength: 4 },
    ),
  })
  .map(({ sha, changes }) => {
    const p = branchPush({ sha }) as Record<string, unknown>;
    for (const [keys, value] of changes) setPath(p, keys, value);
    return JSON.stringify(p);
  });

interface SignedShape {
  text: string | Buffer;
  base64: boolean;
  event: string | undefined;
  delivery: string | undefined;
  contentType: string | undefined;
  extra: Record<string, string>;
}

const signedShape: fc.Arbitrary<SignedShape> = fc.record({
  text: fc.oneof(
    { weight: 3, arbitrary: mutatedPush },
    { weight: 2, arbitrary: fc.json({ maxDepth: 5 }) },
    {
      weight: 1,
      arbitrary: fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify({ ...branchPush(), x: v })),
    },
    { weight: 1, arbitrary: bodyBytes },
  ),
  base64: fc.boolean(),
  event: fc.option(
    fc.oneof(
      { weight: 6, arbitrary: fc.constant('push') },
      { weight: 1, arbitrary: fc.constantFrom('ping', 'issues') },
      { weight: 1, arbitrary: fc.string({ maxLength: 20 }) },
    ),
    { nil: undefined, freq: 10 },
  ),
  delivery: fc.option(
    fc.oneof({ weight: 6, arbitrary: fc.uuid() }, { weight: 1, arbitrary: fc.string({ maxLength: 120 }) }),
    { nil: undefined, freq: 10 },
  ),
  contentType: fc.option(
    fc.oneof(
      { weight: 6, arbitrary: fc.constantFrom('application/json', 'application/json; charset=utf-8') },
      { weight: 1, arbitrary: fc.constant('application/x-www-form-urlencoded') },
      { weight: 1, arbitrary: fc.string({ maxLength: 30 }) },
    ),
    { nil: undefined, freq: 10 },
  ),
  extra: extraHeaders,
});

/**
 * The webhook's bad-input properties, on a real dynalite store:
 *  - forged: whatever the bytes, headers and base64 flag, a request not signed with the registered
 *    secret gets 401, writes nothing to the store, dispatches and notifies nothing;
 *  - signed: arbitrary JSON shapes (and non-JSON), correctly signed, never get a 5xx or a crash;
 *  - both: the canary webhook secret never appears in a response or a log line.
 */
export async function webhookProperties(opts: PropertyOptions): Promise<PropertyReport[]> {
  const dynamo = await startDynalite();
  const secret = `canary-webhook-secret-${randomUUID()}`;
  const sink = memorySink();
  const clock = fixedClock('2026-11-24T12:00:00Z');
  const source = new MemoryRepoSource({
    [KNOWN_SHAS[0]]: { 'deploy.yaml': DEPLOY_YAML },
    [KNOWN_SHAS[1]]: { 'deploy.yaml': 'apiVersion: helmgate/v1\nenvironments: [1, 2]\n' },
    [KNOWN_SHAS[2]]: {},
  });
  const counted = countingWrites(dynamo.store);
  const dispatcher = new RecordingDispatcher();
  const notifier = new CountingNotifier();
  const handler = makeGithubWebhookHandler({
    store: counted.store,
    source,
    dispatcher,
    notifier,
    clock,
    // no secret registered with the redactor: a leak must not be hidden by it
    logger: createLogger({ redactor: new Redactor(), clock, write: sink.write, level: 'debug' }),
    deployConfigPath: 'deploy.yaml',
    // the branch is at the first known commit: pushes of it get past the head check
    branchState: new MemoryBranchState(() => KNOWN_SHAS[0]),
    headRecheckMs: 0,
    policy: policyOf(DEPLOY_YAML),
    repositories: [REPO],
    branches: [],
    maxBodyBytes: 64 * 1024,
    webhookSecrets: async () => [secret],
  });

  const common = (res: Awaited<ReturnType<typeof handler>> | undefined, logFrom: number): string[] => {
    const v: string[] = [];
    if (!res || typeof res.statusCode !== 'number') return ['no response'];
    if (res.statusCode >= 500) v.push(`status ${res.statusCode}`);
    const seen = `${res.body ?? ''}\n${JSON.stringify(res.headers ?? {})}\n${sink.lines.slice(logFrom).join('\n')}`;
    const leaked = leaks(seen, secret);
    if (leaked.length > 0) v.push(`webhook secret leaked (${leaked.length} forms)`);
    return v;
  };

  const outcomes = tally();
  try {
    const forged = await checkProperty(
      'webhook: forged or unsigned requests',
      fc.record({ req: requestShape(fc.oneof(bodyBytes, genuinePush)), forgery }),
      async ({ req, forgery: f }) => {
        const event = buildEvent(req, 'placeholder');
        const signature = forgedSignature(f, secret, rawBody(event));
        const final = buildEvent(req, signature);
        const writesBefore = counted.writes();
        const jobsBefore = dispatcher.jobs.length;
        const notesBefore = notifier.count;
        const logFrom = sink.lines.length;
        const res = await handler(final);
        outcomes.add(res.statusCode);
        const v = common(res, logFrom);
        if (res.statusCode !== 401) v.push(`status ${res.statusCode}, expected 401`);
        if (counted.writes() !== writesBefore)
          v.push(`store written: ${counted.calls.slice(writesBefore).join(', ')}`);
        if (dispatcher.jobs.length !== jobsBefore) v.push('dispatched');
        if (notifier.count !== notesBefore) v.push('notified');
        return v;
      },
      opts,
    ).then((r) => outcomes.into(r));
    const stored = await dynamo.store.listDeployments({ limit: 10 });
    if (stored.length > 0) {
      forged.failures++;
      forged.examples.push(`after the forged run the store holds ${stored.length} deployments`);
    }

    const signed = await checkProperty(
      'webhook: signed arbitrary payloads',
      signedShape,
      async (s) => {
        const body = typeof s.text === 'string' ? Buffer.from(s.text, 'utf8') : s.text;
        const headers: Record<string, string> = { ...s.extra };
        for (const k of Object.keys(headers))
          if (
            ['x-hub-signature-256', 'x-github-event', 'x-github-delivery', 'content-type'].includes(
              k.toLowerCase(),
            )
          )
            delete headers[k];
        if (s.event !== undefined) headers['x-github-event'] = s.event;
        if (s.delivery !== undefined) headers['x-github-delivery'] = s.delivery;
        if (s.contentType !== undefined) headers['content-type'] = s.contentType;
        const shape: RequestShape = {
          body,
          base64: s.base64,
          notReallyBase64: undefined,
          headers,
          signatureHeaderName: 'x-hub-signature-256',
        };
        // sign exactly the bytes API Gateway hands over (a non-base64 body is text: lone bytes become U+FFFD)
        const bytes = rawBody(buildEvent(shape, undefined));
        const event = buildEvent(shape, `sha256=${hmacHex('sha256', secret, bytes)}`);
        clock.advance(1000);
        const logFrom = sink.lines.length;
        const res = await handler(event);
        outcomes.add(res.statusCode);
        const v = common(res, logFrom);
        try {
          JSON.parse(res.body ?? '');
        } catch {
          v.push('response body is not JSON');
        }
        return v;
      },
      opts,
    ).then((r) => outcomes.into(r));
    return [forged, signed];
  } finally {
    await dynamo.close();
  }
}
