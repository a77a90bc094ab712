import { createHmac } from 'node:crypto';
import {
  makeSlackInteractionsHandler,
  makeSlackInteractionsLambda,
  type SlackInteractionsDeps,
} from '../../../handlers/slack-interactions';
import type { ApprovalPort, VoteInput, VoteOutcome } from '../../../lib/approval/approval-port';
import { fixedClock } from '../../../lib/clock';
import type { Deployment } from '../../../lib/deploy/deployment';
import { BACKGROUND_MARKER, InProcessBackgroundWork } from '../../../lib/dispatch/background';
import { HelmgateError } from '../../../lib/errors';
import { createLogger, memorySink } from '../../../lib/log/logger';
import { Redactor } from '../../../lib/log/redact';
import type { SlackInteraction } from '../../../lib/slack/interaction';
import {
  processSlackInteraction,
  SLACK_INTERACTION_JOB,
  type SlackInteractionJob,
  type SlackInteractionWorkerDeps,
} from '../../../lib/slack/vote-worker';
import { createSlackWebClient } from '../../../lib/slack/web-client';
import { MemoryDeploymentStore } from '../../fakes/memory-store';
import { httpEvent } from '../../helpers/events';
import { SlackApiStandIn } from '../../stand-ins/slack-api';
import { blockActions, form } from './payloads';

const SIGNING_SECRET = 'slack-signing-secret-for-tests-0123';
const NOW = new Date('2026-11-24T12:00:00Z');
const SHA = '6113728f27ae82c7b1a177c8d03f9e96e0adf246';

function signed(body: Buffer, opts: { secret?: string; at?: Date; signature?: string } = {}) {
  const ts = String(Math.floor((opts.at ?? NOW).getTime() / 1000));
  const sig =
    opts.signature ??
    `v0=${createHmac('sha256', opts.secret ?? SIGNING_SECRET)
      .update(`v0:${ts}:`)
      .update(body)
      .digest('hex')}`;
  return httpEvent({
    path: '/slack/interactions',
    body,
    headers: {
      'Content-Type': 'application/x-www-form-urlencoded',
      'X-Slack-Request-Timestamp': ts,
      'X-Slack-Signature': sig,
    },
  });
}

class FakeApprovals implements ApprovalPort {
  readonly votes: VoteInput[] = [];
  gate: Promise<void> = Promise.resolve();
  respond: (input: VoteInput) => VoteOutcome | Promise<VoteOutcome> = (i) => ({
    kind: 'approved',
    deploymentId: i.deploymentId,
    dispatched: true,
  });
  async vote(input: VoteInput): Promise<VoteOutcome> {
    await this.gate;
    this.votes.push(input);
    return this.respond(input);
  }
}

function deployment(id: string, environment: string, status: Deployment['status'], sha = SHA): Deployment {
  return {
    id,
    repository: 'Codertocat/Hello-World',
    environment,
    sha,
    ref: 'refs/heads/main',
    status,
    approval: 'required',
    createdAt: '2026-11-24T11:59:00.000Z',
    updatedAt: '2026-11-24T11:59:00.000Z',
  };
}

describe('POST /slack/interactions', () => {
  let store: MemoryDeploymentStore;
  let slack: SlackApiStandIn;
  let approvals: FakeApprovals;
  let background: InProcessBackgroundWork<SlackInteractionJob>;
  let enqueued: SlackInteractionJob[];
  let logs: string[];
  let handler: ReturnType<typeof makeSlackInteractionsHandler>;
  let worker: SlackInteractionWorkerDeps;

  beforeEach(async () => {
    store = new MemoryDeploymentStore();
    slack = await new SlackApiStandIn({ token: 'xoxb-test-token' }).start();
    approvals = new FakeApprovals();
    const sink = memorySink();
    logs = sink.lines;
    const clock = fixedClock(NOW);
    const logger = createLogger({ redactor: new Redactor(), clock, write: sink.write });
    worker = {
      approvals,
      store,
      slack: createSlackWebClient({
        botToken: 'xoxb-test-token',
        slackApiUrl: slack.apiUrl,
        logger,
        retries: 0,
      }),
      logger,
    };
    enqueued = [];
    background = new InProcessBackgroundWork<SlackInteractionJob>(
      (job) => processSlackInteraction(worker, job.payload).then(() => undefined),
      logger,
    );
    const deps: SlackInteractionsDeps = {
      signingSecrets: async () => [SIGNING_SECRET],
      background: {
        enqueue: async (job) => {
          enqueued.push(job);
          await background.enqueue(job);
        },
      },
      clock,
      logger,
    };
    handler = makeSlackInteractionsHandler(deps);
    for (const d of [
      deployment('d-public', 'public', 'awaiting_approval'),
      deployment('d-vae', 'vae', 'awaiting_approval'),
      deployment('d-staging', 'staging', 'succeeded'),
      deployment('d-other', 'public', 'awaiting_approval', 'b'.repeat(40)),
    ])
      await store.createDeployment(d);
  });

  afterEach(async () => {
    await background.idle();
    await slack.close();
  });

  it.each([
    [
      'a signature made with another secret',
      (b: Buffer) => signed(b, { secret: 'not-the-signing-secret-000000' }),
    ],
    ['a stale timestamp', (b: Buffer) => signed(b, { at: new Date(NOW.getTime() - 10 * 60_000) })],
    ['no signature', (b: Buffer) => signed(b, { signature: '' })],
  ])('answers 401 to %s and does nothing', async (_name, make) => {
    const res = await handler(make(form(blockActions(['approve:d-public']))));
    await background.idle();
    expect(res.statusCode).toBe(401);
    expect(enqueued).toEqual([]);
    expect(approvals.votes).toEqual([]);
    expect(slack.calls).toEqual([]);
    expect(logs.join('\n')).toContain('slack signature rejected');
  });

  it('answers 401 to a signed body that was modified afterwards', async () => {
    const good = signed(form(blockActions(['approve:d-public'])));
    const tampered = { ...good, body: form(blockActions(['approve:d-vae'])).toString('base64') };
    const res = await handler(tampered);
    expect(res.statusCode).toBe(401);
    expect(enqueued).toEqual([]);
  });

  it('acknowledges with an empty 200 before the vote has finished', async () => {
    let release!: () => void;
    approvals.gate = new Promise((r) => {
      release = r;
    });
    // the vote is held until release(): a handler that awaited it would never answer
    const res = await handler(signed(form(blockActions(['approve:d-public']))));
    expect(res.statusCode).toBe(200);
    expect(res.body).toBe('');
    expect(approvals.votes).toEqual([]);
    release();
    await background.idle();
    expect(approvals.votes).toHaveLength(1);
  });

  it('votes as the Slack user, via slack, with the decision of the button', async () => {
    await handler(signed(form(blockActions(['approve:d-public']))));
    await handler(signed(form(blockActions(['reject:d-vae']))));
    await background.idle();
    expect(approvals.votes).toEqual([
      {
        deploymentId: 'd-public',
        voter: { kind: 'slack', id: 'U0ALICE1', displayName: 'alice' },
        via: 'slack',
        decision: 'approve',
      },
      {
        deploymentId: 'd-vae',
        voter: { kind: 'slack', id: 'U0ALICE1', displayName: 'alice' },
        via: 'slack',
        decision: 'reject',
      },
    ]);
    // approved and rejected show up in the refreshed message, not as an ephemeral reply
    expect(slack.callsOf('chat.postEphemeral')).toEqual([]);
  });

  it('"approve all" approves every production deployment of that sha that awaits approval, and nothing else', async () => {
    await handler(signed(form(blockActions([`approve_all:${SHA}`]))));
    await background.idle();
    expect(approvals.votes.map((v) => [v.deploymentId, v.decision]).sort()).toEqual([
      ['d-public', 'approve'],
      ['d-vae', 'approve'],
    ]);
  });

  it('tells the voter alone why a vote was refused', async () => {
    approvals.respond = () => {
      throw new HelmgateError('forbidden', 'U0ALICE1 may not approve public');
    };
    const res = await handler(signed(form(blockActions(['approve:d-public']))));
    await background.idle();
    expect(res.statusCode).toBe(200);
    const [call, ...more] = slack.callsOf('chat.postEphemeral');
    expect(more).toEqual([]);
    expect(call?.authorization).toBe('Bearer xoxb-test-token');
    expect(call?.body.channel).toBe('C0DEPLOYS');
    expect(call?.body.user).toBe('U0ALICE1');
    expect(call?.body.text).toContain('Could not approve *public*: U0ALICE1 may not approve public');
  });

  it('tells the voter when their approval is recorded but more are required', async () => {
    approvals.respond = (i) => ({ kind: 'recorded', deploymentId: i.deploymentId, votes: 1, required: 2 });
    await handler(signed(form(blockActions(['approve:d-public']))));
    await background.idle();
    expect(slack.callsOf('chat.postEphemeral')[0]?.body.text).toContain('recorded (1 of 2)');
  });

  it('keeps working when the ephemeral reply fails', async () => {
    approvals.respond = () => {
      throw new HelmgateError('expired', 'the approval window has closed');
    };
    slack.failNext('chat.postEphemeral', { error: 'channel_not_found' });
    await handler(signed(form(blockActions(['approve:d-public']))));
    await background.idle();
    expect(logs.join('\n')).toContain('channel_not_found');
  });

  it('acknowledges and ignores interactions that are not helmgate buttons', async () => {
    const res = await handler(signed(form({ type: 'view_submission', user: { id: 'U0ALICE1' } })));
    expect(res.statusCode).toBe(200);
    expect(enqueued).toEqual([]);
  });

  it('answers 400 to a signed body that is not an interaction payload', async () => {
    const res = await handler(signed(Buffer.from('payload=%7Bnope')));
    expect(res.statusCode).toBe(400);
    expect(enqueued).toEqual([]);
  });

  it('never passes the response_url capability on to background work', async () => {
    await handler(signed(form(blockActions(['approve:d-public']))));
    expect(JSON.stringify(enqueued)).not.toContain('hooks.slack.com');
  });
});

describe('makeSlackInteractionsLambda', () => {
  it('routes its own async self-invocations to the worker and API Gateway events to the handler', async () => {
    const approvals = new FakeApprovals();
    const sink = memorySink();
    const logger = createLogger({ redactor: new Redactor(), clock: fixedClock(NOW), write: sink.write });
    const store = { listDeployments: async () => [], getDeployment: async () => undefined } as never;
    const enqueued: unknown[] = [];
    const lambda = makeSlackInteractionsLambda(async () => ({
      signingSecrets: async () => [SIGNING_SECRET],
      background: { enqueue: async (j) => void enqueued.push(j) },
      clock: fixedClock(NOW),
      logger,
      approvals,
      store,
      slack: { chat: { postEphemeral: async () => ({ ok: true }) } } as never,
    }));
    const interaction: SlackInteraction = {
      userId: 'U0BOB001',
      actions: [{ kind: 'reject', deploymentId: 'd1' }],
    };
    expect(
      await lambda({ [BACKGROUND_MARKER]: 1, job: { kind: SLACK_INTERACTION_JOB, payload: interaction } }),
    ).toBeUndefined();
    expect(approvals.votes).toEqual([
      { deploymentId: 'd1', voter: { kind: 'slack', id: 'U0BOB001' }, via: 'slack', decision: 'reject' },
    ]);
    const res = await lambda(signed(form(blockActions(['approve:d2']))));
    expect(res?.statusCode).toBe(200);
    expect(enqueued).toHaveLength(1);
  });
  it('parses its background payload and drops a malformed job without voting', async () => {
    const approvals = new FakeApprovals();
    const sink = memorySink();
    const logger = createLogger({ redactor: new Redactor(), clock: fixedClock(NOW), write: sink.write });
    const lambda = makeSlackInteractionsLambda(async () => ({
      signingSecrets: async () => [SIGNING_SECRET],
      background: { enqueue: async () => undefined },
      clock: fixedClock(NOW),
      logger,
      approvals,
      store: { listDeployments: async () => [], getDeployment: async () => undefined } as never,
      slack: { chat: { postEphemeral: async () => ({ ok: true }) } } as never,
    }));
    const malformed: unknown[] = [
      undefined,
      'approve:d1',
      { actions: [{ kind: 'approve', deploymentId: 'd1' }] },
      { userId: 'U0BOB001', actions: [] },
      { userId: 'U0BOB001', actions: [{ kind: 'approve_everything' }] },
      { userId: 'U0BOB001', actions: [{ kind: 'approve', deploymentId: '../d1' }] },
      { userId: 'U0BOB001', actions: [{ kind: 'approve_all', sha: 'not-a-sha' }] },
      { userId: 'not-a-slack-id', actions: [{ kind: 'approve', deploymentId: 'd1' }] },
      {
        userId: 'U0BOB001',
        actions: [{ kind: 'approve', deploymentId: 'd1' }],
        responseUrl: 'https://hooks.slack.com/actions/T/1/secret',
      },
    ];
    for (const payload of malformed)
      expect(
        await lambda({ [BACKGROUND_MARKER]: 1, job: { kind: SLACK_INTERACTION_JOB, payload } }),
      ).toBeUndefined();
    expect(approvals.votes).toEqual([]);
    expect(sink.lines.filter((l) => l.includes('slack interaction job rejected'))).toHaveLength(
      malformed.length,
    );
    expect(sink.lines.join('\n')).not.toContain('hooks.slack.com');

    await lambda({
      [BACKGROUND_MARKER]: 1,
      job: {
        kind: SLACK_INTERACTION_JOB,
        payload: { userId: 'U0BOB001', actions: [{ kind: 'approve', deploymentId: 'd1' }] },
      },
    });
    expect(approvals.votes.map((v) => v.deploymentId)).toEqual(['d1']);
  });
});
