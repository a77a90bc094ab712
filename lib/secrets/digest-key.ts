import { createHmac, type Hmac } from 'node:crypto';

/**
 * The installation's digest key (issue 12): every digest over secret content — the Kubernetes annotation
 * `helmgate.io/content-digest`, the stored release-state digests — is an HMAC with it, so a weak secret
 * cannot be confirmed offline by hashing guesses. Secrets Manager in AWS (readable by the runner role
 * only), the local secrets file locally (created on first start).
 */
export const DIGEST_KEY_SECRET = 'helmgate/digest-key';

/** An HMAC-SHA256 keyed with the installation key; digests made with it are prefixed `hmac-sha256:`. */
export function keyedHash(key: string): Hmac {
  return createHmac('sha256', key);
}
