import { readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import path from 'node:path';
import fc from 'fast-check';
import { makeApprovalHandler } from '../../handlers/approval';
import { makeAuthHandler } from '../../handlers/auth';
import { makeDeploymentsHandler } from '../../handlers/deployments';
import { makeGithubWebhookHandler } from '../../handlers/github-webhook';
import { type LocalStack, startLocalStack } from '../../handlers/local/local-stack';
import { makeSlackInteractionsHandler } from '../../handlers/slack-interactions';
import { composeLocal } from '../../lib/compose/local';
import { guardHttp, type HttpEvent, type HttpHandler } from '../../lib/http/lambda-http';
import { ensureSecretsFile } from '../../lib/local/local-secrets';
import { makeGitRepo } from '../helpers/git-repo';
import { checkProperty, headerName, type PropertyOptions, type PropertyReport, tally } from './harness';

const DEPLOY_YAML = readFileSync(path.join(__dirname, '../fixtures/intake/deploy.yaml'), 'utf8');

/** Route prefixes, so many cases reach a handler rather than the 404 of an unknown path. */
const ROUTE_PREFIXES = [
  '/webhook',
  '/deployments',
  '/deployments/',
  '/approvals/',
  '/auth/github/login',
  '/auth/github/callback',
  '/auth/logout',
  '/slack/interactions',
  '/healthz',
  '/metrics',
  '/auth/local',
  '/assets/helmgate.css',
  '/local/dispatch',
  '/',
  '',
] as const;

/** Bytes of a path: ASCII that may appear unescaped, and nasty sequences. */
const pathPiece = fc.oneof(
  { weight: 4, arbitrary: fc.stringMatching(/^[A-Za-z0-9._~!$&'()*+,;=:@/-]{0,12}$/) },
  { weight: 3, arbitrary: fc.stringMatching(/^(%[0-9A-Fa-f]{0,2}){1,4}$/) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      '%E0%A4%A',
      '%',
      '%%',
      '%00',
      '%2F',
      '%2e%2e',
      '..',
      '//',
      '%C0%AF',
      '%ED%A0%80',
      '%FF',
      '?',
      '#',
      '?result=constructor',
      '?result=__proto__',
      '?token=%',
      '?limit=-1',
      '?limit=1e309',
      '?environment=%00',
      '?return=//evil.example',
      '?cursor=!!',
      'approve',
      'reject',
    ),
  },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 8 }).map((s) => encodeURIComponent(s)) },
);

const target = fc.oneof(
  {
    weight: 8,
    arbitrary: fc
      .tuple(fc.constantFrom(...ROUTE_PREFIXES), fc.array(pathPiece, { maxLength: 4 }))
      .map(([p, rest]) => `${p}${rest.join('')}` || '/'),
  },
  { weight: 1, arbitrary: fc.constantFrom('*', 'http://evil.example/deployments', '//x', '/%', 'x') },
  // raw bytes on the request line, as a hostile client can send them
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 20 }).map((s) => `/${s}`) },
);

const method = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('GET', 'POST', 'HEAD') },
  { weight: 2, arbitrary: fc.constantFrom('PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE', 'CONNECT') },
  { weight: 1, arbitrary: fc.stringMatching(/^[A-Za-z!#$%&'*+.^_`|~-]{1,10}$/) },
  { weight: 1, arbitrary: fc.string({ maxLength: 6 }) },
);

/** Header lines: names the handlers read with junk values, and junk lines. */
const headerLine = fc.oneof(
  {
    weight: 12,
    arbitrary: fc
      .tuple(
        fc.oneof(
          headerName,
          fc.constantFrom('cookie', 'authorization', 'accept', 'host', 'transfer-encoding'),
        ),
        fc.oneof(
          fc.string({ maxLength: 40 }),
          fc.constantFrom(
            'helmgate_session=%E0%A4%A',
            'helmgate_session=a.b; helmgate_oauth=..',
            '__Host-helmgate_session=x',
            'Bearer %',
            'Bearer ',
            'chunked',
            'text/html',
            'application/x-www-form-urlencoded',
          ),
        ),
      )
      .map(([k, v]) => `${k}: ${v}`),
  },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 30 }) },
);

interface RawRequest {
  method: string;
  target: string;
  headers: string[];
  body: string;
}

const rawRequest: fc.Arbitrary<RawRequest> = fc.record({
  method,
  target,
  headers: fc.array(headerLine, { maxLength: 5 }),
  body: fc.oneof(fc.constant(''), fc.string({ maxLength: 80 }), fc.constant('payload=%7B%7D')),
});

/**
 * Writes the request byte for byte on a socket (no client library cleans it up) and returns the
 * status of the answer, or 0 when the connection closed without one.
 */
function send(port: number, r: RawRequest): Promise<number> {
  const lines = [
    `${r.method} ${r.target} HTTP/1.1`,
    'Host: 127.0.0.1',
    'Connection: close',
    ...r.headers.filter((h) => !/^\s*(content-length|connection)\s*:/i.test(h)),
    `Content-Length: ${Buffer.byteLength(r.body, 'utf8')}`,
    '',
    r.body,
  ];
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let answer = '';
    socket.setTimeout(5000, () => socket.destroy());
    socket.on('data', (d: Buffer) => {
      answer += d.toString('latin1');
    });
    socket.on('error', () => {});
    socket.on('close', () => resolve(Number(/^HTTP\/1\.[01] (\d{3})/.exec(answer)?.[1] ?? 0)));
    // write, not end: a client that half-closes has aborted its request as far as Node is concerned
    socket.write(Buffer.from(lines.join('\r\n'), 'utf8'));
  });
}

function healthy(port: number): Promise<number> {
  return send(port, { method: 'GET', target: '/healthz', headers: [], body: '' });
}

/**
 * The local HTTP adapter and every route behind it, through a real listening local stack (Slack and
 * GitHub login configured, so no route has a reason to answer 5xx): arbitrary methods, request
 * targets, percent-encodings, header lines and bodies never get a 5xx, never go unanswered, and the
 * server answers /healthz after every case.
 */
export async function httpProperties(opts: PropertyOptions): Promise<PropertyReport[]> {
  const repo = makeGitRepo(
    { 'deploy.yaml': DEPLOY_YAML, 'values/hello.yaml': 'greeting: hi\n' },
    { origin: 'git@github.com:idr/deployment.git' },
  );
  const secretsFile = path.join(repo.dir, '.helmgate', 'secrets.json');
  let stack: LocalStack | undefined;
  try {
    configureOptionalFeatures(secretsFile);
    stack = await startLocalStack({
      port: 0,
      repoDir: repo.dir,
      secretsFile,
      logWrite: () => {},
      runner: false,
      sweepIntervalMs: 0,
      slackApiUrl: 'http://127.0.0.1:9/',
      githubWebUrl: 'http://127.0.0.1:9',
      githubApiUrl: 'http://127.0.0.1:9',
    });
    const port = stack.port;
    const outcomes = tally();
    const report = await checkProperty(
      'local HTTP adapter: arbitrary methods, paths, encodings and headers',
      rawRequest,
      async (r) => {
        const status = await send(port, r);
        outcomes.add(status === 0 ? 'closed' : status);
        const v: string[] = [];
        if (status === 0) v.push('no answer');
        if (status >= 500) v.push(`status ${status}`);
        if ((await healthy(port)) !== 200) v.push('server no longer answers /healthz');
        return v;
      },
      opts,
    );
    const lambda = await lambdaEventProperty(repo.dir, secretsFile, opts);
    return [outcomes.into(report), lambda];
  } finally {
    await stack?.close();
  }
}

/** Slack and the OAuth app configured: then no route has a reason to answer 5xx, and every 5xx is a defect. */
function configureOptionalFeatures(secretsFile: string): void {
  ensureSecretsFile(secretsFile);
  const doc = JSON.parse(readFileSync(secretsFile, 'utf8')) as Record<string, string>;
  doc['helmgate/slack'] = JSON.stringify({
    botToken: 'xoxb-property',
    signingSecret: 'slack-signing-property',
  });
  doc['helmgate/github-oauth'] = JSON.stringify({ client_id: 'id', client_secret: 'client-secret-property' });
  writeFileSync(secretsFile, JSON.stringify(doc), { mode: 0o600 });
}

/** Strings API Gateway may hand over undecoded, or a caller may forge: any text, and nasty ones. */
const anyText = fc.oneof(
  fc.string({ maxLength: 30 }),
  fc.string({ unit: 'binary', maxLength: 30 }),
  fc.constantFrom(
    '%E0%A4%A',
    '%',
    'constructor',
    '__proto__',
    'toString',
    '../../x',
    'a'.repeat(3000),
    '',
    ' ',
  ),
);

const lambdaEvent = fc.record({
  route: fc.constantFrom(
    'webhook',
    'deployments',
    'deployment',
    'approval',
    'approve',
    'login',
    'callback',
    'logout',
    'slack',
  ),
  method: fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom('GET', 'POST') },
    { weight: 1, arbitrary: fc.oneof(fc.constant('HEAD'), fc.string({ maxLength: 8 })) },
  ),
  id: anyText,
  query: fc.option(
    fc.dictionary(
      fc.oneof(
        fc.constantFrom(
          'limit',
          'environment',
          'status',
          'cursor',
          'repository',
          'token',
          'result',
          'return',
          'code',
          'state',
          'error',
        ),
        anyText,
      ),
      anyText,
      { maxKeys: 5 },
    ),
    { nil: undefined },
  ),
  headers: fc.dictionary(fc.oneof(headerName, fc.constantFrom('authorization', 'cookie')), anyText, {
    maxKeys: 5,
  }),
  cookies: fc.option(fc.array(anyText, { maxLength: 3 }), { nil: undefined }),
  body: fc.option(anyText, { nil: undefined }),
  base64: fc.boolean(),
});
type LambdaCase = typeof lambdaEvent extends fc.Arbitrary<infer T> ? T : never;

const PATHS: Record<LambdaCase['route'], (id: string) => string> = {
  webhook: () => '/webhook',
  deployments: () => '/deployments',
  deployment: (id) => `/deployments/${id}`,
  approval: (id) => `/approvals/${id}`,
  approve: (id) => `/approvals/${id}/approve`,
  login: () => '/auth/github/login',
  callback: () => '/auth/github/callback',
  logout: () => '/auth/logout',
  slack: () => '/slack/interactions',
};

function eventOf(c: LambdaCase): HttpEvent {
  const path = PATHS[c.route](c.id);
  const withId = ['deployment', 'approval', 'approve'].includes(c.route);
  return {
    version: '2.0',
    routeKey: `${c.method} ${path}`,
    rawPath: path,
    rawQueryString: '',
    headers: c.headers,
    ...(c.query ? { queryStringParameters: c.query } : {}),
    ...(withId ? { pathParameters: { id: c.id } } : {}),
    ...(c.cookies ? { cookies: c.cookies } : {}),
    ...(c.body !== undefined ? { body: c.body, isBase64Encoded: c.base64 } : { isBase64Encoded: false }),
    requestContext: { http: { method: c.method, path } },
  } as unknown as HttpEvent;
}

/**
 * Every handler as its AWS export runs it (guardHttp with HSTS), fed API Gateway events no client
 * library produced: undecoded or hostile path parameters, arbitrary query strings, headers, cookie
 * arrays, methods and bodies (with and without the base64 flag). Never a throw, never a 5xx.
 */
async function lambdaEventProperty(
  repoDir: string,
  secretsFile: string,
  opts: PropertyOptions,
): Promise<PropertyReport> {
  const g = await composeLocal({
    repoDir,
    secretsFile,
    url: 'https://helmgate.example.org',
    logWrite: () => {},
    runner: false,
    slackApiUrl: 'http://127.0.0.1:9/',
    githubWebUrl: 'http://127.0.0.1:9',
    githubApiUrl: 'http://127.0.0.1:9',
  });
  try {
    const guard = (h: HttpHandler) => guardHttp(h, { hsts: true, logger: g.logger });
    const deployments = guard(makeDeploymentsHandler(g.deployments));
    const approval = guard(makeApprovalHandler(g.approval));
    const auth = guard(makeAuthHandler(g.auth));
    const handlers: Record<LambdaCase['route'], HttpHandler> = {
      webhook: guard(makeGithubWebhookHandler(g.webhook)),
      deployments,
      deployment: deployments,
      approval,
      approve: approval,
      login: auth,
      callback: auth,
      logout: auth,
      slack: guard(makeSlackInteractionsHandler(g.slack)),
    };
    const outcomes = tally();
    const report = await checkProperty(
      'Lambda events: arbitrary path parameters, queries, headers, cookies, methods and bodies',
      lambdaEvent,
      async (c) => {
        const res = await handlers[c.route](eventOf(c));
        outcomes.add(res.statusCode);
        const v: string[] = [];
        if (res.statusCode >= 500) v.push(`status ${res.statusCode} on ${c.route}`);
        if (res.headers?.['strict-transport-security'] === undefined) v.push('no HSTS header');
        return v;
      },
      opts,
    );
    return outcomes.into(report);
  } finally {
    await g.close();
  }
}
