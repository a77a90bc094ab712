import { createHmac } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { type LocalStack, startLocalStack } from '../../handlers/local/local-stack';
import { headCommit, pushPayload, signedWebhook } from '../../lib/local/push-payload';
import { testGit } from '../helpers/git';
import { makeGitRepo } from '../helpers/git-repo';
import { SlackApiStandIn } from '../stand-ins/slack-api';
import { blockActions, form } from '../unit/slack/payloads';

const DEPLOY_YAML = readFileSync(path.join(__dirname, '../fixtures/intake/deploy.yaml'), 'utf8');
const SIGNING_SECRET = 's'.repeat(32);

function slackRequest(body: Buffer, now = new Date()) {
  const ts = String(Math.floor(now.getTime() / 1000));
  const sig = `v0=${createHmac('sha256', SIGNING_SECRET).update(`v0:${ts}:`).update(body).digest('hex')}`;
  return {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      'x-slack-request-timestamp': ts,
      'x-slack-signature': sig,
    },
    body,
  };
}

describe('Slack buttons on the local stack', () => {
  let stack: LocalStack;
  let slack: SlackApiStandIn;
  let repo: ReturnType<typeof makeGitRepo>;

  beforeAll(async () => {
    slack = await new SlackApiStandIn().start();
    repo = makeGitRepo(
      { 'deploy.yaml': DEPLOY_YAML, 'values/hello.yaml': 'greeting: hi\n' },
      { origin: 'git@github.com:idr/deployment.git' },
    );
    const secretsFile = path.join(repo.dir, '.helmgate', 'secrets.json');
    mkdirSync(path.dirname(secretsFile), { recursive: true });
    writeFileSync(
      secretsFile,
      JSON.stringify({
        'helmgate/github-webhook': 'w'.repeat(40),
        'helmgate/approval-signing-key': 'k'.repeat(64),
        'helmgate/slack': JSON.stringify({ botToken: 'xoxb-local-test', signingSecret: SIGNING_SECRET }),
      }),
      { mode: 0o600 },
    );
    stack = await startLocalStack({
      port: 0,
      repoDir: repo.dir,
      secretsFile,
      slackApiUrl: slack.apiUrl,
      logWrite: () => {},
      runner: false,
      sweepIntervalMs: 0,
    });
  });

  afterAll(async () => {
    await stack.close();
    await slack.close();
  });

  it('a signed button press is acknowledged, voted on in the background, and a refusal told to the voter alone', async () => {
    const commit = await headCommit(testGit, repo.dir);
    const push = await signedWebhook('w'.repeat(40), 'push', pushPayload('idr/deployment', commit));
    expect((await fetch(`${stack.url}/webhook`, { method: 'POST', ...push })).status).toBe(202);
    await stack.idle();
    const production = (await stack.store.listDeployments({ limit: 10 })).find(
      (d) => d.environment === 'production',
    );
    expect(production?.status).toBe('awaiting_approval');

    const res = await fetch(
      `${stack.url}/slack/interactions`,
      slackRequest(form(blockActions([`approve:${production?.id}`]))),
    );
    expect(res.status).toBe(200);
    await stack.idle();
    // nobody may approve on this stack (no approvers): the vote is refused and only alice hears why
    const replies = slack.calls.filter((c) => c.method === 'chat.postEphemeral');
    expect(replies).toHaveLength(1);
    expect(replies[0]?.body).toMatchObject({ channel: 'C0DEPLOYS', user: 'U0ALICE1' });
    expect(String(replies[0]?.body.text)).toMatch(/Could not approve \*production\*/);
    expect((await stack.store.getDeployment(production?.id as string))?.status).toBe('awaiting_approval');
  });

  it('an unsigned press is refused with 401 and nothing reaches Slack', async () => {
    const before = slack.calls.length;
    const res = await fetch(`${stack.url}/slack/interactions`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: form(blockActions(['approve:anything'])),
    });
    expect(res.status).toBe(401);
    await stack.idle();
    expect(slack.calls.length).toBe(before);
  });
});
