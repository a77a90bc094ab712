import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { type Browser, chromium } from 'playwright-core';
import { type LocalStack, startLocalStack } from '../../handlers/local/local-stack';
import { ApproversConfig } from '../../lib/approval/approval-port';
import { headCommit, pushPayload, signedWebhook } from '../../lib/local/push-payload';
import { testGit } from '../helpers/git';
import { runnerRepo } from '../integration/runner/harness';
import { GithubApiStandIn } from '../stand-ins/github-api';
import { GithubOAuthStandIn } from '../stand-ins/github-oauth';
import { KubeApiStandIn } from '../stand-ins/kube-api';

/**
 * The approval flow in a real browser (Debian's chromium driven by playwright-core), with Slack off:
 * push → staging deploys to the Kubernetes stand-in → GitHub's deployment status (REST stand-in) for
 * production says "Waiting for approval" and links the approval page → open that link → log in with
 * GitHub → see what will change → approve → production deploys → the page and GitHub's deployment
 * status show the result. A screenshot of the approval page goes to test-output/.
 */

const CHROMIUM = process.env.HELMGATE_CHROMIUM ?? '/usr/bin/chromium';
const OUT = path.resolve(__dirname, '../../test-output');
const WEBHOOK_SECRET = 'w'.repeat(40);
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
const GITHUB_TOKEN = 'ghs_browser-test-installation-token';
let stack: LocalStack;
let browser: Browser;
let repo: ReturnType<typeof runnerRepo>;

beforeAll(async () => {
  if (!existsSync(CHROMIUM))
    throw new Error(`${CHROMIUM} not found: install Debian's chromium (apt-get install -y chromium)`);
  kube = await KubeApiStandIn.start();
  github = await new GithubOAuthStandIn('client-browser', 'client-secret-browser').start();
  // one API base URL, as in AWS: REST (deployments) here, OAuth identity (/user) delegated
  githubApi = await new GithubApiStandIn({ token: GITHUB_TOKEN, delegate: github }).start();
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
      'helmgate/approval-signing-key': 'k'.repeat(64),
      'helmgate/github-oauth': JSON.stringify({
        client_id: 'client-browser',
        client_secret: 'client-secret-browser',
      }),
      // no helmgate/slack: Slack is off; GitHub Deployments is on
      'helmgate/github-token': GITHUB_TOKEN,
    }),
    { mode: 0o600 },
  );
  stack = await startLocalStack({
    port: 0,
    repoDir: repo.dir,
    secretsFile,
    repositories: ['idr/deployment'],
    logWrite: () => {},
    approvers: ApproversConfig.parse({ production: { github: ['dora'] } }),
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
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await stack?.close();
  await kube?.close();
  await githubApi?.close();
  await github?.close();
});

async function push(): Promise<string> {
  const commit = await headCommit(testGit, repo.dir);
  const req = await signedWebhook(WEBHOOK_SECRET, 'push', pushPayload('idr/deployment', commit));
  const res = await fetch(`${stack.url}/webhook`, { method: 'POST', headers: req.headers, body: req.body });
  expect(res.status).toBe(202);
  await stack.idle();
  return commit.sha;
}

async function statusOf(sha: string, environment: string): Promise<string | undefined> {
  const list = await stack.store.listByEnvironment('idr/deployment', environment);
  return list.find((d) => d.sha === sha)?.status;
}

/** GitHub's deployment of `environment` at `sha`, as helmgate created it on the REST stand-in. */
function githubDeployment(sha: string, environment: string) {
  const d = githubApi.deployments.find((x) => x.sha === sha && x.environment === environment);
  if (!d) throw new Error(`no GitHub deployment of ${environment} at ${sha}`);
  return d;
}

/** The link GitHub shows for production's "Waiting for approval" status (what a person clicks there). */
function approvalLink(sha: string): string {
  const waiting = githubDeployment(sha, 'production').statuses.filter(
    (s) => s.state === 'queued' && s.description === 'Waiting for approval',
  );
  const link = waiting.at(-1)?.environment_url;
  if (!link) throw new Error('no approval link in the GitHub deployment statuses');
  expect(waiting.at(-1)?.log_url).toBe(link);
  return link;
}

async function approveInBrowser(sha: string, screenshot?: string) {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(approvalLink(sha));
  // not logged in: the page offers the GitHub login, shows no data and no buttons
  expect(await page.getAttribute('#state', 'data-state')).toBe('login');
  expect(await page.locator('button[data-vote="approve"]').count()).toBe(0);
  expect(await page.textContent('body')).not.toContain(sha.slice(0, 7));
  await page.click('#login');
  // back on the deployment's page, logged in: what will change, and the vote forms
  const approve = page.locator('button[data-vote="approve"]');
  await approve.waitFor();
  const main = (await page.textContent('main')) ?? '';
  expect(main).toContain('production');
  expect(main).toContain(sha.slice(0, 7));
  if (screenshot) await page.screenshot({ path: screenshot, fullPage: true });
  const manifests = (await page.locator('section.manifest').allTextContents()).join('\n');
  await Promise.all([page.waitForURL(/result=approved/), approve.click()]);
  const flash = await page.textContent('#flash');
  await stack.idle();
  await page.reload();
  const after = await page.textContent('body');
  await context.close();
  return { changes: main, manifests, flash, after };
}

test('Slack off: push → staging → GitHub deployment status link → GitHub login → see the change → approve → production deploys', async () => {
  mkdirSync(OUT, { recursive: true });
  github.user = { login: 'dora', teams: [] };

  const first = await push();
  expect(await statusOf(first, 'staging')).toBe('succeeded');
  expect(await statusOf(first, 'production')).toBe('awaiting_approval');
  const link = approvalLink(first);
  // the deployment's page: no token in it, a GitHub login decides
  expect(link).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/deployments\/[\w-]+$/);
  const one = await approveInBrowser(first);
  expect(one.changes).toContain('web');
  expect(one.flash).toContain('Approved');
  expect(await statusOf(first, 'production')).toBe('succeeded');
  expect(kube.get('Deployment', 'web-production', 'web')?.spec?.replicas).toBe(2);
  expect(one.after).toMatch(/succeeded/i);

  // a second commit changes a value: the page shows the values diff against what production runs
  const second = repo.commit({ 'values/web.yaml': 'greeting: bonjour\n' }, 'say bonjour');
  await push();
  expect(await statusOf(second, 'staging')).toBe('succeeded');
  const shot = path.join(OUT, 'approval-page.png');
  const two = await approveInBrowser(second, shot);
  expect(existsSync(shot)).toBe(true);
  expect(two.changes).toContain('bonjour');
  expect(two.changes).toContain('hello');
  // …and the rendered objects: what helm would change in production's cluster, object by object
  expect(two.manifests).toContain('ConfigMap web-config (changed)');
  expect(two.manifests).toContain('-  greeting: hello');
  expect(two.manifests).toContain('+  greeting: bonjour');
  expect(two.manifests).toContain('Deployment web (changed)');
  expect(two.manifests).toMatch(/\+\s+checksum\/config: [0-9a-f]{64}/);
  expect(two.manifests).toContain('1 object unchanged');
  // GitHub's deployment status for it said it waits (Slack is off in this test)
  expect(githubDeployment(second, 'production').statuses[0]?.description).toBe('Waiting for approval');
  expect(await statusOf(second, 'production')).toBe('succeeded');
  const cm = kube.get('ConfigMap', 'web-production', 'web-config');
  expect(cm?.data?.greeting).toBe('bonjour');

  // GitHub's deployment of production went from waiting to deployed; helmgate's calls carried its token
  expect(githubDeployment(second, 'production').statuses.map((s) => s.state)).toEqual([
    'queued',
    'queued',
    'in_progress',
    'success',
  ]);
  expect(
    githubApi.calls
      .filter((c) => c.path.startsWith('/repos/'))
      .every((c) => c.authorization === `token ${GITHUB_TOKEN}`),
  ).toBe(true);
  process.stdout.write(`approval page screenshot: ${shot}\n`);
}, 120_000);
