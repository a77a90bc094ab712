import * as z from 'zod';
import { HelmgateError } from '../errors';

/** Action ids (and values) of helmgate's buttons. The message renderer and this parser share them. */
export const ACTION_PREFIX = {
  approve: 'approve',
  approveAll: 'approve_all',
  reject: 'reject',
  retry: 'retry',
} as const;

const DEPLOYMENT_ID = /^[\w-]{1,200}$/;
const SHA = /^[0-9a-f]{7,64}$/;

/** One button press of ours, as the worker receives it (also the shape checked on a background job). */
export const SlackAction = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('approve'), deploymentId: z.string().regex(DEPLOYMENT_ID) }),
  z.strictObject({ kind: z.literal('reject'), deploymentId: z.string().regex(DEPLOYMENT_ID) }),
  z.strictObject({ kind: z.literal('approve_all'), sha: z.string().regex(SHA) }),
  /** the failure message's Retry button (issue 13, item 9) */
  z.strictObject({ kind: z.literal('retry'), deploymentId: z.string().regex(DEPLOYMENT_ID) }),
]);
export type SlackAction = z.infer<typeof SlackAction>;

export function approveActionId(deploymentId: string): string {
  return `${ACTION_PREFIX.approve}:${deploymentId}`;
}
export function rejectActionId(deploymentId: string): string {
  return `${ACTION_PREFIX.reject}:${deploymentId}`;
}
export function retryActionId(deploymentId: string): string {
  return `${ACTION_PREFIX.retry}:${deploymentId}`;
}
export function approveAllActionId(sha: string): string {
  return `${ACTION_PREFIX.approveAll}:${sha}`;
}

/** `approve:<id>`, `reject:<id>`, `approve_all:<sha>`, `retry:<id>`; anything else is not ours (undefined). */
export function parseActionId(value: string): SlackAction | undefined {
  const i = value.indexOf(':');
  if (i < 0) return undefined;
  const kind = value.slice(0, i);
  const arg = value.slice(i + 1);
  if (kind === ACTION_PREFIX.approve && DEPLOYMENT_ID.test(arg))
    return { kind: 'approve', deploymentId: arg };
  if (kind === ACTION_PREFIX.reject && DEPLOYMENT_ID.test(arg)) return { kind: 'reject', deploymentId: arg };
  if (kind === ACTION_PREFIX.approveAll && SHA.test(arg)) return { kind: 'approve_all', sha: arg };
  if (kind === ACTION_PREFIX.retry && DEPLOYMENT_ID.test(arg)) return { kind: 'retry', deploymentId: arg };
  return undefined;
}

/**
 * Slack's `block_actions` interaction payload (https://api.slack.com/reference/interaction-payloads/block-actions),
 * only the fields helmgate reads. Unknown fields pass (Slack adds fields over time).
 */
export const SlackBlockActions = z.object({
  type: z.literal('block_actions'),
  user: z.object({
    id: z.string().regex(/^[UW][A-Z0-9]+$/),
    username: z.string().optional(),
    name: z.string().optional(),
    team_id: z.string().optional(),
  }),
  team: z.object({ id: z.string() }).nullable().optional(),
  container: z
    .object({
      type: z.string(),
      message_ts: z.string().optional(),
      channel_id: z.string().optional(),
    })
    .optional(),
  channel: z.object({ id: z.string() }).optional(),
  message: z.object({ ts: z.string(), thread_ts: z.string().optional() }).optional(),
  response_url: z.string().url().optional(),
  actions: z
    .array(
      z.object({
        action_id: z.string().max(255),
        block_id: z.string().optional(),
        value: z.string().max(2000).optional(),
        type: z.string(),
      }),
    )
    .min(1)
    .max(25),
});
export type SlackBlockActions = z.infer<typeof SlackBlockActions>;

/**
 * What the background worker needs from an interaction: deliberately small, and without the
 * `response_url` (a capability URL: it must not travel through Lambda payloads or logs).
 */
export const SlackInteraction = z.strictObject({
  userId: z.string().regex(/^[UW][A-Z0-9]+$/),
  userName: z.string().max(200).optional(),
  teamId: z.string().max(100).optional(),
  channelId: z.string().max(100).optional(),
  messageTs: z.string().max(100).optional(),
  actions: z.array(SlackAction).min(1).max(25),
});
export type SlackInteraction = z.infer<typeof SlackInteraction>;

export type ParsedInteraction =
  | { kind: 'block_actions'; interaction: SlackInteraction; responseUrl?: string }
  /** another interaction type (shortcut, view submission...) or no button of ours */
  | { kind: 'ignored'; reason: string };

/**
 * Parses the form body Slack posts (`application/x-www-form-urlencoded`, one field `payload` with
 * JSON). Call only after the signature was verified. Throws `bad_request` on malformed input.
 */
export function parseInteractionBody(body: Buffer): ParsedInteraction {
  const form = new URLSearchParams(body.toString('utf8'));
  const payload = form.get('payload');
  if (payload === null) throw new HelmgateError('bad_request', 'missing form field payload');
  let json: unknown;
  try {
    json = JSON.parse(payload);
  } catch {
    throw new HelmgateError('bad_request', 'payload is not JSON');
  }
  const type = (json as { type?: unknown } | null)?.type;
  if (type !== 'block_actions')
    return { kind: 'ignored', reason: `interaction type ${String(type)} is not handled` };
  const parsed = SlackBlockActions.safeParse(json);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    throw new HelmgateError(
      'bad_request',
      `not a block_actions payload: ${first?.path.join('.')}: ${first?.message}`,
    );
  }
  const p = parsed.data;
  const actions: SlackAction[] = [];
  for (const a of p.actions) {
    const action = parseActionId(a.value ?? a.action_id) ?? parseActionId(a.action_id);
    if (action) actions.push(action);
  }
  if (actions.length === 0) return { kind: 'ignored', reason: 'no helmgate action' };
  const channelId = p.channel?.id ?? p.container?.channel_id;
  const messageTs = p.message?.ts ?? p.container?.message_ts;
  const teamId = p.team?.id ?? p.user.team_id;
  const userName = p.user.username ?? p.user.name;
  return {
    kind: 'block_actions',
    interaction: {
      userId: p.user.id,
      actions,
      ...(userName ? { userName } : {}),
      ...(teamId ? { teamId } : {}),
      ...(channelId ? { channelId } : {}),
      ...(messageTs ? { messageTs } : {}),
    },
    ...(p.response_url ? { responseUrl: p.response_url } : {}),
  };
}
