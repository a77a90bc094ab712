import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { fixedClock, systemClock } from '../../../lib/clock';
import { DRIFT_KIND, type EnvironmentDrift } from '../../../lib/deploy/drift';
import { RecordingDispatcher } from '../../../lib/dispatch/dispatcher';
import { createGithubClient } from '../../../lib/github/octokit';
import { GithubDeploymentsReporter } from '../../../lib/github/status-reporter';
import { ConsoleNotifier, FanOutNotifier } from '../../../lib/notify/notifier';
import type { Policy } from '../../../lib/policy/policy';
import { checkDrift } from '../../../lib/runner/drift-check';
import { SlackNotifier } from '../../../lib/slack/slack-notifier';
import { createSlackWebClient } from '../../../lib/slack/web-client';
import { sweep } from '../../../lib/sweeper/sweeper';
import { overviewCards } from '../../../lib/web/dashboard-data';
import { renderDeploymentPage } from '../../../lib/web/deployment-page';
import { renderOverview } from '../../../lib/web/overview';
import { startDynalite, type TestDynamo } from '../../helpers/dynalite';
import { policyOfTree } from '../../helpers/policy';
import { GithubApiStandIn } from '../../stand-ins/github-api';
import { KubeApiStandIn } from '../../stand-ins/kube-api';
import { SlackApiStandIn } from '../../stand-ins/slack-api';
import { CANARY, type Harness, makeHarness, REPOSITORY, runnerRepo } from './harness';

/**
 * Drift detection (issue 13, item 4) with the real helm against the Kubernetes stand-in: the drift check
 * is a runner job; a hand-edited Deployment is reported once per change (Slack, a GitHub commit status,
 * the dashboard), with `correct` it is repaired by a redeploy of the same commit through the normal path,
 * and no secret — neither one helmgate knows nor one typed into the cluster by hand — is stored or shown.
 */

const DEPLOY_YAML = `apiVersion: helmgate/v1
environments:
  staging:
    approval: none
    cluster: { secret: test/cluster }
    releases:
      - name: web
        namespace: web
        chart: ./charts/web
      - name: vault
        namespace: vault
        chart: ./charts/vault
        secretValues:
          password: { secret: app/db, key: password }
  production:
    approval: required
    after: staging
    approvers: { github: [alice] }
    cluster: { secret: test/cluster }
    releases:
      - name: front
        namespace: front
        chart: ./charts/web
`;

/** A chart whose Secret and env carry the deployment's secret value (the harness's CANARY). */
const VAULT_CHART = {
  'charts/vault/Chart.yaml': 'apiVersion: v2\nname: vault\nversion: 0.1.0\n',
  'charts/vault/values.yaml': 'password: ""\ngreeting: hello\n',
  'charts/vault/templates/secret.yaml': `apiVersion: v1
kind: Secret
metadata:
  name: {{ .Release.Name }}-creds
type: Opaque
stringData:
  password: {{ .Values.password | quote }}
data:
  token: {{ .Values.password | b64enc | quote }}
`,
  'charts/vault/templates/deployment.yaml': `apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
spec:
  replicas: 1
  selector:
    matchLabels: { app: vault }
  template:
    metadata:
      labels: { app: vault }
    spec:
      containers:
        - name: vault
          image: registry.example/vault:1
          env:
            - name: DB_URL
              value: "postgres://app:{{ .Values.password }}@db/app"
            - name: API_TOKEN
              value: {{ .Values.password | quote }}
            - name: GREETING
              value: {{ .Values.greeting | quote }}
`,
};

const TOKEN = 'xoxb-drift-test-0001';
let db: TestDynamo;
let kube: KubeApiStandIn;
let slack: SlackApiStandIn;
let github: GithubApiStandIn;
let repo: ReturnType<typeof runnerRepo>;
let h: Harness;
let policy: Policy;
let staging: string;

const withDrift = (p: Policy, env: string, drift: 'off' | 'warn' | 'correct'): Policy => {
  const copy = structuredClone(p);
  const e = copy.repositories['*']?.environments[env];
  if (e) e.drift = drift;
  return copy;
};

function depsWith(p: Policy) {
  const logger = h.deps.logger;
  const notifier = new FanOutNotifier(
    [
      h.notifier,
      new ConsoleNotifier(logger),
      new SlackNotifier({
        client: createSlackWebClient({ botToken: TOKEN, slackApiUrl: slack.apiUrl, logger, retries: 1 }),
        channel: 'C0DRIFT',
        store: db.store,
        clock: systemClock,
        logger,
        redactor: h.redactor,
        publicUrl: 'https://helmgate.example',
      }),
      new GithubDeploymentsReporter({
        octokit: createGithubClient({ baseUrl: github.url, logger, retryAfterBaseMs: 1 }),
        store: db.store,
        publicUrl: 'https://helmgate.example',
        clock: systemClock,
        logger,
        redactor: h.redactor,
      }),
    ],
    logger,
  );
  return { ...h.deps, policy: p, notifier };
}

const driftPosts = () => slack.callsOf('chat.postMessage').filter((c) => c.body.channel === 'C0DRIFT');
const statuses = (env: string) =>
  github.commitStatuses.filter((s) => s.context === `helmgate/drift/${env}`).map((s) => s.state);
const driftItem = async (env: string) =>
  db.store.getItem<EnvironmentDrift & Record<string, unknown>>(DRIFT_KIND, `${REPOSITORY}#${env}`);

beforeAll(async () => {
  db = await startDynalite();
  kube = await KubeApiStandIn.start();
  slack = await new SlackApiStandIn({ token: TOKEN }).start();
  github = await new GithubApiStandIn().start();
  repo = runnerRepo({ 'deploy.yaml': DEPLOY_YAML, ...VAULT_CHART });
  policy = policyOfTree(repo.dir);
  h = makeHarness({ db, kube, repoDir: repo.dir, policy });
  const first = await h.queue(repo.head());
  await h.run(first.id);
  expect((await db.store.getDeployment(first.id))?.status).toBe('succeeded');
  staging = first.id;
});

afterAll(async () => {
  await slack.close();
  await github.close();
  await kube.close();
  await db.close();
});

test('the policy default is warn: an untouched environment is in line and reports nothing, with no helm process', async () => {
  const calls = h.calls.length;
  const requests = kube.requests.length;
  const r = await checkDrift(depsWith(policy), staging);
  // the deployed manifests come from helm's release records, read in-process: no `helm get manifest`
  expect(h.calls.slice(calls)).toEqual([]);
  const recordReads = kube.requests
    .slice(requests)
    .filter((q) => q.method === 'GET' && /\/secrets\/sh\.helm\.release\.v1\./.test(q.path));
  expect(recordReads.map((q) => q.path).sort()).toEqual([
    '/api/v1/namespaces/vault/secrets/sh.helm.release.v1.vault.v1',
    '/api/v1/namespaces/web/secrets/sh.helm.release.v1.web.v1',
  ]);
  expect(r).toMatchObject({ kind: 'drift-checked', drifted: [], reported: 0 });
  expect(driftPosts()).toHaveLength(0);
  expect(statuses('staging')).toEqual([]);
});

test('a hand-edited Deployment is reported once; the same drift again reports nothing; a different drift once; fixed: back in line once', async () => {
  const deps = depsWith(policy);
  const live = kube.get('Deployment', 'web', 'web');
  if (!live) throw new Error('web is not installed');
  live.spec.replicas = 3;
  kube.put(live);

  expect(await checkDrift(deps, staging)).toMatchObject({ drifted: ['web'], reported: 1 });
  expect(driftPosts()).toHaveLength(1);
  const text = JSON.stringify(driftPosts()[0]?.body);
  expect(text).toContain('spec.replicas: 1 → 3');
  expect(text).toContain('Deployment web/web');
  expect(statuses('staging')).toEqual(['failure']);
  const stored = await driftItem('staging');
  expect(stored?.releases.web?.drift.objects).toEqual([
    { object: 'Deployment web/web', fields: [{ path: 'spec.replicas', deployed: '1', live: '3' }] },
  ]);

  // the same drift: nothing new anywhere
  expect(await checkDrift(deps, staging)).toMatchObject({ drifted: ['web'], reported: 0 });
  expect(driftPosts()).toHaveLength(1);
  expect(statuses('staging')).toEqual(['failure']);

  // a different drift of the same release: reported once more
  const again = kube.get('Deployment', 'web', 'web') as NonNullable<ReturnType<typeof kube.get>>;
  again.spec.template.spec.containers[0].image = 'registry.example/web:hotfix';
  kube.put(again);
  expect(await checkDrift(deps, staging)).toMatchObject({ drifted: ['web'], reported: 1 });
  expect(driftPosts()).toHaveLength(2);
  expect(JSON.stringify(driftPosts()[1]?.body)).toContain('containers[web].image');

  // the dashboard shows the badge and the diff
  const cards = await overviewCards(
    { store: db.store, approvals: { view: async () => undefined }, approvers: () => ({}) as never },
    { login: 'alice', teams: [] },
  );
  const html = renderOverview(cards, {
    login: 'alice',
    now: new Date(),
    githubWebUrl: 'https://github.com',
    nonce: 'n',
    csrfFor: () => 'c',
  });
  expect(html).toContain('s-drifted');
  expect(html).toContain('spec.template.spec.containers[web].image');

  // put back by hand: "back in line", once
  const fixed = kube.get('Deployment', 'web', 'web') as NonNullable<ReturnType<typeof kube.get>>;
  fixed.spec.replicas = 1;
  fixed.spec.template.spec.containers[0].image = 'registry.example/web:1.0.0';
  kube.put(fixed);
  expect(await checkDrift(deps, staging)).toMatchObject({ drifted: [], reported: 1 });
  expect(driftPosts()).toHaveLength(3);
  expect(JSON.stringify(driftPosts()[2]?.body)).toContain('back in line');
  expect(statuses('staging')).toEqual(['failure', 'failure', 'success']);
  expect(await checkDrift(deps, staging)).toMatchObject({ drifted: [], reported: 0 });
  expect(driftPosts()).toHaveLength(3);
});

test('correct: the drifted release is redeployed (same commit, normal path, not skipped as unchanged) and then reported back in line', async () => {
  const deps = depsWith(withDrift(policy, 'staging', 'correct'));
  const live = kube.get('Deployment', 'web', 'web') as NonNullable<ReturnType<typeof kube.get>>;
  live.spec.replicas = 5;
  kube.put(live);
  const jobs = h.dispatcher.jobs.length;

  const r = await checkDrift(deps, staging);
  expect(r).toMatchObject({ kind: 'drift-checked', drifted: ['web'], reported: 1 });
  const correction = (r as { correction?: string }).correction as string;
  const d = await db.store.getDeployment(correction);
  expect(d).toMatchObject({ sha: repo.head(), status: 'queued', trigger: 'redeploy' });
  expect(d?.requestedBy).toBe('helmgate drift check');
  // dispatched through the lifecycle, as a push's deployment would be
  expect(h.dispatcher.jobs.slice(jobs)).toContainEqual({ deploymentId: correction });
  // a second check before it ran opens no second one
  expect(await checkDrift(deps, staging)).toMatchObject({ reported: 0 });
  expect(
    (await db.store.listByEnvironment(REPOSITORY, 'staging')).filter((x) => x.status === 'queued'),
  ).toHaveLength(1);

  await h.run(correction);
  const ran = await db.store.getDeployment(correction);
  expect(ran?.status).toBe('succeeded');
  const byName = Object.fromEntries((ran?.releases ?? []).map((x) => [x.name, x]));
  expect(byName.web).toMatchObject({ status: 'succeeded', revision: 2 });
  expect(byName.vault).toMatchObject({ status: 'skipped', reason: 'unchanged' });
  expect(kube.get('Deployment', 'web', 'web')?.spec.replicas).toBe(1);

  const posts = driftPosts().length;
  expect(await checkDrift(deps, correction)).toMatchObject({ drifted: [], reported: 1 });
  expect(JSON.stringify(driftPosts()[posts]?.body)).toContain('back in line');
  expect(statuses('staging').at(-1)).toBe('success');
  staging = correction;
});

test('correct in production waits for its approval (offered), and no second correction opens while it waits', async () => {
  const prod = await h.queue(repo.head(), 'production', { approval: 'required' });
  await h.run(prod.id);
  expect((await db.store.getDeployment(prod.id))?.status).toBe('succeeded');
  const deps = depsWith(withDrift(policy, 'production', 'correct'));
  const live = kube.get('Deployment', 'front', 'front') as NonNullable<ReturnType<typeof kube.get>>;
  live.spec.replicas = 2;
  kube.put(live);
  const r = (await checkDrift(deps, prod.id)) as { correction?: string };
  const waiting = await db.store.getDeployment(r.correction as string);
  expect(waiting).toMatchObject({
    status: 'awaiting_approval',
    approval: 'required',
    environment: 'production',
  });
  expect(h.dispatcher.jobs).toContainEqual({ deploymentId: waiting?.id, purpose: 'offer' });

  const other = kube.get('Deployment', 'front', 'front') as NonNullable<ReturnType<typeof kube.get>>;
  other.spec.replicas = 4;
  kube.put(other);
  const second = await checkDrift(deps, prod.id);
  expect(second).toMatchObject({ reported: 1 });
  expect((second as { correction?: string }).correction).toBeUndefined();
  const env = await db.store.listByEnvironment(REPOSITORY, 'production');
  expect(env.filter((x) => x.status === 'awaiting_approval')).toHaveLength(1);
  expect(JSON.stringify(driftPosts().at(-1)?.body)).toContain(`${waiting?.id} is awaiting approval`);
});

test('no secret value reaches the store, Slack, GitHub, the logs or the dashboard: neither the known one nor values typed in by hand', async () => {
  const typed = {
    stringData: 'live-canary-stringdata-4be1c07f',
    token: 'live-canary-token-9d3aa61e',
    url: 'live-canary-url-0c55e2b7',
    apiToken: 'live-canary-apitoken-71f0d9c3',
    extra: 'live-canary-extra-e2a4b918',
  };
  const secret = kube.get('Secret', 'vault', 'vault-creds');
  if (!secret) throw new Error('vault is not installed');
  secret.stringData = { password: typed.stringData };
  secret.data = { token: Buffer.from(typed.token).toString('base64') };
  kube.put(secret);
  const dep = kube.get('Deployment', 'vault', 'vault') as NonNullable<ReturnType<typeof kube.get>>;
  dep.spec.template.spec.containers[0].env = [
    { name: 'DB_URL', value: `postgres://app:${typed.url}@db/app` },
    { name: 'API_TOKEN', value: typed.apiToken },
    { name: 'GREETING', value: 'hi' },
    { name: 'EXTRA', value: typed.extra },
  ];
  kube.put(dep);
  // the secret helmgate knows, typed by hand into a field that never held a secret
  const config = kube.get('ConfigMap', 'web', 'web-config') as NonNullable<ReturnType<typeof kube.get>>;
  config.data.greeting = `hi ${CANARY}`;
  kube.put(config);

  const r = await checkDrift(depsWith(policy), staging);
  expect(r).toMatchObject({ drifted: ['vault', 'web'] });
  const stored = await driftItem('staging');
  const objects = stored?.releases.vault?.drift.objects ?? [];
  // what is shown: keys and paths, the non-secret change, nothing of a secret
  expect(objects).toEqual([
    {
      object: 'Secret vault/vault-creds',
      fields: [
        { path: 'stringData.password', deployed: '(set)', live: '(changed)' },
        { path: 'data.token', deployed: '(set)', live: '(changed)' },
      ],
    },
    {
      object: 'Deployment vault/vault',
      fields: [
        {
          path: 'spec.template.spec.containers[vault].env[DB_URL].value',
          deployed: '(hidden)',
          live: '(hidden, changed)',
        },
        {
          path: 'spec.template.spec.containers[vault].env[API_TOKEN].value',
          deployed: '(hidden)',
          live: '(hidden, changed)',
        },
        {
          path: 'spec.template.spec.containers[vault].env[GREETING].value',
          deployed: '"hello"',
          live: '"hi"',
        },
        { path: 'spec.template.spec.containers[vault].env[EXTRA]', deployed: '(absent)', live: '(added)' },
      ],
    },
  ]);

  expect(stored?.releases.web?.drift.objects).toEqual([
    {
      object: 'ConfigMap web/web-config',
      fields: [{ path: 'data.greeting', deployed: '(hidden)', live: '(hidden, changed)' }],
    },
  ]);

  const { Items } = await db.client.send(new ScanCommand({ TableName: db.table }));
  const cards = await overviewCards(
    { store: db.store, approvals: { view: async () => undefined }, approvers: () => ({}) as never },
    { login: 'alice', teams: [] },
  );
  const ctx = {
    login: 'alice',
    now: new Date(),
    githubWebUrl: 'https://github.com',
    nonce: 'n',
    csrfFor: () => 'c',
  };
  const current = await db.store.getDeployment(staging);
  const page = current
    ? renderDeploymentPage({ deployment: current, audit: [], ...(stored ? { drift: stored } : {}) }, ctx)
    : '';
  expect(page).toContain('env[GREETING].value');
  const sinks: Record<string, string> = {
    store: JSON.stringify(Items),
    slack: JSON.stringify(slack.calls),
    github: JSON.stringify(github.calls),
    logs: h.logs.join('\n'),
    overview: renderOverview(cards, ctx),
    page,
  };
  const forms = (v: string) => [
    v,
    Buffer.from(v).toString('base64'),
    Buffer.from(v).toString('base64').replace(/=+$/, ''),
  ];
  for (const v of [CANARY, ...Object.values(typed)])
    for (const [sink, text] of Object.entries(sinks))
      for (const form of forms(v))
        expect({ sink, leaked: text.includes(form) }).toEqual({ sink, leaked: false });
  // and the report did go out (the test would pass vacuously otherwise)
  expect(JSON.stringify(driftPosts().at(-1)?.body)).toContain('env[GREETING].value');
});

test('a new commit deploys the drifted releases again (not skipped as unchanged); the next check reports them back in line on both commits', async () => {
  const before = await db.store.getDeployment(staging);
  repo.commit({ 'docs/notes.md': 'a change that touches no release\n' }, 'docs');
  const next = await h.queue(repo.head());
  await h.run(next.id);
  const done = await db.store.getDeployment(next.id);
  expect(done?.status).toBe('succeeded');
  const byName = Object.fromEntries((done?.releases ?? []).map((x) => [x.name, x]));
  // neither release changed in the commit: both run again only because the drift check marked them
  expect(byName.web?.status).toBe('succeeded');
  expect(byName.vault?.status).toBe('succeeded');
  for (const release of ['web', 'vault'])
    expect(
      h.logs.some(
        (l) =>
          l.includes('release drifted') &&
          l.includes(`"release":"${release}"`) &&
          l.includes('the drift check found'),
      ),
    ).toBe(true);
  expect(kube.get('ConfigMap', 'web', 'web-config')?.data.greeting).toBe('hello');

  expect(await checkDrift(depsWith(policy), next.id)).toMatchObject({ drifted: [], reported: 2 });
  const onOld = github.commitStatuses.filter(
    (s) => s.sha === before?.sha && s.context === 'helmgate/drift/staging',
  );
  const onNew = github.commitStatuses.filter(
    (s) => s.sha === repo.head() && s.context === 'helmgate/drift/staging',
  );
  expect(onOld.at(-1)?.state).toBe('success');
  expect(onNew.map((s) => s.state)).toEqual(['success']);
  staging = next.id;
});

test('the sweeper dispatches one drift check per environment per slot, to the runner, of what runs there', async () => {
  const dispatcher = new RecordingDispatcher();
  const clock = fixedClock('2026-11-26T04:10:00Z');
  const base = { store: db.store, notifier: h.notifier, dispatcher, logger: h.deps.logger, policy };
  const runs = async (env: string) =>
    (await db.store.listByEnvironment(REPOSITORY, env)).find((d) => d.status === 'succeeded')?.id;
  const first = await sweep({ ...base, clock });
  expect(first.driftChecks.sort()).toEqual([await runs('production'), await runs('staging')].sort());
  expect(dispatcher.jobs).toContainEqual({ deploymentId: await runs('staging'), purpose: 'drift' });
  // an overlapping sweep in the same 30-minute slot dispatches nothing more
  expect((await sweep({ ...base, clock: fixedClock('2026-11-26T04:25:00Z') })).driftChecks).toEqual([]);
  // the next slot does; `off` environments never
  const next = await sweep({
    ...base,
    policy: withDrift(policy, 'production', 'off'),
    clock: fixedClock('2026-11-26T04:31:00Z'),
  });
  expect(next.driftChecks).toEqual([await runs('staging')]);
});

test('off: the runner refuses a drift check', async () => {
  const r = await checkDrift(depsWith(withDrift(policy, 'staging', 'off')), staging);
  expect(r).toMatchObject({ kind: 'not-runnable', reason: 'drift checks are off for this environment' });
});
