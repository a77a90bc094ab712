import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { runCli } from '../../../lib/cli/main';
import { fixedClock } from '../../../lib/clock';
import { roundTripBrowser } from '../../helpers/manifest-browser';
import { GithubApiStandIn } from '../../stand-ins/github-api';
import { SecretsManagerStandIn } from '../../stand-ins/secrets-manager';

// `helmgate setup github --stage <s>` end to end: the CLI against the loopback GitHub (manifest form
// and conversion) and Secrets Manager (real SDK client), with a scripted browser.
describe('helmgate setup github', () => {
  let gh: GithubApiStandIn;
  let sm: SecretsManagerStandIn;
  const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };
  const clock = fixedClock('2026-11-26T04:00:00Z');

  beforeEach(async () => {
    process.env.AWS_ACCESS_KEY_ID = 'AKIDSETUPCLI';
    process.env.AWS_SECRET_ACCESS_KEY = 'test-secret-key';
    gh = await new GithubApiStandIn().start();
    sm = await new SecretsManagerStandIn().start();
  });
  afterEach(async () => {
    await gh.close();
    await sm.close();
    if (saved.id === undefined) delete process.env.AWS_ACCESS_KEY_ID;
    else process.env.AWS_ACCESS_KEY_ID = saved.id;
    if (saved.secret === undefined) delete process.env.AWS_SECRET_ACCESS_KEY;
    else process.env.AWS_SECRET_ACCESS_KEY = saved.secret;
  });

  const run = async (args: string[], pages: string[] = [], env: Record<string, string> = {}) => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runCli(['setup', 'github', ...args], {
      stdout: (s) => out.push(s),
      stderr: (s) => err.push(s),
      env: {
        AWS_REGION: 'eu-west-1',
        HELMGATE_SECRETS_ENDPOINT: sm.url,
        HELMGATE_GITHUB_WEB_URL: gh.url,
        HELMGATE_GITHUB_API_URL: gh.url,
        ...env,
      },
      clock,
      openBrowser: roundTripBrowser(pages),
    });
    return { code, stdout: out.join(''), stderr: err.join('') };
  };

  it('creates the App, stores its key and its login credentials apart, prints the install URL and no credential', async () => {
    const pages: string[] = [];
    const r = await run(['--stage', 'prod', '--public-url', 'https://api.example.org'], pages);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`${gh.url}/apps/helmgate-prod/installations/new`);
    expect(sm.writes).toEqual([
      { op: 'CreateSecret', name: 'helmgate/github-app' },
      { op: 'CreateSecret', name: 'helmgate/github-oauth' },
    ]);
    const app = [...gh.manifestApps.values()][0];
    if (!app) throw new Error('no App was created');
    const stored = JSON.parse(sm.secrets.get('helmgate/github-app') as string);
    expect(stored).toMatchObject({ appId: app.id, privateKey: app.pem });
    expect(stored.clientSecret).toBeUndefined();
    expect(stored.clientId).toBeUndefined();
    expect(JSON.parse(sm.secrets.get('helmgate/github-oauth') as string)).toEqual({
      client_id: app.client_id,
      client_secret: app.client_secret,
      kind: 'github-app',
    });
    expect(r.stderr).toMatch(
      /log in through the App: its client id and secret are in helmgate\/github-oauth/,
    );
    const everything = [r.stdout, r.stderr, ...pages].join('\n');
    for (const secret of [app.pem.split('\n')[1] as string, app.client_secret, app.webhook_secret])
      expect(everything).not.toContain(secret);
    expect(gh.manifestForms[0]?.manifest.hook_attributes.url).toBe('https://api.example.org/webhook');
  });

  it('refuses to make a second App for a stage that has one, unless --replace', async () => {
    expect((await run(['--stage', 'prod', '--public-url', 'https://api.example.org'])).code).toBe(0);
    const again = await run(['--stage', 'prod', '--public-url', 'https://api.example.org']);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/helmgate\/github-app exists already.*--replace/);
    expect(gh.manifestForms).toHaveLength(1);
    const replaced = await run([
      '--stage',
      'prod',
      '--public-url',
      'https://api.example.org',
      '--replace',
      '--json',
    ]);
    expect(replaced.code).toBe(0);
    expect(JSON.parse(replaced.stdout)).toMatchObject({
      slug: 'helmgate-prod',
      secretWrite: 'updated',
      loginSecretWrite: 'updated',
    });
    expect(sm.writes).toEqual([
      { op: 'CreateSecret', name: 'helmgate/github-app' },
      { op: 'CreateSecret', name: 'helmgate/github-oauth' },
      { op: 'PutSecretValue', name: 'helmgate/github-app' },
      { op: 'PutSecretValue', name: 'helmgate/github-oauth' },
    ]);
    const second = [...gh.manifestApps.values()][1];
    expect(JSON.parse(sm.secrets.get('helmgate/github-oauth') as string).client_id).toBe(second?.client_id);
  });

  it('writes the login credentials to HELMGATE_OAUTH_SECRET_ID, or --login-secret-id', async () => {
    expect(
      (
        await run(['--stage', 'a', '--public-url', 'https://api.example.org'], [], {
          HELMGATE_OAUTH_SECRET_ID: 'helmgate-a/github-oauth',
        })
      ).code,
    ).toBe(0);
    expect(
      (
        await run([
          '--stage',
          'b',
          '--public-url',
          'https://api.example.org',
          '--secret-id',
          'helmgate-b/github-app',
          '--login-secret-id',
          'helmgate-b/login',
        ])
      ).code,
    ).toBe(0);
    expect(sm.writes.map((w) => w.name)).toEqual([
      'helmgate/github-app',
      'helmgate-a/github-oauth',
      'helmgate-b/github-app',
      'helmgate-b/login',
    ]);
  });

  it('asks for Members: read when the policy names GitHub teams as approvers, and not when it does not', async () => {
    const policy = readFileSync(path.join(__dirname, '../../../helmgate-policy.yaml'), 'utf8');
    expect(policy).not.toMatch(/githubTeams/);
    expect((await run(['--stage', 'a', '--public-url', 'https://api.example.org'])).code).toBe(0);
    expect(gh.manifestForms[0]?.manifest.default_permissions.members).toBeUndefined();
    const teams = policy.replace(
      '          github: []\n',
      '          github: []\n          githubTeams: [acme/ops]\n',
    );
    expect(teams).toMatch(/githubTeams: \[acme\/ops\]/);
    const r = await run(
      ['--stage', 'b', '--public-url', 'https://api.example.org', '--secret-id', 'helmgate/b'],
      [],
      {
        HELMGATE_POLICY: JSON.stringify(parseYaml(teams)),
      },
    );
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/names GitHub teams/);
    expect(gh.manifestForms[1]?.manifest.default_permissions.members).toBe('read');
  });

  it('without a public URL it says which one it needs (usage error), before anything is created', async () => {
    const r = await run(['--stage', 'prod']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--public-url/);
    expect(gh.manifestForms).toEqual([]);
    expect(sm.writes).toEqual([]);
  });
});
