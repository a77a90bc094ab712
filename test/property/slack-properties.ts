import { createHmac, randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { makeSlackInteractionsHandler } from '../../handlers/slack-interactions';
import { InProcessBackgroundWork } from '../../lib/dispatch/background';
import type { HttpEvent } from '../../lib/http/lambda-http';
import { createLogger, memorySink } from '../../lib/log/logger';
import { Redactor } from '../../lib/log/redact';
import { processSlackInteraction, type SlackInteractionJob } from '../../lib/slack/vote-worker';
import { startDynalite } from '../helpers/dynalite';
import { deployment, makeService, offered, SHA } from '../integration/approval/approval-fixtures';
import { blockActions, form } from '../unit/slack/payloads';
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

function slackSignature(secret: string, ts: string, body: Buffer, version = 'v0'): string {
  return `${version}=${createHmac('sha256', secret).update(`v0:${ts}:`).update(body).digest('hex')}`;
}

/** How a request fails Slack's signature check. */
type Forgery =
  | { kind: 'missing-signature' }
  | { kind: 'missing-timestamp' }
  | { kind: 'garbage'; signature: string; timestamp: string }
  | { kind: 'random-hex'; hex: string }
  | { kind: 'other-secret'; secret: string }
  | { kind: 'stale'; skewSeconds: number }
  | { kind: 'other-timestamp'; delta: number }
  | { kind: 'other-body'; extra: Uint8Array }
  | { kind: 'v1' };

const forgery: fc.Arbitrary<Forgery> = fc.oneof(
  fc.constant({ kind: 'missing-signature' as const }),
  fc.constant({ kind: 'missing-timestamp' as const }),
  fc.record({ kind: fc.constant('garbage' as const), signature: headerValue, timestamp: headerValue }),
  fc.stringMatching(/^[0-9a-f]{64}$/).map((hex) => ({ kind: 'random-hex' as const, hex })),
  fc.string({ maxLength: 30 }).map((s) => ({ kind: 'other-secret' as const, secret: `other:${s}` })),
  fc
    .oneof(fc.integer({ min: 301, max: 10_000_000 }), fc.integer({ min: -10_000_000, max: -301 }))
    .map((skewSeconds) => ({ kind: 'stale' as const, skewSeconds })),
  fc
    .integer({ min: -300, max: 300 })
    .filter((d) => d !== 0)
    .map((delta) => ({ kind: 'other-timestamp' as const, delta })),
  fc.uint8Array({ minLength: 1, maxLength: 8 }).map((extra) => ({ kind: 'other-body' as const, extra })),
  fc.constant({ kind: 'v1' as const }),
);

function forgedHeaders(f: Forgery, secret: string, nowS: number, body: Buffer): Record<string, string> {
  const ts = String(nowS);
  const good = (t: string, b: Buffer) => slackSignature(secret, t, b);
  switch (f.kind) {
    case 'missing-signature':
      return { 'x-slack-request-timestamp': ts };
    case 'missing-timestamp':
      return { 'x-slack-signature': good(ts, body) };
    case 'garbage':
      return { 'x-slack-signature': f.signature, 'x-slack-request-timestamp': f.timestamp };
    case 'random-hex':
      return { 'x-slack-signature': `v0=${f.hex}`, 'x-slack-request-timestamp': ts };
    case 'other-secret':
      return { 'x-slack-signature': slackSignature(f.secret, ts, body), 'x-slack-request-timestamp': ts };
    case 'stale': {
      const old = String(nowS + f.skewSeconds);
      return { 'x-slack-signature': good(old, body), 'x-slack-request-timestamp': old };
    }
    case 'other-timestamp':
      return { 'x-slack-signature': good(String(nowS + f.delta), body), 'x-slack-request-timestamp': ts };
    case 'other-body':
      return {
        'x-slack-signature': good(ts, Buffer.concat([body, Buffer.from(f.extra)])),
        'x-slack-request-timestamp': ts,
      };
    case 'v1':
      return { 'x-slack-signature': slackSignature(secret, ts, body, 'v1'), 'x-slack-request-timestamp': ts };
  }
}

function event(body: Buffer, base64: boolean, headers: Record<string, string>): HttpEvent {
  return {
    version: '2.0',
    routeKey: 'POST /slack/interactions',
    rawPath: '/slack/interactions',
    rawQueryString: '',
    headers,
    isBase64Encoded: base64,
    body: base64 ? body.toString('base64') : body.toString('utf8'),
    requestContext: { http: { method: 'POST', path: '/slack/interactions' } },
  } as unknown as HttpEvent;
}

const SLACK_USERS = ['U0CAROL', 'U0BOB', 'U0ALICE1', 'W0MALLORY'];

export async function slackProperties(opts: PropertyOptions): Promise<PropertyReport[]> {
  const db = await startDynalite();
  const counted = countingWrites(db.store);
  const ctx = makeService(db, { store: counted.store });
  const secret = `canary-slack-signing-${randomUUID()}`;
  const sink = memorySink();
  const logger = createLogger({
    redactor: new Redactor(),
    clock: ctx.clock,
    write: sink.write,
    level: 'debug',
  });
  const ephemeral: string[] = [];
  const worker = {
    approvals: ctx.service,
    store: counted.store,
    slack: {
      chat: {
        postEphemeral: async (args: { text?: string }) => {
          ephemeral.push(args.text ?? '');
          return { ok: true };
        },
      },
    } as never,
    logger,
  };
  const background = new InProcessBackgroundWork<SlackInteractionJob>(
    (job) => processSlackInteraction(worker, job.payload).then(() => undefined),
    logger,
  );
  let enqueued = 0;
  const handler = makeSlackInteractionsHandler({
    signingSecrets: async () => [secret],
    background: {
      enqueue: async (job) => {
        enqueued++;
        await background.enqueue(job);
      },
    },
    clock: ctx.clock,
    logger,
  });

  // deployments waiting for approval that a forged button press would approve if it got through
  const waiting: string[] = [];
  for (let i = 0; i < 3; i++) {
    const d = deployment({ id: `dep-slack-${i}` });
    await offered(db, ctx.service, d);
    waiting.push(d.id);
  }
  const actionIds = fc.oneof(
    fc.constantFrom(
      ...waiting.flatMap((id) => [`approve:${id}`, `reject:${id}`]),
      `approve_all:${SHA}`,
      `approve_all:${SHA.slice(0, 7)}`,
      'approve:nope',
    ),
    fc.string({ maxLength: 60 }),
  );
  const button = (ids: string[], user: string) => blockActions(ids, { user: { id: user, username: 'u' } });
  const genuineForm = fc
    .record({
      ids: fc.array(actionIds, { minLength: 1, maxLength: 3 }),
      user: fc.constantFrom(...SLACK_USERS),
    })
    .map(({ ids, user }) => form(button(ids, user)));

  const nowS = () => Math.floor(ctx.clock.now().getTime() / 1000);
  const extraHeaders = fc.dictionary(headerName, headerValue, { maxKeys: 5 });
  const contentType = fc.oneof(
    { weight: 4, arbitrary: fc.constant('application/x-www-form-urlencoded') },
    { weight: 1, arbitrary: headerValue },
  );
  const without = (h: Record<string, string>, names: string[]) =>
    Object.fromEntries(Object.entries(h).filter(([k]) => !names.includes(k.toLowerCase())));

  const check = async (res: Awaited<ReturnType<typeof handler>>, logFrom: number, postsFrom: number) => {
    await background.idle();
    const v: string[] = [];
    if (res.statusCode >= 500) v.push(`status ${res.statusCode}`);
    const newLogs = sink.lines.slice(logFrom);
    const errors = newLogs.filter((l) => l.includes('"level":"error"'));
    if (errors.length > 0) v.push(`error logged: ${errors[0]}`);
    const seen = `${res.body ?? ''}\n${JSON.stringify(res.headers ?? {})}\n${newLogs.join('\n')}\n${ephemeral.slice(postsFrom).join('\n')}`;
    if (leaks(seen, secret).length > 0) v.push('signing secret leaked');
    return v;
  };

  const outcomes = tally();
  try {
    const forged = await checkProperty(
      'slack: forged, stale or unsigned requests',
      fc.record({
        body: fc.oneof(bodyBytes, genuineForm),
        base64: fc.boolean(),
        forgery,
        contentType,
        extra: extraHeaders,
      }),
      async (c) => {
        const headers = {
          ...without(c.extra, ['x-slack-signature', 'x-slack-request-timestamp', 'content-type']),
          'content-type': c.contentType,
          ...forgedHeaders(c.forgery, secret, nowS(), c.body),
        };
        const before = {
          writes: counted.writes(),
          enqueued,
          posts: ephemeral.length,
          logs: sink.lines.length,
        };
        const res = await handler(event(c.body, c.base64, headers));
        outcomes.add(res.statusCode);
        const v = await check(res, before.logs, before.posts);
        if (res.statusCode !== 401) v.push(`status ${res.statusCode}, expected 401`);
        if (enqueued !== before.enqueued) v.push('enqueued background work');
        if (counted.writes() !== before.writes)
          v.push(`store written: ${counted.calls.slice(before.writes).join(', ')}`);
        if (ephemeral.length !== before.posts) v.push('replied in Slack');
        return v;
      },
      opts,
    ).then((r) => outcomes.into(r));
    for (const id of waiting) {
      const d = await db.store.getDeployment(id);
      if (d?.status !== 'awaiting_approval') {
        forged.failures++;
        forged.examples.push(`after the forged run ${id} is ${d?.status}`);
      }
    }

    const signed = await checkProperty(
      'slack: signed arbitrary payloads',
      fc.record({
        body: fc.oneof(
          { weight: 3, arbitrary: genuineForm },
          { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((v) => form(v)) },
          {
            weight: 2,
            arbitrary: fc
              .record({
                ids: fc.array(actionIds, { maxLength: 3 }),
                over: fc.dictionary(fc.string(), fc.jsonValue()),
              })
              .map(({ ids, over }) => form({ ...blockActions(ids), ...over })),
          },
          { weight: 1, arbitrary: bodyBytes },
        ),
        base64: fc.boolean(),
        skew: fc.integer({ min: -300, max: 300 }),
        contentType,
        extra: extraHeaders,
      }),
      async (c) => {
        const ts = String(nowS() + c.skew);
        const headers: Record<string, string> = {
          ...without(c.extra, ['x-slack-signature', 'x-slack-request-timestamp', 'content-type']),
          'content-type': c.contentType,
          'x-slack-request-timestamp': ts,
        };
        // sign the bytes the handler will see (a non-base64 body is text)
        const bytes = c.base64 ? c.body : Buffer.from(c.body.toString('utf8'), 'utf8');
        headers['x-slack-signature'] = slackSignature(secret, ts, bytes);
        const logFrom = sink.lines.length;
        const postsFrom = ephemeral.length;
        const res = await handler(event(c.body, c.base64, headers));
        outcomes.add(res.statusCode);
        const v = await check(res, logFrom, postsFrom);
        if (res.statusCode === 401) v.push('a correctly signed request was refused as forged');
        return v;
      },
      opts,
    ).then((r) => outcomes.into(r));
    return [forged, signed];
  } finally {
    await background.idle();
    await db.close();
  }
}
