import { PREVIEW_PENDING_LINE } from '../../../lib/approval/approval-service';
import { isHelmgateError } from '../../../lib/errors';
import { startDynalite, type TestDynamo } from '../../helpers/dynalite';
import { deployment, makeService, NEWER_SHA, offered, plan, REPO, release, SHA } from './approval-fixtures';

let db: TestDynamo;
beforeAll(async () => {
  db = await startDynalite();
});
afterAll(async () => {
  await db.close();
});

async function refusal(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await p;
  } catch (e) {
    if (isHelmgateError(e)) return { code: e.code, message: e.message };
    throw e;
  }
  throw new Error('expected a refusal');
}

const alice = { kind: 'github' as const, id: 'alice' };

describe('ApprovalService (dynalite)', () => {
  test('an offer binds the plan digest and hands the link (no token: it grants nothing) to the notifier once', async () => {
    const { service, notifier } = makeService(db);
    const d = deployment();
    const { url } = await offered(db, service, d);
    expect(url).toBe(`https://helmgate.example.org/approvals/${d.id}`);
    const req = await service.getRequest(d.id);
    expect(req).not.toHaveProperty('tokenHash');
    expect(req?.planDigest).toBe('plan-digest-1');
    expect(req?.expiresAt).toBe('2026-01-02T01:00:00.000Z');
    expect((await db.store.getDeployment(d.id))?.planDigest).toBe('plan-digest-1');
    expect(notifier.requests).toHaveLength(1);
    expect(notifier.requests[0]?.summary).toEqual(['jupyterhub: new (jupyterhub/jupyterhub@4.4.0)']);
    expect((await service.offer(d.id, { plan: plan() })).offered).toBe(false);
    expect(notifier.requests).toHaveLength(1);
  });

  test("an approver's web vote approves, queues and dispatches once; later votes change nothing", async () => {
    const { service, dispatcher } = makeService(db);
    const d = deployment();
    const { planDigest } = await offered(db, service, d);
    const out = await service.vote({
      deploymentId: d.id,
      voter: alice,
      via: 'web',
      decision: 'approve',
      planDigest,
    });
    expect(out).toEqual({ kind: 'approved', deploymentId: d.id, dispatched: true });
    expect((await db.store.getDeployment(d.id))?.status).toBe('queued');
    expect(dispatcher.jobs).toEqual([{ deploymentId: d.id }]);
    const again = await refusal(
      service.vote({
        deploymentId: d.id,
        voter: { kind: 'github', id: 'bob' },
        via: 'web',
        decision: 'approve',
        planDigest,
      }),
    );
    expect(again).toEqual({
      code: 'conflict',
      message: expect.stringContaining('already approved by github:alice'),
    });
    // the same person again is a no-op
    expect(
      await service.vote({ deploymentId: d.id, voter: alice, via: 'web', decision: 'approve', planDigest }),
    ).toEqual({
      kind: 'duplicate',
      deploymentId: d.id,
    });
    expect(dispatcher.jobs).toHaveLength(1);
  });

  test('an approval of a plan other than the one the request is bound to (the page was stale) is refused', async () => {
    const { service, dispatcher } = makeService(db);
    const d = deployment();
    await offered(db, service, d);
    const r = await refusal(
      service.vote({
        deploymentId: d.id,
        voter: alice,
        via: 'web',
        decision: 'approve',
        planDigest: 'older-plan',
      }),
    );
    expect(r.code).toBe('conflict');
    expect(r.message).toContain('the plan changed since it was shown to you');
    expect((await db.store.getDeployment(d.id))?.status).toBe('awaiting_approval');
    expect(dispatcher.jobs).toHaveLength(0);
  });

  test('an expired approval says when it expired', async () => {
    const { service, clock } = makeService(db);
    const d = deployment();
    const { planDigest } = await offered(db, service, d);
    clock.advance(24 * 3600_000 + 1);
    const r = await refusal(
      service.vote({ deploymentId: d.id, voter: alice, via: 'web', decision: 'approve', planDigest }),
    );
    expect(r).toEqual({ code: 'expired', message: 'approval expired at 2026-01-02T01:00:00.000Z' });
  });

  test('a superseded deployment says by which commit', async () => {
    const { service } = makeService(db);
    const d = deployment();
    const { planDigest } = await offered(db, service, d);
    await db.store.transition(
      d.id,
      ['awaiting_approval'],
      'superseded',
      { supersededBy: NEWER_SHA },
      new Date(),
    );
    const r = await refusal(
      service.vote({ deploymentId: d.id, voter: alice, via: 'web', decision: 'approve', planDigest }),
    );
    expect(r).toEqual({ code: 'superseded', message: `superseded by ${NEWER_SHA}` });
  });

  test('someone who is not an approver is refused with forbidden; a team member is allowed', async () => {
    const { service } = makeService(db);
    const d = deployment();
    const { planDigest } = await offered(db, service, d);
    const r = await refusal(
      service.vote({
        deploymentId: d.id,
        voter: { kind: 'github', id: 'mallory' },
        via: 'web',
        decision: 'approve',
        planDigest,
      }),
    );
    expect(r).toEqual({ code: 'forbidden', message: 'mallory is not allowed to approve production' });
    const unmappedSlack = await refusal(
      service.vote({
        deploymentId: d.id,
        voter: { kind: 'slack', id: 'U0EVE' },
        via: 'slack',
        decision: 'approve',
      }),
    );
    expect(unmappedSlack.code).toBe('forbidden');
    const ok = await service.vote({
      deploymentId: d.id,
      voter: { kind: 'github', id: 'Dora', teams: ['ORG/platform'] },
      via: 'web',
      decision: 'approve',
      planDigest,
    });
    expect(ok.kind).toBe('approved');
  });

  test('self-approval is refused when configured, and allowed for someone else', async () => {
    const base = makeService(db);
    const prod = base.deps.approvers as Record<string, any>;
    const { service } = makeService(db, {
      approvers: { production: { ...prod.production, allowSelfApproval: false } },
    });
    const d = deployment({ pusher: 'Pusher' });
    const { planDigest } = await offered(db, service, d);
    const r = await refusal(
      service.vote({
        deploymentId: d.id,
        voter: { kind: 'github', id: 'pusher' },
        via: 'web',
        decision: 'approve',
        planDigest,
      }),
    );
    expect(r.code).toBe('forbidden');
    expect(r.message).toMatch(/pusher pushed, merged or wrote this change/);
    expect(
      (await service.vote({ deploymentId: d.id, voter: alice, via: 'web', decision: 'approve', planDigest }))
        .kind,
    ).toBe('approved');
  });

  test('two approvals needed: web and Slack by the same mapped person count once; a second person decides', async () => {
    const base = makeService(db);
    const prod = (base.deps.approvers as Record<string, any>).production;
    const { service, dispatcher } = makeService(db, { approvers: { production: { ...prod, required: 2 } } });
    const d = deployment();
    const { planDigest } = await offered(db, service, d);
    const bob = { kind: 'github' as const, id: 'bob' };
    expect(
      await service.vote({ deploymentId: d.id, voter: bob, via: 'web', decision: 'approve', planDigest }),
    ).toEqual({
      kind: 'recorded',
      deploymentId: d.id,
      votes: 1,
      required: 2,
    });
    expect(
      await service.vote({
        deploymentId: d.id,
        voter: { kind: 'slack', id: 'U0BOB' },
        via: 'slack',
        decision: 'approve',
      }),
    ).toEqual({ kind: 'duplicate', deploymentId: d.id });
    expect((await db.store.getDeployment(d.id))?.status).toBe('awaiting_approval');
    const out = await service.vote({
      deploymentId: d.id,
      voter: { kind: 'slack', id: 'U0CAROL' },
      via: 'slack',
      decision: 'approve',
    });
    expect(out).toEqual({ kind: 'approved', deploymentId: d.id, dispatched: true });
    expect(dispatcher.jobs).toHaveLength(1);
  });

  test('50 concurrent approvals by different people dispatch exactly one deploy', async () => {
    const { service, dispatcher } = makeService(db);
    const d = deployment();
    const { planDigest } = await offered(db, service, d);
    const results = await Promise.allSettled(
      Array.from({ length: 50 }, (_, i) =>
        service.vote({
          deploymentId: d.id,
          voter: { kind: 'github', id: `user${i}` },
          via: 'web',
          decision: 'approve',
          planDigest,
        }),
      ),
    );
    const approved = results.filter((r) => r.status === 'fulfilled' && r.value.kind === 'approved');
    expect(approved).toHaveLength(1);
    expect(results.filter((r) => r.status === 'rejected')).toHaveLength(49);
    expect(dispatcher.jobs).toEqual([{ deploymentId: d.id }]);
    expect((await db.store.getDeployment(d.id))?.status).toBe('queued');
  });

  test('50 concurrent clicks by the same person dispatch once; the rest are duplicates', async () => {
    const { service, dispatcher } = makeService(db);
    const d = deployment();
    const { planDigest } = await offered(db, service, d);
    const results = await Promise.all(
      Array.from({ length: 50 }, () =>
        service.vote({ deploymentId: d.id, voter: alice, via: 'web', decision: 'approve', planDigest }),
      ),
    );
    expect(results.filter((r) => r.kind === 'approved')).toHaveLength(1);
    expect(results.filter((r) => r.kind === 'duplicate')).toHaveLength(49);
    expect(dispatcher.jobs).toHaveLength(1);
  });

  test('a plan digest that no longer matches voids the approval', async () => {
    const { service, dispatcher } = makeService(db);
    const d = deployment();
    const { planDigest } = await offered(db, service, d);
    await db.store.update(d.id, { planDigest: 'plan-digest-2' }, new Date());
    const r = await refusal(
      service.vote({ deploymentId: d.id, voter: alice, via: 'web', decision: 'approve', planDigest }),
    );
    expect(r.code).toBe('conflict');
    expect(r.message).toMatch(/approval void: the plan changed/);
    expect((await service.getRequest(d.id))?.status).toBe('void');
    expect(dispatcher.jobs).toHaveLength(0);
  });

  test('approving a commit older than what production runs needs an explicit rollback', async () => {
    const { service, dispatcher } = makeService(db);
    const repo = `${REPO}-rollback`;
    const d = deployment({ repository: repo, createdAt: '2026-01-01T00:00:00.000Z' });
    await db.store.createDeployment(
      deployment({
        repository: repo,
        sha: NEWER_SHA,
        status: 'succeeded',
        createdAt: '2026-01-01T00:30:00.000Z',
      }),
    );
    const { planDigest } = await offered(db, service, d);
    const r = await refusal(
      service.vote({ deploymentId: d.id, voter: alice, via: 'web', decision: 'approve', planDigest }),
    );
    expect(r.code).toBe('conflict');
    expect(r.message).toContain(`runs ${NEWER_SHA.slice(0, 12)}, which this commit does not lead to`);
    const out = await service.vote({
      deploymentId: d.id,
      voter: alice,
      via: 'web',
      decision: 'approve',
      planDigest,
      rollback: true,
    });
    expect(out.kind).toBe('approved');
    expect(dispatcher.jobs).toHaveLength(1);
  });

  test('a rejection moves the deployment to rejected', async () => {
    const { service, dispatcher } = makeService(db);
    const d = deployment();
    const { planDigest } = await offered(db, service, d);
    expect(
      await service.vote({ deploymentId: d.id, voter: alice, via: 'web', decision: 'reject', planDigest }),
    ).toEqual({
      kind: 'rejected',
      deploymentId: d.id,
    });
    const after = await db.store.getDeployment(d.id);
    expect(after?.status).toBe('rejected');
    expect(after?.reason).toBe('rejected by alice via web');
    expect(dispatcher.jobs).toHaveLength(0);
  });

  test('every decision, refusals included, is audited with who, how and the outcome', async () => {
    const { service } = makeService(db);
    const d = deployment();
    const { planDigest } = await offered(db, service, d);
    await refusal(
      service.vote({
        deploymentId: d.id,
        voter: { kind: 'github', id: 'mallory' },
        via: 'web',
        decision: 'approve',
        planDigest,
      }),
    );
    await service.vote({
      deploymentId: d.id,
      voter: { kind: 'slack', id: 'U0BOB' },
      via: 'slack',
      decision: 'approve',
    });
    const audit = await db.store.listAudit(d.id);
    const rows = audit.map((a) => [a.actor, a.via, a.action, a.outcome]);
    expect(rows).toEqual(
      expect.arrayContaining([
        ['system', 'system', 'offer', 'offered'],
        ['mallory', 'web', 'approve', 'refused: forbidden'],
        ['bob (Slack U0BOB)', 'slack', 'approve', 'approved'],
      ]),
    );
    expect(audit.every((a) => a.at === '2026-01-01T01:00:00.000Z')).toBe(true);
  });
});

describe('promotion gate', () => {
  function gate(approval: 'auto' | 'required', over: Record<string, unknown> = {}) {
    return makeService(db, {
      planFor: async (w) => plan({ approval, environment: w.environment, sha: w.sha }),
      ...over,
    });
  }

  test('staging succeeded: a required environment is offered for approval with the change summary', async () => {
    const { service, notifier, dispatcher } = gate('required');
    const repo = `${REPO}-gate1`;
    const prod = deployment({ repository: repo });
    await db.store.createDeployment(prod);
    await db.store.putItem('PLANSNAP', `${repo}#production`, {
      snapshotJson: JSON.stringify({
        environment: 'production',
        sha: 'c'.repeat(40),
        digest: 'old',
        releases: [
          {
            name: 'jupyterhub',
            namespace: 'hub',
            chart: { ref: 'jupyterhub/jupyterhub', version: '4.3.0' },
            mergedValues: { hub: { replicas: 1 } },
            secretValues: [{ path: 'hub.secret', secret: 'idr/oauth#client_secret' }],
            digest: 'old-digest',
          },
        ],
      }),
    });
    const staging = deployment({
      repository: repo,
      environment: 'staging',
      status: 'succeeded',
      approval: 'none',
    });
    await service.onDeploymentFinished(staging, {
      plan: plan({ environment: 'staging', releases: [release('jupyterhub')] }),
    });
    expect(notifier.requests).toHaveLength(1);
    expect(notifier.requests[0]?.summary).toEqual([
      'jupyterhub: chart jupyterhub/jupyterhub@4.3.0 → jupyterhub/jupyterhub@4.4.0',
      PREVIEW_PENDING_LINE,
    ]);
    expect((await service.getRequest(prod.id))?.status).toBe('pending');
    // the rendered diff is asked of production's own preview job (its credentials, not staging's run)
    expect((await service.getRequest(prod.id))?.manifestsPending).toEqual(expect.any(String));
    expect(dispatcher.jobs).toEqual([{ deploymentId: prod.id, purpose: 'preview' }]);
    // what staging runs now was recorded for its next approval
    expect((await service.currentSnapshot(repo, 'staging'))?.releases[0]?.name).toBe('jupyterhub');
  });

  test('staging succeeded: an auto environment is queued and dispatched', async () => {
    const { service, dispatcher, notifier } = gate('auto');
    const repo = `${REPO}-gate2`;
    const prod = deployment({ repository: repo, approval: 'auto' });
    await db.store.createDeployment(prod);
    await service.onDeploymentFinished(
      deployment({ repository: repo, environment: 'staging', status: 'succeeded' }),
    );
    expect((await db.store.getDeployment(prod.id))?.status).toBe('queued');
    expect(dispatcher.jobs).toEqual([{ deploymentId: prod.id }]);
    expect(notifier.changes.map((d) => d.status)).toEqual(['queued']);
  });

  test('staging failed: the waiting deployment fails with the reason', async () => {
    const { service, dispatcher } = gate('required');
    const repo = `${REPO}-gate3`;
    const prod = deployment({ repository: repo });
    await db.store.createDeployment(prod);
    await service.onDeploymentFinished(
      deployment({ repository: repo, environment: 'staging', status: 'failed' }),
    );
    const after = await db.store.getDeployment(prod.id);
    expect(after?.status).toBe('failed');
    expect(after?.reason).toBe(`staging failed for ${SHA}`);
    expect(dispatcher.jobs).toHaveLength(0);
  });

  test('a waiting deployment whose commit cannot be planned fails with why, instead of waiting forever', async () => {
    const { service, notifier, dispatcher } = makeService(db, {
      planFor: async () => {
        throw new Error('values/prod.yaml does not exist at this commit');
      },
    });
    const repo = `${REPO}-gate5`;
    const prod = deployment({ repository: repo });
    await db.store.createDeployment(prod);
    await service.onDeploymentFinished(
      deployment({ repository: repo, environment: 'staging', status: 'succeeded' }),
    );
    const after = await db.store.getDeployment(prod.id);
    expect(after?.status).toBe('failed');
    expect(after?.reason).toContain('cannot plan production');
    expect(after?.reason).toContain('values/prod.yaml does not exist');
    expect(notifier.requests).toHaveLength(0);
    expect(notifier.changes.map((d) => d.status)).toEqual(['failed']);
    expect(dispatcher.jobs).toHaveLength(0);
  });

  test('the reason a waiting deployment cannot be planned is stored with registered secret values masked', async () => {
    const secret = 'hunter2-cluster-token-9f3a';
    const { service, notifier, redactor } = makeService(db, {
      planFor: async () => {
        // e.g. a values file that echoes a fetched secret into a parse error
        throw new Error(`values/prod.yaml: unexpected token near "${secret}"`);
      },
    });
    redactor.register(secret);
    const repo = `${REPO}-gate-redact`;
    const prod = deployment({ repository: repo });
    await db.store.createDeployment(prod);
    await service.onDeploymentFinished(
      deployment({ repository: repo, environment: 'staging', status: 'succeeded' }),
    );
    const after = await db.store.getDeployment(prod.id);
    expect(after?.status).toBe('failed');
    expect(after?.reason).toContain('cannot plan production');
    expect(after?.reason).toContain('unexpected token near "***"');
    expect(after?.reason).not.toContain(secret);
    expect(JSON.stringify(notifier.changes)).not.toContain(secret);
  });

  test('a render-only staging run promotes only when allowed', async () => {
    const repo = `${REPO}-gate4`;
    const prod = deployment({ repository: repo, approval: 'auto' });
    await db.store.createDeployment(prod);
    const rendered = deployment({ repository: repo, environment: 'staging', status: 'rendered' });
    await gate('auto').service.onDeploymentFinished(rendered);
    expect((await db.store.getDeployment(prod.id))?.status).toBe('awaiting_approval');
    await gate('auto', { allowRendered: true }).service.onDeploymentFinished(rendered);
    expect((await db.store.getDeployment(prod.id))?.status).toBe('queued');
  });
});
