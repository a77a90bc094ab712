import { ApproversConfig } from '../../../lib/approval/approval-port';
import { authorize } from '../../../lib/approval/approver-policy';
import { parseApprovers } from '../../../lib/config/approvers';

describe('approver lookups by an environment a commit names', () => {
  const raw = { production: { github: ['alice'] } };

  it.each(['toString', 'constructor', 'hasOwnProperty', 'valueOf', '__proto__'])(
    'an environment named %s finds no approvers (refused, no throw)',
    (env) => {
      for (const approvers of [ApproversConfig.parse(raw), raw as unknown as ApproversConfig]) {
        const r = authorize({ kind: 'github', id: 'alice', teams: [] }, env, approvers);
        expect(r).toMatchObject({
          ok: false,
          reason: expect.stringContaining('no approvers are configured'),
        });
      }
    },
  );

  it('parsed configuration has no prototype to find members on', () => {
    const approvers = parseApprovers(JSON.stringify(raw));
    expect(Object.getPrototypeOf(approvers)).toBeNull();
    expect(approvers.toString).toBeUndefined();
    expect(authorize({ kind: 'github', id: 'alice' }, 'production', approvers).ok).toBe(true);
  });
});
