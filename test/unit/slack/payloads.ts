// Slack interaction payloads for tests (shapes from https://api.slack.com/reference/interaction-payloads/block-actions).

/** A block_actions payload as Slack sends it (trimmed from Slack's reference page). */
export function blockActions(actionIds: string[], over: Record<string, unknown> = {}) {
  return {
    type: 'block_actions',
    user: { id: 'U0ALICE1', username: 'alice', name: 'alice', team_id: 'T0001' },
    api_app_id: 'A0001',
    token: 'verification-token-not-used',
    container: {
      type: 'message',
      message_ts: '1700000001.000001',
      channel_id: 'C0DEPLOYS',
      is_ephemeral: false,
    },
    trigger_id: '123.456.abc',
    team: { id: 'T0001', domain: 'example' },
    channel: { id: 'C0DEPLOYS', name: 'deploys' },
    message: { type: 'message', ts: '1700000001.000001', text: 'x' },
    response_url: 'https://hooks.slack.com/actions/T0001/1/secret',
    actions: actionIds.map((id) => ({
      action_id: id,
      block_id: 'b1',
      value: id,
      type: 'button',
      action_ts: '1700000002.000000',
      text: { type: 'plain_text', text: 'Approve' },
    })),
    ...over,
  };
}

export function form(payload: unknown): Buffer {
  return Buffer.from(new URLSearchParams({ payload: JSON.stringify(payload) }).toString());
}
