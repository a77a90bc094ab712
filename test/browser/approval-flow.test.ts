import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { type Browser, chromium } from 'playwright-core';
import { type LocalStack, startLocalStack } from '../../handlers/local/local-stack';
import { ApproversConfig } from '../../lib/approval/approval-port';
import { headCommit, pushPayload, signedWebhook } from '../../lib/local/push-payload';
import { testGit } from '../helpers/git';
import { runnerRepo } from '../integration/runner/harness';
import { GithubOAuthStandIn } from '../stand-ins/github-oauth';
import { KubeApiStandIn } from '../stand-ins/kube-api';
import { SlackApiStandIn } from '../stand-ins/slack-api';

/**
 * The approval flow in a real browser (Debian's chromium driven by playwright-core): push → staging
 * deploys to the Kubernetes stand-in → Slack gets the message with the approval link → open it → log
 * in with GitHub → see what will change → approve → production deploys → the page and the Slack
 * message show the result. A screenshot of the approval page goes to test-output/.
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
let slack: SlackApiStandIn;
let github: GithubOAuthStandIn;
let stack: LocalStack;
let browser: Browser;
let repo: ReturnType<typeof runnerRepo>;

beforeAll(async () => {
  if (!existsSync(CHROMIUM))
    throw new Error(`${CHROMIUM} not found: install Debian's chromium (apt-get install -y chromium)`);
  kube = await KubeApiStandIn.start();
  slack = await new SlackApiStandIn().start();
  github = await new GithubOAuthStandIn('client-browser', 'client-secret-browser').start();
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
      'helmgate/slack': JSON.stringify({
        botToken: 'xoxb-browser-test',
        signingSecret: 's'.repeat(32),
        channel: 'C0DEPLOY',
      }),
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
    githubApiUrl: github.url,
    slackApiUrl: slack.apiUrl,
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
  await slack?.close();
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

/** The approval link in the newest Slack message for a commit (button URL or text). */
function approvalLink(sha: string): string {
  const calls = JSON.stringify(slack.calls.filter((c) => JSON.stringify(c.body).includes(sha.slice(0, 7))));
  const links = [
    ...calls.matchAll(/(http:\/\/127\.0\.0\.1:\d+\/approvals\/[A-Za-z0-9_-]+\?token=[A-Za-z0-9_-]+)/g),
  ];
  const link = links.at(-1)?.[1];
  if (!link) throw new Error('no approval link in the Slack messages');
  return link;
}

async function approveInBrowser(sha: string, screenshot?: string) {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(approvalLink(sha));
  // not logged in: the page offers GitHub login, and no buttons
  expect(await page.locator('#approve').count()).toBe(0);
  await page.click('#login');
  await page.waitForSelector('#approve');
  expect(await page.textContent('#environment')).toContain('production');
  expect(await page.textContent('#commit')).toContain(sha.slice(0, 7));
  if (screenshot) await page.screenshot({ path: screenshot, fullPage: true });
  const changes = (await page.locator('section.release').allTextContents()).join('\n');
  const manifests = (await page.locator('section.manifest').allTextContents()).join('\n');
  await page.click('#approve');
  await page.waitForSelector('#flash');
  const flash = await page.textContent('#flash');
  await stack.idle();
  await page.reload();
  const after = await page.textContent('body');
  await context.close();
  return { changes, manifests, flash, after };
}

test('push → staging → Slack link → GitHub login → see the change → approve → production deploys', async () => {
  mkdirSync(OUT, { recursive: true });
  github.user = { login: 'dora', teams: [] };

  const first = await push();
  expect(await statusOf(first, 'staging')).toBe('succeeded');
  expect(await statusOf(first, 'production')).toBe('awaiting_approval');
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
  // the Slack thread says which objects change
  expect(JSON.stringify(slack.calls)).toContain(
    'web: objects 2 changed (ConfigMap/web-config, Deployment/web)',
  );
  expect(await statusOf(second, 'production')).toBe('succeeded');
  const cm = kube.get('ConfigMap', 'web-production', 'web-config');
  expect(cm?.data?.greeting).toBe('bonjour');

  // the commit's Slack message was edited in place to the result, and lost its buttons
  const message = slack.topLevel().find((m) => JSON.stringify(m.history).includes(second.slice(0, 7)));
  const last = JSON.stringify(message?.history.at(-1));
  expect(last).toMatch(/succeeded/i);
  expect(last).not.toContain('"action_id":"approve');
  process.stdout.write(`approval page screenshot: ${shot}\n`);
}, 120_000);
