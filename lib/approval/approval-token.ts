import { createHash, timingSafeEqual } from 'node:crypto';
import type { Random } from '../random';

/** 256 bits, base64url without padding: 43 characters. */
const TOKEN_BYTES = 32;
const TOKEN_SHAPE = /^[A-Za-z0-9_-]{43}$/;

export interface IssuedApprovalToken {
  /** handed out once, in the approval link; never stored */
  token: string;
  /** what the store keeps: sha256 of the token, hex */
  hash: string;
}

export function hashApprovalToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

export function issueApprovalToken(random: Random): IssuedApprovalToken {
  const bytes = random.bytes(TOKEN_BYTES);
  if (bytes.length !== TOKEN_BYTES)
    throw new Error(`Random.bytes returned ${bytes.length} bytes, wanted ${TOKEN_BYTES}`);
  const token = bytes.toString('base64url');
  return { token, hash: hashApprovalToken(token) };
}

/**
 * True when `candidate` is the token whose hash is `expectedHash`. The shape check only rejects
 * garbage early; the comparison of the two hashes is constant-time and of equal length.
 */
export function verifyApprovalToken(candidate: string | undefined, expectedHash: string): boolean {
  if (candidate === undefined || !TOKEN_SHAPE.test(candidate)) return false;
  const a = Buffer.from(hashApprovalToken(candidate), 'hex');
  const b = Buffer.from(expectedHash, 'hex');
  return a.length === b.length && b.length === 32 && timingSafeEqual(a, b);
}
