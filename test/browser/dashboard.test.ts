import { createHmac } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import AxeBuilder from '@axe-core/playwright';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { type LocalStack, startLocalStack } from '../../handlers/local/local-stack';
import { ApproversConfig } from '../../lib/approval/approval-port';
import type { Deployment, ReleaseResult } from '../../lib/deploy/deployment';
import { DRIFT_KIND, driftItemId, type EnvironmentDrift, type ReleaseDrift } from '../../lib/deploy/drift';
import { type BranchState, LocalBranchState } from '../../lib/github/branch-state';
import { headCommit, pushPayload, signedWebhook } from '../../lib/local/push-payload';
import type { ApprovalRequestNotice, Notifier } from '../../lib/notify/notifier';
import { testGit } from '../helpers/git';
import { runnerRepo } from '../integration/runner/harness';
import { GithubApiStandIn } from '../stand-ins/github-api';
import { GithubOAuthStandIn } from '../stand-ins/github-oauth';
import { KubeApiStandIn } from '../stand-ins/kube-api';

/**
 * The dashboard in a real browser (Debian's chromium, playwright-core), set up as the approval-flow
 * test: a real push deploys staging to the Kubernetes stand-in and leaves production waiting for
 * approval; a few more environments and four weeks of history are recorded in the stack's store (a
 * running preview, a failed `vae`). Then: the overview, approving from it (refused for someone else),
 * the history filtered and paged, a deployment's timeline, the metrics page — each page screenshotted
 * light and dark into test-output/, and checked with axe-core (no serious or critical violations).
 */

const CHROMIUM = process.env.HELMGATE_CHROMIUM ?? '/usr/bin/chromium';
const OUT = path.resolve(__dirname, '../../test-output/dashboard');
const WEBHOOK_SECRET = 'w'.repeat(40);
const SIGNING_KEY = 'k'.repeat(64);
const REPO = 'idr/deployment';
const GITHUB_TOKEN = 'ghs_dashboard-test-installation-token';
const DEPLOY_YAML = `apiVersion: helmgate/v1
environments:
  staging:
    approval: none
    cluster: { secret: test/cluster }
    releases:
      - name: web
        namespace: web-staging
        chart: ./charts/web
        values: [values/web.yaml]
  production:
    approval: required
    after: staging
    cluster: { secret: test/cluster }
    releases:
      - name: web
        namespace: web-production
        chart: ./charts/web
        values: [values/web.yaml, values/web-production.yaml]
`;

let kube: KubeApiStandIn;
let github: GithubOAuthStandIn;
let githubApi: GithubApiStandIn;
let stack: LocalStack;
let browser: Browser;
let repo: ReturnType<typeof runnerRepo>;
const notices: ApprovalRequestNotice[] = [];
const axeFindings: string[] = [];

const HOUR = 3600_000;
const DAY = 24 * HOUR;
let seq = 0;

function iso(msAgo: number): string {
  return new Date(Date.now() - msAgo).toISOString();
}

function release(
  name: string,
  status: ReleaseResult['status'],
  durationMs?: number,
  extra?: Partial<ReleaseResult>,
): ReleaseResult {
  return {
    name,
    namespace: `${name}-ns`,
    status,
    attempts: 1,
    chart: `${name}@1.${seq % 3}.0`,
    ...(durationMs !== undefined ? { durationMs } : {}),
    ...extra,
  };
}

/** A deployment as the runner would have left it, `agoMs` in the past. */
/** The seeded history's commits: made up, so not in the repository (they predate its first commit). */
const seededShas = new Set<string>();

/**
 * The checkout's branch state, except that the made-up seeded commits count as older than every real
 * one (rollbacks are told by ancestry, and git knows nothing of them).
 */
function branchStateOverSeeds(dir: string): BranchState {
  const real = new LocalBranchState(dir, testGit);
  return {
    head: (repository, branch) => real.head(repository, branch),
    compare: async (repository, base, head) =>
      seededShas.has(base) && !seededShas.has(head) ? 'ahead' : real.compare(repository, base, head),
  };
}

async function seed(environment: string, over: Partial<Deployment> & { ago: number; ran?: number }) {
  seq++;
  const { ago, ran = 4 * 60_000, ...rest } = over;
  const sha = `${seq.toString(16).padStart(4, '0')}abcdef0123456789`.repeat(3).slice(0, 40);
  seededShas.add(sha);
  const created = iso(ago);
  const d: Deployment = {
    id: `seed${seq}-${environment}`,
    repository: REPO,
    environment,
    sha,
    ref: 'refs/heads/main',
    status: 'succeeded',
    approval: environment === 'production' ? 'required' : 'none',
    pusher: ['ana', 'bo', 'chen'][seq % 3] as string,
    commitMessage: `change ${seq}: tune ${environment}\n\nlonger body`,
    createdAt: created,
    updatedAt: created,
    startedAt: iso(ago - 60_000),
    finishedAt: iso(ago - 60_000 - ran),
    releases: [release('web', 'succeeded', ran * 0.6), release('hub', 'succeeded', ran * 0.9)],
    ...rest,
  };
  await stack.store.createDeployment(d);
  if (d.approval !== 'none' && d.startedAt)
    await stack.store.appendAudit({
      deploymentId: d.id,
      at: d.startedAt,
      actor: ['dora', 'ana'][seq % 2] as string,
      via: seq % 3 ? 'web' : 'slack',
      action: 'approve',
      outcome: 'approved',
      detail: 'deploy dispatched',
    });
  return d;
}

async function seedHistory() {
  // four weeks: staging every day, production every other day (one failure restored a day later)
  for (let day = 28; day >= 1; day--) {
    await seed('staging', { ago: day * DAY + 2 * HOUR, ran: (3 + (day % 4)) * 60_000 });
    if (day % 2 === 0)
      await seed('production', {
        ago: day * DAY,
        ran: (5 + (day % 5)) * 60_000,
        ...(day === 10
          ? { status: 'failed', reason: 'release hub failed: timed out waiting for the condition' }
          : {}),
      });
  }
  // vae: ran fine (and drifted by hand since: its card shows the badge and the masked diff, issue 13
  // item 4), then failed an hour ago with a diagnosis
  await seedDrift(await seed('vae', { ago: 3 * DAY }));
  await seed('vae', {
    ago: HOUR,
    status: 'failed',
    reason: 'release hub failed: <script>alert(1)</script> UPGRADE FAILED: context deadline exceeded',
    releases: [
      release('web', 'succeeded', 50_000),
      release('hub', 'failed', 300_000, {
        attempts: 3,
        reason: 'transient: timed out',
        errorTail:
          'Error: UPGRADE FAILED: context deadline exceeded\nhub-7d9f: Back-off pulling image "jupyterhub/k8s-hub:4.4.0"',
        diagnosis: {
          at: '2026-11-26T01:00:00.000Z',
          pods: [
            {
              name: 'hub-7d9f',
              phase: 'Pending',
              containers: [
                { name: 'hub', state: 'waiting', reason: 'ImagePullBackOff', restarts: 0, ready: false },
              ],
              events: ['Warning Failed: Failed to pull image: 429 Too Many Requests (x4)'],
            },
          ],
        },
      }),
    ],
  } as Partial<Deployment> & { ago: number });
  // preview: running now, one of three releases done
  await seed('preview', {
    ago: 2 * 60_000,
    status: 'running',
    releases: [release('web', 'succeeded', 40_000), release('hub', 'running'), release('docs', 'pending')],
  } as Partial<Deployment> & { ago: number });
}

async function seedDrift(d: Deployment) {
  const drift: ReleaseDrift = {
    release: 'web',
    namespace: 'web',
    objects: [
      {
        object: 'Deployment web/web',
        fields: [
          { path: 'spec.replicas', deployed: '1', live: '3' },
          {
            path: 'spec.template.spec.containers[web].env[API_TOKEN].value',
            deployed: '(hidden)',
            live: '(hidden, changed)',
          },
        ],
      },
      {
        object: 'Secret web/web-creds',
        fields: [{ path: 'data.token', deployed: '(set)', live: '(changed)' }],
      },
    ],
  };
  const record: EnvironmentDrift = {
    repository: REPO,
    environment: d.environment,
    sha: d.sha,
    deploymentId: d.id,
    checkedAt: iso(10 * 60_000),
    releases: { web: { digest: 'sha256:seed', since: iso(HOUR), reportedAt: iso(HOUR), drift } },
  };
  await stack.store.putItem(DRIFT_KIND, driftItemId(d), record as unknown as Record<string, unknown>);
}

const capture: Notifier = {
  deploymentChanged: async () => {},
  approvalRequested: async (n) => {
    notices.push(n);
  },
};

beforeAll(async () => {
  if (!existsSync(CHROMIUM))
    throw new Error(`${CHROMIUM} not found: install Debian's chromium (apt-get install -y chromium)`);
  mkdirSync(OUT, { recursive: true });
  kube = await KubeApiStandIn.start();
  github = await new GithubOAuthStandIn('client-dash', 'client-secret-dash').start();
  // GitHub's REST API for helmgate's own token (read permissions); the OAuth identity is delegated
  githubApi = await new GithubApiStandIn({ token: GITHUB_TOKEN, delegate: github }).start();
  // eve may read the repository on GitHub (she sees the dashboard) but is no approver
  githubApi.setPermission(REPO, 'eve', 'read');
  repo = runnerRepo({
    'deploy.yaml': DEPLOY_YAML,
    'values/web.yaml': 'greeting: hello\n',
    'values/web-production.yaml': 'replicaCount: 2\n',
  });
  const state = path.join(repo.dir, '.helmgate');
  mkdirSync(state, { recursive: true });
  const kubeconfig = path.join(state, 'kubeconfig');
  writeFileSync(kubeconfig, kube.kubeconfig(), { mode: 0o600 });
  const secretsFile = path.join(state, 'secrets.json');
  writeFileSync(
    secretsFile,
    JSON.stringify({
      'helmgate/github-webhook': WEBHOOK_SECRET,
      'helmgate/approval-signing-key': SIGNING_KEY,
      'helmgate/github-oauth': JSON.stringify({
        client_id: 'client-dash',
        client_secret: 'client-secret-dash',
      }),
      'helmgate/github-token': GITHUB_TOKEN,
    }),
    { mode: 0o600 },
  );
  stack = await startLocalStack({
    port: 0,
    repoDir: repo.dir,
    secretsFile,
    repositories: [REPO],
    logWrite: () => {},
    approvers: ApproversConfig.parse({ production: { github: ['dora'] } }),
    githubWebUrl: github.url,
    githubApiUrl: githubApi.url,
    sweepIntervalMs: 0,
    notifiers: [capture],
    branchState: branchStateOverSeeds(repo.dir),
    oneTimeLogin: { login: 'dora' },
    runner: { kubeconfig, upgradeFlags: ['--disable-openapi-validation'] },
  });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
  await seedHistory();
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await stack?.close();
  await kube?.close();
  await githubApi?.close();
  await github?.close();
  if (axeFindings.length) process.stdout.write(`axe (moderate/minor): ${axeFindings.join('; ')}\n`);
});

async function push(): Promise<string> {
  const commit = await headCommit(testGit, repo.dir);
  const req = await signedWebhook(WEBHOOK_SECRET, 'push', pushPayload(REPO, commit));
  const res = await fetch(`${stack.url}/webhook`, { method: 'POST', headers: req.headers, body: req.body });
  expect(res.status).toBe(202);
  await stack.idle();
  return commit.sha;
}

async function deploymentOf(sha: string, environment: string): Promise<Deployment | undefined> {
  return (await stack.store.listByEnvironment(REPO, environment)).find((d) => d.sha === sha);
}

/** Logs a fresh context in through the GitHub OAuth stand-in as `login`. */
async function githubContext(login: string, scheme: 'light' | 'dark' = 'light'): Promise<BrowserContext> {
  const context = await browser.newContext({ colorScheme: scheme, viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  github.user = { login, teams: [] };
  await page.goto(`${stack.url}/`);
  expect(await page.getAttribute('#state', 'data-state')).toBe('login');
  await page.click('#login');
  await page.waitForSelector('.cards');
  await page.close();
  return context;
}

/** The same session in a context that may inject axe (bypassCSP), used for the check only. */
async function axeCheck(from: BrowserContext, url: string, name: string): Promise<void> {
  const context = await browser.newContext({ bypassCSP: true });
  await context.addCookies(await from.cookies());
  const page = await context.newPage();
  await page.goto(url);
  const results = await new AxeBuilder({ page }).analyze();
  const bad = results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  for (const v of results.violations.filter((x) => !bad.includes(x)))
    axeFindings.push(`${name}: ${v.id} (${v.impact})`);
  await context.close();
  expect(
    bad.map((v) => `${name}: ${v.id} ${v.impact}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`),
  ).toEqual([]);
}

/** Light and dark full-page screenshots of `url` with the session of `from`. */
async function screenshots(from: BrowserContext, url: string, name: string): Promise<void> {
  for (const scheme of ['light', 'dark'] as const) {
    const context = await browser.newContext({ colorScheme: scheme, viewport: { width: 1280, height: 900 } });
    await context.addCookies(await from.cookies());
    const page = await context.newPage();
    await page.goto(url);
    const file = path.join(OUT, `${name}-${scheme}.png`);
    await page.screenshot({ path: file, fullPage: true });
    expect(existsSync(file)).toBe(true);
    await context.close();
  }
}

/** The CSRF token a page would have given this session (the session cookie is signed, not secret). */
function csrfFromCookie(cookieValue: string, purpose: string): string {
  const payload = JSON.parse(
    Buffer.from(cookieValue.split('.')[0] as string, 'base64url').toString('utf8'),
  ) as {
    csrf: string;
  };
  return createHmac('sha256', payload.csrf).update(`csrf\0${purpose}`).digest('base64url');
}

let sha = '';
let dora: BrowserContext;

test('overview: a running, a waiting and a failed environment, live refresh under the CSP', async () => {
  sha = await push();
  expect((await deploymentOf(sha, 'staging'))?.status).toBe('succeeded');
  expect((await deploymentOf(sha, 'production'))?.status).toBe('awaiting_approval');

  // without a session the page asks to log in (and shows no data)
  const anonymous = await browser.newContext();
  await axeCheck(anonymous, `${stack.url}/`, 'login page');
  await anonymous.close();
  // the one-time link logs dora in once; a second use is refused
  dora = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await dora.newPage();
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  await page.goto(stack.loginUrl as string);
  await page.waitForSelector('.cards');
  const again = await fetch(stack.loginUrl as string, { redirect: 'manual' });
  expect(again.status).toBe(403);

  const cards = await page
    .locator('article.card')
    .evaluateAll((els) => els.map((e) => e.getAttribute('data-environment')));
  expect(cards).toEqual(['preview', 'staging', 'vae', 'production']);
  // staging runs the pushed commit
  const staging = page.locator('article[data-environment="staging"]');
  expect(await staging.textContent()).toContain(sha.slice(0, 7));
  // preview is running: progress per release
  const preview = page.locator('article[data-environment="preview"]');
  expect(await preview.locator('progress').getAttribute('value')).toBe('1');
  expect(await preview.textContent()).toContain('1 of 3 releases done');
  // vae failed: the reason, escaped
  const vae = page.locator('article[data-environment="vae"]');
  expect(await vae.locator('.reason').textContent()).toContain('<script>alert(1)</script>');
  // vae drifted since it last ran fine (issue 13, item 4): the badge and the masked diff
  expect(await vae.locator('h2 .badge.s-drifted').textContent()).toBe('drifted');
  expect(await vae.locator('section.drift caption').first().textContent()).toBe('Deployment web/web');
  // production waits for dora, with buttons
  const production = page.locator('article[data-environment="production"]');
  expect(await production.locator('button[data-vote="approve"]').count()).toBe(1);
  expect(await page.textContent('#waiting-for-you')).toContain('1 deployment waits for your approval');

  // live refresh: preview finishes; the page updates itself (the script runs under the nonce CSP)
  const running = (await stack.store.listByEnvironment(REPO, 'preview'))[0] as Deployment;
  await stack.store.transition(
    running.id,
    ['running'],
    'succeeded',
    {
      finishedAt: new Date().toISOString(),
      releases: (running.releases ?? []).map((r) => ({
        ...r,
        status: 'succeeded' as const,
        durationMs: 30_000,
      })),
    },
    new Date(),
  );
  await page
    .locator('article[data-environment="preview"] progress')
    .waitFor({ state: 'detached', timeout: 20_000 });
  expect(errors.filter((e) => /Content Security Policy/i.test(e))).toEqual([]);
  // put preview back to running for the screenshots
  await seed('preview', {
    ago: 60_000,
    status: 'running',
    releases: [release('web', 'succeeded', 40_000), release('hub', 'running'), release('docs', 'pending')],
  } as Partial<Deployment> & { ago: number });
  await page.close();

  await screenshots(dora, `${stack.url}/`, 'overview');
  await axeCheck(dora, `${stack.url}/`, 'overview');
  // on a phone: one column, no horizontal scrolling
  const phone = await browser.newContext({ viewport: { width: 375, height: 800 }, colorScheme: 'light' });
  await phone.addCookies(await dora.cookies());
  const small = await phone.newPage();
  await small.goto(`${stack.url}/`);
  const overflow = await small.evaluate<number>('document.documentElement.scrollWidth - window.innerWidth');
  expect(overflow).toBeLessThanOrEqual(0);
  await small.screenshot({ path: path.join(OUT, 'overview-phone-light.png'), fullPage: true });
  await phone.close();
}, 120_000);

test('approve from the overview: refused for someone who may not approve, done for dora', async () => {
  const production = (await deploymentOf(sha, 'production')) as Deployment;

  // eve is logged in with GitHub but is no approver: no buttons, and a forged vote is refused
  const eve = await githubContext('eve');
  const page = await eve.newPage();
  await page.goto(`${stack.url}/`);
  const card = page.locator('article[data-environment="production"]');
  expect(await card.locator('button[data-vote="approve"]').count()).toBe(0);
  expect(await card.locator('.refused-note').textContent()).toContain(
    'eve is not allowed to approve production',
  );
  const cookie = (await eve.cookies()).find((c) => c.name === 'helmgate_session');
  const request = await stack.approvals.getRequest(production.id);
  const forged = await page.request.post(`${stack.url}/approvals/${production.id}/approve`, {
    form: {
      csrf: csrfFromCookie(cookie?.value as string, `approval:${production.id}`),
      plan: request?.planDigest as string,
      return: '/',
    },
    maxRedirects: 0,
  });
  expect(forged.status()).toBe(403);
  expect((await deploymentOf(sha, 'production'))?.status).toBe('awaiting_approval');
  await eve.close();

  // dora approves from the overview with the keyboard: the vote goes through the approval service
  const p = await dora.newPage();
  await p.goto(`${stack.url}/`);
  const approve = p.locator('article[data-environment="production"] button[data-vote="approve"]');
  await approve.focus();
  await Promise.all([p.waitForURL(/result=approved/), p.keyboard.press('Enter')]);
  expect(await p.textContent('#flash')).toContain('Approved');
  await stack.idle();
  expect((await deploymentOf(sha, 'production'))?.status).toBe('succeeded');
  expect(kube.get('Deployment', 'web-production', 'web')?.spec?.replicas).toBe(2);
  const audit = await stack.store.listAudit(production.id);
  expect(audit.map((a) => `${a.actor} ${a.action} ${a.outcome}`)).toEqual(
    expect.arrayContaining(['eve approve refused: forbidden', 'dora approve approved']),
  );
  await p.reload();
  const card2 = p.locator('article[data-environment="production"]');
  expect(await card2.textContent()).toContain(sha.slice(0, 7));
  expect(await card2.textContent()).toContain('dora');
  await p.close();
}, 120_000);

test('history: filtered by environment and status, paged with a cursor, rows link to deployments', async () => {
  const page = await dora.newPage();
  await page.goto(`${stack.url}/deployments`);
  await page.selectOption('#f-environment', 'staging');
  await Promise.all([page.waitForURL(/environment=staging/), page.click('form.filters button')]);
  const first = await page
    .locator('#history tbody tr')
    .evaluateAll((rows) => rows.map((r) => r.getAttribute('data-id')));
  expect(first).toHaveLength(25);
  const envs = await page.locator('#history tbody tr td:nth-child(2)').allTextContents();
  expect(new Set(envs)).toEqual(new Set(['staging']));
  await Promise.all([page.waitForURL(/cursor=/), page.click('#next-page')]);
  const second = await page
    .locator('#history tbody tr')
    .evaluateAll((rows) => rows.map((r) => r.getAttribute('data-id')));
  expect(second.length).toBe(29 - 25); // 28 seeded + the push
  expect(second.filter((id) => first.includes(id))).toEqual([]);
  expect(await page.locator('#next-page').count()).toBe(0);
  // production failures only
  await page.goto(`${stack.url}/deployments?environment=production&status=failed`);
  const failed = await page.locator('#history tbody tr').count();
  expect(failed).toBe(1);
  // by person and by commit
  await page.goto(`${stack.url}/deployments?commit=${sha.slice(0, 8)}`);
  expect(await page.locator('#history tbody tr').count()).toBe(2);
  await page.click('#history tbody tr:first-child td:nth-child(4) a');
  await page.waitForSelector('#timeline');
  // JSON for API clients, with the API token (anonymous: 401)
  expect((await fetch(`${stack.url}/deployments`)).status).toBe(401);
  const bearer = { headers: { authorization: `Bearer ${stack.apiToken}` } };
  const list = (await (await fetch(`${stack.url}/deployments`, bearer)).json()) as {
    deployments: unknown[];
  };
  expect(Array.isArray(list.deployments)).toBe(true);
  await page.close();
  await screenshots(dora, `${stack.url}/deployments?environment=staging`, 'history');
  await axeCheck(dora, `${stack.url}/deployments?environment=staging`, 'history');
}, 120_000);

test("deployment page: the approved deployment's timeline and diff, the failed one's error and diagnosis", async () => {
  const production = (await deploymentOf(sha, 'production')) as Deployment;
  const page = await dora.newPage();
  await page.goto(`${stack.url}/deployments/${production.id}`);
  const timeline = await page.locator('#timeline li').allTextContents();
  const order = ['push recorded', 'offer: offered', 'approve: approved', 'run started', 'succeeded'];
  const at = order.map((w) => timeline.findIndex((t) => t.includes(w)));
  expect(at.every((i) => i >= 0)).toBe(true);
  expect([...at].sort((a, b) => a - b)).toEqual(at);
  expect(timeline.find((t) => t.includes('approve: approved'))).toContain('dora');
  expect(await page.textContent('main')).toContain('What was approved');
  expect(await page.locator('#releases tbody tr').count()).toBe(1);
  await screenshots(dora, `${stack.url}/deployments/${production.id}`, 'deployment-approved');

  const vae = (await stack.store.listByEnvironment(REPO, 'vae')).find(
    (d) => d.status === 'failed',
  ) as Deployment;
  await page.goto(`${stack.url}/deployments/${vae.id}`);
  expect(await page.textContent('#reason')).toContain('<script>alert(1)</script>');
  expect(await page.textContent('details.error-tail pre')).toContain('Back-off pulling image');
  expect(await page.textContent('#diagnosis')).toContain('ImagePullBackOff');
  expect(await page.getAttribute('#compare', 'href')).toMatch(
    /\/idr\/deployment\/compare\/[0-9a-f]{40}\.\.\.[0-9a-f]{40}$/,
  );
  await page.close();
  await screenshots(dora, `${stack.url}/deployments/${vae.id}`, 'deployment-failed');
  await axeCheck(dora, `${stack.url}/deployments/${vae.id}`, 'deployment');
}, 120_000);

test('metrics: the four figures per environment with SVG charts and their tables, per period', async () => {
  const page: Page = await dora.newPage();
  await page.goto(`${stack.url}/metrics?days=30`);
  const rows = await page
    .locator('#dora-summary tbody tr')
    .evaluateAll((r) => r.map((x) => x.getAttribute('data-environment')));
  expect(rows).toEqual(expect.arrayContaining(['production', 'staging', 'vae']));
  // production: 14 runs in 28 days, one failed → 13 successful (+ the approved push), 1 of 15 failed
  const prod = page.locator('#metrics-production');
  expect(await prod.locator('[data-figure="frequency"] .value').textContent()).toBe('3.3 / week');
  expect(await prod.locator('[data-figure="change-failure-rate"] .value').textContent()).toBe('6.7 %');
  expect(await prod.locator('svg.chart').count()).toBe(3);
  expect(await prod.locator('svg.chart rect').count()).toBeGreaterThan(10);
  // one row per day with deployments: 14 seeded days and today's push
  expect(await page.locator('#chart-production-deploys-table tbody tr').count()).toBe(15);
  await page.click('nav.periods a:has-text("7 days")');
  await page.waitForURL(/days=7/);
  expect(await page.locator('#chart-production-deploys-table tbody tr').count()).toBe(4);
  const json = await page.request.get(`${stack.url}/metrics?days=90&format=json`);
  expect(((await json.json()) as { bucketDays: number }).bucketDays).toBe(7);
  await page.close();
  await screenshots(dora, `${stack.url}/metrics?days=30`, 'metrics');
  await axeCheck(dora, `${stack.url}/metrics?days=30`, 'metrics');
}, 120_000);

test('the approval page passes the same accessibility check', async () => {
  repo.commit({ 'values/web.yaml': 'greeting: bonjour\n' }, 'say bonjour');
  const second = await push();
  expect((await deploymentOf(second, 'production'))?.status).toBe('awaiting_approval');
  const link = notices.at(-1)?.approvalUrl as string;
  expect(link).toContain('/approvals/');
  await screenshots(dora, link, 'approval-page');
  await axeCheck(dora, link, 'approval page');
  await dora.close();
}, 120_000);
