import { type ApprovalPageOutcome, approvalPageOutcome } from '../../../lib/approval/approval-page-state';
import { ApproversConfig } from '../../../lib/approval/approval-port';
import type { ApprovalRequest } from '../../../lib/approval/approval-request';
import type { ApprovalView } from '../../../lib/approval/approval-service';
import type { Session } from '../../../lib/auth/session';
import type { Deployment } from '../../../lib/deploy/deployment';
import { STATUS_BY_CODE } from '../../../lib/http/lambda-http';

const NOW = new Date('2026-01-01T12:00:00.000Z');
const approvers = ApproversConfig.parse({ production: { github: ['alice'] } });
const alice: Session = {
  sid: 'sid-alice',
  login: 'alice',
  teams: [],
  csrf: 'c'.repeat(43),
  exp: NOW.getTime() + 3600_000,
};
const mallory: Session = { ...alice, login: 'mallory' };

function view(d: Partial<Deployment> = {}, r: Partial<ApprovalRequest> = {}): ApprovalView {
  const deployment: Deployment = {
    id: 'abc1234-production-x',
    repository: 'org/charts',
    environment: 'production',
    sha: 'a'.repeat(40),
    ref: 'refs/heads/main',
    status: 'awaiting_approval',
    approval: 'required',
    createdAt: '2026-01-01T00:00:00.000Z',
    updatedAt: '2026-01-01T00:00:00.000Z',
    ...d,
  };
  const request: ApprovalRequest = {
    deploymentId: deployment.id,
    repository: 'org/charts',
    sha: deployment.sha,
    environment: 'production',
    planDigest: 'f'.repeat(64),
    changes: [],
    summary: [],
    createdAt: '2026-01-01T00:00:00.000Z',
    expiresAt: '2026-01-02T00:00:00.000Z',
    expiresAtMs: Date.parse('2026-01-02T00:00:00.000Z'),
    status: 'pending',
    votes: {},
    voteCount: 0,
    ...r,
  };
  return { deployment, request, audit: [], required: 1 };
}

function outcome(
  v: ApprovalView | undefined,
  session: Session | undefined,
  readable = true,
): ApprovalPageOutcome {
  return approvalPageOutcome({
    deploymentId: 'abc1234-production-x',
    view: v,
    session,
    readable,
    approvers,
    now: NOW,
  });
}

/** What the page says and the HTTP status the handler answers with (through the one code table). */
function shown(o: ApprovalPageOutcome): [string, number] {
  const code = o.kind === 'login' ? undefined : o.code;
  const status = code ? STATUS_BY_CODE[code] : 200;
  return [o.kind === 'page' ? o.input.state.kind : o.kind, status];
}

describe('approvalPageOutcome: what GET /approvals/{id} shows and with which status', () => {
  it.each<[string, () => ApprovalPageOutcome, [string, number]]>([
    ['no session (whatever the deployment)', () => outcome(view(), undefined), ['login', 200]],
    ['no session, unknown deployment', () => outcome(undefined, undefined), ['login', 200]],
    ['an unknown deployment', () => outcome(undefined, alice), ['message', 404]],
    ['a login who may not read the repository', () => outcome(view(), mallory, false), ['message', 403]],
    [
      'a superseded deployment',
      () => outcome(view({ status: 'superseded', supersededBy: 'b'.repeat(40) }), alice),
      ['superseded', 410],
    ],
    ['an expired request', () => outcome(view({}, { status: 'expired' }), alice), ['expired', 410]],
    [
      'a pending request past its deadline',
      () => outcome(view({}, { expiresAtMs: NOW.getTime() }), alice),
      ['expired', 410],
    ],
    [
      'a void request',
      () => outcome(view({}, { status: 'void', reason: 'the plan changed' }), alice),
      ['void', 409],
    ],
    [
      'a decided request',
      () => outcome(view({ status: 'queued' }, { status: 'approved', decidedBy: 'github:alice' }), alice),
      ['decided', 200],
    ],
    ['a reader who may not approve', () => outcome(view(), mallory), ['forbidden', 403]],
    ['an allowed voter', () => outcome(view(), alice), ['open', 200]],
  ])('%s', (_name, act, expected) => {
    expect(shown(act())).toEqual(expected);
  });

  it('the login link returns to this page; there is no token in it', () => {
    expect(outcome(view(), undefined)).toEqual({
      kind: 'login',
      loginUrl: `/auth/github/login?return=${encodeURIComponent('/approvals/abc1234-production-x')}`,
    });
  });

  it('a stranger learns nothing about the deployment', () => {
    const o = outcome(view({ commitMessage: 'secret-ish' }), mallory, false);
    expect(JSON.stringify(o)).not.toContain('secret-ish');
    expect(JSON.stringify(o)).not.toContain('org/charts');
  });

  it('an open page carries the CSRF token of this deployment, the plan shown, and whether the voter voted', () => {
    const o = outcome(view({}, { votes: { 'github:alice': { at: NOW.toISOString() } as never } }), alice);
    const state = o.kind === 'page' ? o.input.state : undefined;
    expect(state?.kind).toBe('open');
    expect(state).toMatchObject({
      login: 'alice',
      planDigest: 'f'.repeat(64),
      alreadyVoted: true,
      required: 1,
    });
  });
});
