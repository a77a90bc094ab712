import { generateKeyPairSync } from 'node:crypto';
import type { Prompter } from '../../../lib/bootstrap/bootstrap';
import { runCli } from '../../../lib/cli/main';
import { ttyPrompter } from '../../../lib/cli/prompt';
import { fixedClock } from '../../../lib/clock';
import { parsePolicy } from '../../../lib/policy/policy';
import { makeGitRepo } from '../../helpers/git-repo';
import { roundTripBrowser } from '../../helpers/manifest-browser';
import { GithubApiStandIn } from '../../stand-ins/github-api';
import { LambdaApiStandIn } from '../../stand-ins/lambda-api';
import { SecretsManagerStandIn } from '../../stand-ins/secrets-manager';

/**
 * `helmgate bootstrap --stage test` against the real @aws-sdk clients pointed at loopback Secrets
 * Manager and Lambda stand-ins (both check the requests' Signature V4) and the GitHub stand-in (which
 * checks the App's JWTs): the first run creates what it can, a second changes nothing, a wrong webhook
 * URL is put right, a person's values are asked for without echo, and no secret value reaches output.
 */

const REGION = 'eu-west-1';
const CREDENTIALS = { accessKeyId: 'AKIDBOOTSTRAPTEST01', secretAccessKey: 'bootstrap-test-secret-key' };
const API_URL = 'https://abc123.execute-api.eu-west-1.amazonaws.com';
const CANARY = 'canary-bootstrap-5f0c2a9e71d4';
const APP_ID = 4242;
const INSTALLATION_ID = 99;

const POLICY_YAML = `apiVersion: helmgate/policy/v1
repositories:
  "*":
    environments:
      staging:
        approval: none
        cluster: { secret: helmgate/staging/cluster }
        secretPrefixes: [app/]
        namespaces: [hello-staging]
      production:
        approval: required
        after: staging
        approvers: { github: [dora] }
        cluster: { secret: helmgate/production/cluster }
        secretPrefixes: [app/]
        namespaces: [hello-production]
`;
const DEPLOY_YAML = `apiVersion: helmgate/v1
environments:
  staging:
    approval: none
    cluster: { secret: helmgate/staging/cluster }
    releases:
      - name: hello
        namespace: hello-staging
        chart: ./charts/hello
        values: [values/hello.yaml]
        secretValues:
          auth.token: { secret: app/token, key: token }
  production:
    approval: required
    after: staging
    cluster: { secret: helmgate/production/cluster }
    releases:
      - name: hello
        namespace: hello-production
        chart: ./charts/hello
        values: [values/hello.yaml]
        secretValues:
          auth.token: { secret: app/token, key: token }
`;
const FILES = {
  'deploy.yaml': DEPLOY_YAML,
  'helmgate-policy.yaml': POLICY_YAML,
  'values/hello.yaml': 'greeting: hi\n',
  'charts/hello/Chart.yaml': 'apiVersion: v2\nname: hello\nversion: 0.1.0\n',
  'charts/hello/values.yaml': 'greeting: hello\nauth:\n  token: ""\n',
  'charts/hello/templates/configmap.yaml':
    'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  greeting: {{ .Values.greeting | quote }}\n',
};

const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const PRIVATE_PEM = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
const PUBLIC_PEM = publicKey.export({ type: 'spki', format: 'pem' }).toString();
const APP_SECRET = JSON.stringify({
  appId: APP_ID,
  privateKey: PRIVATE_PEM,
  installationId: INSTALLATION_ID,
});

/** what a person types: the hidden ones are canaries that must never be echoed or printed */
const TYPED = {
  oauthId: 'Iv1.0123456789abcdef',
  oauthSecret: `${CANARY}-oauth-client-secret`,
  slackBot: `xoxb-${CANARY}-bot`,
  slackSigning: `${CANARY}-signing-secret`,
  slackChannel: 'C0123ABCD',
  server: 'https://k8s.example.org',
  ca: Buffer.from('-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n').toString('base64'),
  stagingToken: `${CANARY}-staging-sa-token`,
  productionToken: `${CANARY}-production-sa-token`,
};

let sm: SecretsManagerStandIn;
let lambda: LambdaApiStandIn;
let github: GithubApiStandIn;
let repo: ReturnType<typeof makeGitRepo>;
const outputs: string[] = [];

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function bootstrapCli(
  args: string[],
  opts: { prompter?: Prompter; env?: Record<string, string>; createGithubApp?: never } = {},
): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(['bootstrap', '--stage', 'test', ...args], {
    stdout: (s) => {
      stdout += s;
    },
    stderr: (s) => {
      stderr += s;
    },
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      AWS_REGION: REGION,
      AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
      HELMGATE_SECRETS_ENDPOINT: sm.url,
      HELMGATE_LAMBDA_ENDPOINT: lambda.url,
      HELMGATE_GITHUB_API_URL: github.url,
      ...opts.env,
    },
    cwd: repo.dir,
    isTTY: false,
    clock: fixedClock(new Date()),
    prompter: opts.prompter,
  });
  outputs.push(stdout, stderr);
  return { code, stdout, stderr };
}

/** answers in order; records every question */
function scripted(answers: string[]): Prompter & { questions: Array<{ q: string; hidden: boolean }> } {
  const questions: Array<{ q: string; hidden: boolean }> = [];
  return {
    questions,
    async ask(q, { hidden }) {
      questions.push({ q, hidden });
      const a = answers.shift();
      if (a === undefined) throw new Error(`unexpected question: ${q}`);
      return a;
    },
  };
}

beforeAll(async () => {
  repo = makeGitRepo(FILES, { origin: 'https://github.com/idr/deployment.git' });
  sm = await new SecretsManagerStandIn(
    {
      [APP_SECRET_ID()]: APP_SECRET,
      'helmgate/digest-key': 'd'.repeat(64),
      'app/token': JSON.stringify({ token: CANARY }),
    },
    { credentials: CREDENTIALS, region: REGION },
  ).start();
  lambda = await new LambdaApiStandIn({ credentials: CREDENTIALS, region: REGION }).start();
  lambda.functions.set('helmgate-test-webhook', {
    HELMGATE_PUBLIC_URL: API_URL,
    HELMGATE_REPOSITORIES: 'idr/deployment',
    HELMGATE_POLICY: JSON.stringify(parsePolicy(POLICY_YAML)),
    HELMGATE_APPROVERS: '{}',
  });
  lambda.functions.set('helmgate-test-deployRunner', { HELMGATE_SLACK_SECRET_ID: 'helmgate/slack-bot' });
  github = await new GithubApiStandIn({
    app: {
      id: APP_ID,
      publicKey: PUBLIC_PEM,
      installationId: INSTALLATION_ID,
      slug: 'helmgate-idr',
      hook: { url: 'https://old.example.org/webhook', content_type: 'form' },
    },
  }).start();
});

afterAll(async () => {
  await sm?.close();
  await lambda?.close();
  await github?.close();
});

function APP_SECRET_ID() {
  return 'helmgate/github-app';
}

function expectNoSecretIn(texts: string[]): void {
  const values = [
    CANARY,
    ...[...sm.secrets.values()],
    PRIVATE_PEM.split('\n')[1] as string,
    CREDENTIALS.secretAccessKey,
  ];
  for (const t of texts) for (const v of values) if (v.length >= 12) expect(t).not.toContain(v);
}

describe('helmgate bootstrap --stage test', () => {
  test('the first run (non-interactive) creates what can be generated, points the App webhook at the stage, lists what needs a person and exits 1', async () => {
    const r = await bootstrapCli(['--yes']);
    expect(r.code).toBe(1);
    // generated: never person-supplied, never printed
    expect(sm.writes).toEqual([
      { op: 'CreateSecret', name: 'helmgate/github-webhook' },
      { op: 'CreateSecret', name: 'helmgate/approval-signing-key' },
      { op: 'CreateSecret', name: 'helmgate/api-tokens' },
    ]);
    expect(sm.secrets.get('helmgate/github-webhook')).toMatch(/^[0-9a-f]{64}$/);
    expect(sm.secrets.get('helmgate/api-tokens')).toMatch(/^[\w-]{43}$/);
    expect(sm.descriptions.get('helmgate/github-webhook')).toContain('helmgate test');
    // the App's webhook now points at the stage, as JSON, signed with the secret just created
    expect(github.appHookWrites).toEqual([{ fields: ['url', 'content_type', 'secret'] }]);
    expect(github.appHook).toEqual({
      url: `${API_URL}/webhook`,
      content_type: 'json',
      secret: sm.secrets.get('helmgate/github-webhook'),
    });
    expect(github.appRefusals).toEqual([]);
    // the person-supplied ones are reported with what to do; Slack is optional
    expect(r.stdout).toMatch(/MISSING +secret helmgate\/github-oauth/);
    expect(r.stdout).toMatch(/MISSING +secret helmgate\/staging\/cluster/);
    expect(r.stdout).toMatch(/MISSING +secret helmgate\/production\/cluster/);
    expect(r.stdout).toMatch(/optional +secret helmgate\/slack /);
    expect(r.stdout).toMatch(/created +secret helmgate\/github-webhook/);
    expect(r.stdout).toMatch(/fixed +webhook +URL https:\/\/old\.example\.org\/webhook → https:\/\/abc123/);
    expect(r.stdout).toMatch(/ok +GitHub App +helmgate-idr \(App 4242\): credentials and installation work/);
    expect(r.stdout).toContain('still missing:');
    expect(r.stdout).toMatch(/ok +stage +test in eu-west-1, API https:\/\/abc123/);
    expect(r.stdout).toMatch(/ok +policy +helmgate-policy\.yaml: staging, production/);
    // the deploy config's secret exists; the clusters' do not (secrets check names them)
    expect(r.stdout).toMatch(/ok +app\/token#token/);
    expect(r.stdout).toMatch(/MISSING +helmgate\/staging\/cluster/);
    expect(sm.signatureRefusals).toEqual([]);
    expect(lambda.requests.every((q) => q.problem === undefined)).toBe(true);
    expectNoSecretIn([r.stdout, r.stderr]);
  });

  test('on a terminal it asks for what a person must supply, hidden values without echo, and derives the runner’s Slack secret', async () => {
    const writesBefore = sm.writes.length;
    const prompter = scripted([
      // OAuth, Slack (optional: y), then the clusters in the policy's order
      TYPED.oauthId,
      TYPED.oauthSecret,
      'y',
      TYPED.slackBot,
      TYPED.slackSigning,
      TYPED.slackChannel,
      TYPED.server,
      TYPED.ca,
      TYPED.stagingToken,
      TYPED.server,
      TYPED.ca,
      TYPED.productionToken,
    ]);
    const r = await bootstrapCli([], { prompter });
    expect(r.code).toBe(0);
    expect(sm.writes.slice(writesBefore).map((w) => w.name)).toEqual(
      expect.arrayContaining([
        'helmgate/github-oauth',
        'helmgate/slack',
        'helmgate/slack-bot',
        'helmgate/staging/cluster',
        'helmgate/production/cluster',
      ]),
    );
    expect(sm.writes.length - writesBefore).toBe(5);
    // every secret field was asked hidden; ids, URLs and channels may show
    const hiddenAsked = prompter.questions.filter((q) => q.hidden).map((q) => q.q);
    expect(hiddenAsked).toEqual([
      expect.stringContaining('client secret'),
      expect.stringContaining('bot token'),
      expect.stringContaining('signing secret'),
      expect.stringContaining('helmgate/staging/cluster: service account token'),
      expect.stringContaining('helmgate/production/cluster: service account token'),
    ]);
    expect(JSON.parse(sm.secrets.get('helmgate/slack-bot') as string)).toEqual({
      botToken: TYPED.slackBot,
      channel: TYPED.slackChannel,
    });
    expect(JSON.parse(sm.secrets.get('helmgate/staging/cluster') as string)).toEqual({
      server: TYPED.server,
      certificateAuthorityData: TYPED.ca,
      token: TYPED.stagingToken,
    });
    // the App was right already: its webhook is not written again
    expect(github.appHookWrites).toHaveLength(1);
    expect(r.stdout).toContain('5 changes made');
    expect(r.stdout).toContain('nothing is missing');
    expectNoSecretIn([r.stdout, r.stderr]);
    for (const v of [TYPED.oauthSecret, TYPED.slackBot, TYPED.slackSigning, TYPED.stagingToken])
      expect(r.stdout + r.stderr).not.toContain(v);
  });

  test('run again, it changes nothing — no write to Secrets Manager or the App — and says nothing to do', async () => {
    const smWrites = sm.writes.length;
    const hookWrites = github.appHookWrites.length;
    const r = await bootstrapCli(['--yes']);
    expect(r.code).toBe(0);
    expect(sm.writes.slice(smWrites)).toEqual([]);
    expect(github.appHookWrites.slice(hookWrites)).toEqual([]);
    expect(r.stdout).toContain('nothing to do: stage test has everything it needs');
    expect(r.stdout).not.toMatch(/MISSING|created|fixed/);
    expectNoSecretIn([r.stdout, r.stderr]);

    const json = await bootstrapCli(['--yes', '--json']);
    expect(json.code).toBe(0);
    const doc = JSON.parse(json.stdout) as { ok: boolean; writes: number; items: Array<{ status: string }> };
    expect(doc.ok).toBe(true);
    expect(doc.writes).toBe(0);
    expect(doc.items.every((i) => ['ok', 'note'].includes(i.status))).toBe(true);
  });

  test('a wrong webhook URL on the App is put back, and only the URL is written (the secret stays)', async () => {
    const secretBefore = github.appHook?.secret;
    // someone pointed the App elsewhere (GitHub's settings page, another stage's bootstrap)
    const hookWrites = github.appHookWrites.length;
    (github as unknown as { app: { hook: { url: string } } }).app.hook.url =
      'https://staging.example.org/webhook';
    const r = await bootstrapCli(['--yes']);
    expect(r.code).toBe(0);
    expect(github.appHookWrites.slice(hookWrites)).toEqual([{ fields: ['url'] }]);
    expect(github.appHook?.url).toBe(`${API_URL}/webhook`);
    expect(github.appHook?.secret).toBe(secretBefore);
    expect(r.stdout).toMatch(/fixed +webhook +URL https:\/\/staging\.example\.org\/webhook → /);
    expect(r.stdout).toContain('1 change made (webhook)');
    expectNoSecretIn([r.stdout, r.stderr]);
  });

  test('--rotate gives a generated secret a new value; the webhook secret in two steps, so the webhook never refuses GitHub', async () => {
    const oldWebhook = sm.secrets.get('helmgate/github-webhook') as string;
    const oldToken = sm.secrets.get('helmgate/api-tokens') as string;
    const appSecretBefore = github.appHook?.secret;
    const writes = sm.writes.length;
    const hookWrites = github.appHookWrites.length;
    const r = await bootstrapCli([
      '--yes',
      '--rotate',
      'helmgate/github-webhook',
      '--rotate',
      'helmgate/api-tokens',
    ]);
    expect(r.code).toBe(0);
    expect(sm.writes.slice(writes)).toEqual([
      { op: 'PutSecretValue', name: 'helmgate/github-webhook' },
      { op: 'PutSecretValue', name: 'helmgate/api-tokens' },
    ]);
    // step 1: both accepted, GitHub still signs with the old one (the webhook caches the list 5 minutes)
    const webhook = JSON.parse(sm.secrets.get('helmgate/github-webhook') as string) as { secrets: string[] };
    expect(webhook.secrets).toEqual([expect.stringMatching(/^[0-9a-f]{64}$/), oldWebhook]);
    expect(github.appHookWrites.slice(hookWrites)).toEqual([]);
    expect(github.appHook?.secret).toBe(appSecretBefore);
    expect(JSON.parse(sm.secrets.get('helmgate/api-tokens') as string)).toEqual({
      tokens: [expect.stringMatching(/^[\w-]{43}$/), oldToken],
    });
    expect(r.stdout).toMatch(/rotated +secret helmgate\/github-webhook +.*step 1 of 2/);
    expect(r.stdout + r.stderr).not.toContain(webhook.secrets[0] as string);
    expect(r.stdout + r.stderr).not.toContain(oldWebhook);

    // a run without --rotate leaves the rotation where it is
    const between = await bootstrapCli(['--yes']);
    expect(between.stdout).toContain('nothing to do');
    expect(sm.writes.length).toBe(writes + 2);

    // step 2: the App signs with the new one, the old one is dropped
    const r2 = await bootstrapCli(['--yes', '--rotate', 'helmgate/github-webhook']);
    expect(r2.code).toBe(0);
    expect(JSON.parse(sm.secrets.get('helmgate/github-webhook') as string)).toEqual({
      secrets: [webhook.secrets[0]],
    });
    expect(github.appHookWrites.slice(hookWrites)).toEqual([{ fields: ['secret'] }]);
    expect(github.appHook?.secret).toBe(webhook.secrets[0]);
    expect(r2.stdout).toMatch(/rotated +secret helmgate\/github-webhook +.*step 2 of 2/);

    const refused = await bootstrapCli(['--yes', '--rotate', 'helmgate/slack']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('--rotate: helmgate/slack cannot be rotated by bootstrap');
    expect(sm.writes.length).toBe(writes + 3);
  });

  test('an unusable existing value is reported, never overwritten', async () => {
    const good = sm.secrets.get('helmgate/slack') as string;
    sm.secrets.set('helmgate/slack', JSON.stringify({ botToken: `not-a-token-${CANARY}` }));
    try {
      const writes = sm.writes.length;
      const r = await bootstrapCli(['--yes']);
      expect(r.code).toBe(1);
      expect(sm.writes.length).toBe(writes);
      expect(r.stdout).toMatch(
        /INVALID +secret helmgate\/slack +Slack messages and buttons \(optional\): the Slack secret is invalid at: botToken/,
      );
      expect(r.stdout).toContain('bootstrap never overwrites a value');
      expectNoSecretIn([r.stdout, r.stderr]);
    } finally {
      sm.secrets.set('helmgate/slack', good);
    }
  });

  test('requests signed with other credentials are refused, and the error names no secret', async () => {
    const r = await bootstrapCli(['--yes'], { env: { AWS_SECRET_ACCESS_KEY: `wrong-${CANARY}` } });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /helmgate: reading the configuration of helmgate-test-webhook failed: InvalidSignatureException/,
    );
    expectNoSecretIn([r.stdout, r.stderr]);
  });

  test('before the first deploy: the URL-bound steps wait, the App step prints the setup command, and nothing the stack creates is made', async () => {
    const fresh = await new SecretsManagerStandIn({}, { credentials: CREDENTIALS, region: REGION }).start();
    // created earlier without a value (a console click, an interrupted script): given its first one
    fresh.valueless.add('helmgate/approval-signing-key');
    const noStack = await new LambdaApiStandIn({ credentials: CREDENTIALS, region: REGION }).start();
    try {
      const r = await bootstrapCli(['--yes'], {
        env: { HELMGATE_SECRETS_ENDPOINT: fresh.url, HELMGATE_LAMBDA_ENDPOINT: noStack.url },
      });
      expect(r.code).toBe(1);
      expect(fresh.writes).toEqual([
        { op: 'CreateSecret', name: 'helmgate/github-webhook' },
        { op: 'PutSecretValue', name: 'helmgate/approval-signing-key' },
        { op: 'CreateSecret', name: 'helmgate/api-tokens' },
      ]);
      expect(r.stdout).toMatch(
        /created +secret helmgate\/approval-signing-key +.*random, given its first value/,
      );
      // the digest key is a CloudFormation resource: creating it first would fail the deploy
      expect(fresh.secrets.has('helmgate/digest-key')).toBe(false);
      expect(r.stdout).toMatch(/pending +stage +test is not deployed in eu-west-1 yet/);
      expect(r.stdout).toMatch(/pending +secret helmgate\/digest-key/);
      expect(r.stdout).toMatch(/pending +GitHub App/);
      expect(r.stdout).toContain('npx helmgate setup github --stage test');
      expect(r.stdout).toMatch(/pending +secret helmgate\/github-oauth .*setup github/);
      expectNoSecretIn([r.stdout, r.stderr]);
    } finally {
      await fresh.close();
      await noStack.close();
    }
  });

  test('the App step calls the injected createGithubApp with the stage, URL and secret names', async () => {
    const fresh = await new SecretsManagerStandIn({}, { credentials: CREDENTIALS, region: REGION }).start();
    const seen: unknown[] = [];
    let stdout = '';
    try {
      const code = await runCli(
        ['bootstrap', '--stage', 'test', '--yes', '--url', 'https://deploy.example.org'],
        {
          stdout: (s) => {
            stdout += s;
          },
          stderr: () => {},
          env: {
            AWS_REGION: REGION,
            AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
            AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
            HELMGATE_SECRETS_ENDPOINT: fresh.url,
            HELMGATE_LAMBDA_ENDPOINT: lambda.url,
            HELMGATE_GITHUB_API_URL: github.url,
            PATH: process.env.PATH,
          },
          cwd: repo.dir,
          isTTY: false,
          prompter: undefined,
          createGithubApp: async (ctx) => {
            seen.push({ ...ctx, say: undefined });
            // what `helmgate setup github` does: store the App's credentials
            fresh.secrets.set(ctx.appSecretId, APP_SECRET);
            return { created: true };
          },
        },
      );
      outputs.push(stdout);
      expect(seen).toEqual([
        expect.objectContaining({
          stage: 'test',
          region: REGION,
          publicUrl: 'https://deploy.example.org',
          appSecretId: 'helmgate/github-app',
          oauthSecretId: 'helmgate/github-oauth',
          webhookSecretId: 'helmgate/github-webhook',
          interactive: false,
        }),
      ]);
      expect(stdout).toMatch(/ok +GitHub App +helmgate-idr \(App 4242\): credentials and installation work/);
      expect(stdout).toMatch(/fixed +webhook +URL .* → https:\/\/deploy\.example\.org\/webhook/);
      expect(code).toBe(1); // the digest key and the person-supplied secrets are still missing
    } finally {
      await fresh.close();
    }
  });

  test('on a terminal without an App, it runs setup github (the manifest flow in a browser), then says where to install it', async () => {
    const fresh = await new SecretsManagerStandIn(
      {
        'helmgate/digest-key': 'd'.repeat(64),
        'helmgate/staging/cluster': JSON.stringify({ server: 'https://k', token: `${CANARY}-s` }),
        'helmgate/production/cluster': JSON.stringify({ server: 'https://k', token: `${CANARY}-p` }),
        'app/token': JSON.stringify({ token: CANARY }),
      },
      { credentials: CREDENTIALS, region: REGION },
    ).start();
    const gh = await new GithubApiStandIn().start();
    // setup github's Secrets Manager client takes the SDK's credentials from the process
    const saved = { id: process.env.AWS_ACCESS_KEY_ID, key: process.env.AWS_SECRET_ACCESS_KEY };
    process.env.AWS_ACCESS_KEY_ID = CREDENTIALS.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = CREDENTIALS.secretAccessKey;
    const prompter = scripted(['n', 'y']); // no Slack; yes, create the App
    const opened: string[] = [];
    let stdout = '';
    let stderr = '';
    try {
      const code = await runCli(['bootstrap', '--stage', 'test'], {
        stdout: (x) => {
          stdout += x;
        },
        stderr: (x) => {
          stderr += x;
        },
        env: {
          PATH: process.env.PATH,
          AWS_REGION: REGION,
          AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
          AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
          HELMGATE_SECRETS_ENDPOINT: fresh.url,
          HELMGATE_LAMBDA_ENDPOINT: lambda.url,
          HELMGATE_GITHUB_API_URL: gh.url,
          HELMGATE_GITHUB_WEB_URL: gh.url,
        },
        cwd: repo.dir,
        isTTY: false,
        prompter,
        openBrowser: roundTripBrowser([], opened),
      });
      outputs.push(stdout, stderr);
      expect(prompter.questions.map((q) => q.q)).toEqual([
        expect.stringContaining('Slack'),
        'No GitHub App yet: create it now, in your browser? [Y/n] ',
      ]);
      expect(opened).toHaveLength(1);
      const made = [...gh.manifestApps.values()][0];
      if (!made) throw new Error('no App was made');
      // the App points at the stage: webhook and login callback on the deployed API's URL
      expect(made.manifest.hook_attributes.url).toBe(`${API_URL}/webhook`);
      expect(
        fresh.writes.filter((w) => w.name === 'helmgate/github-app' || w.name === 'helmgate/github-oauth'),
      ).toEqual([
        { op: 'CreateSecret', name: 'helmgate/github-app' },
        { op: 'CreateSecret', name: 'helmgate/github-oauth' },
      ]);
      // setup github put the App's client id and secret in the login secret (the login function reads
      // only that one), and none in the App secret; nothing was asked for it
      expect(JSON.parse(fresh.secrets.get('helmgate/github-oauth') as string)).toEqual({
        client_id: made.client_id,
        client_secret: made.client_secret,
        kind: 'github-app',
      });
      expect(fresh.secrets.get('helmgate/github-app')).not.toContain(made.client_secret);
      expect(stdout).toMatch(/ok +secret helmgate\/github-oauth +GitHub login of approvers/);
      // not installed yet: bootstrap says where, and exits 1 until it is
      expect(stdout).toMatch(
        new RegExp(
          `MISSING +GitHub App on idr/deployment +App ${made.slug} is not installed on idr/deployment`,
        ),
      );
      expect(stdout).toContain(`install it: ${gh.url}/apps/${made.slug}/installations/new`);
      expect(code).toBe(1);
      for (const v of [made.pem.split('\n')[1] as string, made.client_secret, made.webhook_secret])
        expect(stdout + stderr).not.toContain(v);
    } finally {
      if (saved.id === undefined) delete process.env.AWS_ACCESS_KEY_ID;
      else process.env.AWS_ACCESS_KEY_ID = saved.id;
      if (saved.key === undefined) delete process.env.AWS_SECRET_ACCESS_KEY;
      else process.env.AWS_SECRET_ACCESS_KEY = saved.key;
      await gh.close();
      await fresh.close();
    }
  });

  test('no secret value appeared in any output of any run', () => {
    expect(outputs.length).toBeGreaterThan(10);
    expectNoSecretIn(outputs);
    for (const v of Object.values(TYPED).filter((v) => v.includes(CANARY)))
      for (const o of outputs) expect(o).not.toContain(v);
  });
});

describe('the terminal prompter', () => {
  function fakeTty(keys: string) {
    const listeners: Array<(c: string) => void> = [];
    const modes: boolean[] = [];
    return {
      modes,
      input: {
        isTTY: true,
        setRawMode: (m: boolean) => modes.push(m),
        on: (_e: 'data', fn: (c: Buffer | string) => void) => listeners.push(fn),
        removeListener: () => undefined,
        resume: () => {
          setImmediate(() => {
            for (const l of [...listeners]) l(keys);
          });
        },
        pause: () => undefined,
        setEncoding: () => undefined,
      },
    };
  }

  test('a hidden answer is read in raw mode and never written back, backspace edits it', async () => {
    const tty = fakeTty(`${CANARY}x\u007f\r`);
    let written = '';
    const answer = await ttyPrompter(tty.input, (s) => {
      written += s;
    }).ask('Slack bot token (not echoed): ', { hidden: true });
    expect(answer).toBe(CANARY);
    expect(written).toBe('Slack bot token (not echoed): \n');
    expect(tty.modes).toEqual([true, false]);
  });

  test('answers typed ahead in one chunk (a paste) go to the next questions, CRLF ends one answer', async () => {
    const tty = fakeTty('C0123\r\nsecond\rthird\n');
    const p = ttyPrompter(tty.input, () => undefined);
    expect(await p.ask('one: ', { hidden: false })).toBe('C0123');
    expect(await p.ask('two: ', { hidden: true })).toBe('second');
    expect(await p.ask('three: ', { hidden: true })).toBe('third');
  });

  test('a visible answer is echoed; Ctrl-C aborts', async () => {
    let written = '';
    const visible = await ttyPrompter(fakeTty('C0123\r').input, (s) => {
      written += s;
    }).ask('channel: ', { hidden: false });
    expect(visible).toBe('C0123');
    expect(written).toBe('channel: C0123\n');
    await expect(
      ttyPrompter(fakeTty('abc\u0003').input, () => undefined).ask('q: ', { hidden: true }),
    ).rejects.toThrow('interrupted');
  });
});
