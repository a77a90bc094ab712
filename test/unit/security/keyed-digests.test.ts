import { createHash } from 'node:crypto';
import type { PlannedRelease } from '../../../lib/deploy/plan';
import { contentDigest } from '../../../lib/kube/secret-sync';
import { releaseStateDigest } from '../../../lib/runner/runner';

/**
 * Issue 12 item 9: digests of secret content are keyed with the installation's key (HMAC), so a weak
 * secret cannot be guessed offline from an annotation or a stored release state.
 */

const KEY_A = 'installation-key-a-0123456789abcdef';
const KEY_B = 'installation-key-b-fedcba9876543210';
const weak = { PASSWORD: 'password1' };

test('the Secret content digest is not the bare sha256 of the content, and depends on the key', () => {
  const bare = createHash('sha256')
    .update(JSON.stringify([['PASSWORD', 'password1']]))
    .digest('hex');
  const a = contentDigest(weak, KEY_A);
  expect(a).not.toContain(bare);
  expect(a).not.toBe(contentDigest(weak, KEY_B));
  expect(a).toBe(contentDigest({ ...weak }, KEY_A));
  expect(contentDigest({ a: '1', b: '2' }, KEY_A)).toBe(contentDigest({ b: '2', a: '1' }, KEY_A));
  expect(contentDigest({ a: '1', b: '2' }, KEY_A)).not.toBe(contentDigest({ a: '12' }, KEY_A));
});

test('the stored release-state digest depends on the key, so a guessed secret cannot be confirmed offline', () => {
  const release = { digest: 'plan-digest-of-web' } as PlannedRelease;
  const values = [{ path: 'db.password', value: 'password1' }];
  const a = releaseStateDigest(release, values, KEY_A);
  expect(a).toBe(releaseStateDigest(release, values, KEY_A));
  expect(a).not.toBe(releaseStateDigest(release, values, KEY_B));
  expect(a).not.toBe(releaseStateDigest(release, [{ path: 'db.password', value: 'password2' }], KEY_A));
});
