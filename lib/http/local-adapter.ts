import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Clock, systemClock } from '../clock';
import { cryptoRandom, type Random } from '../random';
import type { HttpEvent, HttpHandler, HttpResult } from './lambda-http';

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
/** Routes are compiled on the first request, so a caller may add them after `listen` (to learn its port). */
export function createLocalHttpServer(
  routes: Route[],
  effects: { clock?: Clock; random?: Random } = {},
): Server {
  const clock = effects.clock ?? systemClock;
  const random = effects.random ?? cryptoRandom;
  let compiled: CompiledRoute[] | undefined;
  const compile = (): CompiledRoute[] =>
    routes.map((r) => {
      const params: string[] = [];
      const pattern = r.path.replace(/\{(\w+)\}/g, (_m, name: string) => {
        params.push(name);
        return '([^/]+)';
      });
      return { ...r, regex: new RegExp(`^${pattern}$`), params };
    });

  return createServer((req, res) => {
    compiled ??= compile();
    void handle(compiled, req, res, clock, random);
  });
}

async function handle(
  routes: CompiledRoute[],
  req: IncomingMessage,
  res: ServerResponse,
  clock: Clock,
  random: Random,
): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://local');
  const method = req.method ?? 'GET';
  const matches = routes.map((r) => ({ r, m: r.regex.exec(url.pathname) })).filter((x) => x.m);
  const found = matches.find((x) => x.r.method === method);
  if (!found) {
    send(res, {
      statusCode: matches.length > 0 ? 405 : 404,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ error: matches.length > 0 ? 'method_not_allowed' : 'not_found' }),
    });
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
  found.r.params.forEach((name, i) => {
    pathParameters[name] = decodeURIComponent(found.m?.[i + 1] ?? '');
  });
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
  try {
    send(res, await found.r.handler(event));
  } catch {
    send(res, {
      statusCode: 500,
      headers: { 'content-type': 'application/json' },
      body: '{"error":"internal_error"}',
    });
  }
}

function send(res: ServerResponse, result: HttpResult): void {
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
