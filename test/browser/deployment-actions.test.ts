import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import AxeBuilder from '@axe-core/playwright';
import { type Browser, type BrowserContext, chromium } from 'playwright-core';
import { type LocalStack, startLocalStack } from '../../handlers/local/local-stack';
import { ApproversConfig } from '../../lib/approval/approval-port';
import type { Deployment } from '../../lib/deploy/deployment';
import { retryIdOf } from '../../lib/lifecycle/retry';
import { runnerRepo } from '../integration/runner/harness';
import { GithubApiStandIn } from '../stand-ins/github-api';
import { GithubOAuthStandIn } from '../stand-ins/github-oauth';
import { KubeApiStandIn } from '../stand-ins/kube-api';

/**
 * The deployment page's two buttons in a real browser (Debian's chromium, playwright-core) against the
 * local stack: Retry on a failed production deployment (shown to an approver, not to a reader; a double
 * click makes one retry, which keeps the approval of the same plan) and the freeze override of an approved
 * deployment waiting in a freeze (a reason field per approver; two approvers start it). Screenshots light
 * and dark go to test-output/deployment-actions/; axe-core finds no serious or critical violation.
 */

const CHROMIUM = process.env.HELMGATE_CHROMIUM ?? '/usr/bin/chromium';
const OUT = path.resolve(__dirname, '../../test-output/deployment-actions');
const REPO = 'idr/deployment';
const GITHUB_TOKEN = 'ghs_actions-test-installation-token';
const DEPLOY_YAML = `apiVersion: helmgate/v1
environments:
  production:
    approval: required
    cluster: { secret: test/cluster }
    releases:
      - name: web
        namespace: web-production
        chart: ./charts/web
        values: [values/web.yaml]
`;

let kube: KubeApiStandIn;
let github: GithubOAuthStandIn;
let githubApi: GithubApiStandIn;
let stack: LocalStack;
let browser: Browser;
const HOUR = 3600_000;
const PLAN_1 = '3f9a2c41d07be85e6b1f0a9c2d4e7f8a1b3c5d7e9f0a2b4c6d8e0f1a3b5c7d9e';
let head = '';

beforeAll(async () => {
  if (!existsSync(CHROMIUM))
    throw new Error(`${CHROMIUM} not found: install Debian's chromium (apt-get install -y chromium)`);
  mkdirSync(OUT, { recursive: true });
  kube = await KubeApiStandIn.start();
  github = await new GithubOAuthStandIn('client-actions', 'client-secret-actions').start();
  githubApi = await new GithubApiStandIn({ token: GITHUB_TOKEN, delegate: github }).start();
  // eve may read the repository on GitHub (she sees the pages) but approves nothing
  githubApi.setPermission(REPO, 'eve', 'read');
  const repo = runnerRepo({ 'deploy.yaml': DEPLOY_YAML, 'values/web.yaml': 'greeting: hello\n' });
  head = repo.head();
  const state = path.join(repo.dir, '.helmgate');
  mkdirSync(state, { recursive: true });
  const kubeconfig = path.join(state, 'kubeconfig');
  writeFileSync(kubeconfig, kube.kubeconfig(), { mode: 0o600 });
  const secretsFile = path.join(state, 'secrets.json');
  writeFileSync(
    secretsFile,
    JSON.stringify({
      'helmgate/github-webhook': 'w'.repeat(40),
      'helmgate/approval-signing-key': 'k'.repeat(64),
      'helmgate/github-oauth': JSON.stringify({
        client_id: 'client-actions',
        client_secret: 'client-secret-actions',
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
    approvers: ApproversConfig.parse({ production: { github: ['dora', 'finn', 'ana'], required: 2 } }),
    githubWebUrl: github.url,
    githubApiUrl: githubApi.url,
    sweepIntervalMs: 0,
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
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await stack?.close();
  await kube?.close();
  await githubApi?.close();
  await github?.close();
});

/** Logs a fresh context in through the GitHub OAuth stand-in as `login`. */
async function githubContext(login: string): Promise<BrowserContext> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  github.user = { login, teams: [] };
  await page.goto(`${stack.url}/`);
  await page.click('#login');
  await page.waitForSelector('h1');
  await page.close();
  return context;
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

async function axeCheck(from: BrowserContext, url: string, name: string): Promise<void> {
  const context = await browser.newContext({ bypassCSP: true });
  await context.addCookies(await from.cookies());
  const page = await context.newPage();
  await page.goto(url);
  const results = await new AxeBuilder({ page }).analyze();
  await context.close();
  const bad = results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  expect(bad.map((v) => `${name}: ${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`)).toEqual(
    [],
  );
}

function iso(msFromNow: number): string {
  return new Date(Date.now() + msFromNow).toISOString();
}

/** A production deployment approved by dora and finn for plan `plan-1`, which then failed while running. */
async function seedFailed(): Promise<Deployment> {
  const d: Deployment = {
    id: 'f00dfee-production-failed',
    repository: REPO,
    environment: 'production',
    sha: 'f00dfeed'.repeat(5),
    ref: 'refs/heads/main',
    status: 'failed',
    approval: 'required',
    pusher: 'ana',
    commitMessage: 'raise the hub memory limit',
    createdAt: iso(-2 * HOUR),
    updatedAt: iso(-HOUR),
    startedAt: iso(-HOUR - 60_000),
    finishedAt: iso(-HOUR),
    planDigest: PLAN_1,
    reason: 'release web failed: Error: UPGRADE FAILED: etcdserver: leader changed (3 attempts)',
    releases: [
      { name: 'web', namespace: 'web-production', status: 'failed', attempts: 3, chart: 'web@0.1.0' },
    ],
  };
  await stack.store.createDeployment(d);
  const created = iso(-2 * HOUR);
  await stack.store.createApprovalRequest({
    deploymentId: d.id,
    repository: d.repository,
    sha: d.sha,
    environment: d.environment,
    planDigest: PLAN_1,
    changes: [
      {
        name: 'web',
        change: 'changed',
        valuesDiff:
          '--- running\n+++ proposed\n@@ -1,3 +1,3 @@\n resources:\n   limits:\n-    memory: 1Gi\n+    memory: 2Gi\n',
        secretKeysChanged: [],
      },
    ],
    summary: ['web: values changed'],
    createdAt: created,
    expiresAt: iso(20 * HOUR),
    expiresAtMs: Date.now() + 20 * HOUR,
    status: 'approved',
    votes: {
      'github:dora': { actor: 'github:dora', via: 'web', decision: 'approve', at: created },
      'github:finn': { actor: 'github:finn', via: 'web', decision: 'approve', at: created },
    },
    voteCount: 2,
    decidedAt: created,
    decidedBy: 'github:finn',
  });
  return d;
}

/** An approved production deployment the runner found inside a freeze: queued until the window ends. */
async function seedFrozen(): Promise<Deployment> {
  const until = iso(5 * HOUR);
  const d: Deployment = {
    id: 'frozen-production-1',
    repository: REPO,
    environment: 'production',
    // a real commit of the checkout: once the freeze is overridden the runner deploys it for real
    sha: head,
    ref: 'refs/heads/main',
    status: 'queued',
    approval: 'required',
    pusher: 'ana',
    involved: ['ana'],
    commitMessage: 'patch the proxy for CVE-2026-0001',
    createdAt: iso(-HOUR),
    updatedAt: iso(-30 * 60_000),
    frozenUntil: until,
    reason: `frozen until ${until} (release freeze): starts when the freeze ends`,
  };
  await stack.store.createDeployment(d);
  return d;
}

test('retry: an approver sees the button, a reader does not; a double click makes one retry that keeps the approval', async () => {
  const failed = await seedFailed();
  const url = `${stack.url}/deployments/${failed.id}`;
  const eve = await githubContext('eve');
  const dora = await githubContext('dora');

  const seen = await eve.newPage();
  await seen.goto(url);
  expect(await seen.locator('#retry-button').count()).toBe(0);
  expect(await seen.textContent('#retry')).toContain('Only approvers of production can retry it from here');
  await seen.close();

  const page = await dora.newPage();
  await page.goto(url);
  expect(await page.isVisible('#retry-button')).toBe(true);
  expect(await page.textContent('#retry')).toContain('Its approval holds: it starts at once.');
  await screenshots(dora, url, 'deployment-retry');
  await axeCheck(dora, url, 'deployment page with retry');

  await page.dblclick('#retry-button');
  const retryId = retryIdOf(failed);
  await page.waitForURL(new RegExp(`/deployments/${retryId}\\?result=`));
  expect(await page.textContent('#flash')).toMatch(/Retry created|retried already/);
  await stack.idle();
  const retries = (await stack.store.listByEnvironment(REPO, 'production')).filter(
    (d) => d.retryOf === failed.id,
  );
  expect(retries.map((d) => d.id)).toEqual([retryId]);
  expect(retries[0]).toMatchObject({ planDigest: failed.planDigest, sha: failed.sha, requestedBy: 'dora' });
  // it was queued on the carried-over approval (no new approval was asked for)
  expect(await stack.store.getApprovalRequest(retryId)).toBeUndefined();
  const created = (await stack.store.listAudit(retryId)).find((a) => a.action === 'retry');
  expect(created?.detail).toContain('its approval by github:finn holds');

  await page.goto(url);
  expect(await page.locator('#retry-button').count()).toBe(0);
  expect(await page.textContent('#retried')).toContain(retryId);
  await page.close();
  await eve.close();
  await dora.close();
}, 120_000);

test('freeze override: two approvers, each with a reason, start a frozen deployment; the pusher and a reader cannot', async () => {
  const d = await seedFrozen();
  const url = `${stack.url}/deployments/${d.id}`;
  const finn = await githubContext('finn');
  const dora = await githubContext('dora');
  const ana = await githubContext('ana');
  const eve = await githubContext('eve');

  for (const [ctx, text] of [
    [ana, 'ana pushed, merged or wrote this change'],
    [eve, 'Only approvers of production can override the freeze'],
  ] as const) {
    const p = await ctx.newPage();
    await p.goto(url);
    expect(await p.locator('#override-button').count()).toBe(0);
    expect(await p.textContent('#freeze')).toContain(text);
    await p.close();
  }

  const first = await finn.newPage();
  await first.goto(url);
  await first.fill('#override-reason', 'CVE-2026-0001 is exploited in the wild; the proxy patch cannot wait');
  await first.click('#override-button');
  await first.waitForURL(/result=override-recorded/);
  expect(await first.textContent('#override-progress')).toContain('1 of 2 overrides given (yours included)');
  await first.close();
  expect((await stack.store.getDeployment(d.id))?.freezeOverride).toBeUndefined();

  // dora's view: finn's reason, and the form for hers
  await screenshots(dora, url, 'deployment-override');
  await axeCheck(dora, url, 'deployment page with the override form');
  const second = await dora.newPage();
  await second.goto(url);
  expect(await second.textContent('#freeze')).toContain('CVE-2026-0001 is exploited in the wild');
  // the field is required: an empty reason is not even sent
  await second.click('#override-button');
  expect(second.url()).toBe(url);
  await second.fill('#override-reason', 'Agreed with finn; security has signed off');
  await second.click('#override-button');
  await second.waitForURL(/result=override-overridden/);
  expect(await second.textContent('#flash')).toContain('Freeze overridden: the deployment starts now.');
  expect(await second.textContent('#freeze-override')).toContain('Agreed with finn; security has signed off');
  await second.close();

  const after = await stack.store.getDeployment(d.id);
  expect(after?.freezeOverride?.votes.map((v) => v.login)).toEqual(['finn', 'dora']);
  const audit = (await stack.store.listAudit(d.id)).filter((a) => a.action === 'freeze-override');
  expect(audit.map((a) => `${a.actor} ${a.outcome}`)).toEqual(['finn recorded', 'dora overridden']);
  await stack.idle();
  // it ran at once, inside the freeze, on the override
  const ran = await stack.store.getDeployment(d.id);
  expect(ran?.status).toBe('succeeded');
  expect(ran?.reason).toContain('started inside the freeze until');
  await screenshots(dora, url, 'deployment-overridden');
  for (const c of [finn, dora, ana, eve]) await c.close();
}, 120_000);
