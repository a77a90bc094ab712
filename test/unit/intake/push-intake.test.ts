import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fixedClock } from '../../../lib/clock';
import type { Deployment } from '../../../lib/deploy/lifecycle';
import { supersedeReason } from '../../../lib/deploy/lifecycle';
import { RecordingDispatcher } from '../../../lib/dispatch/dispatcher';
import type { PushEvent } from '../../../lib/github/push-event';
import { acceptPush } from '../../../lib/intake/push-intake';
import { createLogger } from '../../../lib/log/logger';
import { Redactor } from '../../../lib/log/redact';
import type { DeploymentStore } from '../../../lib/store/deployment-store';
import { MemoryBranchState } from '../../fakes/memory-branch-state';
import { MemoryDeploymentStore } from '../../fakes/memory-store';
import { branchPush } from '../../helpers/events';
import { MemoryRepoSource } from '../../helpers/memory-source';
import { policyOf } from '../../helpers/policy';

const DEPLOY_YAML = readFileSync(path.join(__dirname, '../../fixtures/intake/deploy.yaml'), 'utf8');
const SHA_OLD = '1'.repeat(40);
const SHA_NEW = '2'.repeat(40);

function world(store: DeploymentStore = new MemoryDeploymentStore()) {
  const clock = fixedClock('2026-01-01T00:00:00.000Z');
  const source = new MemoryRepoSource({
    [SHA_OLD]: { 'deploy.yaml': DEPLOY_YAML },
    [SHA_NEW]: { 'deploy.yaml': DEPLOY_YAML },
  });
  const dispatcher = new RecordingDispatcher();
  const changes: Deployment[] = [];
  const slept: number[] = [];
  /** where the branch points when a push is checked (tests move it) */
  const branch = { head: SHA_OLD };
  const branches = new MemoryBranchState(() => branch.head)
    .addCommit(SHA_OLD, [])
    .addCommit(SHA_NEW, [SHA_OLD]);
  const deps = {
    store,
    branchState: branches,
    sleep: async (ms: number) => void slept.push(ms),
    source,
    dispatcher,
    notifier: { deploymentChanged: async (d: Deployment) => void changes.push(d) },
    clock,
    logger: createLogger({ redactor: new Redactor(), clock, write: () => {} }),
    deployConfigPath: 'deploy.yaml',
    policy: policyOf(DEPLOY_YAML),
  };
  return { deps, clock, dispatcher, changes, store, branch, branches, slept };
}

const push = (sha: string) => branchPush({ sha }) as unknown as PushEvent;

describe('push intake through the lifecycle', () => {
  it('a newer push supersedes what waits of the older one, with the one reason format', async () => {
    const { deps, clock, store, branch } = world();
    const first = await acceptPush(deps, 'delivery-1', push(SHA_OLD));
    clock.advance(1000);
    branch.head = SHA_NEW;
    const second = await acceptPush(deps, 'delivery-2', push(SHA_NEW));
    expect(second.superseded.sort()).toEqual(first.deployments.map((d) => d.id).sort());
    const newProduction = second.deployments.find((d) => d.environment === 'production');
    const oldProduction = first.deployments.find((d) => d.environment === 'production');
    const fresh = (await store.getDeployment(newProduction?.id ?? '')) as Deployment;
    expect(await store.getDeployment(oldProduction?.id ?? '')).toMatchObject({
      status: 'superseded',
      supersededBy: SHA_NEW,
      reason: supersedeReason(fresh),
    });
  });

  it('an older push delivered after a newer one gives way at once and is never dispatched to run', async () => {
    // the race where the newer push looked at the environment before the older one was recorded
    const { deps, clock, store, dispatcher, branch } = world();
    clock.advance(1000);
    branch.head = SHA_NEW;
    const newer = await acceptPush(deps, 'delivery-new', push(SHA_NEW));
    clock.set('2026-01-01T00:00:00.500Z');
    // the late delivery passed the head check while the branch was still at its commit
    branch.head = SHA_OLD;
    const late = await acceptPush(deps, 'delivery-old', push(SHA_OLD));
    expect(late.superseded.sort()).toEqual(late.deployments.map((d) => d.id).sort());
    for (const d of late.deployments)
      expect(await store.getDeployment(d.id)).toMatchObject({ status: 'superseded', supersededBy: SHA_NEW });
    for (const d of newer.deployments)
      expect((await store.getDeployment(d.id))?.status).not.toBe('superseded');
    const lateIds = new Set(late.deployments.map((d) => d.id));
    expect(dispatcher.jobs.filter((j) => lateIds.has(j.deploymentId))).toEqual([]);
  });

  it('a push whose commit is no longer the head is recorded as stale and deploys nothing', async () => {
    const { deps, store, dispatcher, branch } = world();
    branch.head = SHA_NEW;
    const r = await acceptPush(deps, 'replayed', push(SHA_OLD));
    expect(r.stale?.reason).toBe(
      `stale push: refs/heads/master is at ${SHA_NEW.slice(0, 12)}, not at ${SHA_OLD.slice(0, 12)} (a replayed or late delivery); nothing deployed`,
    );
    const all = await store.listDeployments();
    expect(all).toEqual([expect.objectContaining({ environment: '*', status: 'superseded', sha: SHA_OLD })]);
    expect(dispatcher.jobs).toEqual([]);
    expect(await store.hasDelivery('replayed')).toBe(true);
  });

  it('a branch that is gone makes every push of it stale', async () => {
    const { deps, store, branch } = world();
    branch.head = undefined as unknown as string;
    const r = await acceptPush(deps, 'd', push(SHA_OLD));
    expect(r.stale?.reason).toContain('refs/heads/master is gone');
    expect((await store.listDeployments()).every((d) => d.environment === '*')).toBe(true);
  });

  it('the same (repository, ref, after) under another delivery id is a duplicate that deploys nothing', async () => {
    const { deps, store, dispatcher } = world();
    await acceptPush(deps, 'first', push(SHA_OLD));
    const before = (await store.listDeployments()).length;
    const jobs = dispatcher.jobs.length;
    const again = await acceptPush(deps, 'second', push(SHA_OLD));
    expect(again).toMatchObject({
      deployments: [],
      duplicate: { reason: expect.stringContaining('already accepted') },
    });
    expect((await store.listDeployments()).length).toBe(before);
    expect(dispatcher.jobs.length).toBe(jobs);
  });

  it('a forced push back to an earlier commit is a rollback, audited, and not a duplicate', async () => {
    const { deps, store, branch, clock } = world();
    await acceptPush(deps, 'a', push(SHA_OLD));
    clock.advance(1000);
    branch.head = SHA_NEW;
    await acceptPush(deps, 'b', { ...push(SHA_NEW), before: SHA_OLD } as PushEvent);
    clock.advance(1000);
    branch.head = SHA_OLD;
    const back = await acceptPush(deps, 'c', {
      ...push(SHA_OLD),
      before: SHA_NEW,
      forced: true,
    } as PushEvent);
    expect(back.rollback).toEqual({ from: SHA_NEW, ancestry: 'behind' });
    expect(back.deployments).toHaveLength(2);
    const production = back.deployments.find((d) => d.environment === 'production');
    expect(await store.listAudit(production?.id ?? '')).toContainEqual(
      expect.objectContaining({ action: 'rollback-push', outcome: 'recorded' }),
    );
  });

  it('a forward push is no rollback; GitHub unreachable is an error that records nothing', async () => {
    const { deps, store, branch, branches } = world();
    await acceptPush(deps, 'a', push(SHA_OLD));
    branch.head = SHA_NEW;
    expect(
      (await acceptPush(deps, 'b', { ...push(SHA_NEW), before: SHA_OLD } as PushEvent)).rollback,
    ).toBeUndefined();
    const count = (await store.listDeployments()).length;
    branches.failNext = 1;
    await expect(acceptPush(deps, 'c', push(SHA_NEW))).rejects.toMatchObject({ code: 'source_unavailable' });
    expect((await store.listDeployments()).length).toBe(count);
    expect(await store.hasDelivery('c')).toBe(false);
  });

  it("looks at the branch once more before calling a push stale (GitHub's API may lag behind its webhook)", async () => {
    const { deps, store, slept } = world();
    // the first answer is from before the push, the second sees it
    const answers = [SHA_OLD, SHA_NEW];
    deps.branchState = new MemoryBranchState(() => answers.shift());
    const r = await acceptPush(deps, 'lagging', push(SHA_NEW));
    expect(r.stale).toBeUndefined();
    expect(r.deployments).toHaveLength(2);
    expect(slept).toEqual([1500]);
    expect((await store.listDeployments()).length).toBe(2);
  });
});
