import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Octokit } from '@octokit/core';
import { makeGithubWebhookHandler } from '../../../handlers/github-webhook';
import { fixedClock } from '../../../lib/clock';
import { RecordingDispatcher } from '../../../lib/dispatch/dispatcher';
import { GithubContentsSource } from '../../../lib/github/github-contents';
import { createLogger } from '../../../lib/log/logger';
import { Redactor } from '../../../lib/log/redact';
import { MemoryBranchState } from '../../fakes/memory-branch-state';
import { startDynalite, type TestDynamo } from '../../helpers/dynalite';
import { branchPush, signedGithubEvent } from '../../helpers/events';
import { policyOf } from '../../helpers/policy';
import { GithubApiStandIn } from '../../stand-ins/github-api';

const SECRET = 'webhook-secret-transient-0123456789';
const REPO = 'Codertocat/Hello-World';
const DEPLOY_YAML = readFileSync(path.join(__dirname, '../../fixtures/intake/deploy.yaml'), 'utf8');
const SHA = '3'.repeat(40);

describe('the webhook when GitHub fails while deploy.yaml is read (real Octokit, loopback GitHub)', () => {
  let db: TestDynamo;
  let github: GithubApiStandIn;
  let dispatcher: RecordingDispatcher;
  let handler: ReturnType<typeof makeGithubWebhookHandler>;
  const sleeps: number[] = [];
  /** where the branch points: each test's push is its head */
  let head = SHA;

  beforeEach(async () => {
    db = await startDynalite();
    github = await new GithubApiStandIn({ token: 'ghs_test' }).start();
    github.setFile(REPO, SHA, 'deploy.yaml', DEPLOY_YAML);
    dispatcher = new RecordingDispatcher();
    sleeps.length = 0;
    const clock = fixedClock('2026-11-24T12:00:00Z');
    handler = makeGithubWebhookHandler({
      store: db.store,
      source: new GithubContentsSource(new Octokit({ auth: 'ghs_test', baseUrl: github.url }), {
        sleep: async (ms) => {
          sleeps.push(ms);
        },
      }),
      dispatcher,
      notifier: { deploymentChanged: async () => {} },
      clock,
      logger: createLogger({ redactor: new Redactor(), clock, write: () => {} }),
      deployConfigPath: 'deploy.yaml',
      policy: policyOf(DEPLOY_YAML),
      // the branch is at the pushed commit (the head check is tested in test/unit/intake)
      branchState: new MemoryBranchState(() => head),
      headRecheckMs: 0,
      repositories: [REPO],
      branches: [],
      maxBodyBytes: 64 * 1024,
      webhookSecrets: async () => [SECRET],
    });
  });

  afterEach(async () => {
    await github.close();
    await db.close();
  });

  const push = (deliveryId: string) =>
    signedGithubEvent(SECRET, 'push', branchPush({ sha: SHA }), { deliveryId });
  const contentsCalls = () => github.calls.filter((c) => c.path.includes('/contents/')).length;

  it('retries a transient error with back-off and accepts the push', async () => {
    github.failNext('contents', 502, 'Server Error', 2);
    const res = await handler(await push('d-retry'));
    expect(res.statusCode).toBe(202);
    expect(contentsCalls()).toBe(3);
    expect(sleeps).toHaveLength(2);
    expect(sleeps[1]).toBeGreaterThan(sleeps[0] as number);
    expect((await db.store.listDeployments()).map((d) => d.status).sort()).toEqual([
      'awaiting_approval',
      'queued',
    ]);
  });

  it('answers 503 without recording the delivery when GitHub keeps failing, so the redelivery is deployed', async () => {
    github.failNext('contents', 503, 'Service Unavailable', 3);
    const first = await handler(await push('d-lost'));
    expect(first.statusCode).toBe(503);
    expect(first.headers?.['retry-after']).toBeDefined();
    expect(JSON.parse(first.body ?? '{}').error).toBe('unavailable');
    expect(await db.store.hasDelivery('d-lost')).toBe(false);
    expect(await db.store.listDeployments()).toEqual([]);
    expect(dispatcher.jobs).toEqual([]);

    // GitHub's "Redeliver": same delivery id, GitHub healthy again
    const again = await handler(await push('d-lost'));
    expect(again.statusCode).toBe(202);
    expect(JSON.parse(again.body ?? '{}').duplicate).toBeUndefined();
    expect((await db.store.listDeployments()).map((d) => d.environment).sort()).toEqual([
      'production',
      'staging',
    ]);
    expect(await db.store.hasDelivery('d-lost')).toBe(true);
  });

  it('does not retry a refusal that is not transient (401), and still records nothing', async () => {
    github.failNext('contents', 401, 'Bad credentials', 1);
    const res = await handler(await push('d-auth'));
    expect(res.statusCode).toBe(503);
    expect(contentsCalls()).toBe(1);
    expect(await db.store.hasDelivery('d-auth')).toBe(false);
  });

  it('keeps a missing deploy.yaml a permanent failure: a failed config deployment, delivery recorded', async () => {
    const other = '4'.repeat(40);
    head = other;
    const res = await handler(
      await signedGithubEvent(SECRET, 'push', branchPush({ sha: other }), { deliveryId: 'd-missing' }),
    );
    expect(res.statusCode).toBe(202);
    const [d] = await db.store.listDeployments();
    expect([d?.environment, d?.status]).toEqual(['*', 'failed']);
    expect(d?.reason).toContain('does not exist');
    expect(await db.store.hasDelivery('d-missing')).toBe(true);
    expect(contentsCalls()).toBe(1);
  });
});
