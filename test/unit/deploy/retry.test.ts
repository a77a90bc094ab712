import type { Deployment } from '../../../lib/deploy/lifecycle';
import { newerThanFailed, retryDecision } from '../../../lib/deploy/retry';

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
  expect(retryDecision({ failed: failed(), request: approved, nowMs: 1_000, environment: [] })).toMatchObject(
    {
      kind: 'retry',
      status: 'queued',
      planDigest: 'p1',
      reason: expect.stringContaining('approval by github:alice holds until'),
    },
  );
});

test.each([
  ['expired', { ...approved }, 2_000, 'expired'],
  ['bound to another plan', { ...approved, planDigest: 'p0' }, 1_000, 'another plan'],
  ['never approved', { ...approved, status: 'expired' }, 1_000, 'no approval to reuse'],
  ['no request at all', undefined, 1_000, 'no approval to reuse'],
])('an approval %s does not carry over: the retry waits for approval', (_what, request, nowMs, why) => {
  const d = retryDecision({ failed: failed(), request, nowMs, environment: [] });
  expect(d).toMatchObject({ kind: 'retry', status: 'awaiting_approval', planDigest: 'p1' });
  expect(d.kind === 'retry' && d.reason).toContain(why);
});

test('an environment without approval retries at once', () => {
  expect(
    retryDecision({ failed: failed({ approval: 'none' }), request: undefined, nowMs: 0, environment: [] }),
  ).toMatchObject({
    status: 'queued',
  });
});

test('only a deployment that failed while running is retried', () => {
  for (const status of ['succeeded', 'awaiting_approval', 'running', 'rejected', 'superseded'] as const)
    expect(
      retryDecision({ failed: failed({ status }), request: approved, nowMs: 0, environment: [] }),
    ).toMatchObject({
      kind: 'refuse',
      reason: expect.stringContaining('only a failed one is retried'),
    });
  const blocked = failed({ reason: 'staging failed for aaaa' });
  delete blocked.startedAt;
  expect(retryDecision({ failed: blocked, request: approved, nowMs: 0, environment: [] })).toMatchObject({
    kind: 'refuse',
    reason: expect.stringContaining('never ran (staging failed for aaaa)'),
  });
});

describe('a newer deployment of the environment rules a retry out (it would put the older commit back)', () => {
  const other = (id: string, over: Partial<Deployment>): Deployment =>
    failed({ id, sha: 'b'.repeat(40), createdAt: '2026-01-01T01:00:00Z', ...over });
  const decide = (environment: Deployment[]) =>
    retryDecision({ failed: failed(), request: approved, nowMs: 1_000, environment });

  test.each([
    ['succeeded after it', 'succeeded', true],
    ['failed while running', 'failed', true],
    ['awaiting approval', 'awaiting_approval', false],
    ['queued', 'queued', false],
    ['running', 'running', true],
  ] as const)('one %s: refused, naming it', (_what, status, started) => {
    const newer = other('d2', { status });
    if (!started) delete newer.startedAt;
    expect(decide([newer, failed()])).toEqual({
      kind: 'refuse',
      reason: `a newer deployment d2 of production exists (${'b'.repeat(12)}, ${newer.status}); redeploy or roll back instead`,
    });
  });

  test('the newest of several is named; an older or another environment’s deployment does not count', () => {
    const older = other('d0', { createdAt: '2025-12-31T00:00:00Z', status: 'succeeded' });
    const elsewhere = other('s1', { environment: 'staging', status: 'succeeded' });
    expect(decide([older, elsewhere])).toMatchObject({ kind: 'retry', status: 'queued' });
    const a = other('d2', { status: 'succeeded' });
    const b = other('d3', { status: 'queued', createdAt: '2026-01-01T02:00:00Z' });
    expect(newerThanFailed(failed(), [a, b, older])?.id).toBe('d3');
  });

  test('the same millisecond: the lifecycle’s order (then the id) decides, as for supersede', () => {
    const same = other('d2', { createdAt: failed().createdAt, status: 'succeeded' });
    expect(newerThanFailed(failed(), [same])?.id).toBe('d2');
    expect(newerThanFailed(failed({ id: 'd9' }), [same])).toBeUndefined();
  });

  test('a newer one that ended without ever starting (superseded, rejected, expired, blocked) changed nothing', () => {
    const never = (['superseded', 'rejected', 'expired', 'failed'] as const).map((status, i) => {
      const d = other(`n${i}`, { status });
      delete d.startedAt;
      return d;
    });
    expect(decide(never)).toMatchObject({ kind: 'retry', status: 'queued' });
  });

  test('its own retry is not "newer" (the one-retry rule answers that)', () => {
    expect(newerThanFailed(failed(), [other('r1', { status: 'failed', retryOf: 'd1' })])).toBeUndefined();
  });
});
