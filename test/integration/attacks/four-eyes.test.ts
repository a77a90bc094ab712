import { createHmac, randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { type LocalStack, startLocalStack } from '../../../handlers/local/local-stack';
import { ApproversConfig } from '../../../lib/approval/approval-port';
import { runCli } from '../../../lib/cli/main';
import type { Deployment } from '../../../lib/deploy/deployment';
import { headCommit, pushPayload, signedWebhook } from '../../../lib/local/push-payload';
import { Browser, field } from '../../helpers/form-browser';
import { testGit } from '../../helpers/git';
import { makeGitRepo } from '../../helpers/git-repo';
import { GithubOAuthStandIn } from '../../stand-ins/github-oauth';
import { SlackApiStandIn } from '../../stand-ins/slack-api';
import { blockActions, form } from '../../unit/slack/payloads';

/**
 * Issue 11, "Four-eyes has holes", through the real handlers of a local stack — the web (GitHub login
 * through the OAuth stand-in, the approval form), Slack (signed interactions) and the operator CLI:
 *  - allowSelfApproval defaulted to true;
 *  - the self check compared only sender.login: an author whose change a bot merged could approve it;
 *  - a CLI voter is a principal that never equals a login: a pusher approved their own commit there;
 *  - one person counted twice toward `required` through the web and the CLI, or an unmapped Slack id.
 * Each now fails with a reason naming the rule, and nothing is released.
 */

const SECRET = 'w'.repeat(40);
const SLACK_SECRET = 's'.repeat(32);
const REPO = 'idr/deployment';
const DORA_ARN = 'arn:aws:iam::123456789012:user/dora';
const DEPLOY_YAML = `apiVersion: helmgate/v1
environments:
  production:
    approval: required
    cluster: { secret: local/production/cluster }
    releases:
      - { name: hello, namespace: hello-production, chart: ./charts/hello }
  vault:
    approval: required
    cluster: { secret: local/vault/cluster }
    releases:
      - { name: hello, namespace: hello-vault, chart: ./charts/hello }
`;
// no allowSelfApproval anywhere: the default must forbid it
const APPROVERS = {
  production: {
    github: ['dora', 'erin', 'gina'],
    cliToGithub: { [DORA_ARN]: 'dora' },
  },
  vault: {
    github: ['frank', 'gina'],
    slack: ['U0FRANK', 'U0STRANGER'],
    slackToGithub: { U0FRANK: 'frank' },
    cliToGithub: { 'frank-cli': 'frank' },
    required: 2,
  },
};

let stack: LocalStack;
let repo: ReturnType<typeof makeGitRepo>;
let github: GithubOAuthStandIn;
let slack: SlackApiStandIn;

beforeAll(async () => {
  github = await new GithubOAuthStandIn('client-4e', 'secret-4e').start();
  slack = await new SlackApiStandIn({ token: 'xoxb-four-eyes' }).start();
  repo = makeGitRepo({
    '.gitignore': '.helmgate/\n',
    'deploy.yaml': DEPLOY_YAML,
    'charts/hello/Chart.yaml': 'apiVersion: v2\nname: hello\nversion: 0.1.0\n',
    'charts/hello/templates/cm.yaml':
      'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata: {}\n',
  });
  const state = path.join(repo.dir, '.helmgate');
  mkdirSync(state, { recursive: true });
  const secretsFile = path.join(state, 'secrets.json');
  writeFileSync(
    secretsFile,
    JSON.stringify({
      'helmgate/github-webhook': SECRET,
      'helmgate/approval-signing-key': 'k'.repeat(64),
      'helmgate/github-oauth': JSON.stringify({ client_id: 'client-4e', client_secret: 'secret-4e' }),
      'helmgate/slack': JSON.stringify({
        botToken: 'xoxb-four-eyes',
        signingSecret: SLACK_SECRET,
        channel: 'C0D',
      }),
      'local/production/cluster': 'x',
      'local/vault/cluster': 'x',
    }),
    { mode: 0o600 },
  );
  stack = await startLocalStack({
    port: 0,
    repoDir: repo.dir,
    secretsFile,
    stateFile: path.join(state, 'stack.json'),
    repositories: [REPO],
    logWrite: () => {},
    approvers: ApproversConfig.parse(APPROVERS),
    githubWebUrl: github.url,
    githubApiUrl: github.url,
    slackApiUrl: slack.apiUrl,
    sweepIntervalMs: 0,
  });
}, 60_000);

afterAll(async () => {
  await stack?.close();
  await github?.close();
  await slack?.close();
});

/** Commits, then pushes HEAD as GitHub would describe a push by `sender` of commits by `authors`. */
async function push(sender: string, authors: Array<{ author?: string; committer?: string }>) {
  repo.commit({ 'n.txt': randomUUID() }, `change by ${authors.map((a) => a.author).join(', ')}`);
  const commit = await headCommit(testGit, repo.dir);
  const payload = {
    ...pushPayload(REPO, commit),
    pusher: { name: sender },
    sender: { login: sender },
    commits: authors.map((a, i) => ({
      id: i === authors.length - 1 ? commit.sha : randomUUID().replace(/-/g, ''),
      author: { name: 'x', email: 'x@example.org', ...(a.author ? { username: a.author } : {}) },
      committer: { name: 'y', email: 'y@example.org', username: a.committer ?? null },
    })),
  };
  const req = await signedWebhook(SECRET, 'push', payload);
  const res = await fetch(`${stack.url}/webhook`, { method: 'POST', headers: req.headers, body: req.body });
  expect(res.status).toBe(202);
  await stack.idle();
  const mine = (await stack.store.listDeployments({ limit: 100 })).filter((d) => d.sha === commit.sha);
  const byEnv = (env: string) => mine.find((d) => d.environment === env) as Deployment;
  expect(byEnv('production').status).toBe('awaiting_approval');
  expect((await stack.approvals.getRequest(byEnv('production').id))?.status).toBe('pending');
  return { production: byEnv('production'), vault: byEnv('vault') };
}

async function webLogin(login: string): Promise<Browser> {
  github.user = { login, teams: [] };
  const b = new Browser(stack.url);
  const start = await b.get('/auth/github/login');
  const back = await b.get(start.location as string);
  await b.get(back.location as string);
  return b;
}

/** Approves on the page as `login`; returns the status and the page's message. */
async function webApprove(login: string, d: Deployment) {
  const b = await webLogin(login);
  const page = await b.get(`/approvals/${d.id}`);
  const res = await b.post(`/approvals/${d.id}/approve`, {
    plan: field(page.text, 'plan'),
    csrf: field(page.text, 'csrf'),
  });
  return { status: res.res.status, text: res.text };
}

async function cliApprove(principal: string, d: Deployment) {
  let stderr = '';
  const code = await runCli(['approve', d.id], {
    stdout: () => undefined,
    stderr: (s) => {
      stderr += s;
    },
    env: { PATH: process.env.PATH, HOME: process.env.HOME, HELMGATE_CLI_PRINCIPAL: principal },
    cwd: repo.dir,
  });
  return { code, stderr };
}

async function slackApprove(userId: string, d: Deployment) {
  const body = form(blockActions([`approve:${d.id}`], { user: { id: userId, username: 'u' } }));
  const ts = String(Math.floor(Date.now() / 1000));
  const sig = `v0=${createHmac('sha256', SLACK_SECRET).update(`v0:${ts}:`).update(body).digest('hex')}`;
  const res = await fetch(`${stack.url}/slack/interactions`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      'x-slack-signature': sig,
      'x-slack-request-timestamp': ts,
    },
    body,
  });
  expect(res.status).toBe(200);
  await stack.idle();
}

async function audit(d: Deployment) {
  return (await stack.store.listAudit(d.id)).filter((a) => a.action === 'approve');
}

async function status(d: Deployment) {
  return (await stack.store.getDeployment(d.id))?.status;
}

test('an author whose change a bot merged cannot approve it; someone uninvolved can', async () => {
  const { production } = await push('merge-bot', [{ author: 'erin', committer: 'web-flow' }]);
  const erin = await webApprove('erin', production);
  expect(erin.status).toBe(403);
  expect(erin.text).toContain('erin pushed, merged or wrote this change; production needs someone else');
  expect(await status(production)).toBe('awaiting_approval');
  expect((await webApprove('gina', production)).status).toBe(303);
  expect(await status(production)).not.toBe('awaiting_approval');
}, 60_000);

test('self-approval is forbidden by default, on the web and from the CLI, mapped or not', async () => {
  const { production } = await push('dora', [{ author: 'dora' }]);
  const web = await webApprove('dora', production);
  expect(web.status).toBe(403);
  expect(web.text).toContain('dora pushed, merged or wrote this change');
  // her IAM principal maps to her login: the same person, the same refusal
  const arn = await cliApprove(DORA_ARN, production);
  expect(arn.code).toBe(1);
  expect(arn.stderr).toContain('dora pushed, merged or wrote this change');
  // a local OS user that merely looks like the login is not that login
  const lookalike = await cliApprove('dora', production);
  expect(lookalike.code).toBe(1);
  expect(lookalike.stderr).toContain('dora (cli) is not mapped to a GitHub login (cliToGithub)');
  expect(await status(production)).toBe('awaiting_approval');
  expect((await audit(production)).map((a) => a.outcome)).toEqual([
    'refused: forbidden',
    'refused: forbidden',
    'refused: forbidden',
  ]);
}, 60_000);

test('required: 2 counts distinct GitHub logins: web + CLI + Slack of one person is one vote; unmapped Slack is refused', async () => {
  const { vault } = await push('somebody', [{ author: 'somebody' }]);
  expect((await webApprove('frank', vault)).status).toBe(303);
  expect((await stack.approvals.getRequest(vault.id))?.voteCount).toBe(1);
  // frank again from the CLI (his principal maps to frank) and from Slack (his id maps to frank)
  expect((await cliApprove('frank-cli', vault)).code).toBe(0);
  await slackApprove('U0FRANK', vault);
  // a Slack id on the list but mapped to no login does not vote at all
  await slackApprove('U0STRANGER', vault);
  const req = await stack.approvals.getRequest(vault.id);
  expect(req?.voteCount).toBe(1);
  expect(Object.keys(req?.votes ?? {})).toEqual(['github:frank']);
  expect(await status(vault)).toBe('awaiting_approval');
  const outcomes = (await audit(vault)).map((a) => `${a.actor} ${a.outcome}`);
  expect(outcomes).toEqual(
    expect.arrayContaining([
      'frank recorded',
      'frank (cli frank-cli) duplicate',
      'frank (Slack U0FRANK) duplicate',
      'Slack U0STRANGER (u) refused: forbidden',
    ]),
  );
  expect((await audit(vault)).find((a) => a.actor.startsWith('Slack U0STRANGER'))?.detail).toContain(
    'is not mapped to a GitHub login (slackToGithub)',
  );
  // a second person decides
  expect((await webApprove('gina', vault)).status).toBe(303);
  expect(await status(vault)).not.toBe('awaiting_approval');
}, 60_000);
