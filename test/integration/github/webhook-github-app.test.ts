import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { makeGithubWebhookHandler } from '../../../handlers/github-webhook';
import { fixedClock } from '../../../lib/clock';
import { RecordingDispatcher } from '../../../lib/dispatch/dispatcher';
import { parseGithubAppSecret } from '../../../lib/github/app-auth';
import { GithubContentsSource } from '../../../lib/github/github-contents';
import { createGithubAppClient } from '../../../lib/github/octokit';
import { GithubDeploymentsReporter } from '../../../lib/github/status-reporter';
import { createLogger } from '../../../lib/log/logger';
import { Redactor } from '../../../lib/log/redact';
import { MemoryBranchState } from '../../fakes/memory-branch-state';
import { startDynalite, type TestDynamo } from '../../helpers/dynalite';
import { branchPush, signedGithubEvent } from '../../helpers/events';
import { policyOf } from '../../helpers/policy';
import { GithubApiStandIn } from '../../stand-ins/github-api';

// Issue 15 item 1: the App's push webhooks for every repository it is installed on. Each repository's
// deploy.yaml is read, and its deployments and statuses written, with a token of the installation
// GitHub says serves it; the installation id in the (signed) body never chooses it.
const WEBHOOK_SECRET = 'app-webhook-secret-0123456789abcdef';
const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const APP_ID = 777;
const DEPLOY_YAML = readFileSync(path.join(__dirname, '../../fixtures/intake/deploy.yaml'), 'utf8');
const SHA = '5'.repeat(40);
const WEB = 'acme/web';
const SITE = 'beta/site';
const OTHER = 'gamma/other';

describe('the webhook of a GitHub App installed on several accounts (real Octokit + auth-app, loopback GitHub)', () => {
  let db: TestDynamo;
  let gh: GithubApiStandIn;
  let dispatcher: RecordingDispatcher;
  let handler: ReturnType<typeof makeGithubWebhookHandler>;
  const clock = fixedClock('2026-11-26T04:00:00Z');

  beforeEach(async () => {
    db = await startDynalite();
    gh = await new GithubApiStandIn({
      app: {
        id: APP_ID,
        publicKey: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
        now: () => clock.now().getTime(),
        installations: [
          { id: 11, account: 'acme', repositories: 'all' },
          { id: 22, account: 'beta', repositories: [SITE] },
        ],
      },
    }).start();
    for (const r of [WEB, SITE, OTHER]) gh.setFile(r, SHA, 'deploy.yaml', DEPLOY_YAML);
    dispatcher = new RecordingDispatcher();
    const logger = createLogger({ redactor: new Redactor(), clock, write: () => {} });
    const { octokit, installations } = createGithubAppClient({
      baseUrl: gh.url,
      retries: 0,
      clock,
      app: parseGithubAppSecret(
        JSON.stringify({
          appId: APP_ID,
          privateKey: privateKey.export({ type: 'pkcs1', format: 'pem' }).toString(),
          webhookSecret: WEBHOOK_SECRET,
        }),
      ),
    });
    if (!installations) throw new Error('expected the App client');
    handler = makeGithubWebhookHandler({
      store: db.store,
      source: new GithubContentsSource(octokit, { sleep: async () => {} }),
      dispatcher,
      notifier: new GithubDeploymentsReporter({
        octokit,
        store: db.store,
        publicUrl: 'https://helmgate.example',
        clock,
        logger,
      }),
      clock,
      logger,
      deployConfigPath: 'deploy.yaml',
      policy: policyOf(DEPLOY_YAML),
      branchState: new MemoryBranchState(() => SHA),
      headRecheckMs: 0,
      repositories: [WEB, SITE, OTHER],
      branches: [],
      maxBodyBytes: 256 * 1024,
      webhookSecrets: async () => [WEBHOOK_SECRET],
      githubApp: installations,
    });
  });

  afterEach(async () => {
    await gh.close();
    await db.close();
  });

  const appPush = (repository: string, installation: number | undefined, deliveryId: string) =>
    signedGithubEvent(
      WEBHOOK_SECRET,
      'push',
      {
        ...branchPush({ sha: SHA, repository }),
        ...(installation !== undefined ? { installation: { id: installation, node_id: 'x' } } : {}),
      },
      { deliveryId },
    );
  const authorizationsOn = (repository: string) =>
    new Set(
      gh.calls
        .filter((c) => c.path.startsWith(`/repos/${repository}/`) && !c.path.endsWith('/installation'))
        .map((c) => c.authorization),
    );
  const tokenInstallation = (authorization: string | undefined) =>
    gh.issuedTokens.get((authorization ?? '').replace(/^token /, ''))?.installationId;

  it('deploys pushes of two repositories on two installations, each read and reported with its own installation’s token', async () => {
    const a = await handler(await appPush(WEB, 11, 'd-web'));
    const b = await handler(await appPush(SITE, 22, 'd-site'));
    expect([a.statusCode, b.statusCode]).toEqual([202, 202]);
    expect(JSON.parse(a.body ?? '{}').accepted).toBe(true);
    expect(JSON.parse(b.body ?? '{}').accepted).toBe(true);
    const web = [...authorizationsOn(WEB)];
    const site = [...authorizationsOn(SITE)];
    expect(web).toHaveLength(1);
    expect(site).toHaveLength(1);
    expect(web[0]).not.toBe(site[0]);
    expect(tokenInstallation(web[0])).toBe(11);
    expect(tokenInstallation(site[0])).toBe(22);
    // contents read, deployments and statuses written, in each repository
    for (const r of [WEB, SITE]) {
      expect(gh.calls.some((c) => c.path.startsWith(`/repos/${r}/contents/`))).toBe(true);
      expect(gh.deployments.filter((d) => d.repository === r).length).toBeGreaterThan(0);
    }
    expect(gh.appRefusals).toEqual([]);
    expect(dispatcher.jobs.length).toBeGreaterThan(0);
  });

  it('a body naming another installation does not get that installation’s credentials', async () => {
    // signed by GitHub, yet its installation id says 22 (beta's) for acme/web
    const res = await handler(await appPush(WEB, 22, 'd-forged'));
    expect(res.statusCode).toBe(202);
    const used = [...authorizationsOn(WEB)];
    expect(used.map(tokenInstallation)).toEqual([11]);
    expect(gh.calls.filter((c) => c.path.startsWith('/app/installations/22/'))).toEqual([]);
  });

  it('refuses a push of a repository the App is not installed on, clearly, and deploys nothing', async () => {
    const res = await handler(await appPush(OTHER, 11, 'd-other'));
    expect(res.statusCode).toBe(403);
    expect(JSON.parse(res.body ?? '{}').message).toMatch(/GitHub App is not installed on gamma\/other/);
    expect(await db.store.listDeployments()).toEqual([]);
    expect(await db.store.hasDelivery('d-other')).toBe(false);
    expect(dispatcher.jobs).toEqual([]);
    expect(
      gh.calls.filter((c) => c.path.startsWith(`/repos/${OTHER}/`) && !c.path.endsWith('/installation')),
    ).toEqual([]);
  });

  it('answers a push of a repository outside the policy (an App installed on a whole account) with 202 and does nothing', async () => {
    const res = await handler(await appPush('acme/unlisted', 11, 'd-unlisted'));
    expect(res.statusCode).toBe(202);
    expect(JSON.parse(res.body ?? '{}')).toMatchObject({ ignored: true });
    expect(gh.calls).toEqual([]);
    expect(await db.store.listDeployments()).toEqual([]);
  });

  it('accepts installation events without deploying, forgets cached installations, and ignores other events', async () => {
    await handler(await appPush(WEB, 11, 'd-1'));
    const lookups = () => gh.calls.filter((c) => c.path === `/repos/${WEB}/installation`).length;
    expect(lookups()).toBe(1);
    const before = (await db.store.listDeployments()).length;
    for (const [event, body] of [
      ['installation', { action: 'created', installation: { id: 11 }, repositories: [] }],
      [
        'installation_repositories',
        { action: 'removed', installation: { id: 11 }, repositories_removed: [] },
      ],
    ] as const) {
      const res = await handler(
        await signedGithubEvent(WEBHOOK_SECRET, event, body, { deliveryId: `d-${event}` }),
      );
      expect(res.statusCode).toBe(202);
      expect(JSON.parse(res.body ?? '{}')).toMatchObject({ ignored: true });
    }
    const other = await handler(
      await signedGithubEvent(WEBHOOK_SECRET, 'issues', { action: 'opened' }, { deliveryId: 'd-issue' }),
    );
    expect(other.statusCode).toBe(202);
    expect(JSON.parse(other.body ?? '{}').reason).toMatch(/event issues is not handled/);
    expect((await db.store.listDeployments()).length).toBe(before);
    // the next push asks GitHub again (the installation may have lost the repository)
    await handler(await appPush(WEB, 11, 'd-2'));
    expect(lookups()).toBe(2);
  });

  it('an unsigned or wrongly signed App delivery is refused before anything is looked up', async () => {
    const res = await handler(
      await signedGithubEvent('not-the-app-secret', 'push', branchPush({ sha: SHA, repository: WEB }), {
        deliveryId: 'd-bad',
      }),
    );
    expect(res.statusCode).toBe(401);
    expect(gh.calls).toEqual([]);
  });
});
