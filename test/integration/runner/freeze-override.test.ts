import { HelmgateError } from '../../../lib/errors';
import { overrideFreeze } from '../../../lib/lifecycle/freeze-override';
import { approversFor } from '../../../lib/policy/check';
import type { Policy } from '../../../lib/policy/policy';
import { startDynalite, type TestDynamo } from '../../helpers/dynalite';
import { policyOf } from '../../helpers/policy';
import { KubeApiStandIn } from '../../stand-ins/kube-api';
import { makeHarness, runnerRepo } from './harness';

/**
 * Issue 13, item 6: an approved production deployment waiting in a freeze starts before the window ends
 * when the environment's required number of approvers override it, each with a written reason — the real
 * runner and helm against the loopback Kubernetes API, dynalite for the store, an injected clock.
 */

const ENV = 'production';
const yaml = `apiVersion: helmgate/v1
environments:
  ${ENV}:
    approval: required
    cluster: { secret: test/cluster }
    releases:
      - name: web
        namespace: override-web
        chart: ./charts/web
        values: [values/web.yaml]
`;

let db: TestDynamo;
let kube: KubeApiStandIn;
beforeAll(async () => {
  db = await startDynalite();
  kube = await KubeApiStandIn.start();
});
afterAll(async () => {
  await kube.close();
  await db.close();
});

function frozenPolicy(required: number): Policy {
  const p = policyOf(yaml);
  const e = p.repositories['*']?.environments[ENV];
  if (!e) throw new Error('no environment');
  e.approval = 'required';
  e.approvers = {
    github: ['alice', 'bob', 'carol', 'pusher'],
    githubTeams: [],
    slack: [],
    slackToGithub: {},
    cli: ['arn:aws:iam::1:user/bob'],
    cliToGithub: { 'arn:aws:iam::1:user/bob': 'bob' },
    required,
  };
  e.freezeWindows = [{ from: '2026-12-24T00:00:00Z', to: '2026-12-24T12:00:00Z', reason: 'Christmas Eve' }];
  return p;
}

async function frozenDeployment(required: number) {
  const repo = runnerRepo({ 'deploy.yaml': yaml, 'values/web.yaml': 'image: { tag: "1.0.0" }\n' });
  const policy = frozenPolicy(required);
  const h = makeHarness({ db, kube, repoDir: repo.dir, policy });
  let now = new Date('2026-12-24T08:00:00Z');
  const clock = { now: () => now };
  // approved (queued) while the environment is frozen; `pusher` pushed it
  const d = await h.queue(repo.head(), ENV, { approval: 'required', pusher: 'pusher', involved: ['pusher'] });
  expect(await h.run(d.id, { clock })).toMatchObject({ kind: 'waiting' });
  expect(await db.store.getDeployment(d.id)).toMatchObject({ frozenUntil: '2026-12-24T12:00:00.000Z' });
  const deps = {
    store: db.store,
    notifier: h.notifier,
    dispatcher: h.dispatcher,
    clock,
    logger: h.deps.logger,
    approvers: (k: Parameters<typeof approversFor>[1]) => approversFor(policy, k),
  };
  return { h, d, clock, deps, policy, setNow: (iso: string) => (now = new Date(iso)) };
}

async function refusal(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (e instanceof HelmgateError) return `${e.code}: ${e.message}`;
    throw e;
  }
  throw new Error('not refused');
}

test('two approvers with reasons start a frozen deployment before the window ends; the reasons are audited', async () => {
  const { h, d, clock, deps, setNow } = await frozenDeployment(2);
  const first = await overrideFreeze(deps, {
    deploymentId: d.id,
    voter: { kind: 'github', id: 'Alice' },
    via: 'web',
    reason: '  CVE-2026-1234 in the hub image;\n fix cannot wait  ',
  });
  expect(first).toMatchObject({ kind: 'recorded', votes: 1, required: 2, until: '2026-12-24T12:00:00.000Z' });
  // one approver is not enough when two are required: dispatched or not, the runner still waits
  expect(h.dispatcher.jobs).toEqual([]);
  expect(await h.run(d.id, { clock })).toMatchObject({ kind: 'waiting' });
  // a repeat by the same person changes nothing
  setNow('2026-12-24T08:30:00Z');
  expect(
    await overrideFreeze(deps, {
      deploymentId: d.id,
      voter: { kind: 'github', id: 'alice' },
      via: 'web',
      reason: 'again',
    }),
  ).toMatchObject({ kind: 'duplicate' });

  setNow('2026-12-24T09:00:00Z');
  const second = await overrideFreeze(deps, {
    deploymentId: d.id,
    voter: { kind: 'cli', id: 'arn:aws:iam::1:user/bob' },
    via: 'cli',
    reason: 'agreed with alice: security fix',
  });
  expect(second).toMatchObject({ kind: 'overridden', dispatched: true });
  expect(h.dispatcher.jobs).toEqual([{ deploymentId: d.id }]);
  const overridden = await db.store.getDeployment(d.id);
  expect(overridden?.freezeOverride).toEqual({
    until: '2026-12-24T12:00:00.000Z',
    required: 2,
    completedAt: '2026-12-24T09:00:00.000Z',
    votes: [
      {
        login: 'alice',
        label: 'alice',
        via: 'web',
        at: '2026-12-24T08:00:00.000Z',
        reason: 'CVE-2026-1234 in the hub image; fix cannot wait',
      },
      {
        login: 'bob',
        label: 'bob (cli arn:aws:iam::1:user/bob)',
        via: 'cli',
        at: '2026-12-24T09:00:00.000Z',
        reason: 'agreed with alice: security fix',
      },
    ],
  });

  // the runner starts it at 09:00, three hours before the freeze ends
  expect(await h.run(d.id, { clock })).toMatchObject({ kind: 'finished' });
  const done = await db.store.getDeployment(d.id);
  expect(done?.status).toBe('succeeded');
  expect(done?.startedAt).toBe('2026-12-24T09:00:00.000Z');
  expect(done?.reason).toContain(
    'started inside the freeze until 2026-12-24T12:00:00.000Z overridden by alice',
  );
  expect(h.calls.filter((c) => c.args[0] === 'upgrade')).toHaveLength(1);

  const audit = (await db.store.listAudit(d.id)).filter((a) => a.action === 'freeze-override');
  expect(audit.map((a) => `${a.actor} ${a.via} ${a.outcome}`)).toEqual([
    'alice web recorded',
    'alice web duplicate',
    'bob (cli arn:aws:iam::1:user/bob) cli overridden',
  ]);
  expect(audit[0]?.detail).toContain('CVE-2026-1234 in the hub image; fix cannot wait');
  expect(audit[2]?.detail).toContain('alice: CVE-2026-1234 in the hub image; fix cannot wait');
  expect(audit[2]?.detail).toContain('bob (cli arn:aws:iam::1:user/bob): agreed with alice: security fix');
});

test('the pusher cannot override, nor can a non-approver, nor anyone without a reason; refusals are audited', async () => {
  const { h, d, clock, deps } = await frozenDeployment(1);
  expect(
    await refusal(
      overrideFreeze(deps, {
        deploymentId: d.id,
        voter: { kind: 'github', id: 'pusher' },
        via: 'web',
        reason: 'my own change, trust me',
      }),
    ),
  ).toBe(
    'forbidden: pusher pushed, merged or wrote this change; production needs someone else to override its freeze (four eyes)',
  );
  expect(
    await refusal(
      overrideFreeze(deps, {
        deploymentId: d.id,
        voter: { kind: 'github', id: 'mallory' },
        via: 'web',
        reason: 'x',
      }),
    ),
  ).toMatch(/^forbidden: mallory is not allowed to approve or override production/);
  for (const reason of ['', '   \n\t ', 'x'.repeat(501)])
    expect(
      await refusal(
        overrideFreeze(deps, {
          deploymentId: d.id,
          voter: { kind: 'github', id: 'carol' },
          via: 'web',
          reason,
        }),
      ),
    ).toMatch(/^bad_request: /);
  expect(h.dispatcher.jobs).toEqual([]);
  expect(await h.run(d.id, { clock })).toMatchObject({ kind: 'waiting' });
  const audit = (await db.store.listAudit(d.id)).filter((a) => a.action === 'freeze-override');
  // entries of the same instant: their order in the table is not the order they were written
  expect(audit.map((a) => `${a.actor} ${a.outcome}`).sort()).toEqual([
    'carol refused: bad_request',
    'carol refused: bad_request',
    'carol refused: bad_request',
    'mallory refused: forbidden',
    'pusher refused: forbidden',
  ]);

  // with one approver required, carol alone overrides it
  expect(
    await overrideFreeze(deps, {
      deploymentId: d.id,
      voter: { kind: 'github', id: 'carol' },
      via: 'web',
      reason: 'outage fix',
    }),
  ).toMatchObject({ kind: 'overridden' });
  // and after that nobody can override it again
  expect(
    await refusal(
      overrideFreeze(deps, {
        deploymentId: d.id,
        voter: { kind: 'github', id: 'bob' },
        via: 'web',
        reason: 'me too',
      }),
    ),
  ).toMatch(/^conflict: the freeze of .* was overridden already/);
});

test('an override is refused before the approval is complete and after the freeze ended', async () => {
  const { h, d, deps, setNow } = await frozenDeployment(1);
  const waiting = await h.queue(d.sha, ENV, {
    status: 'awaiting_approval',
    approval: 'required',
    pusher: 'pusher',
    frozenUntil: '2026-12-24T12:00:00.000Z',
  });
  expect(
    await refusal(
      overrideFreeze(deps, {
        deploymentId: waiting.id,
        voter: { kind: 'github', id: 'bob' },
        via: 'web',
        reason: 'x',
      }),
    ),
  ).toMatch(
    /^conflict: .* still awaits approval: a freeze is overridden only after the approval is complete/,
  );
  setNow('2026-12-24T12:00:00Z');
  expect(
    await refusal(
      overrideFreeze(deps, {
        deploymentId: d.id,
        voter: { kind: 'github', id: 'bob' },
        via: 'web',
        reason: 'x',
      }),
    ),
  ).toMatch(/^conflict: the freeze .* ended at 2026-12-24T12:00:00.000Z; it starts without an override/);
});

test('two approvers overriding at once: both votes count and exactly one starts the deployment', async () => {
  const { h, d, deps } = await frozenDeployment(2);
  const outcomes = await Promise.all(
    ['alice', 'bob'].map((id) =>
      overrideFreeze(deps, {
        deploymentId: d.id,
        voter: { kind: 'github', id },
        via: 'web',
        reason: `${id} agrees`,
      }),
    ),
  );
  expect(outcomes.map((o) => o.kind).sort()).toEqual(['overridden', 'recorded']);
  expect(h.dispatcher.jobs).toEqual([{ deploymentId: d.id }]);
  expect((await db.store.getDeployment(d.id))?.freezeOverride?.votes.map((v) => v.login).sort()).toEqual([
    'alice',
    'bob',
  ]);
});

test('an override is bound to its freeze: a longer freeze the operator adds before it is used keeps the deployment waiting until a new override', async () => {
  const { h, d, clock, deps, policy, setNow } = await frozenDeployment(1);
  const env = policy.repositories['*']?.environments[ENV];
  if (!env) throw new Error('no environment');
  expect(
    await overrideFreeze(deps, {
      deploymentId: d.id,
      voter: { kind: 'github', id: 'alice' },
      via: 'web',
      reason: 'hotfix',
    }),
  ).toMatchObject({ kind: 'overridden', dispatched: true });
  // before the runner takes it, the operator extends the freeze to 18:00 (a new window that overlaps)
  env.freezeWindows = [
    ...(env.freezeWindows ?? []),
    { from: '2026-12-24T10:00:00Z', to: '2026-12-24T18:00:00Z', reason: 'incident' },
  ];
  setNow('2026-12-24T09:30:00Z');
  expect(await h.run(d.id, { clock })).toMatchObject({
    kind: 'waiting',
    reason: expect.stringContaining('frozen until 2026-12-24T18:00:00.000Z'),
  });
  expect(await db.store.getDeployment(d.id)).toMatchObject({
    status: 'queued',
    frozenUntil: '2026-12-24T18:00:00.000Z',
  });
  expect(h.calls.filter((c) => c.args[0] === 'upgrade')).toHaveLength(0);

  // the longer freeze gets its own override, which starts it
  expect(
    await overrideFreeze(deps, {
      deploymentId: d.id,
      voter: { kind: 'github', id: 'bob' },
      via: 'web',
      reason: 'hotfix, still',
    }),
  ).toMatchObject({ kind: 'overridden', override: { until: '2026-12-24T18:00:00.000Z' } });
  expect(await h.run(d.id, { clock })).toMatchObject({ kind: 'finished' });
  expect((await db.store.getDeployment(d.id))?.status).toBe('succeeded');
});

test('an override still holds when the freeze is shortened before it is used', async () => {
  const { h, d, clock, deps, policy, setNow } = await frozenDeployment(1);
  const env = policy.repositories['*']?.environments[ENV];
  if (!env) throw new Error('no environment');
  await overrideFreeze(deps, {
    deploymentId: d.id,
    voter: { kind: 'github', id: 'alice' },
    via: 'web',
    reason: 'hotfix',
  });
  env.freezeWindows = [{ from: '2026-12-24T00:00:00Z', to: '2026-12-24T11:00:00Z', reason: 'shorter' }];
  setNow('2026-12-24T09:30:00Z');
  expect(await h.run(d.id, { clock })).toMatchObject({ kind: 'finished' });
  expect((await db.store.getDeployment(d.id))?.status).toBe('succeeded');
});
