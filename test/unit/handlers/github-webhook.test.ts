import { readFileSync } from 'node:fs';
import path from 'node:path';
import { type GithubWebhookDeps, makeGithubWebhookHandler } from '../../../handlers/github-webhook';
import { fixedClock } from '../../../lib/clock';
import type { Deployment } from '../../../lib/deploy/deployment';
import { RecordingDispatcher } from '../../../lib/dispatch/dispatcher';
import { createLogger, memorySink } from '../../../lib/log/logger';
import { Redactor } from '../../../lib/log/redact';
import type { Notifier } from '../../../lib/notify/notifier';
import { MemoryBranchState } from '../../fakes/memory-branch-state';
import { MemoryDeploymentStore } from '../../fakes/memory-store';
import { branchPush, githubExample, httpEvent, signedGithubEvent } from '../../helpers/events';
import { MemoryRepoSource } from '../../helpers/memory-source';
import { policyOf } from '../../helpers/policy';

const SECRET = 'webhook-secret-for-tests-0123456789';
const REPO = 'Codertocat/Hello-World';
const DEPLOY_YAML = readFileSync(path.join(__dirname, '../../fixtures/intake/deploy.yaml'), 'utf8');
const SHA1 = '1111111111111111111111111111111111111111';
const SHA2 = '2222222222222222222222222222222222222222';

class RecordingNotifier implements Notifier {
  readonly changes: Deployment[] = [];
  async deploymentChanged(d: Deployment): Promise<void> {
    this.changes.push(d);
  }
}

describe('POST /webhook', () => {
  let store: MemoryDeploymentStore;
  let deps: GithubWebhookDeps;
  let dispatcher: RecordingDispatcher;
  let branches: MemoryBranchState;
  /** where the branch (master) points: the push a test sends must be its head to deploy */
  let head: string;
  let source: MemoryRepoSource;
  let notifier: RecordingNotifier;
  let logs: string[];
  let clock: ReturnType<typeof fixedClock>;
  let handler: ReturnType<typeof makeGithubWebhookHandler>;

  beforeEach(async () => {
    store = new MemoryDeploymentStore();
    dispatcher = new RecordingDispatcher();
    head = SHA1;
    branches = new MemoryBranchState(() => head);
    source = new MemoryRepoSource({
      [SHA1]: { 'deploy.yaml': DEPLOY_YAML },
      [SHA2]: { 'deploy.yaml': DEPLOY_YAML },
      '6113728f27ae82c7b1a177c8d03f9e96e0adf246': { 'deploy.yaml': DEPLOY_YAML },
    });
    notifier = new RecordingNotifier();
    const sink = memorySink();
    logs = sink.lines;
    clock = fixedClock('2026-11-24T12:00:00Z');
    deps = {
      store,
      source,
      dispatcher,
      notifier,
      clock,
      logger: createLogger({ redactor: new Redactor(), clock, write: sink.write }),
      deployConfigPath: 'deploy.yaml',
      branchState: branches,
      sleep: async () => undefined,
      policy: policyOf(DEPLOY_YAML),
      repositories: [REPO],
      branches: [],
      maxBodyBytes: 64 * 1024,
      webhookSecrets: async () => [SECRET],
    };
    handler = makeGithubWebhookHandler(deps);
  });

  const body = (r: { body?: string | undefined }) => JSON.parse(r.body ?? '{}');

  it('queues and dispatches staging and parks production awaiting approval for a push to the default branch', async () => {
    const res = await handler(
      await signedGithubEvent(SECRET, 'push', branchPush({ sha: SHA1 }), { deliveryId: 'd-1' }),
    );
    expect(res.statusCode).toBe(202);
    const deployments = await store.listDeployments();
    expect(deployments.map((d) => [d.environment, d.status, d.sha]).sort()).toEqual([
      ['production', 'awaiting_approval', SHA1],
      ['staging', 'queued', SHA1],
    ]);
    const staging = deployments.find((d) => d.environment === 'staging');
    expect(dispatcher.jobs).toEqual([{ deploymentId: staging?.id }]);
    expect(source.reads).toEqual([{ repository: REPO, sha: SHA1, path: 'deploy.yaml' }]);
    expect(body(res).deployments).toHaveLength(2);
    expect(notifier.changes.map((d) => d.status).sort()).toEqual(['awaiting_approval', 'queued']);
  });

  it('accepts the real example payload, base64 or plain body', async () => {
    head = branchPush().after;
    const plain = await signedGithubEvent(SECRET, 'push', branchPush(), { base64: false });
    expect((await handler(plain)).statusCode).toBe(202);
  });

  it.each([
    ['missing', null],
    ['wrong', 'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17'],
    ['malformed', 'sha1=abc'],
  ])('answers 401 to a %s signature and records nothing', async (_n, signature) => {
    const res = await handler(
      await signedGithubEvent(SECRET, 'push', branchPush({ sha: SHA1 }), { signature, deliveryId: 'd-x' }),
    );
    expect(res.statusCode).toBe(401);
    expect(await store.listDeployments()).toEqual([]);
    expect(await store.hasDelivery('d-x')).toBe(false);
    expect(dispatcher.jobs).toEqual([]);
  });

  it('answers 401 when the signature is valid for a different body', async () => {
    const good = await signedGithubEvent(SECRET, 'push', branchPush({ sha: SHA1 }));
    const forged = {
      ...good,
      body: Buffer.from(JSON.stringify(branchPush({ sha: SHA2 }))).toString('base64'),
    };
    expect((await handler(forged)).statusCode).toBe(401);
  });

  it('verifies with any of the rotated secrets', async () => {
    handler = makeGithubWebhookHandler({ ...deps, webhookSecrets: async () => ['new-secret-value', SECRET] });
    expect(
      (await handler(await signedGithubEvent(SECRET, 'push', branchPush({ sha: SHA1 })))).statusCode,
    ).toBe(202);
  });

  it('answers ping with 200', async () => {
    const res = await handler(await signedGithubEvent(SECRET, 'ping', githubExample('ping')));
    expect(res.statusCode).toBe(200);
    expect(body(res)).toEqual({ ok: true, message: 'pong' });
  });

  it('ignores other events with 202 and the reason', async () => {
    const res = await handler(await signedGithubEvent(SECRET, 'issues', githubExample('issues')));
    expect(res.statusCode).toBe(202);
    expect(body(res)).toEqual({ ignored: true, reason: 'event issues is not handled' });
  });

  it('refuses a repository outside the allowlist with 403 and records nothing', async () => {
    const res = await handler(
      await signedGithubEvent(SECRET, 'push', branchPush({ sha: SHA1, repository: 'evil/repo' })),
    );
    expect(res.statusCode).toBe(403);
    expect(body(res).message).toBe('repository evil/repo is not allowed');
    expect(await store.listDeployments()).toEqual([]);
  });

  it.each([
    [
      'a tag push',
      githubExample('push', (e) => e.ref === 'refs/tags/simple-tag' && e.deleted === false),
      'tag push',
    ],
    [
      'a tag deletion',
      githubExample('push', (e) => e.ref === 'refs/tags/simple-tag' && e.deleted === true),
      'tag push',
    ],
    ['a branch deletion', { ...branchPush(), deleted: true, after: '0'.repeat(40) }, 'was deleted'],
    ['another branch', branchPush({ ref: 'refs/heads/feature' }), 'not a deploy branch'],
  ])('ignores %s with 202 and the reason', async (_n, payload, reason) => {
    const res = await handler(await signedGithubEvent(SECRET, 'push', payload));
    expect(res.statusCode).toBe(202);
    expect(body(res)).toMatchObject({ ignored: true, reason: expect.stringContaining(reason) });
    expect(await store.listDeployments()).toEqual([]);
  });

  it('answers a redelivery with 200 duplicate and creates nothing more', async () => {
    const ev = await signedGithubEvent(SECRET, 'push', branchPush({ sha: SHA1 }), {
      deliveryId: 'same-delivery',
    });
    expect((await handler(ev)).statusCode).toBe(202);
    const again = await handler(ev);
    expect(again.statusCode).toBe(200);
    expect(body(again)).toEqual({ duplicate: true, deliveryId: 'same-delivery' });
    expect(await store.listDeployments()).toHaveLength(2);
    expect(dispatcher.jobs).toHaveLength(1);
  });

  it('creates one set of deployments when the same delivery arrives concurrently', async () => {
    const ev = await signedGithubEvent(SECRET, 'push', branchPush({ sha: SHA1 }), { deliveryId: 'racing' });
    const results = await Promise.all(Array.from({ length: 8 }, () => handler(ev)));
    expect(results.every((r) => r.statusCode === 200 || r.statusCode === 202)).toBe(true);
    expect(await store.listDeployments()).toHaveLength(2);
  });

  it('answers 413 to a body over the limit, before any signature work', async () => {
    const big = httpEvent({ body: Buffer.alloc(64 * 1024 + 1, 'a'), headers: { 'x-github-event': 'push' } });
    expect((await handler(big)).statusCode).toBe(413);
  });

  it('answers 400 to a signed body that is not JSON, and to a push missing fields', async () => {
    expect(
      (await handler(await signedGithubEvent(SECRET, 'push', '{"ref": "refs/heads/ma'))).statusCode,
    ).toBe(400);
    const res = await handler(await signedGithubEvent(SECRET, 'push', { ref: 'refs/heads/master' }));
    expect(res.statusCode).toBe(400);
    expect(body(res).message).toMatch(/not a push event/);
  });

  it('answers 400 when the delivery id is missing', async () => {
    const ev = await signedGithubEvent(SECRET, 'push', branchPush({ sha: SHA1 }));
    delete (ev.headers as Record<string, string>)['x-github-delivery'];
    expect((await handler(ev)).statusCode).toBe(400);
  });

  it('records a failed deployment with the reason when the deploy config is invalid at that commit', async () => {
    source.setCommit(SHA1, {
      'deploy.yaml': 'apiVersion: helmgate/v1\nenvironments:\n  staging:\n    approval: sometimes\n',
    });
    const res = await handler(await signedGithubEvent(SECRET, 'push', branchPush({ sha: SHA1 })));
    expect(res.statusCode).toBe(202);
    const [d] = await store.listDeployments();
    expect(d).toMatchObject({ status: 'failed', sha: SHA1, environment: '*' });
    expect(d?.reason).toMatch(/deploy\.yaml/);
    expect(notifier.changes.map((x) => x.status)).toEqual(['failed']);
    expect(dispatcher.jobs).toEqual([]);
  });

  it('records a failed deployment when the deploy config does not exist at that commit', async () => {
    source.setCommit(SHA1, {});
    await handler(await signedGithubEvent(SECRET, 'push', branchPush({ sha: SHA1 })));
    const [d] = await store.listDeployments();
    expect(d).toMatchObject({ status: 'failed', reason: `deploy.yaml does not exist at ${SHA1}` });
  });

  it('supersedes older deployments that have not started, never a running one', async () => {
    await handler(await signedGithubEvent(SECRET, 'push', branchPush({ sha: SHA1 })));
    const first = await store.listDeployments();
    const oldStaging = first.find((d) => d.environment === 'staging') as Deployment;
    const oldProd = first.find((d) => d.environment === 'production') as Deployment;
    await store.transition(oldStaging.id, ['queued'], 'running', {}, clock.now());
    clock.advance(60_000);
    head = SHA2;
    await handler(await signedGithubEvent(SECRET, 'push', branchPush({ sha: SHA2 })));
    expect((await store.getDeployment(oldStaging.id))?.status).toBe('running');
    expect(await store.getDeployment(oldProd.id)).toMatchObject({
      status: 'superseded',
      supersededBy: SHA2,
    });
  });

  it('never puts the webhook secret in a log line or a response', async () => {
    const responses = [
      await handler(await signedGithubEvent(SECRET, 'push', branchPush({ sha: SHA1 }))),
      await handler(await signedGithubEvent('wrong', 'push', branchPush({ sha: SHA1 }))),
    ];
    const everything = logs.join('\n') + responses.map((r) => r.body).join('\n');
    expect(everything).not.toContain(SECRET);
  });
});
