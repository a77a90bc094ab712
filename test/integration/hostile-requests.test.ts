import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import path from 'node:path';
import { type LocalStack, startLocalStack } from '../../handlers/local/local-stack';
import { makeGitRepo } from '../helpers/git-repo';

const DEPLOY_YAML = readFileSync(path.join(__dirname, '../fixtures/intake/deploy.yaml'), 'utf8');

/** A raw request: the path goes on the wire exactly as given (fetch would normalise some of it). */
function raw(
  base: string,
  method: string,
  rawPath: string,
  headers: Record<string, string> = {},
  body?: string,
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string }> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: u.hostname, port: u.port, method, path: rawPath, headers, timeout: 5000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text: Buffer.concat(chunks).toString('utf8'),
          }),
        );
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer to ${method} ${rawPath}`)));
    req.on('error', reject);
    req.end(body);
  });
}

describe('hostile requests against the local stack', () => {
  let stack: LocalStack;

  beforeAll(async () => {
    const repo = makeGitRepo(
      { 'deploy.yaml': DEPLOY_YAML, 'values/hello.yaml': 'greeting: hi\n' },
      { origin: 'git@github.com:idr/deployment.git' },
    );
    stack = await startLocalStack({
      port: 0,
      repoDir: repo.dir,
      secretsFile: path.join(repo.dir, '.helmgate', 'secrets.json'),
      logWrite: () => {},
      runner: false,
      sweepIntervalMs: 0,
    });
  });

  afterAll(async () => {
    await stack.close();
  });

  it('answers a malformed percent-encoding in a path parameter with 400, and stays up', async () => {
    for (const p of ['/approvals/%E0%A4%A', '/deployments/%', '/approvals/%ZZ/approve']) {
      const method = p.endsWith('/approve') ? 'POST' : 'GET';
      const res = await raw(stack.url, method, p);
      expect([p, res.status]).toEqual([p, 400]);
    }
    expect((await raw(stack.url, 'GET', '/healthz')).status).toBe(200);
  });

  it('answers an over-long or odd deployment id with 4xx, not a store error', async () => {
    const long = `/deployments/${'a'.repeat(5000)}`;
    const res = await raw(stack.url, 'GET', long);
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    const odd = await raw(stack.url, 'GET', '/approvals/a%00b?token=x');
    expect(odd.status).toBeGreaterThanOrEqual(400);
    expect(odd.status).toBeLessThan(500);
  });

  it('answers unknown methods and absolute-form or asterisk targets with 4xx', async () => {
    for (const [m, p] of [
      ['DELETE', '/deployments'],
      ['PATCH', '/webhook'],
      ['OPTIONS', '*'],
      ['GET', 'http://evil.example/deployments'],
      ['GET', '//deployments'],
    ] as const) {
      const res = await raw(stack.url, m, p);
      expect([m, p, res.status >= 400 && res.status < 500]).toEqual([m, p, true]);
    }
    expect((await raw(stack.url, 'GET', '/healthz')).status).toBe(200);
  });

  it('says Slack is not configured with a 503 (not a 500) when the Slack secret is absent', async () => {
    const res = await raw(
      stack.url,
      'POST',
      '/slack/interactions',
      { 'content-type': 'application/x-www-form-urlencoded' },
      'payload=%7B%7D',
    );
    expect(res.status).toBe(503);
    expect(res.text).toMatch(/Slack is not configured/);
  });

  it('answers /auth/github/login without an OAuth app with an HTML 503 page naming what is missing', async () => {
    const res = await raw(stack.url, 'GET', '/auth/github/login?return=/approvals/x', {
      accept: 'text/html',
    });
    expect(res.status).toBe(503);
    expect(String(res.headers['content-type'])).toMatch(/^text\/html/);
    expect(res.text).toMatch(/GitHub login is not configured/);
    expect(res.text).toContain('helmgate/github-oauth');
  });

  it('keeps serving after a client aborts mid-body', async () => {
    const u = new URL(stack.url);
    await new Promise<void>((resolve) => {
      const req = request({
        host: u.hostname,
        port: u.port,
        method: 'POST',
        path: '/webhook',
        headers: { 'content-length': '1000000' },
      });
      req.on('error', () => resolve());
      req.write('x'.repeat(1000));
      setTimeout(() => {
        req.destroy();
        resolve();
      }, 50);
    });
    expect((await raw(stack.url, 'GET', '/healthz')).status).toBe(200);
  });

  it('sends no HSTS header on plain-http loopback', async () => {
    const res = await raw(stack.url, 'GET', '/healthz');
    expect(res.headers['strict-transport-security']).toBeUndefined();
  });
});

describe('dashboard sessions on the local stack', () => {
  it('a one-time login is a registered session, and logging out ends it for a replayed cookie too', async () => {
    const repo = makeGitRepo(
      { 'deploy.yaml': DEPLOY_YAML, 'values/hello.yaml': 'greeting: hi\n' },
      { origin: 'git@github.com:idr/deployment.git' },
    );
    const stack = await startLocalStack({
      port: 0,
      repoDir: repo.dir,
      secretsFile: path.join(repo.dir, '.helmgate', 'secrets.json'),
      logWrite: () => {},
      runner: false,
      sweepIntervalMs: 0,
      oneTimeLogin: { login: 'alice' },
    });
    try {
      const login = await fetch(stack.loginUrl as string, { redirect: 'manual' });
      expect(login.status).toBe(302);
      const cookie = (login.headers.getSetCookie()[0] ?? '').split(';')[0] as string;
      const home = { headers: { cookie, accept: 'text/html' } };
      expect((await fetch(`${stack.url}/`, home)).status).toBe(200);
      const out = await fetch(`${stack.url}/auth/logout`, { method: 'POST', headers: { cookie } });
      expect(out.status).toBe(200);
      expect(out.headers.getSetCookie().join(';')).toMatch(/helmgate_session=;/);
      // the same cookie, replayed: the dashboard asks to log in again
      expect((await fetch(`${stack.url}/`, home)).status).toBe(401);
    } finally {
      await stack.close();
    }
  });
});
