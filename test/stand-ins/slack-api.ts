import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One recorded Web API call: the method, its form fields (JSON fields such as `blocks` parsed), the auth header. */
export interface SlackCall {
  method: string;
  body: Record<string, any>;
  authorization: string | undefined;
  contentType: string | undefined;
}

export interface SlackPosted {
  channel: string;
  ts: string;
  thread_ts?: string;
  text?: string;
  blocks?: any[];
  /** every version of the message, oldest first (postMessage then each chat.update) */
  history: Array<{ text?: string; blocks?: any[] }>;
}

type Failure = { kind: 'ratelimited'; retryAfter: number } | { kind: 'error'; error: string };

const JSON_FIELDS = new Set(['blocks', 'attachments', 'metadata']);
const HANDLED = new Set(['chat.postMessage', 'chat.update', 'chat.postEphemeral', 'auth.test']);

/**
 * A loopback Slack Web API for tests: answers the methods helmgate uses the way Slack does (HTTP
 * 200, `{ok:true,...}` or `{ok:false,error}`; 429 with Retry-After when rate limited), and records
 * every request. Point a real `WebClient` at it with `slackApiUrl: stand.apiUrl`.
 */
export class SlackApiStandIn {
  readonly calls: SlackCall[] = [];
  /** messages by `${channel}/${ts}` */
  readonly messages = new Map<string, SlackPosted>();
  private readonly failures = new Map<string, Failure[]>();
  private server: Server | undefined;
  private seq = 0;
  /** the bot token requests must carry; undefined accepts any */
  token: string | undefined;
  port = 0;

  constructor(opts: { token?: string } = {}) {
    this.token = opts.token;
  }

  get apiUrl(): string {
    return `http://127.0.0.1:${this.port}/api/`;
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  async close(): Promise<void> {
    const s = this.server;
    if (!s) return;
    await new Promise<void>((resolve) => s.close(() => resolve()));
    s.closeAllConnections?.();
  }

  /** The next `times` calls of `method` fail: rate limited (429 + Retry-After) or with a Slack error. */
  failNext(
    method: string,
    failure: { ratelimited: { retryAfter: number } } | { error: string },
    times = 1,
  ): void {
    const list = this.failures.get(method) ?? [];
    for (let i = 0; i < times; i++)
      list.push(
        'ratelimited' in failure
          ? { kind: 'ratelimited', retryAfter: failure.ratelimited.retryAfter }
          : { kind: 'error', error: failure.error },
      );
    this.failures.set(method, list);
  }

  callsOf(method: string): SlackCall[] {
    return this.calls.filter((c) => c.method === method);
  }

  /** Top-level messages (not thread replies), in posting order. */
  topLevel(): SlackPosted[] {
    return [...this.messages.values()].filter((m) => !m.thread_ts);
  }

  replies(threadTs: string): SlackPosted[] {
    return [...this.messages.values()].filter((m) => m.thread_ts === threadTs);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', 'http://local');
    const method = url.pathname.replace(/^\/api\//, '');
    const contentType = req.headers['content-type'];
    const body: Record<string, any> = {};
    if (contentType?.startsWith('application/json')) Object.assign(body, raw ? JSON.parse(raw) : {});
    else
      for (const [k, v] of new URLSearchParams(raw)) {
        body[k] = JSON_FIELDS.has(k) ? safeJson(v) : v;
      }
    const authorization = req.headers.authorization;
    this.calls.push({ method, body, authorization, contentType });

    const reply = (status: number, payload: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
      res.end(JSON.stringify(payload));
    };
    const failure = this.failures.get(method)?.shift();
    if (failure?.kind === 'ratelimited')
      return reply(429, { ok: false, error: 'ratelimited' }, { 'retry-after': String(failure.retryAfter) });
    if (failure?.kind === 'error') return reply(200, { ok: false, error: failure.error });
    if (this.token !== undefined && authorization !== `Bearer ${this.token}`)
      return reply(200, { ok: false, error: authorization ? 'invalid_auth' : 'not_authed' });
    if (!HANDLED.has(method)) return reply(200, { ok: false, error: 'unknown_method' });

    switch (method) {
      case 'auth.test':
        return reply(200, {
          ok: true,
          url: 'https://example.slack.com/',
          team: 'Example',
          user: 'helmgate',
          team_id: 'T0001',
          user_id: 'U0BOT',
          bot_id: 'B0001',
        });
      case 'chat.postMessage': {
        if (!body.channel) return reply(200, { ok: false, error: 'channel_not_found' });
        if (!body.text && !body.blocks) return reply(200, { ok: false, error: 'no_text' });
        const ts = this.nextTs();
        const channel = String(body.channel);
        this.messages.set(`${channel}/${ts}`, {
          channel,
          ts,
          ...(body.thread_ts ? { thread_ts: String(body.thread_ts) } : {}),
          text: body.text,
          blocks: body.blocks,
          history: [{ text: body.text, blocks: body.blocks }],
        });
        return reply(200, { ok: true, channel, ts, message: { type: 'message', text: body.text, ts } });
      }
      case 'chat.update': {
        const m = this.messages.get(`${body.channel}/${body.ts}`);
        if (!m) return reply(200, { ok: false, error: 'message_not_found' });
        m.text = body.text;
        m.blocks = body.blocks;
        m.history.push({ text: body.text, blocks: body.blocks });
        return reply(200, { ok: true, channel: m.channel, ts: m.ts, text: body.text });
      }
      case 'chat.postEphemeral': {
        if (!body.channel || !body.user) return reply(200, { ok: false, error: 'channel_not_found' });
        return reply(200, { ok: true, message_ts: this.nextTs() });
      }
    }
  }

  private nextTs(): string {
    this.seq += 1;
    return `${1_700_000_000 + this.seq}.${String(this.seq).padStart(6, '0')}`;
  }
}

function safeJson(v: string): unknown {
  try {
    return JSON.parse(v);
  } catch {
    return v;
  }
}
