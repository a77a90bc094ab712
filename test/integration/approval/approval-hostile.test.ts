import { makeApprovalHandler } from '../../../handlers/approval';
import { cookieSettingsFor, newSession, signValue } from '../../../lib/auth/session';
import type { HttpEvent } from '../../../lib/http/lambda-http';
import { cryptoRandom } from '../../../lib/random';
import { startDynalite, type TestDynamo } from '../../helpers/dynalite';
import { deployment, makeService, offered } from './approval-fixtures';

let db: TestDynamo;
let ctx: ReturnType<typeof makeService>;

beforeAll(async () => {
  db = await startDynalite();
  ctx = makeService(db);
});
afterAll(async () => {
  await db.close();
});

function get(id: string, query: Record<string, string>): HttpEvent {
  return {
    rawPath: `/approvals/${id}`,
    pathParameters: { id },
    queryStringParameters: query,
    // alice is logged in (an approver): the page shows her the deployment, and the flash
    headers: {
      cookie: `helmgate_session=${signValue('k'.repeat(64), 'session', newSession({ login: 'alice', teams: [] }, cryptoRandom, ctx.clock.now()))}`,
    },
    requestContext: { http: { method: 'GET', path: `/approvals/${id}` } },
  } as unknown as HttpEvent;
}

describe('the approval page under hostile query strings', () => {
  test('?result= names from Object.prototype print no flash (constructor, __proto__, toString)', async () => {
    const handler = makeApprovalHandler({
      approvals: ctx.service,
      approvers: ctx.deps.approvers,
      signingKey: async () => 'k'.repeat(64),
      cookies: cookieSettingsFor('http://127.0.0.1:3000'),
      clock: ctx.clock,
      logger: ctx.deps.logger,
      readAccess: { mayRead: async () => true },
    });
    const d = deployment();
    await offered(db, ctx.service, d);
    for (const result of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) {
      const res = await handler(get(d.id, { result }));
      expect(res.statusCode).toBe(200);
      expect(res.body).not.toMatch(/function|\[object|native code/);
    }
    const ok = await handler(get(d.id, { result: 'duplicate' }));
    expect(ok.body).toContain('You had already voted');
  });
});
