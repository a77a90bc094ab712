import { isHelmgateError } from '../../../lib/errors';
import { parseActionId, parseInteractionBody } from '../../../lib/slack/interaction';
import { blockActions, form } from './payloads';

describe('parseInteractionBody', () => {
  it('reads the user, channel, message ts and helmgate actions from a block_actions payload', () => {
    const sha = 'a'.repeat(40);
    const parsed = parseInteractionBody(
      form(
        blockActions(['approve:abc1234-public-0123456789', `approve_all:${sha}`, 'reject:abc1234-vae-99']),
      ),
    );
    expect(parsed).toEqual({
      kind: 'block_actions',
      responseUrl: 'https://hooks.slack.com/actions/T0001/1/secret',
      interaction: {
        userId: 'U0ALICE1',
        userName: 'alice',
        teamId: 'T0001',
        channelId: 'C0DEPLOYS',
        messageTs: '1700000001.000001',
        actions: [
          { kind: 'approve', deploymentId: 'abc1234-public-0123456789' },
          { kind: 'approve_all', sha },
          { kind: 'reject', deploymentId: 'abc1234-vae-99' },
        ],
      },
    });
  });

  it('ignores other interaction types and buttons that are not helmgate actions', () => {
    expect(parseInteractionBody(form({ type: 'view_submission' })).kind).toBe('ignored');
    expect(parseInteractionBody(form(blockActions(['open-link']))).kind).toBe('ignored');
  });

  it.each([
    ['no payload field', Buffer.from('foo=bar')],
    ['payload not JSON', Buffer.from('payload=%7Bnot-json')],
    ['user id not a Slack user id', form(blockActions(['approve:x'], { user: { id: 'alice' } }))],
    ['no actions', form(blockActions([]))],
  ])('rejects %s as a bad request', (_name, body) => {
    let err: unknown;
    try {
      parseInteractionBody(body);
    } catch (e) {
      err = e;
    }
    expect(isHelmgateError(err) && err.code).toBe('bad_request');
  });
});

describe('parseActionId', () => {
  it.each(['approve:', 'approve:../../etc', 'approve_all:not-a-sha', 'deploy:abc', 'approve abc'])(
    'refuses %p',
    (id) => {
      expect(parseActionId(id)).toBeUndefined();
    },
  );
});
