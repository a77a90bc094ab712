import type { Deployment } from '../../../lib/deploy/lifecycle';
import { retryDecision } from '../../../lib/deploy/retry';

const failed = (over: Partial<Deployment> = {}): Deployment => ({
  id: 'd1',
  repository: 'o/r',
  environment: 'production',
  sha: 'a'.repeat(40),
  ref: 'refs/heads/main',
  status: 'failed',
  approval: 'required',
  createdAt: '2026-01-01T00:00:00Z',
  updatedAt: '2026-01-01T00:10:00Z',
  startedAt: '2026-01-01T00:05:00Z',
  planDigest: 'p1',
  ...over,
});
const approved = { status: 'approved', planDigest: 'p1', expiresAtMs: 2_000, decidedBy: 'github:alice' };

test('an approval given for the same plan and still valid carries over: the retry is queued', () => {
  expect(retryDecision({ failed: failed(), request: approved, nowMs: 1_000 })).toMatchObject({
    kind: 'retry',
    status: 'queued',
    planDigest: 'p1',
    reason: expect.stringContaining('approval by github:alice holds until'),
  });
});

test.each([
  ['expired', { ...approved }, 2_000, 'expired'],
  ['bound to another plan', { ...approved, planDigest: 'p0' }, 1_000, 'another plan'],
  ['never approved', { ...approved, status: 'expired' }, 1_000, 'no approval to reuse'],
  ['no request at all', undefined, 1_000, 'no approval to reuse'],
])('an approval %s does not carry over: the retry waits for approval', (_what, request, nowMs, why) => {
  const d = retryDecision({ failed: failed(), request, nowMs });
  expect(d).toMatchObject({ kind: 'retry', status: 'awaiting_approval', planDigest: 'p1' });
  expect(d.kind === 'retry' && d.reason).toContain(why);
});

test('an environment without approval retries at once', () => {
  expect(retryDecision({ failed: failed({ approval: 'none' }), request: undefined, nowMs: 0 })).toMatchObject(
    {
      status: 'queued',
    },
  );
});

test('only a deployment that failed while running is retried', () => {
  for (const status of ['succeeded', 'awaiting_approval', 'running', 'rejected', 'superseded'] as const)
    expect(retryDecision({ failed: failed({ status }), request: approved, nowMs: 0 })).toMatchObject({
      kind: 'refuse',
      reason: expect.stringContaining('only a failed one is retried'),
    });
  const blocked = failed({ reason: 'staging failed for aaaa' });
  delete blocked.startedAt;
  expect(retryDecision({ failed: blocked, request: approved, nowMs: 0 })).toMatchObject({
    kind: 'refuse',
    reason: expect.stringContaining('never ran (staging failed for aaaa)'),
  });
});
