import * as z from 'zod';
import { HelmgateError } from '../errors';

/**
 * The Slack secret (`helmgate/slack` in Secrets Manager, the same key in the local secrets file):
 * JSON `{"botToken": "xoxb-…", "signingSecret": "…"}`, with `previousSigningSecrets` during a
 * rotation and an optional `channel` (channel id) for deployment messages. The deploy runner reads
 * its own bot-only secret (`helmgate/slack-bot`: no `signingSecret`), so it can post but never forge a
 * Slack vote; without a signing secret every interaction fails verification.
 */
export const SlackSecret = z
  .object({
    botToken: z.string().regex(/^xox[a-z]-/, 'expected a bot token (xoxb-…)'),
    signingSecret: z.string().min(16).optional(),
    previousSigningSecrets: z.array(z.string().min(16)).default([]),
    channel: z.string().min(1).optional(),
  })
  .strict();
export type SlackSecret = z.infer<typeof SlackSecret>;

export interface SlackCredentials {
  botToken: string;
  signingSecrets: string[];
  channel?: string;
}

/** Parses the secret's text; the error names the bad field, never a value. */
export function parseSlackSecret(text: string): SlackCredentials {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new HelmgateError('invalid_config', 'the Slack secret is not JSON {botToken, signingSecret}');
  }
  const parsed = SlackSecret.safeParse(raw);
  if (!parsed.success) {
    const fields = parsed.error.issues.map((i) => i.path.join('.') || '(root)').join(', ');
    throw new HelmgateError('invalid_config', `the Slack secret is invalid at: ${fields}`);
  }
  const s = parsed.data;
  return {
    botToken: s.botToken,
    signingSecrets: [...(s.signingSecret ? [s.signingSecret] : []), ...s.previousSigningSecrets],
    ...(s.channel ? { channel: s.channel } : {}),
  };
}
