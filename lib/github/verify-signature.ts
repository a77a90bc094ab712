import { verify } from '@octokit/webhooks-methods';

const PREFIX = 'sha256=';
const HEX_LENGTH = 64;

/**
 * Verifies GitHub's X-Hub-Signature-256 over the raw body against every configured secret
 * (current and previous, for rotation). The signature's shape is checked before any HMAC; the
 * comparison inside @octokit/webhooks-methods is constant-time.
 */
export async function verifyGithubSignature(
  secrets: readonly string[],
  rawBody: Buffer,
  signature: string | undefined,
): Promise<boolean> {
  if (!signature || signature.length !== PREFIX.length + HEX_LENGTH || !signature.startsWith(PREFIX))
    return false;
  if (!/^[0-9a-f]+$/.test(signature.slice(PREFIX.length))) return false;
  // GitHub never sends an empty body, and @octokit/webhooks-methods throws on one: unverifiable
  if (rawBody.length === 0) return false;
  const payload = rawBody.toString('utf8');
  let ok = false;
  // check every secret (no early exit), so timing does not tell which one matched
  for (const secret of secrets) {
    if (secret && (await verify(secret, payload, signature))) ok = true;
  }
  return ok;
}
