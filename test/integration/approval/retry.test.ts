import type { ApproversConfig } from '../../../lib/approval/approval-port';
import type { Deployment } from '../../../lib/deploy/lifecycle';
import { AlreadyRetriedError, retryDeployment, retryIdOf } from '../../../lib/lifecycle/retry';
import { parseActionId } from '../../../lib/slack/interaction';
import { renderFailureDetails } from '../../../lib/slack/messages';
import { processSlackInteraction, type SlackInteractionWorkerDeps } from '../../../lib/slack/vote-worker';
import { startDynalite, type TestDynamo } from '../../helpers/dynalite';
import { deployment, makeService, offered } from './approval-fixtures';

/**
 * `helmgate retry` through the lifecycle against the real store (dynalite): a failed production
 * deployment whose approval is valid for the same plan runs again at once; otherwise the retry waits
 * for approval and is offered; the retry is audited on both deployments.
 */

let db: TestDynamo;
beforeAll(async () => {
  db = await startDynalite();
});
afterAll(async () => {
  await db.close();
});

let seq = 0;
async function failedAfterApproval(over: Partial<Deployment> = {}) {
  const ctx = makeService(db);
  // each test its own repository: the lifecycle would rightly let an older retry give way to a newer one
  const d = deployment({ id: `retry-src-${++seq}`, repository: `org/retry-${seq}`, ...over });
  const { planDigest } = await offered(db, ctx.service, d);
  await ctx.service.vote({
    deploymentId: d.id,
    voter: { kind: 'github', id: 'alice' },
    via: 'web',
    decision: 'approve',
    planDigest,
  });
  // the runner took it and it failed
  await db.store.transition(
    d.id,
    ['queued'],
    'running',
    { startedAt: ctx.clock.now().toISOString() },
    ctx.clock.now(),
  );
  await db.store.transition(
    d.id,
    ['running'],
    'failed',
    { reason: 'release(s) failed: web: i/o timeout' },
    ctx.clock.now(),
  );
  ctx.dispatcher.jobs.length = 0;
  return { ...ctx, d };
}

function retryDeps(ctx: Awaited<ReturnType<typeof failedAfterApproval>>) {
  return {
    store: db.store,
    notifier: ctx.notifier,
    dispatcher: ctx.dispatcher,
    clock: ctx.clock,
    approvalOf: (id: string) => ctx.service.getRequest(id),
  };
}

test('a failed production deployment with a valid approval for the same plan is retried at once', async () => {
  const ctx = await failedAfterApproval();
  const { retry, reason } = await retryDeployment(retryDeps(ctx), {
    id: ctx.d.id,
    actor: 'github:bob',
    via: 'web',
    mayApprove: true,
  });
  expect(retry).toMatchObject({
    status: 'queued',
    sha: ctx.d.sha,
    planDigest: 'plan-digest-1',
    trigger: 'retry',
    retryOf: ctx.d.id,
    requestedBy: 'github:bob',
  });
  expect(reason).toContain('approval by github:alice holds');
  expect(ctx.dispatcher.jobs).toEqual([{ deploymentId: retry.id }]);
  const audit = [...(await db.store.listAudit(retry.id)), ...(await db.store.listAudit(ctx.d.id))];
  expect(audit.filter((a) => a.action === 'retry').map((a) => `${a.deploymentId} ${a.outcome}`)).toEqual([
    `${retry.id} created`,
    `${ctx.d.id} retried`,
  ]);
});

test('past the approval deadline the retry waits for approval, and is planned and offered (an offer job)', async () => {
  const ctx = await failedAfterApproval();
  ctx.clock.advance(25 * 3_600_000);
  const { retry, reason } = await retryDeployment(retryDeps(ctx), {
    id: ctx.d.id,
    actor: 'github:bob',
    via: 'web',
    mayApprove: true,
  });
  expect(retry.status).toBe('awaiting_approval');
  expect(reason).toContain('expired');
  expect(ctx.dispatcher.jobs).toEqual([{ deploymentId: retry.id, purpose: 'offer' }]);
});

test('someone who may not approve the environment does not carry the approval over', async () => {
  const ctx = await failedAfterApproval();
  const { retry, reason } = await retryDeployment(retryDeps(ctx), {
    id: ctx.d.id,
    actor: 'mallory (cli)',
    via: 'cli',
    mayApprove: false,
  });
  expect(retry.status).toBe('awaiting_approval');
  expect(reason).toContain('mallory (cli) may not approve production');
});

test('a deployment that is not failed, or never ran, is refused and nothing is created', async () => {
  const ctx = makeService(db);
  const waiting = deployment({ id: `retry-waiting-${++seq}` });
  await db.store.createDeployment(waiting);
  await expect(
    retryDeployment(retryDeps({ ...ctx, d: waiting }), {
      id: waiting.id,
      actor: 'a',
      via: 'cli',
      mayApprove: true,
    }),
  ).rejects.toThrow(/only a failed one is retried/);
  await expect(
    retryDeployment(retryDeps({ ...ctx, d: waiting }), {
      id: 'nope',
      actor: 'a',
      via: 'cli',
      mayApprove: true,
    }),
  ).rejects.toThrow(/no deployment nope/);
  expect(ctx.dispatcher.jobs).toEqual([]);
});

test('a deployment is retried once: two presses at once make one retry, and a later one names it', async () => {
  const ctx = await failedAfterApproval();
  const press = () =>
    retryDeployment(retryDeps(ctx), { id: ctx.d.id, actor: 'bob', via: 'web', mayApprove: true });
  const results = await Promise.allSettled([press(), press()]);
  const won = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value.retry] : []));
  const lost = results.flatMap((r) => (r.status === 'rejected' ? [r.reason] : []));
  expect(won).toHaveLength(1);
  expect(won[0]?.id).toBe(retryIdOf(ctx.d));
  expect(lost).toHaveLength(1);
  expect(lost[0]).toBeInstanceOf(AlreadyRetriedError);
  expect((lost[0] as AlreadyRetriedError).retryId).toBe(retryIdOf(ctx.d));
  // one deployment of the commit besides the failed one, one dispatch, one "retried" audit line
  const env = await db.store.listByEnvironment(ctx.d.repository, ctx.d.environment, { limit: 10 });
  expect(env.map((d) => d.id).sort()).toEqual([ctx.d.id, retryIdOf(ctx.d)].sort());
  expect(ctx.dispatcher.jobs).toEqual([{ deploymentId: retryIdOf(ctx.d) }]);
  expect((await db.store.listAudit(ctx.d.id)).filter((a) => a.outcome === 'retried')).toHaveLength(1);

  await expect(press()).rejects.toThrow(
    `deployment ${ctx.d.id} was retried already as ${retryIdOf(ctx.d)} (queued)`,
  );
});

test("the failure message's Retry button: an approver's press retries once (approval kept), anyone else is refused", async () => {
  const ctx = await failedAfterApproval();
  const failed = (await db.store.getDeployment(ctx.d.id)) as Deployment;
  // the thread message of the failure carries the button, whose value parses back to this deployment
  const message = renderFailureDetails(failed, { publicUrl: 'https://helmgate.example.org' });
  const button = JSON.stringify(message?.blocks).match(/"value":"(retry:[^"]+)"/)?.[1];
  expect(button).toBe(`retry:${failed.id}`);
  expect(parseActionId(button as string)).toEqual({ kind: 'retry', deploymentId: failed.id });

  const posted: string[] = [];
  const worker = {
    approvals: ctx.service,
    store: db.store,
    logger: ctx.deps.logger,
    slack: {
      chat: {
        postEphemeral: async (a: { text?: string }) => {
          posted.push(a.text ?? '');
          return { ok: true };
        },
      },
    } as unknown as SlackInteractionWorkerDeps['slack'],
    retry: {
      ...retryDeps(ctx),
      approvers: () => ctx.deps.approvers as ApproversConfig,
      publicUrl: 'https://helmgate.example.org',
    },
  };
  const press = (userId: string) =>
    processSlackInteraction(worker, {
      userId,
      channelId: 'C0DEPLOY',
      actions: [{ kind: 'retry', deploymentId: failed.id }],
    });
  await press('U0MALLORY');
  expect(posted.at(-1)).toContain(
    'Could not retry *production*: Slack U0MALLORY is not mapped to a GitHub login',
  );
  expect(await db.store.getDeployment(retryIdOf(failed))).toBeUndefined();

  await press('U0BOB');
  expect(posted.at(-1)).toContain(
    `:repeat: Retry of *production* created: <https://helmgate.example.org/deployments/${retryIdOf(failed)}|`,
  );
  expect(await db.store.getDeployment(retryIdOf(failed))).toMatchObject({
    status: 'queued',
    planDigest: failed.planDigest,
    requestedBy: 'bob (Slack U0BOB)',
  });
  await press('U0BOB');
  expect(posted.at(-1)).toContain(`was retried already, as \`${retryIdOf(failed)}\``);
  expect(ctx.dispatcher.jobs).toEqual([{ deploymentId: retryIdOf(failed) }]);
  const audit = await db.store.listAudit(failed.id);
  expect(audit.map((a) => `${a.actor} ${a.via} ${a.outcome}`)).toEqual(
    expect.arrayContaining(['Slack U0MALLORY slack refused: forbidden', 'bob (Slack U0BOB) slack retried']),
  );
});

test('a retry is refused while a newer deployment of the environment exists: it never supersedes a newer commit nor puts the older one back (audited)', async () => {
  // A approved and failed; B (newer commit) succeeded after it; C waits for approval
  const ctx = await failedAfterApproval();
  const at = (min: number) => new Date(Date.parse(ctx.d.createdAt) + min * 60_000).toISOString();
  const b = deployment({
    id: `retry-b-${seq}`,
    repository: ctx.d.repository,
    sha: 'b'.repeat(40),
    status: 'succeeded',
    createdAt: at(10),
    updatedAt: at(20),
    startedAt: at(11),
  });
  const c = deployment({
    id: `retry-c-${seq}`,
    repository: ctx.d.repository,
    sha: 'c'.repeat(40),
    status: 'awaiting_approval',
    createdAt: at(30),
    updatedAt: at(30),
  });
  await db.store.createDeployment(b);
  await db.store.createDeployment(c);
  await expect(
    retryDeployment(retryDeps(ctx), { id: ctx.d.id, actor: 'github:bob', via: 'web', mayApprove: true }),
  ).rejects.toMatchObject({
    code: 'conflict',
    message: `a newer deployment ${c.id} of production exists (${'c'.repeat(12)}, awaiting_approval); redeploy or roll back instead`,
  });
  expect(await db.store.getDeployment(retryIdOf(ctx.d))).toBeUndefined();
  expect((await db.store.getDeployment(c.id))?.status).toBe('awaiting_approval');
  expect(ctx.dispatcher.jobs).toEqual([]);
  // C rejected (it never ran): B, which ran after A, still rules the retry out
  await db.store.transition(c.id, ['awaiting_approval'], 'rejected', {}, ctx.clock.now());
  await expect(
    retryDeployment(retryDeps(ctx), { id: ctx.d.id, actor: 'github:bob', via: 'web', mayApprove: true }),
  ).rejects.toThrow(`a newer deployment ${b.id} of production exists`);
  const audit = (await db.store.listAudit(ctx.d.id)).filter((a) => a.action === 'retry');
  // (one fixed clock: both lines have the same time)
  expect(audit.map((a) => `${a.actor} ${a.via} ${a.outcome}: ${a.detail}`).sort()).toEqual([
    `github:bob web refused: conflict: a newer deployment ${b.id} of production exists (${'b'.repeat(12)}, succeeded); redeploy or roll back instead`,
    `github:bob web refused: conflict: a newer deployment ${c.id} of production exists (${'c'.repeat(12)}, awaiting_approval); redeploy or roll back instead`,
  ]);
});

test('refusals of a deployment that is not failed or never ran are audited', async () => {
  const ctx = makeService(db);
  const waiting = deployment({ id: `retry-waiting-audit-${++seq}`, repository: `org/retry-${seq}` });
  await db.store.createDeployment(waiting);
  await expect(
    retryDeployment(retryDeps({ ...ctx, d: waiting }), {
      id: waiting.id,
      actor: 'bob (Slack U0BOB)',
      via: 'slack',
      mayApprove: true,
    }),
  ).rejects.toThrow(/only a failed one is retried/);
  expect((await db.store.listAudit(waiting.id)).map((a) => `${a.actor} ${a.via} ${a.outcome}`)).toEqual([
    'bob (Slack U0BOB) slack refused: conflict',
  ]);
});

test('a retry keeps who was involved in the change, and its asker joins them when it waits for approval (four eyes)', async () => {
  const strict = {
    approvers: {
      production: {
        github: ['alice', 'bob', 'carol', 'dave'],
        githubTeams: [],
        cli: [],
        slack: [],
        required: 1,
        allowSelfApproval: false,
        slackToGithub: {},
        cliToGithub: {},
      },
    },
  };
  const ctx = await failedAfterApproval({ pusher: 'merger', involved: ['carol', 'merger'] });
  const service = makeService(db, strict).service;
  ctx.clock.advance(25 * 3_600_000); // the approval expired: the retry waits for a new one
  const { retry } = await retryDeployment(
    { ...retryDeps(ctx), approvalOf: (id: string) => service.getRequest(id) },
    { id: ctx.d.id, actor: 'bob', via: 'web', mayApprove: true, login: 'Bob' },
  );
  expect(retry.status).toBe('awaiting_approval');
  expect(retry.involved).toEqual(['carol', 'merger', 'bob']);
  // the author of the change and the asker may not approve the retry; someone else may
  await service.offer(retry.id, {
    plan: { ...(await import('./approval-fixtures')).plan(), sha: retry.sha },
  });
  const planDigest = (await service.getRequest(retry.id))?.planDigest as string;
  for (const who of ['carol', 'bob'])
    await expect(
      service.vote({
        deploymentId: retry.id,
        voter: { kind: 'github', id: who },
        via: 'web',
        decision: 'approve',
        planDigest,
      }),
    ).rejects.toThrow(`${who} pushed, merged or wrote this change`);
  const ok = await service.vote({
    deploymentId: retry.id,
    voter: { kind: 'github', id: 'dave' },
    via: 'web',
    decision: 'approve',
    planDigest,
  });
  expect(ok.kind).toBe('approved');
});

test('a retry that runs at once on the carried-over approval keeps involved, without its asker', async () => {
  const ctx = await failedAfterApproval({ involved: ['carol'] });
  const { retry } = await retryDeployment(retryDeps(ctx), {
    id: ctx.d.id,
    actor: 'bob',
    via: 'web',
    mayApprove: true,
    login: 'bob',
  });
  expect(retry.status).toBe('queued');
  expect(retry.involved).toEqual(['carol']);
});

test('a push racing the press (written after the retry looked): the retry gives way to it and is refused; the newer one is left alone', async () => {
  const ctx = await failedAfterApproval();
  const b = deployment({
    id: `retry-race-${seq}`,
    repository: ctx.d.repository,
    sha: 'b'.repeat(40),
    status: 'queued',
    approval: 'none',
    createdAt: new Date(ctx.clock.now().getTime() - 1).toISOString(),
    updatedAt: ctx.clock.now().toISOString(),
  });
  let looks = 0;
  // the first look at the environment happens before B is written; B lands right after it
  const racing = new Proxy(db.store, {
    get(target, prop, receiver) {
      if (prop === 'listByEnvironment')
        return async (...args: Parameters<typeof db.store.listByEnvironment>) => {
          const list = await target.listByEnvironment(...args);
          if (++looks === 1) await target.createDeployment(b);
          return list;
        };
      const v = Reflect.get(target, prop, receiver);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
  await expect(
    retryDeployment(
      { ...retryDeps(ctx), store: racing },
      { id: ctx.d.id, actor: 'github:bob', via: 'web', mayApprove: true },
    ),
  ).rejects.toThrow(`a newer deployment ${b.id} of production exists`);
  expect((await db.store.getDeployment(b.id))?.status).toBe('queued');
  expect(await db.store.getDeployment(retryIdOf(ctx.d))).toMatchObject({
    status: 'superseded',
    reason: expect.stringContaining(`superseded by ${b.id}`),
  });
  expect(ctx.dispatcher.jobs).toEqual([]);
});

test('the Retry button of a message posted before a newer deployment: the press is refused with why (Slack messages do not change)', async () => {
  const ctx = await failedAfterApproval();
  const newer = deployment({
    id: `retry-slack-newer-${seq}`,
    repository: ctx.d.repository,
    sha: 'b'.repeat(40),
    status: 'succeeded',
    createdAt: new Date(Date.parse(ctx.d.createdAt) + 60_000).toISOString(),
    startedAt: new Date(Date.parse(ctx.d.createdAt) + 61_000).toISOString(),
  });
  await db.store.createDeployment(newer);
  const posted: string[] = [];
  await processSlackInteraction(
    {
      approvals: ctx.service,
      store: db.store,
      logger: ctx.deps.logger,
      slack: {
        chat: {
          postEphemeral: async (a: { text?: string }) => {
            posted.push(a.text ?? '');
            return { ok: true };
          },
        },
      } as unknown as SlackInteractionWorkerDeps['slack'],
      retry: { ...retryDeps(ctx), approvers: () => ctx.deps.approvers as ApproversConfig },
    },
    { userId: 'U0BOB', channelId: 'C0DEPLOY', actions: [{ kind: 'retry', deploymentId: ctx.d.id }] },
  );
  expect(posted).toEqual([
    `:no_entry_sign: Could not retry *production*: a newer deployment ${newer.id} of production exists (${'b'.repeat(12)}, succeeded); redeploy or roll back instead`,
  ]);
  expect(await db.store.getDeployment(retryIdOf(ctx.d))).toBeUndefined();
  expect((await db.store.listAudit(ctx.d.id)).map((a) => `${a.actor} ${a.via} ${a.outcome}`)).toContain(
    'bob (Slack U0BOB) slack refused: conflict',
  );
});
