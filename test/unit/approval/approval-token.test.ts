import {
  hashApprovalToken,
  issueApprovalToken,
  verifyApprovalToken,
} from '../../../lib/approval/approval-token';
import { cryptoRandom, type Random } from '../../../lib/random';

describe('approval token', () => {
  test('is 256 random bits in base64url, and only its sha256 is meant for storage', () => {
    const fixed: Random = { id: () => 'x', bytes: (n) => Buffer.alloc(n, 0xfb) };
    const { token, hash } = issueApprovalToken(fixed);
    expect(token).toBe(Buffer.alloc(32, 0xfb).toString('base64url'));
    expect(token).toHaveLength(43);
    expect(hash).toBe(hashApprovalToken(token));
    expect(hash).not.toContain(token);
  });

  test('verifies the right token and refuses forged, truncated, padded and missing ones', () => {
    const { token, hash } = issueApprovalToken(cryptoRandom);
    expect(verifyApprovalToken(token, hash)).toBe(true);
    expect(verifyApprovalToken(issueApprovalToken(cryptoRandom).token, hash)).toBe(false);
    expect(verifyApprovalToken(token.slice(0, -1), hash)).toBe(false);
    expect(verifyApprovalToken(`${token}=`, hash)).toBe(false);
    expect(verifyApprovalToken(undefined, hash)).toBe(false);
    expect(verifyApprovalToken(token, 'short')).toBe(false);
  });
});
