import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { type Clock, systemClock } from '../clock';
import type { Logger } from '../log/logger';
import { cryptoRandom, type Random } from '../random';
import { guardHttp, type HttpEvent, type HttpHandler, type HttpResult } from './lambda-http';

export interface Route {
  method: string;
  /** API Gateway style: /approvals/{id}/approve */
  path: string;
  handler: HttpHandler;
}

interface CompiledRoute extends Route {
  regex: RegExp;
  params: string[];
}

const MAX_LOCAL_BODY = 32 * 1024 * 1024; // the handlers enforce their own, lower limits

/**
 * A local stand-in for API Gateway HTTP API v2: turns node requests into the same v2 events the
 * handlers get in AWS (raw body base64-encoded, headers lower-cased), and their results back.
 */
export interface LocalHttpOptions {
  /** Strict-Transport-Security on every answer: only when the public URL is https (behind a TLS proxy) */
  hsts?: boolean;
  /** where a request that failed inside the adapter itself is logged */
  logger?: Logger;
  clock?: Clock;
  random?: Random;
}

/**
 * Routes are compiled on the first request, so a caller may add them after `listen` (to learn its port).
 * Every handler runs behind `guardHttp`, as in AWS; the adapter itself answers 4xx for what it cannot
 * turn into an event (a malformed target or percent-encoding) and never lets a request reject unhandled.
 */
export function createLocalHttpServer(routes: Route[], opts: LocalHttpOptions = {}): Server {
  const clock = opts.clock ?? systemClock;
  const random = opts.random ?? cryptoRandom;
  let compiled: CompiledRoute[] | undefined;
  const compile = (): CompiledRoute[] =>
    routes.map((r) => {
      const params: string[] = [];
      const pattern = r.path.replace(/\{(\w+)\}/g, (_m, name: string) => {
        params.push(name);
        return '([^/]+)';
      });
      return {
        ...r,
        handler: guardHttp(r.handler, {
          hsts: opts.hsts === true,
          ...(opts.logger ? { logger: opts.logger } : {}),
        }),
        regex: new RegExp(`^${pattern}$`),
        params,
      };
    });

  const server = createServer((req, res) => {
    compiled ??= compile();
    handle(compiled, req, res, clock, random).catch((e: unknown) => {
      opts.logger?.error('local request failed in the adapter', { err: e });
      if (!res.headersSent && !res.destroyed) send(res, problem(500, 'internal_error'));
      else res.destroy();
    });
  });
  // CONNECT bypasses the request handler; without a listener Node drops the connection unanswered
  server.on('connect', (_req: IncomingMessage, socket: Duplex) => {
    socket.on('error', () => {});
    socket.end('HTTP/1.1 405 Method Not Allowed\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
  });
  return server;
}

function problem(statusCode: number, error: string, message?: string): HttpResult {
  return {
    statusCode,
    headers: { 'content-type': 'application/json', 'cache-control': 'no-store' },
    body: JSON.stringify(message ? { error, message } : { error }),
  };
}

/** The request target as a URL, or undefined when it is not origin-form (`/path?query`). */
function targetOf(raw: string | undefined): URL | undefined {
  if (!raw?.startsWith('/') || raw.startsWith('//')) return undefined;
  try {
    return new URL(raw, 'http://local');
  } catch {
    return undefined;
  }
}

function decodeParam(s: string): string | undefined {
  try {
    return decodeURIComponent(s);
  } catch {
    return undefined;
  }
}

async function handle(
  routes: CompiledRoute[],
  req: IncomingMessage,
  res: ServerResponse,
  clock: Clock,
  random: Random,
): Promise<void> {
  const url = targetOf(req.url);
  if (!url) {
    req.resume();
    send(res, problem(400, 'bad_request', 'the request target must be a path'));
    return;
  }
  const method = req.method ?? 'GET';
  const matches = routes.map((r) => ({ r, m: r.regex.exec(url.pathname) })).filter((x) => x.m);
  const found = matches.find((x) => x.r.method === method);
  if (!found) {
    req.resume();
    send(
      res,
      problem(matches.length > 0 ? 405 : 404, matches.length > 0 ? 'method_not_allowed' : 'not_found'),
    );
    return;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_LOCAL_BODY) {
      send(res, {
        statusCode: 413,
        headers: { 'content-type': 'application/json' },
        body: '{"error":"payload_too_large"}',
      });
      req.destroy();
      return;
    }
    chunks.push(chunk as Buffer);
  }
  const body = Buffer.concat(chunks);
  const pathParameters: Record<string, string> = {};
  for (const [i, name] of found.r.params.entries()) {
    const value = decodeParam(found.m?.[i + 1] ?? '');
    if (value === undefined) {
      send(res, problem(400, 'bad_request', `malformed percent-encoding in ${name}`));
      return;
    }
    pathParameters[name] = value;
  }
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers))
    if (v !== undefined) headers[k.toLowerCase()] = Array.isArray(v) ? v.join(',') : v;
  const query: Record<string, string> = {};
  for (const [k, v] of url.searchParams) query[k] = v;
  const cookies = headers.cookie ? headers.cookie.split(/;\s*/) : undefined;
  const now = clock.now();
  const event = {
    version: '2.0',
    routeKey: `${method} ${found.r.path}`,
    rawPath: url.pathname,
    rawQueryString: url.search.slice(1),
    headers,
    queryStringParameters: Object.keys(query).length ? query : undefined,
    pathParameters,
    ...(cookies ? { cookies } : {}),
    body: body.length ? body.toString('base64') : undefined,
    isBase64Encoded: body.length > 0,
    requestContext: {
      accountId: 'local',
      apiId: 'local',
      domainName: headers.host ?? 'localhost',
      domainPrefix: 'local',
      http: {
        method,
        path: url.pathname,
        protocol: 'HTTP/1.1',
        sourceIp: req.socket.remoteAddress ?? '',
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: `local-${random.id()}`,
      routeKey: `${method} ${found.r.path}`,
      stage: '$default',
      time: now.toUTCString(),
      timeEpoch: now.getTime(),
    },
  } as HttpEvent;
  send(res, await found.r.handler(event));
}

function send(res: ServerResponse, result: HttpResult): void {
  if (res.headersSent || res.destroyed) return; // the client went away
  const headers: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(result.headers ?? {})) headers[k] = String(v);
  if (result.cookies?.length) headers['set-cookie'] = result.cookies;
  res.writeHead(result.statusCode, headers);
  const body = result.body ?? '';
  res.end(result.isBase64Encoded ? Buffer.from(body, 'base64') : body);
}

export async function listen(server: Server, port: number, host = '127.0.0.1'): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return (server.address() as AddressInfo).port;
}
