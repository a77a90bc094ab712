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
  const deps = {
    store,
    source,
    dispatcher,
    notifier: { deploymentChanged: async (d: Deployment) => void changes.push(d) },
    clock,
    logger: createLogger({ redactor: new Redactor(), clock, write: () => {} }),
    deployConfigPath: 'deploy.yaml',
    policy: policyOf(DEPLOY_YAML),
  };
  return { deps, clock, dispatcher, changes, store };
}

const push = (sha: string) => branchPush({ sha }) as unknown as PushEvent;

describe('push intake through the lifecycle', () => {
  it('a newer push supersedes what waits of the older one, with the one reason format', async () => {
    const { deps, clock, store } = world();
    const first = await acceptPush(deps, 'delivery-1', push(SHA_OLD));
    clock.advance(1000);
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
    const { deps, clock, store, dispatcher } = world();
    clock.advance(1000);
    const newer = await acceptPush(deps, 'delivery-new', push(SHA_NEW));
    clock.set('2026-01-01T00:00:00.500Z');
    const late = await acceptPush(deps, 'delivery-old', push(SHA_OLD));
    expect(late.superseded.sort()).toEqual(late.deployments.map((d) => d.id).sort());
    for (const d of late.deployments)
      expect(await store.getDeployment(d.id)).toMatchObject({ status: 'superseded', supersededBy: SHA_NEW });
    for (const d of newer.deployments)
      expect((await store.getDeployment(d.id))?.status).not.toBe('superseded');
    const lateIds = new Set(late.deployments.map((d) => d.id));
    expect(dispatcher.jobs.filter((j) => lateIds.has(j.deploymentId))).toEqual([]);
  });
});
