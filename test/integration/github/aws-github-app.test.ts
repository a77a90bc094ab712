import { generateKeyPairSync } from 'node:crypto';
import path from 'node:path';
import { awsBase, awsGithub, composeAws } from '../../../lib/compose/aws';
import { GithubApiStandIn } from '../../stand-ins/github-api';
import { SecretsManagerStandIn } from '../../stand-ins/secrets-manager';

// The AWS composition with only the GitHub App configured (no token, no OAuth app): the webhook reads
// and reports with the App, accepts the App's webhook secret, and checks installations; the login
// reads the App's client credentials from the login secret, never the App secret.
const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const SHA = '6'.repeat(40);

describe('composeAws with a GitHub App secret (loopback Secrets Manager and GitHub)', () => {
  let sm: SecretsManagerStandIn;
  let gh: GithubApiStandIn;
  const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };

  beforeAll(async () => {
    process.env.AWS_ACCESS_KEY_ID = 'AKIDCOMPOSE';
    process.env.AWS_SECRET_ACCESS_KEY = 'test';
    gh = await new GithubApiStandIn({
      app: {
        id: 4711,
        publicKey: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
        installations: [{ id: 31, account: 'IDR', repositories: ['IDR/deployment'] }],
      },
    }).start();
    gh.setFile('IDR/deployment', SHA, 'deploy.yaml', 'apiVersion: helmgate/v1\n');
    sm = await new SecretsManagerStandIn({
      'helmgate/github-app': JSON.stringify({
        appId: 4711,
        privateKey: privateKey.export({ type: 'pkcs1', format: 'pem' }).toString(),
        webhookSecret: 'app-hook-secret-0123456789',
      }),
      'helmgate/github-webhook': 'repo-hook-secret-0123456789',
    }).start();
  });
  afterAll(async () => {
    await gh.close();
    await sm.close();
    if (saved.id === undefined) delete process.env.AWS_ACCESS_KEY_ID;
    else process.env.AWS_ACCESS_KEY_ID = saved.id;
    if (saved.secret === undefined) delete process.env.AWS_SECRET_ACCESS_KEY;
    else process.env.AWS_SECRET_ACCESS_KEY = saved.secret;
  });

  const env = () => ({
    AWS_REGION: 'eu-west-1',
    HELMGATE_REPOSITORIES: 'IDR/deployment',
    HELMGATE_POLICY: path.join(__dirname, '../../../helmgate-policy.yaml'),
    HELMGATE_RUNNER_FUNCTION: 'helmgate-test-deployRunner',
    HELMGATE_SECRETS_ENDPOINT: sm.url,
    HELMGATE_GITHUB_API_URL: gh.url,
    HELMGATE_LOG_LEVEL: 'error' as const,
  });

  it('builds one App client per container, counted as configured (deployments are reported with it), and never reads the token', async () => {
    const base = awsBase(env());
    const github = await awsGithub(base);
    expect(github.configured).toBe(true);
    expect(github.installations).toBeDefined();
    expect(await awsGithub(base)).toBe(github);
    expect(sm.reads).not.toContain('helmgate/github-token');
  });

  it('gives the webhook the App’s installations and webhook secret, and reads contents with an installation token', async () => {
    const deps = await composeAws(env()).webhook();
    expect(deps.githubApp).toBeDefined();
    expect((await deps.webhookSecrets()).sort()).toEqual([
      'app-hook-secret-0123456789',
      'repo-hook-secret-0123456789',
    ]);
    expect(await deps.source.readFile('IDR/deployment', SHA, 'deploy.yaml')).toContain('helmgate/v1');
    const read = gh.calls.find((c) => c.path.startsWith('/repos/IDR/deployment/contents/'));
    expect(gh.issuedTokens.get((read?.authorization ?? '').replace(/^token /, ''))?.installationId).toBe(31);
    expect(await deps.githubApp?.verify('IDR/deployment')).toBe(31);
  });

  it('asks GitHub with the App whether a retry or override comes from a member of an approver team, as votes do (the page shows team members the buttons)', async () => {
    gh.teamMembers.set('idr/deployers', new Set(['alice']));
    const deps = await composeAws(env()).deploymentActions();
    const membership = deps.teamMembership;
    expect(membership).toBeDefined();
    expect(await membership?.('alice', ['IDR/deployers'])).toEqual(['idr/deployers']);
    expect(await membership?.('mallory', ['IDR/deployers'])).toEqual([]);
    expect(gh.calls.some((c) => c.path === '/orgs/IDR/teams/deployers/memberships/alice')).toBe(true);
    expect(sm.reads).not.toContain('helmgate/github-token');
  });

  it('logs approvers in with the login secret alone: the login function never reads the App secret', async () => {
    // an older App secret still carrying client credentials: not used, not read
    const own = await new SecretsManagerStandIn({
      'helmgate/github-app': JSON.stringify({
        appId: 4711,
        privateKey: privateKey.export({ type: 'pkcs1', format: 'pem' }).toString(),
        clientId: 'Iv23liOldAppClient',
        clientSecret: 'old-app-client-secret',
      }),
      'helmgate/github-oauth': JSON.stringify({
        client_id: 'Iv23liAppClient',
        client_secret: 'app-client-secret',
        kind: 'github-app',
      }),
    }).start();
    try {
      const auth = await composeAws({ ...env(), HELMGATE_SECRETS_ENDPOINT: own.url }).auth();
      expect(await auth.oauthClient()).toEqual({
        clientId: 'Iv23liAppClient',
        clientSecret: 'app-client-secret',
        kind: 'github-app',
      });
      expect(own.reads).toContain('helmgate/github-oauth');
      expect(own.reads).not.toContain('helmgate/github-app');
    } finally {
      await own.close();
    }
  });
});
