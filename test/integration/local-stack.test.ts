import { readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { type LocalStack, startLocalStack } from '../../handlers/local/local-stack';
import { ensureSecretsFile, localApiToken } from '../../lib/local/local-secrets';
import { headCommit, pushPayload, signedWebhook } from '../../lib/local/push-payload';
import { testGit } from '../helpers/git';
import { makeGitRepo } from '../helpers/git-repo';

const DEPLOY_YAML = readFileSync(path.join(__dirname, '../fixtures/intake/deploy.yaml'), 'utf8');

describe('the local stack over real HTTP', () => {
  let stack: LocalStack;
  let repo: ReturnType<typeof makeGitRepo>;
  let secret: string;
  const reader = () => ({ headers: { authorization: `Bearer ${stack.apiToken}` } });

  beforeAll(async () => {
    repo = makeGitRepo(
      { 'deploy.yaml': DEPLOY_YAML, 'values/hello.yaml': 'greeting: hi\n' },
      { origin: 'git@github.com:idr/deployment.git' },
    );
    stack = await startLocalStack({
      port: 0,
      repoDir: repo.dir,
      dataDir: path.join(repo.dir, '.helmgate', 'dynamodb'),
      secretsFile: path.join(repo.dir, '.helmgate', 'secrets.json'),
      logWrite: () => {},
      // the intake over HTTP on its own: the runner's end-to-end tests are in local-deploy.test.ts
      runner: false,
    });
    secret = JSON.parse(readFileSync(stack.secretsFile, 'utf8'))['helmgate/github-webhook'];
  });

  afterAll(async () => {
    await stack.close();
  });

  it('creates the secrets file with random values, readable only by its owner', () => {
    expect(statSync(stack.secretsFile).mode & 0o777).toBe(0o600);
    expect(secret).toMatch(/^[0-9a-f]{64}$/);
    const doc = JSON.parse(readFileSync(stack.secretsFile, 'utf8'));
    expect(doc['helmgate/api-tokens']).toMatch(/^[\w-]{43}$/);
    expect(stack.apiToken).toBe(doc['helmgate/api-tokens']);
  });

  it('answers reads only with credentials: 401 anonymous or with a wrong token, a login page for browsers', async () => {
    for (const path of ['/deployments', '/deployments/any-id']) {
      const anon = await fetch(`${stack.url}${path}`);
      expect(anon.status).toBe(401);
      expect(anon.headers.get('www-authenticate')).toBe('Bearer realm="helmgate"');
      expect(await anon.json()).toMatchObject({ error: 'unauthenticated' });
      const wrong = await fetch(`${stack.url}${path}`, {
        headers: { authorization: 'Bearer not-the-token' },
      });
      expect(wrong.status).toBe(401);
      // a browser gets the dashboard's login page: a link to the GitHub login and back, no data
      const browser = await fetch(`${stack.url}${path}`, { headers: { accept: 'text/html' } });
      expect(browser.status).toBe(401);
      expect(await browser.text()).toContain(`href="/auth/github/login?return=${encodeURIComponent(path)}"`);
    }
    expect((await fetch(`${stack.url}/deployments`, reader())).status).toBe(200);
  });

  it('adds an API token to a secrets file written by an older helmgate, keeping its secrets', () => {
    const file = path.join(repo.dir, '.helmgate', 'old-secrets.json');
    writeFileSync(file, JSON.stringify({ 'helmgate/github-webhook': 'kept' }), { mode: 0o600 });
    expect(ensureSecretsFile(file)).toBe(false);
    const doc = JSON.parse(readFileSync(file, 'utf8'));
    expect(doc['helmgate/github-webhook']).toBe('kept');
    expect(localApiToken(file)).toMatch(/^[\w-]{43}$/);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it("accepts pushes for the origin remote's repository", () => {
    expect(stack.repositories).toEqual(['idr/deployment']);
  });

  it('answers /healthz, and 404/405 for unknown routes and methods', async () => {
    expect((await fetch(`${stack.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${stack.url}/nope`)).status).toBe(404);
    expect((await fetch(`${stack.url}/webhook`)).status).toBe(405);
  });

  it('turns a signed push of HEAD into a queued staging deployment visible in GET /deployments', async () => {
    const commit = await headCommit(testGit, repo.dir);
    const req = await signedWebhook(secret, 'push', pushPayload('idr/deployment', commit));
    const res = await fetch(`${stack.url}/webhook`, { method: 'POST', headers: req.headers, body: req.body });
    expect(res.status).toBe(202);
    await stack.idle();
    const list = (await (await fetch(`${stack.url}/deployments`, reader())).json()) as {
      deployments: Array<Record<string, unknown>>;
    };
    const mine = list.deployments.filter((d) => d.sha === commit.sha);
    expect(mine.map((d) => [d.environment, d.status]).sort()).toEqual([
      ['production', 'awaiting_approval'],
      ['staging', 'queued'],
    ]);
    const one = await fetch(`${stack.url}/deployments/${mine[0]?.id}`, reader());
    expect(one.status).toBe(200);
    expect(await one.json()).toMatchObject({ id: mine[0]?.id, sha: commit.sha, audit: [] });
  });

  it('refuses a push signed with another secret with 401 and answers 404 for an unknown deployment', async () => {
    const commit = await headCommit(testGit, repo.dir);
    const req = await signedWebhook('not-the-secret', 'push', pushPayload('idr/deployment', commit));
    expect(
      (await fetch(`${stack.url}/webhook`, { method: 'POST', headers: req.headers, body: req.body })).status,
    ).toBe(401);
    expect((await fetch(`${stack.url}/deployments/nope`, reader())).status).toBe(404);
  });

  it('reads deploy.yaml at the pushed commit, not the working tree', async () => {
    const broken = repo.commit(
      { 'deploy.yaml': 'apiVersion: helmgate/v1\nenvironments: 3\n' },
      'break the config',
    );
    const commit = await headCommit(testGit, repo.dir);
    expect(commit.sha).toBe(broken);
    const req = await signedWebhook(secret, 'push', pushPayload('idr/deployment', commit));
    expect(
      (await fetch(`${stack.url}/webhook`, { method: 'POST', headers: req.headers, body: req.body })).status,
    ).toBe(202);
    const list = (await (await fetch(`${stack.url}/deployments`, reader())).json()) as {
      deployments: Array<Record<string, unknown>>;
    };
    expect(list.deployments.find((d) => d.sha === broken)).toMatchObject({
      status: 'failed',
      environment: '*',
    });
  });
});
