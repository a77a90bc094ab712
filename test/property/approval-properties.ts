import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { makeApprovalHandler } from '../../handlers/approval';
import type { ApproversConfig } from '../../lib/approval/approval-port';
import { ReadAccess } from '../../lib/auth/read-access';
import { cookieSettingsFor, csrfToken, type Session, signValue } from '../../lib/auth/session';
import type { HttpEvent } from '../../lib/http/lambda-http';
import { createLogger, memorySink } from '../../lib/log/logger';
import { Redactor } from '../../lib/log/redact';
import { startDynalite } from '../helpers/dynalite';
import { deployment, makeService, offered, plan } from '../integration/approval/approval-fixtures';
import {
  bodyBytes,
  checkProperty,
  headerName,
  headerValue,
  leaks,
  type PropertyOptions,
  type PropertyReport,
  tally,
} from './harness';

type SessionKind = 'none' | 'approver' | 'not-approver' | 'expired' | 'other-key' | 'secure-name' | 'garbage';
type CsrfKind = 'none' | 'valid' | 'other-deployment' | 'garbage' | 'truncated';
/** the plan digest the form carries: the one the page showed, another deployment's, or junk */
type PlanKind = 'none' | 'valid' | 'other-deployment' | 'tampered' | 'garbage';
type IdKind = 'first' | 'second' | 'unknown';

interface ApprovalCase {
  id: IdKind;
  unknownId: string;
  method: string;
  route: 'approve' | 'reject' | 'page' | 'other';
  otherSuffix: string;
  session: SessionKind;
  garbageCookie: string;
  csrf: CsrfKind;
  plan: PlanKind;
  garbage: string;
  /** the form as fields (with the above), or raw bytes */
  rawBody: Buffer | undefined;
  base64: boolean;
  rollback: boolean;
  inCookiesArray: boolean;
  extra: Record<string, string>;
}

/** The valid value often, so most cases are near misses: one or two parts wrong, the rest right. */
function mostly<T>(valid: T, ...wrong: T[]): fc.Arbitrary<T> {
  return fc.oneof(
    { weight: 3, arbitrary: fc.constant(valid) },
    { weight: 2, arbitrary: fc.constantFrom(...wrong) },
  );
}

const approvalCase: fc.Arbitrary<ApprovalCase> = fc.record({
  id: mostly<IdKind>('first', 'second', 'unknown'),
  unknownId: fc.oneof(fc.string({ maxLength: 40 }), fc.constant('')),
  method: fc.oneof(
    { weight: 6, arbitrary: fc.constant('POST') },
    { weight: 2, arbitrary: fc.constant('GET') },
    { weight: 1, arbitrary: fc.constantFrom('PUT', 'DELETE', 'HEAD', 'PATCH', 'post') },
    { weight: 1, arbitrary: fc.string({ maxLength: 8 }) },
  ),
  route: mostly<ApprovalCase['route']>('approve', 'reject', 'page', 'other'),
  otherSuffix: fc.oneof(fc.string({ maxLength: 20 }), fc.constantFrom('approve/', 'x/approve', 'rejected')),
  session: mostly<SessionKind>(
    'approver',
    'none',
    'not-approver',
    'expired',
    'other-key',
    'secure-name',
    'garbage',
  ),
  garbageCookie: headerValue,
  csrf: mostly<CsrfKind>('valid', 'none', 'other-deployment', 'garbage', 'truncated'),
  plan: mostly<PlanKind>('valid', 'none', 'other-deployment', 'tampered', 'garbage'),
  garbage: fc.string({ maxLength: 60 }),
  rawBody: fc.option(bodyBytes, { nil: undefined, freq: 4 }),
  base64: fc.boolean(),
  rollback: fc.boolean(),
  inCookiesArray: fc.boolean(),
  extra: fc.dictionary(headerName, headerValue, { maxKeys: 4 }),
});

/** The one combination that may change state: an approver's session, its CSRF token and the plan the page showed. */
function authorized(c: ApprovalCase): boolean {
  return (
    c.session === 'approver' &&
    c.csrf === 'valid' &&
    c.plan === 'valid' &&
    c.id !== 'unknown' &&
    c.method === 'POST' &&
    (c.route === 'approve' ||
      c.route === 'reject' ||
      // an unrouted path that still ends in /approve or /reject
      (c.route === 'other' && /(^|\/)(approve|reject)$/.test(c.otherSuffix))) &&
    c.rawBody === undefined
  );
}

/**
 * The approval endpoints under arbitrary ids, plan digests, cookies, form bodies and methods, on a
 * real ApprovalService over dynalite: never a 5xx or a crash, the signing key never shows, and no
 * deployment is approved or rejected unless the request carries an approver's session, its CSRF
 * token and the plan digest the page showed. A control request with all three must then approve (so
 * the property is not vacuous).
 */
export async function approvalProperties(opts: PropertyOptions): Promise<PropertyReport[]> {
  const db = await startDynalite();
  const ctx = makeService(db);
  const signingKey = `canary-signing-key-${randomUUID()}`;
  const cookies = cookieSettingsFor('http://127.0.0.1:3000');
  const sink = memorySink();
  const logger = createLogger({
    redactor: new Redactor(),
    clock: ctx.clock,
    write: sink.write,
    level: 'debug',
  });
  const handler = makeApprovalHandler({
    approvals: ctx.service,
    approvers: ctx.deps.approvers,
    readAccess: new ReadAccess({
      apiTokens: async () => [],
      signingKey: async () => signingKey,
      cookies,
      clock: ctx.clock,
      logger,
      approvers: ctx.deps.approvers as ApproversConfig,
    }),
    signingKey: async () => signingKey,
    cookies,
    clock: ctx.clock,
    logger,
  });

  const first = deployment({ id: `dep-prop-${randomUUID().slice(0, 8)}` });
  const second = deployment({ id: `dep-prop-${randomUUID().slice(0, 8)}` });
  const plans = {
    [first.id]: (await offered(db, ctx.service, first, plan({ digest: 'plan-digest-first' }))).planDigest,
    [second.id]: (await offered(db, ctx.service, second, plan({ digest: 'plan-digest-second' }))).planDigest,
  };
  const now = ctx.clock.now().getTime();
  const session = (login: string, exp = now + 3600_000): Session => ({
    sid: `sid-${login}`,
    login,
    teams: [],
    csrf: `csrf-secret-${login}`,
    exp,
  });
  const sessions: Record<string, Session> = {
    approver: session('alice'),
    'not-approver': session('mallory'),
    expired: session('alice', now - 1),
  };

  const build = (c: ApprovalCase): HttpEvent => {
    const id = c.id === 'first' ? first.id : c.id === 'second' ? second.id : c.unknownId;
    const other = id === first.id ? second.id : first.id;
    const sess = sessions[c.session] ?? sessions.approver!;
    const cookie = (() => {
      switch (c.session) {
        case 'none':
          return undefined;
        case 'garbage':
          return c.garbageCookie;
        case 'other-key':
          return `helmgate_session=${signValue(`${signingKey}x`, 'session', sess)}`;
        case 'secure-name':
          return `__Host-helmgate_session=${signValue(signingKey, 'session', sess)}`;
        default:
          return `helmgate_session=${signValue(signingKey, 'session', sess)}`;
      }
    })();
    const csrf = {
      none: undefined,
      valid: csrfToken(sess, `approval:${id}`),
      'other-deployment': csrfToken(sess, `approval:${other}`),
      garbage: c.garbage,
      truncated: csrfToken(sess, `approval:${id}`).slice(0, -1),
    }[c.csrf];
    // own keys only: an arbitrary id such as `valueOf` must not find Object.prototype's function
    const real = (Object.hasOwn(plans, id) ? plans[id] : undefined) ?? plans[first.id]!;
    const planDigest = {
      none: undefined,
      valid: real,
      'other-deployment': plans[other],
      tampered: `${real.slice(0, -1)}${real.endsWith('A') ? 'B' : 'A'}`,
      garbage: c.garbage,
    }[c.plan];
    const fields: Record<string, string> = {};
    if (csrf !== undefined) fields.csrf = csrf;
    if (planDigest !== undefined) fields.plan = planDigest;
    if (c.rollback) fields.rollback = '1';
    const body = c.rawBody ?? Buffer.from(new URLSearchParams(fields).toString(), 'utf8');
    const suffix = { approve: '/approve', reject: '/reject', page: '', other: `/${c.otherSuffix}` }[c.route];
    const path = `/approvals/${encodeURIComponent(id)}${suffix}`;
    const headers: Record<string, string> = {
      ...Object.fromEntries(Object.entries(c.extra).filter(([k]) => k.toLowerCase() !== 'cookie')),
      'content-type': 'application/x-www-form-urlencoded',
    };
    if (cookie !== undefined && !c.inCookiesArray) headers.cookie = cookie;
    return {
      version: '2.0',
      routeKey: `${c.method} ${path}`,
      rawPath: path,
      rawQueryString: '',
      headers,
      ...(cookie !== undefined && c.inCookiesArray ? { cookies: cookie.split(/;\s*/) } : {}),
      pathParameters: { id },
      isBase64Encoded: c.base64,
      body: c.base64 ? body.toString('base64') : body.toString('utf8'),
      requestContext: { http: { method: c.method, path } },
    } as unknown as HttpEvent;
  };

  const undecided = async (): Promise<string[]> => {
    const v: string[] = [];
    for (const d of [first, second]) {
      const now = await db.store.getDeployment(d.id);
      if (now?.status !== 'awaiting_approval') v.push(`${d.id} became ${now?.status}`);
    }
    if (ctx.dispatcher.jobs.length > 0) v.push('a deploy was dispatched');
    return v;
  };

  const outcomes = tally();
  try {
    const report = await checkProperty(
      'approval: arbitrary ids, plan digests, cookies, forms and methods',
      approvalCase.filter((c) => !authorized(c)),
      async (c) => {
        const logFrom = sink.lines.length;
        const res = await handler(build(c));
        outcomes.add(res?.statusCode ?? 'none');
        const v: string[] = [];
        if (!res || typeof res.statusCode !== 'number') return ['no response'];
        if (res.statusCode >= 500) v.push(`status ${res.statusCode}`);
        const seen = `${res.body ?? ''}\n${JSON.stringify(res.headers ?? {})}\n${sink.lines.slice(logFrom).join('\n')}`;
        if (leaks(seen, signingKey).length > 0) v.push('signing key leaked');
        v.push(...(await undecided()));
        return v;
      },
      opts,
    ).then((r) => outcomes.into(r));
    for (const d of [first, second]) {
      const view = await ctx.service.view(d.id);
      if (view?.request?.status !== 'pending' || view.request.voteCount !== 0) {
        report.failures++;
        report.examples.push(
          `${d.id}: request ${view?.request?.status} with ${view?.request?.voteCount} votes`,
        );
      }
    }
    // control: the authorized request does approve, so the setup can tell an approval apart
    const control = await handler(
      build({
        id: 'first',
        unknownId: '',
        method: 'POST',
        route: 'approve',
        otherSuffix: '',
        session: 'approver',
        garbageCookie: '',
        csrf: 'valid',
        plan: 'valid',
        garbage: '',
        rawBody: undefined,
        base64: false,
        rollback: false,
        inCookiesArray: false,
        extra: {},
      }),
    );
    const approved = await db.store.getDeployment(first.id);
    if (control.statusCode !== 303 || approved?.status !== 'queued') {
      report.failures++;
      report.examples.push(
        `control: an approver's session, CSRF token and the shown plan got ${control.statusCode}, deployment ${approved?.status}`,
      );
    }
    return [report];
  } finally {
    await db.close();
  }
}
