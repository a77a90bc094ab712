import { ApprovalService } from '../../../lib/approval/approval-service';
import { systemClock } from '../../../lib/clock';
import { RecordingDispatcher } from '../../../lib/dispatch/dispatcher';
import { createLogger } from '../../../lib/log/logger';
import type { Policy } from '../../../lib/policy/policy';
import { cryptoRandom } from '../../../lib/random';
import { startDynalite, type TestDynamo } from '../../helpers/dynalite';
import { policyOfTree } from '../../helpers/policy';
import { KubeApiStandIn } from '../../stand-ins/kube-api';
import { makeHarness, REPOSITORY, RecordingNotifier, runnerRepo } from './harness';

/**
 * Pruning (issue 13, item 5) with the real helm against the Kubernetes API stand-in: a release removed
 * from deploy.yaml is uninstalled by a deployment only where the policy allows it, and where approval
 * is required only when the approval showed it as removed.
 */

const env = (name: string, approval: string, prefix: string, releases: string[]) =>
  [
    `  ${name}:`,
    `    approval: ${approval}`,
    '    cluster: { secret: test/cluster }',
    '    releases:',
    ...releases.flatMap((r) => [
      `      - name: ${r}`,
      `        namespace: ${prefix}${r}`,
      '        chart: ./charts/web',
    ]),
  ].join('\n');
const yaml = (staging: string[], production: string[]) =>
  [
    'apiVersion: helmgate/v1',
    'environments:',
    env('staging', 'none', 's-', staging),
    env('production', 'required', 'p-', production),
    env('locked', 'none', 'l-', staging),
    '',
  ].join('\n');

let db: TestDynamo;
let kube: KubeApiStandIn;
let repo: ReturnType<typeof runnerRepo>;
let h: ReturnType<typeof makeHarness>;
let approvals: ApprovalService;

beforeAll(async () => {
  db = await startDynalite();
  kube = await KubeApiStandIn.start();
  repo = runnerRepo({ 'deploy.yaml': yaml(['web', 'web2'], ['web', 'web2']) });
  const policy: Policy = policyOfTree(repo.dir);
  const envs = policy.repositories['*']?.environments ?? {};
  for (const e of ['staging', 'production']) if (envs[e]) envs[e].prune = 'allow';
  // `locked` keeps the default: forbid
  h = makeHarness({ db, kube, repoDir: repo.dir, policy });
  approvals = new ApprovalService({
    store: db.store,
    notifier: new RecordingNotifier(),
    dispatcher: new RecordingDispatcher(),
    clock: systemClock,
    random: cryptoRandom,
    logger: createLogger({ redactor: h.redactor, clock: systemClock, write: () => {} }),
    redactor: h.redactor,
    approvers: {
      production: {
        github: ['alice'],
        githubTeams: [],
        slack: [],
        cli: [],
        required: 1,
        allowSelfApproval: true,
        slackToGithub: {},
        cliToGithub: {},
      },
    },
    publicUrl: 'https://helmgate.example.org',
  });
  for (const e of ['staging', 'locked']) {
    const d = await h.queue(repo.head(), e);
    await h.run(d.id, { finished: approvals });
    expect((await db.store.getDeployment(d.id))?.status).toBe('succeeded');
  }
});

afterAll(async () => {
  await kube.close();
  await db.close();
});

const releasesOf = async (id: string) =>
  Object.fromEntries(((await db.store.getDeployment(id))?.releases ?? []).map((r) => [r.name, r]));

test('staging (prune: allow): the release removed from deploy.yaml is uninstalled after the others deployed', async () => {
  expect(kube.helmReleases('s-web2', 'web2').length).toBeGreaterThan(0);
  const sha = repo.commit({ 'deploy.yaml': yaml(['web'], ['web', 'web2']) }, 'drop web2 from staging');
  const d = await h.queue(sha, 'staging');
  await h.run(d.id, { finished: approvals });
  expect((await db.store.getDeployment(d.id))?.status).toBe('succeeded');
  expect((await releasesOf(d.id)).web2).toMatchObject({
    status: 'succeeded',
    reason: 'uninstalled: removed from deploy.yaml',
  });
  expect(kube.helmReleases('s-web2', 'web2')).toEqual([]);
  expect(kube.get('Deployment', 's-web2', 'web2')).toBeUndefined();
  expect(h.calls.some((c) => c.args[0] === 'uninstall' && c.args[1] === 'web2')).toBe(true);
});

test('an environment whose policy keeps the default (forbid) keeps the release and says why', async () => {
  // the first test's commit dropped web2 from locked too
  const sha = repo.head();
  const d = await h.queue(sha, 'locked');
  await h.run(d.id, { finished: approvals });
  expect((await db.store.getDeployment(d.id))?.status).toBe('succeeded');
  expect((await releasesOf(d.id)).web2).toMatchObject({
    status: 'skipped',
    reason: 'removed from deploy.yaml, not uninstalled: the policy of locked does not allow pruning',
  });
  expect(kube.helmReleases('l-web2', 'web2').length).toBeGreaterThan(0);
});

test('production: uninstalled only by a deployment whose approval showed the removal', async () => {
  // production runs web and web2 (approved and deployed)
  const first = await h.queue(repo.head(), 'production', {
    status: 'awaiting_approval',
    approval: 'required',
  });
  const firstPlan = await approvalFor(first.id, repo.head());
  await h.run(first.id, { finished: approvals });
  expect((await db.store.getDeployment(first.id))?.status).toBe('succeeded');
  expect(firstPlan.changes.map((c) => `${c.name} ${c.change}`)).toEqual(['web new', 'web2 new']);

  // a deployment whose approval did NOT show the removal (approved before the snapshot knew web2) keeps it
  const sha = repo.commit({ 'deploy.yaml': yaml(['web'], ['web']) }, 'drop web2 everywhere');
  const blind = await h.queue(sha, 'production', { status: 'awaiting_approval', approval: 'required' });
  await approvalFor(blind.id, sha, { previous: undefined, hideRemoval: true });
  await h.run(blind.id, { finished: approvals });
  expect((await releasesOf(blind.id)).web2).toMatchObject({
    status: 'skipped',
    reason:
      'removed from deploy.yaml, not uninstalled: its removal was not in view when this deployment was approved',
  });
  expect(kube.helmReleases('p-web2', 'web2').length).toBeGreaterThan(0);

  // approved with "web2: removed from the plan" in view: uninstalled
  const seen = await h.queue(sha, 'production', { status: 'awaiting_approval', approval: 'required' });
  const req = await approvalFor(seen.id, sha);
  expect(req.summary).toContain(
    'web2: removed from the plan (will be uninstalled where the policy allows pruning)',
  );
  await h.run(seen.id, { finished: approvals });
  expect((await releasesOf(seen.id)).web2).toMatchObject({
    status: 'succeeded',
    reason: 'uninstalled: removed from deploy.yaml',
  });
  expect(kube.helmReleases('p-web2', 'web2')).toEqual([]);
});

/** Offers the deployment's approval (from its commit's plan) and approves it; returns the request. */
async function approvalFor(
  id: string,
  sha: string,
  opts: { previous?: undefined; hideRemoval?: boolean } = {},
) {
  const { mkdtempSync } = await import('node:fs');
  const path = await import('node:path');
  const { planAt } = await import('../../../lib/runner/runner');
  const dir = mkdtempSync(path.join(h.deps.workRoot, 'tree-'));
  await h.deps.source.extractTree(REPOSITORY, sha, dir);
  const plan = await planAt(
    dir,
    'deploy.yaml',
    { repository: REPOSITORY, environment: 'production', sha },
    h.deps,
  );
  const previous = opts.hideRemoval
    ? { environment: 'production', sha, digest: 'x', releases: [] }
    : undefined;
  await approvals.offer(id, { plan, ...(previous ? { previous } : {}) });
  await approvals.vote({
    deploymentId: id,
    voter: { kind: 'github', id: 'alice' },
    via: 'web',
    decision: 'approve',
    planDigest: plan.digest,
  });
  const req = await approvals.getRequest(id);
  if (!req) throw new Error('no request');
  return req;
}
