import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { type LocalStack, startLocalStack } from '../../handlers/local/local-stack';
import { ApproversConfig } from '../../lib/approval/approval-port';
import { headCommit, pushPayload, signedWebhook } from '../../lib/local/push-payload';
import { Browser, field } from '../helpers/form-browser';
import { testGit } from '../helpers/git';
import { makeGitRepo } from '../helpers/git-repo';
import { GithubOAuthStandIn } from '../stand-ins/github-oauth';
import { SlackApiStandIn } from '../stand-ins/slack-api';

/**
 * The local stack end to end without a cluster (`npm start` without KUBECONFIG): a push renders
 * staging, the rendered staging opens production's approval, a GitHub login approves it through the
 * page, and production renders. Slack and GitHub OAuth are loopback stand-ins with the real clients.
 */

const CANARY = 'canary-local-3f9a1c77e2b4';
const DEPLOY_YAML = `apiVersion: helmgate/v1
environments:
  staging:
    approval: none
    cluster: { secret: local/staging/cluster }
    releases:
      - name: hello
        namespace: hello-staging
        chart: ./charts/hello
        values: [values/hello.yaml]
        secretValues:
          auth.token: { secret: app/token, key: token }
  production:
    approval: required
    after: staging
    cluster: { secret: local/production/cluster }
    releases:
      - name: hello
        namespace: hello-production
        chart: ./charts/hello
        values: [values/hello.yaml, values/hello-production.yaml]
        secretValues:
          auth.token: { secret: app/token, key: token }
`;
const CHART = {
  'charts/hello/Chart.yaml': 'apiVersion: v2\nname: hello\nversion: 0.1.0\n',
  'charts/hello/values.yaml': 'greeting: hello\nreplicas: 1\nauth:\n  token: ""\n',
  'charts/hello/templates/configmap.yaml':
    'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  greeting: {{ .Values.greeting | quote }}\n',
  'charts/hello/templates/secret.yaml':
    'apiVersion: v1\nkind: Secret\nmetadata:\n  name: {{ .Release.Name }}\nstringData:\n  token: {{ required "auth.token is required" .Values.auth.token | quote }}\n',
};

let stack: LocalStack;
/** reads need credentials: the stack's API token */
const reader = () => ({ headers: { authorization: `Bearer ${stack.apiToken}` } });
let repo: ReturnType<typeof makeGitRepo>;
let github: GithubOAuthStandIn;
let slack: SlackApiStandIn;
const logs: string[] = [];

beforeAll(async () => {
  github = await new GithubOAuthStandIn('client-local', 'client-secret-local').start();
  slack = await new SlackApiStandIn({ token: 'xoxb-local-test-token' }).start();
  repo = makeGitRepo(
    {
      'deploy.yaml': DEPLOY_YAML,
      'values/hello.yaml': 'greeting: hi\n',
      'values/hello-production.yaml': 'replicas: 2\n',
      ...CHART,
    },
    { origin: 'git@github.com:idr/deployment.git' },
  );
  const secretsFile = path.join(repo.dir, '.helmgate', 'secrets.json');
  const secrets = {
    'helmgate/github-webhook': 'w'.repeat(40),
    'helmgate/approval-signing-key': 'k'.repeat(64),
    'helmgate/github-oauth': JSON.stringify({
      client_id: 'client-local',
      client_secret: 'client-secret-local',
    }),
    'helmgate/slack': JSON.stringify({
      botToken: 'xoxb-local-test-token',
      signingSecret: 's'.repeat(32),
      channel: 'C0DEPLOYS',
    }),
    'app/token': JSON.stringify({ token: CANARY }),
  };
  mkdirSync(path.dirname(secretsFile), { recursive: true });
  writeFileSync(secretsFile, JSON.stringify(secrets), { mode: 0o600 });
  stack = await startLocalStack({
    port: 0,
    repoDir: repo.dir,
    secretsFile,
    logWrite: (l) => logs.push(l),
    approvers: ApproversConfig.parse({ production: { github: ['dora'] } }),
    githubWebUrl: github.url,
    githubApiUrl: github.url,
    slackApiUrl: slack.apiUrl,
    sweepIntervalMs: 0,
  });
});

afterAll(async () => {
  await stack?.close();
  await github?.close();
  await slack?.close();
});

async function push(): Promise<string> {
  const commit = await headCommit(testGit, repo.dir);
  const req = await signedWebhook('w'.repeat(40), 'push', pushPayload('idr/deployment', commit));
  const res = await fetch(`${stack.url}/webhook`, { method: 'POST', headers: req.headers, body: req.body });
  expect(res.status).toBe(202);
  await stack.idle();
  return commit.sha;
}

async function deploymentsOf(sha: string) {
  const list = (await (await fetch(`${stack.url}/deployments`, reader())).json()) as {
    deployments: Array<{ id: string; environment: string; status: string; sha: string }>;
  };
  return list.deployments.filter((d) => d.sha === sha);
}

test('push → staging rendered → approval link → GitHub login → approve → production rendered', async () => {
  const sha = await push();
  let mine = await deploymentsOf(sha);
  const staging = mine.find((d) => d.environment === 'staging');
  const production = mine.find((d) => d.environment === 'production');
  expect(staging?.status).toBe('rendered');
  expect(production?.status).toBe('awaiting_approval');

  // staging's manifests are on disk, with the secret value redacted
  const stagingDir = path.join(repo.dir, '.helmgate', 'rendered', staging?.id as string, 'hello');
  const manifest = readFileSync(path.join(stagingDir, 'manifest.yaml'), 'utf8');
  expect(manifest).toContain('kind: ConfigMap');
  expect(manifest).toContain('greeting: "hi"');
  expect(manifest).not.toContain(CANARY);

  // the per-release result says rendered, never succeeded
  const detail = (await (await fetch(`${stack.url}/deployments/${staging?.id}`, reader())).json()) as {
    releases: Array<{ name: string; status: string }>;
    reason?: string;
  };
  expect(detail.releases).toEqual([expect.objectContaining({ name: 'hello', status: 'rendered' })]);
  expect(detail.reason).toMatch(/rendered only/);

  // Slack got one message for the commit, with the approval link in it
  const posted = JSON.stringify(slack.calls.map((c) => c.body));
  const link = /(http:\/\/127\.0\.0\.1:\d+\/approvals\/[^"|>\\]+)/.exec(posted)?.[1];
  expect(link).toBeDefined();
  expect(slack.topLevel()).toHaveLength(1);

  // open it, log in through GitHub, see what changes, approve
  github.user = { login: 'dora', teams: [] };
  const b = new Browser(stack.url);
  const anon = await b.get(link as string);
  expect(anon.res.status).toBe(200);
  const loginHref = /id="login" href="([^"]+)"/.exec(anon.text)?.[1]?.replace(/&amp;/g, '&') as string;
  const start = await b.get(loginHref);
  const back = await b.get(start.location as string);
  const cb = await b.get(back.location as string);
  expect(cb.res.status).toBe(302);
  const page = await b.get(cb.location as string);
  expect(page.text).toContain('id="approve"');
  expect(page.text).toContain('hello');
  const approve = await b.post(`/approvals/${production?.id}/approve`, {
    plan: field(page.text, 'plan'),
    csrf: field(page.text, 'csrf'),
  });
  expect(approve.res.status).toBe(303);
  await stack.idle();

  mine = await deploymentsOf(sha);
  expect(mine.find((d) => d.environment === 'production')?.status).toBe('rendered');
  const prodManifest = readFileSync(
    path.join(repo.dir, '.helmgate', 'rendered', production?.id as string, 'hello', 'manifest.yaml'),
    'utf8',
  );
  expect(prodManifest).toContain('kind: Secret');

  // the Slack message was edited in place to show the result
  const message = slack.topLevel()[0];
  expect(JSON.stringify(message?.history.at(-1))).toMatch(/rendered/i);

  // the secret value is nowhere: logs, stored deployments and audit, Slack, rendered files
  const stored = JSON.stringify(await stack.store.listDeployments({ limit: 50 }));
  const audit = JSON.stringify(await stack.store.listAudit(production?.id as string));
  const rendered = readdirSync(path.join(repo.dir, '.helmgate', 'rendered'), { recursive: true })
    .map(String)
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => readFileSync(path.join(repo.dir, '.helmgate', 'rendered', f), 'utf8'))
    .join('\n');
  const b64 = Buffer.from(CANARY).toString('base64');
  for (const haystack of [logs.join('\n'), stored, audit, posted, JSON.stringify(slack.calls), rendered]) {
    expect(haystack).not.toContain(CANARY);
    expect(haystack).not.toContain(b64);
  }
});

test('a push whose secret is missing fails staging before helm runs, naming the reference', async () => {
  const secretsFile = stack.secretsFile;
  const doc = JSON.parse(readFileSync(secretsFile, 'utf8'));
  delete doc['app/token'];
  writeFileSync(secretsFile, JSON.stringify(doc), { mode: 0o600 });
  repo.commit({ 'values/hello.yaml': 'greeting: bonjour\n' }, 'change greeting');
  const sha = await push();
  const staging = (await deploymentsOf(sha)).find((d) => d.environment === 'staging');
  expect(staging?.status).toBe('failed');
  const detail = (await (await fetch(`${stack.url}/deployments/${staging?.id}`, reader())).json()) as {
    reason: string;
  };
  expect(detail.reason).toContain('app/token');
  // production waits for a staging that failed: it fails too, with why
  const production = (await deploymentsOf(sha)).find((d) => d.environment === 'production');
  expect(production?.status).toBe('failed');
});
