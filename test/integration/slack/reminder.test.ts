import { createLogger, memorySink } from '../../../lib/log/logger';
import { Redactor } from '../../../lib/log/redact';
import { parsePolicy } from '../../../lib/policy/policy';
import { SlackNotifier } from '../../../lib/slack/slack-notifier';
import { createSlackWebClient } from '../../../lib/slack/web-client';
import { reminderAudience, sweep } from '../../../lib/sweeper/sweeper';
import { startDynalite, type TestDynamo } from '../../helpers/dynalite';
import { SlackApiStandIn } from '../../stand-ins/slack-api';
import { deployment, makeService, offered, REPO } from '../approval/approval-fixtures';

/**
 * Issue 13, item 7: before an approval expires, the commit's Slack thread gets one reminder that
 * mentions the approvers (real WebClient against the loopback Slack API, dynalite, the real sweeper).
 */

const TOKEN = 'xoxb-test-token-0001';
const POLICY = parsePolicy(`apiVersion: helmgate/policy/v1
repositories:
  ${REPO}:
    environments:
      production:
        approval: required
        cluster: { secret: c }
        approvers:
          github: [alice, bob]
          slack: [U0CAROL]
          slackToGithub: { U0BOB: bob }
          required: 2
`);

let dynamo: TestDynamo;
let slack: SlackApiStandIn;
beforeAll(async () => {
  dynamo = await startDynalite();
  slack = await new SlackApiStandIn({ token: TOKEN }).start();
});
afterAll(async () => {
  await slack.close();
  await dynamo.close();
});

test('one reminder in the thread mentions the approvers before the approval expires, and only once', async () => {
  const { service, clock, dispatcher, deps } = makeService(dynamo);
  const logger = createLogger({ redactor: new Redactor(), clock, write: memorySink().write });
  const notifier = new SlackNotifier({
    client: createSlackWebClient({ botToken: TOKEN, slackApiUrl: slack.apiUrl, logger, retries: 1 }),
    channel: 'C0DEPLOYS',
    store: dynamo.store,
    clock,
    logger,
    claimWaitMs: 2_000,
  });
  const d = deployment();
  const { url } = await offered(dynamo, service, d);
  const sweeper = () =>
    sweep({ store: dynamo.store, notifier, dispatcher, clock, logger: deps.logger, policy: POLICY });

  expect((await sweeper()).reminded).not.toContain(d.id);
  clock.advance(23 * 3600_000); // an hour before the 24 h deadline
  expect((await sweeper()).reminded).toContain(d.id);
  expect((await sweeper()).reminded).not.toContain(d.id);

  const [top] = slack.topLevel();
  const replies = slack.replies(top?.ts ?? '');
  const reminders = replies.filter((m) => JSON.stringify(m).includes('still waits for approval'));
  expect(reminders).toHaveLength(1);
  const text = JSON.stringify(reminders[0]);
  expect(text).toContain(':alarm_clock: <@U0BOB> <@U0CAROL> alice: *production*');
  expect(text).toContain('0 of 2 approvals');
  expect(text).toContain('expires at 2026-01-02T01:00:00.000Z');
  // the link is not repeated
  expect(text).not.toContain(url);
  expect(text).not.toContain('/approvals/');
});

test('the audience is narrowed by the commit’s own approvers block', () => {
  const a = { github: ['alice', 'Bob'], slack: ['U0CAROL'], slackToGithub: { U0BOB: 'bob' } };
  expect(reminderAudience(a, {})).toEqual({ slack: ['U0BOB', 'U0CAROL'], github: ['alice'] });
  expect(
    reminderAudience(a, { requestedApprovers: { github: ['bob'], githubTeams: [], slack: ['U0NOBODY'] } }),
  ).toEqual({ slack: ['U0BOB'], github: [] });
});
