import { verifyGithubSignature } from '../../../lib/github/verify-signature';

// GitHub's published test vector (docs: "Validating webhook deliveries")
const SECRET = "It's a Secret to Everybody";
const PAYLOAD = Buffer.from('Hello, World!');
const SIGNATURE = 'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17';

describe('verifyGithubSignature', () => {
  it("accepts GitHub's published test vector", async () => {
    expect(await verifyGithubSignature([SECRET], PAYLOAD, SIGNATURE)).toBe(true);
  });

  it('accepts the signature of a previous secret during rotation', async () => {
    expect(await verifyGithubSignature(['the-new-secret', SECRET], PAYLOAD, SIGNATURE)).toBe(true);
  });

  it('rejects a signature made with another secret', async () => {
    expect(await verifyGithubSignature(['another secret'], PAYLOAD, SIGNATURE)).toBe(false);
  });

  it('rejects a body changed by one byte', async () => {
    expect(await verifyGithubSignature([SECRET], Buffer.from('Hello, World?'), SIGNATURE)).toBe(false);
  });

  it.each([
    ['missing', undefined],
    ['empty', ''],
    ['SHA-1 header format', 'sha1=757107ea0eb2509fc211221cce984b8a37570b6d'],
    ['truncated', SIGNATURE.slice(0, -2)],
    ['upper-case hex', SIGNATURE.toUpperCase().replace('SHA256', 'sha256')],
    ['non-hex', `sha256=${'z'.repeat(64)}`],
  ])('rejects a %s signature without computing anything it could leak', async (_name, sig) => {
    expect(await verifyGithubSignature([SECRET], PAYLOAD, sig)).toBe(false);
  });

  it('rejects an empty body (GitHub never sends one) instead of throwing', async () => {
    const { createHmac } = await import('node:crypto');
    const emptySig = `sha256=${createHmac('sha256', SECRET).update('').digest('hex')}`;
    await expect(verifyGithubSignature([SECRET], Buffer.alloc(0), emptySig)).resolves.toBe(false);
  });

  it('rejects everything when no secret is configured', async () => {
    expect(await verifyGithubSignature([], PAYLOAD, SIGNATURE)).toBe(false);
    expect(await verifyGithubSignature([''], PAYLOAD, SIGNATURE)).toBe(false);
  });
});
