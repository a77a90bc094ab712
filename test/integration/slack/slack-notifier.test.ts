import { fixedClock } from '../../../lib/clock';
import type { Deployment } from '../../../lib/deploy/deployment';
import { createLogger, memorySink } from '../../../lib/log/logger';
import { Redactor } from '../../../lib/log/redact';
import { FanOutNotifier } from '../../../lib/notify/notifier';
import { SLACK_MESSAGE_KIND, SlackNotifier } from '../../../lib/slack/slack-notifier';
import { createSlackWebClient } from '../../../lib/slack/web-client';
import { startDynalite, type TestDynamo } from '../../helpers/dynalite';
import { SlackApiStandIn, type SlackApiStandIn as Stand } from '../../stand-ins/slack-api';

const SHA = '6113728f27ae82c7b1a177c8d03f9e96e0adf246';
const REPO = 'Codertocat/Hello-World';
const CHANNEL = 'C0DEPLOYS';
const TOKEN = 'xoxb-test-token-0001';

const buttonsOf = (blocks: any[] | undefined): string[] =>
  (blocks ?? []).flatMap((b) => (b.type === 'actions' ? b.elements.map((e: any) => e.action_id) : []));
const textOf = (blocks: any[] | undefined): string =>
  (blocks ?? []).map((b) => (b.type === 'section' ? b.text.text : '')).join('\n');

describe('SlackNotifier (real WebClient, loopback Slack, dynalite)', () => {
  let dynamo: TestDynamo;
  let slack: Stand;
  let logs: string[];
  let clock: ReturnType<typeof fixedClock>;
  let redactor: Redactor;
  let makeNotifier: () => SlackNotifier;

  beforeEach(async () => {
    dynamo = await startDynalite();
    slack = await new SlackApiStandIn({ token: TOKEN }).start();
    const sink = memorySink();
    logs = sink.lines;
    clock = fixedClock('2026-11-24T12:00:00Z');
    redactor = new Redactor();
    const logger = createLogger({ redactor, clock, write: sink.write });
    makeNotifier = () =>
      new SlackNotifier({
        client: createSlackWebClient({ botToken: TOKEN, slackApiUrl: slack.apiUrl, logger, retries: 1 }),
        channel: CHANNEL,
        store: dynamo.store,
        clock,
        logger,
        redactor,
        claimWaitMs: 2_000,
      });
  });

  afterEach(async () => {
    await slack.close();
    await dynamo.close();
  });

  /** The approval service's offer, as the audit records it: from then on the approval is open. */
  async function offered(id: string): Promise<void> {
    await dynamo.store.appendAudit({
      deploymentId: id,
      at: clock.now().toISOString(),
      actor: 'system',
      via: 'system',
      action: 'offer',
      outcome: 'offered',
    });
  }

  function base(
    id: string,
    environment: string,
    approval: Deployment['approval'],
    status: Deployment['status'],
  ): Deployment {
    const at = clock.now().toISOString();
    return {
      id,
      repository: REPO,
      environment,
      sha: SHA,
      ref: 'refs/heads/main',
      status,
      approval,
      pusher: 'Codertocat',
      commitMessage: 'Bump jupyterhub',
      createdAt: at,
      updatedAt: at,
    };
  }

  /** Moves a deployment in the store (as the runner would) and notifies, like the core does. */
  async function move(
    n: SlackNotifier,
    id: string,
    from: Deployment['status'][],
    to: Deployment['status'],
    patch: Partial<Deployment> = {},
  ) {
    clock.advance(1000);
    const d = await dynamo.store.transition(id, from, to, patch, clock.now());
    await n.deploymentChanged(d);
    return d;
  }

  it('posts one message for a commit, then edits it in place as staging goes queued → running → succeeded', async () => {
    const n = makeNotifier();
    const st = base('st', 'staging', 'none', 'queued');
    await dynamo.store.createDeployment(st);
    await n.deploymentChanged(st);
    await move(n, 'st', ['queued'], 'running');
    await move(n, 'st', ['running'], 'succeeded', {
      releases: [
        { name: 'hub', namespace: 'jh', status: 'succeeded', attempts: 1 },
        { name: 'grafana', namespace: 'mon', status: 'succeeded', reason: 'unchanged', attempts: 1 },
      ],
    });

    expect(slack.callsOf('chat.postMessage')).toHaveLength(1);
    const [msg, ...others] = slack.topLevel();
    expect(others).toEqual([]);
    expect(msg?.channel).toBe(CHANNEL);
    const states = msg?.history.map((h) =>
      textOf(h.blocks)
        .split('\n')
        .find((l) => l.includes('*staging*')),
    );
    expect(states).toEqual([
      ':clock3: *staging* queued',
      ':arrows_counterclockwise: *staging* deploying',
      ':white_check_mark: *staging* deployed — 2 releases: 1 deployed, 1 unchanged',
    ]);
    for (const c of slack.callsOf('chat.update')) {
      expect(c.body.ts).toBe(msg?.ts);
      expect(c.authorization).toBe(`Bearer ${TOKEN}`);
    }
    expect(await dynamo.store.getItem(SLACK_MESSAGE_KIND, `${REPO}@${SHA}`)).toMatchObject({
      state: 'posted',
      channel: CHANNEL,
      ts: msg?.ts,
    });
  });

  it('shows buttons for a second production environment awaiting approval, and takes them away when superseded', async () => {
    const n = makeNotifier();
    const st = base('st', 'staging', 'none', 'succeeded');
    const pub = base('pub', 'public', 'required', 'awaiting_approval');
    const vae = base('vae', 'vae', 'required', 'awaiting_approval');
    for (const d of [st, pub, vae]) await dynamo.store.createDeployment(d);
    await n.deploymentChanged(st);
    await n.deploymentChanged(pub);
    // not offered yet: no buttons, the environments wait
    expect(buttonsOf(slack.topLevel()[0]?.blocks)).toEqual([]);
    await offered('pub');
    await offered('vae');
    await n.deploymentChanged(pub);
    await n.deploymentChanged(vae);
    const [msg] = slack.topLevel();
    expect(buttonsOf(msg?.blocks)).toEqual([
      'approve:pub',
      'reject:pub',
      'approve:vae',
      'reject:vae',
      `approve_all:${SHA}`,
    ]);

    await move(n, 'vae', ['awaiting_approval'], 'superseded', { supersededBy: 'newer' });
    expect(buttonsOf(msg?.blocks)).toEqual(['approve:pub', 'reject:pub']);
    expect(textOf(msg?.blocks)).toContain('*vae* superseded by a newer push');
    expect(slack.callsOf('chat.postMessage')).toHaveLength(1);
  });

  it('says who approved, from the audit log', async () => {
    const n = makeNotifier();
    const pub = base('pub', 'public', 'required', 'awaiting_approval');
    await dynamo.store.createDeployment(pub);
    await dynamo.store.appendAudit({
      deploymentId: 'pub',
      at: clock.now().toISOString(),
      actor: 'slack:U0ALICE1',
      via: 'slack',
      action: 'approve',
      outcome: 'approved',
    });
    // the deciding vote queues the deployment (there is no `approved` status): the line says who
    await move(n, 'pub', ['awaiting_approval'], 'queued');
    expect(textOf(slack.topLevel()[0]?.blocks)).toContain('*public* queued (approved by <@U0ALICE1>)');
  });

  it('posts a single message when two Lambdas are notified at the same moment', async () => {
    const pub = base('pub', 'public', 'required', 'awaiting_approval');
    const vae = base('vae', 'vae', 'required', 'awaiting_approval');
    for (const d of [pub, vae]) await dynamo.store.createDeployment(d);
    for (const d of [pub, vae]) await offered(d.id);
    await Promise.all([makeNotifier().deploymentChanged(pub), makeNotifier().deploymentChanged(vae)]);
    expect(slack.callsOf('chat.postMessage')).toHaveLength(1);
    expect(buttonsOf(slack.topLevel()[0]?.blocks)).toContain(`approve_all:${SHA}`);
  });

  it('puts failure details with the redacted error tail in the thread, once', async () => {
    redactor.register('s3cr3t-proxy-token-value');
    const n = makeNotifier();
    const st = base('st', 'staging', 'none', 'running');
    await dynamo.store.createDeployment(st);
    await n.deploymentChanged(st);
    const failed = await move(n, 'st', ['running'], 'failed', {
      reason: '1 release failed',
      releases: [
        {
          name: 'hub',
          namespace: 'jh',
          status: 'failed',
          attempts: 1,
          errorTail: 'Error: proxy token s3cr3t-proxy-token-value must be a 32 byte random string',
        },
      ],
    });
    await n.deploymentChanged(failed); // a repeated notification adds no second detail
    const [msg] = slack.topLevel();
    const replies = slack.replies(msg?.ts ?? '');
    expect(replies).toHaveLength(1);
    const t = textOf(replies[0]?.blocks);
    expect(t).toContain('*hub* (jh)');
    expect(t).toContain('proxy token *** must be');
    expect(JSON.stringify(slack.calls)).not.toContain('s3cr3t-proxy-token-value');
  });

  it('posts the approval link in the thread and never stores or logs it', async () => {
    const n = makeNotifier();
    const pub = base('pub', 'public', 'required', 'awaiting_approval');
    await dynamo.store.createDeployment(pub);
    const url = 'https://api.example.org/approvals/pub?t=single-use-token-abcdef';
    await offered('pub');
    await n.approvalRequested({
      deployment: pub,
      approvalUrl: url,
      expiresAt: '2026-11-25T12:00:00Z',
      summary: ['hub 4.3.0 → 4.4.0'],
    });
    const [msg] = slack.topLevel();
    expect(buttonsOf(msg?.blocks)).toEqual(['approve:pub', 'reject:pub']);
    const replies = slack.replies(msg?.ts ?? '');
    expect(replies).toHaveLength(1);
    expect(textOf(replies[0]?.blocks)).toContain(`<${url}|review the changes and approve>`);
    expect(logs.join('\n')).not.toContain('single-use-token');
    const stored = JSON.stringify(await dynamo.store.getItem(SLACK_MESSAGE_KIND, `${REPO}@${SHA}`));
    expect(stored).not.toContain('single-use-token');
  });

  it('logs a Slack error and does not throw; the next transition posts the message', async () => {
    const n = makeNotifier();
    const st = base('st', 'staging', 'none', 'queued');
    await dynamo.store.createDeployment(st);
    slack.failNext('chat.postMessage', { error: 'channel_not_found' });
    await expect(n.deploymentChanged(st)).resolves.toBeUndefined();
    expect(logs.join('\n')).toContain('channel_not_found');
    expect(slack.topLevel()).toEqual([]);
    await move(n, 'st', ['queued'], 'running');
    expect(slack.topLevel()).toHaveLength(1);
    expect(textOf(slack.topLevel()[0]?.blocks)).toContain('*staging* deploying');
  });

  it('waits out a rate limit (429 with Retry-After) and still posts once', async () => {
    const n = makeNotifier();
    const st = base('st', 'staging', 'none', 'queued');
    await dynamo.store.createDeployment(st);
    slack.failNext('chat.postMessage', { ratelimited: { retryAfter: 1 } });
    await n.deploymentChanged(st);
    expect(slack.callsOf('chat.postMessage')).toHaveLength(2);
    expect(slack.topLevel()).toHaveLength(1);
  });

  it('never fails a deploy behind the FanOutNotifier, even when Slack is down', async () => {
    const sink = memorySink();
    const logger = createLogger({ redactor, clock, write: sink.write });
    const st = base('st', 'staging', 'none', 'queued');
    await dynamo.store.createDeployment(st);
    await slack.close();
    const fan = new FanOutNotifier([makeNotifier()], logger);
    await expect(fan.deploymentChanged(st)).resolves.toBeUndefined();
    expect(logs.join('\n')).toContain('slack notification failed');
  });
});
