import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { STSClient } from '@aws-sdk/client-sts';
import { renderApprovalPage } from '../../../lib/approval/approval-page';
import { ApprovalService } from '../../../lib/approval/approval-service';
import { systemClock } from '../../../lib/clock';
import type { Deployment } from '../../../lib/deploy/deployment';
import { RecordingDispatcher } from '../../../lib/dispatch/dispatcher';
import { createLogger } from '../../../lib/log/logger';
import type { ManifestsPreviewNotice, Notifier } from '../../../lib/notify/notifier';
import { cryptoRandom } from '../../../lib/random';
import { environmentSecretsProviders, parseEnvironmentRoles } from '../../../lib/runner/environment-secrets';
import { runPreviewJob } from '../../../lib/runner/preview-job';
import { planAt, type RunnerDeps, runDeployment } from '../../../lib/runner/runner';
import { SecretsManagerProvider } from '../../../lib/secrets/secrets-manager-provider';
import { SecretResolver } from '../../../lib/secrets/secrets-provider';
import { startDynalite, type TestDynamo } from '../../helpers/dynalite';
import { policyOfTree } from '../../helpers/policy';
import { KubeApiStandIn } from '../../stand-ins/kube-api';
import { SecretsManagerStandIn } from '../../stand-ins/secrets-manager';
import { StsStandIn } from '../../stand-ins/sts';
import { CANARY, type Harness, makeHarness, REPOSITORY, runnerRepo } from './harness';

/**
 * Issue 13, item 1, with per-environment roles (issue 11): the rendered-manifest diff shown before
 * production's approval is made by a `preview` job of the production deployment, under production's role,
 * against production's cluster — never inside the staging run that opens the approval. Real helm, two
 * Kubernetes API stand-ins (one per environment), STS and Secrets Manager stand-ins that play IAM with the
 * access key of each role.
 */

const STAGING_ROLE = 'arn:aws:iam::123456789012:role/helmgate-test-env-staging';
const PRODUCTION_ROLE = 'arn:aws:iam::123456789012:role/helmgate-test-env-production';
const RUNNER_KEY = 'AKIARUNNEROWNROLE001';
const STAGING_KEY = StsStandIn.accessKeyFor(STAGING_ROLE);
const PRODUCTION_KEY = StsStandIn.accessKeyFor(PRODUCTION_ROLE);

const DEPLOY_YAML = `apiVersion: helmgate/v1
environments:
  staging:
    approval: none
    cluster: { secret: helmgate/staging/cluster }
    releases:
      - name: web
        namespace: web-staging
        chart: ./charts/web
        values: [values/web.yaml]
        secretValues:
          token: { secret: app/db, key: password }
  production:
    approval: required
    after: staging
    cluster: { secret: helmgate/production/cluster }
    releases:
      - name: web
        namespace: web-production
        chart: ./charts/web
        values: [values/web.yaml]
        secretValues:
          token: { secret: app/db, key: password }
`;

let db: TestDynamo;
let stagingKube: KubeApiStandIn;
let productionKube: KubeApiStandIn;
let sts: StsStandIn;
let sm: SecretsManagerStandIn;
let repo: ReturnType<typeof runnerRepo>;
let h: Harness;
let deps: RunnerDeps;
let dispatcher: RecordingDispatcher;
const previews: ManifestsPreviewNotice[] = [];
/** secret ids each access key may read, as the generated IAM roles allow */
const reads: Record<string, string[]> = {
  [STAGING_KEY]: ['helmgate/staging/cluster', 'app/db'],
  [PRODUCTION_KEY]: ['helmgate/production/cluster', 'app/db'],
  [RUNNER_KEY]: ['helmgate/digest-key'],
};

beforeAll(async () => {
  db = await startDynalite();
  stagingKube = await KubeApiStandIn.start();
  productionKube = await KubeApiStandIn.start();
  sts = await new StsStandIn().start();
  sts.assumableRoles = [STAGING_ROLE, PRODUCTION_ROLE];
  sm = await new SecretsManagerStandIn({
    'helmgate/staging/cluster': JSON.stringify({ kubeconfig: stagingKube.kubeconfig() }),
    'helmgate/production/cluster': JSON.stringify({ kubeconfig: productionKube.kubeconfig() }),
    'app/db': JSON.stringify({ password: CANARY }),
    'helmgate/digest-key': 'preview-test-digest-key-0123456789abcdef',
  }).start();
  sm.allow = (key, id) => reads[key]?.includes(id) ?? false;

  repo = runnerRepo({ 'deploy.yaml': DEPLOY_YAML, 'values/web.yaml': 'greeting: hello\n' });
  const policy = policyOfTree(repo.dir);
  h = makeHarness({ db, kube: stagingKube, repoDir: repo.dir, policy });
  const { redactor } = h;
  const region = 'eu-west-1';
  const runnerCredentials = { accessKeyId: RUNNER_KEY, secretAccessKey: 'runner-secret' };
  const envProviders = environmentSecretsProviders({
    roles: parseEnvironmentRoles(
      JSON.stringify({ '*#staging': STAGING_ROLE, '*#production': PRODUCTION_ROLE }),
    ),
    sts: new STSClient({ region, endpoint: sts.url, credentials: runnerCredentials }),
    clock: systemClock,
    providerWith: (credentials) =>
      new SecretsManagerProvider(new SecretsManagerClient({ region, endpoint: sm.url, credentials })),
  });
  const own = new SecretsManagerProvider(
    new SecretsManagerClient({ region, endpoint: sm.url, credentials: runnerCredentials }),
  );
  dispatcher = new RecordingDispatcher();
  const notifier: Notifier = {
    deploymentChanged: async () => undefined,
    manifestsPreviewed: async (n) => {
      previews.push(n);
    },
  };
  const approvals = new ApprovalService({
    store: db.store,
    notifier,
    dispatcher,
    clock: systemClock,
    random: cryptoRandom,
    logger: createLogger({ redactor, clock: systemClock, write: () => {} }),
    redactor,
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
    planFor: async (waiting, ctx) =>
      ctx.sourceDir ? planAt(ctx.sourceDir, 'deploy.yaml', waiting, { policy }) : undefined,
  });
  deps = {
    ...h.deps,
    secrets: (d) => new SecretResolver(envProviders(d), redactor),
    ownSecrets: () => new SecretResolver(own, redactor),
    finished: approvals,
  };

  // both environments run the first commit (production's first deploy is approved by hand here)
  for (const env of ['staging', 'production']) {
    const d = await h.queue(repo.head(), env);
    await runDeployment(deps, { deploymentId: d.id });
    expect((await db.store.getDeployment(d.id))?.status).toBe('succeeded');
  }
}, 60_000);

afterAll(async () => {
  await Promise.all([stagingKube.close(), productionKube.close(), sts.close(), sm.close()]);
  await db.close();
});

/** A push of `files`: staging queued, production waiting for approval behind it. */
async function push(files: Record<string, string>, message: string) {
  const sha = repo.commit(files, message);
  const staging = await h.queue(sha, 'staging');
  const production = await h.queue(sha, 'production', { status: 'awaiting_approval', approval: 'required' });
  return { sha, staging, production };
}

/** What the effects since `mark` were: roles assumed, keys that read secrets, requests per cluster. */
function since(mark: { sts: number; sm: number; staging: number; production: number }) {
  return {
    roles: sts.assumed.slice(mark.sts).map((a) => a.roleArn),
    sessions: sts.assumed.slice(mark.sts).map((a) => a.sessionName),
    readers: new Set(sm.readers.slice(mark.sm)),
    stagingRequests: stagingKube.requests.slice(mark.staging),
    productionRequests: productionKube.requests.slice(mark.production),
  };
}
const markNow = () => ({
  sts: sts.assumed.length,
  sm: sm.readers.length,
  staging: stagingKube.requests.length,
  production: productionKube.requests.length,
});

function approvalPage(d: Deployment, request: Awaited<ReturnType<typeof db.store.getApprovalRequest>>) {
  return renderApprovalPage({
    state: {
      kind: 'open',
      login: 'alice',
      csrf: 'csrf',
      planDigest: request?.planDigest ?? '',
      rollbackNeeded: false,
      votes: 0,
      required: 1,
      alreadyVoted: false,
    },
    deployment: d,
    ...(request ? { request } : {}),
    audit: [],
  });
}

test("staging's run opens production's approval without touching production's cluster or role; production's preview job renders the diff with them", async () => {
  const { staging, production } = await push({ 'values/web.yaml': 'greeting: bonjour\n' }, 'bonjour');

  const beforeStaging = markNow();
  expect(await runDeployment(deps, { deploymentId: staging.id })).toMatchObject({ kind: 'finished' });
  expect((await db.store.getDeployment(staging.id))?.status).toBe('succeeded');
  const inStaging = since(beforeStaging);
  // the staging invocation held staging's role only, and never reached production's cluster
  expect(new Set(inStaging.roles)).toEqual(new Set([STAGING_ROLE]));
  expect(inStaging.readers.has(PRODUCTION_KEY)).toBe(false);
  expect(sm.reads.slice(beforeStaging.sm)).not.toContain('helmgate/production/cluster');
  expect(inStaging.productionRequests).toEqual([]);
  expect(inStaging.stagingRequests.length).toBeGreaterThan(0);

  // the approval is open at once, bound to the plan, and says its rendered diff is pending
  const pending = await db.store.getApprovalRequest(production.id);
  expect(pending).toMatchObject({ status: 'pending' });
  expect(pending?.manifests).toBeUndefined();
  expect(pending?.manifestsPending).toEqual(expect.any(String));
  expect(pending?.summary.join('\n')).toContain('rendered objects: being rendered');
  const waiting = (await db.store.getDeployment(production.id)) as Deployment;
  expect(approvalPage(waiting, pending)).toContain('id="manifests-pending"');
  // ...and a preview job of the production deployment was dispatched
  expect(dispatcher.jobs).toContainEqual({ deploymentId: production.id, purpose: 'preview' });

  const beforePreview = markNow();
  expect(await runDeployment(deps, { deploymentId: production.id, purpose: 'preview' })).toEqual({
    kind: 'waiting',
    reason: 'manifest preview recorded',
  });
  const inPreview = since(beforePreview);
  expect(new Set(inPreview.roles)).toEqual(new Set([PRODUCTION_ROLE]));
  expect(inPreview.sessions).toContain(`helmgate-${production.id}`.replace(/[^\w+=,.@-]/g, '_').slice(0, 64));
  expect(inPreview.readers.has(STAGING_KEY)).toBe(false);
  expect(inPreview.stagingRequests).toEqual([]);
  // helm read what production runs (its release records) from production's cluster
  expect(inPreview.productionRequests.some((q) => q.path.endsWith('/secrets'))).toBe(true);
  // nothing was deployed by a preview
  expect(inPreview.productionRequests.filter((q) => !['GET'].includes(q.method))).toEqual([]);

  const request = await db.store.getApprovalRequest(production.id);
  expect(request?.manifestsPending).toBeUndefined();
  expect(request?.manifests?.planDigest).toBe(request?.planDigest);
  const web = request?.manifests?.releases.find((r) => r.release === 'web');
  const cm = web?.objects.find((o) => o.ref.kind === 'ConfigMap' && o.ref.name === 'web-config');
  expect(cm?.change).toBe('changed');
  expect(cm?.diff).toContain('-  greeting: hello');
  expect(cm?.diff).toContain('+  greeting: bonjour');
  expect(JSON.stringify(request)).not.toContain(CANARY);
  expect(request?.summary.join('\n')).not.toContain('being rendered');
  expect(request?.summary.join('\n')).toMatch(/web: objects .*changed .*ConfigMap\/web-config/);
  // the approval page data has the diff; the Slack thread got its summary
  const page = approvalPage(waiting, request);
  expect(page).toContain('+  greeting: bonjour');
  expect(page).not.toContain('id="manifests-pending"');
  expect(previews.at(-1)?.deployment.id).toBe(production.id);
  expect(previews.at(-1)?.summary.join('\n')).toContain('ConfigMap/web-config');

  // a second preview job (Lambda retry, duplicate dispatch) changes nothing
  expect(await runDeployment(deps, { deploymentId: production.id, purpose: 'preview' })).toEqual({
    kind: 'not-runnable',
    reason: 'the preview is already recorded',
  });
  const audit = await db.store.listAudit(production.id);
  expect(audit.filter((a) => a.action === 'preview').map((a) => a.outcome)).toEqual(['recorded']);
}, 60_000);

test("a preview that cannot reach production's cluster says why on the approval page, instead of showing nothing", async () => {
  const { staging, production } = await push({ 'values/web.yaml': 'greeting: hola\n' }, 'hola');
  await runDeployment(deps, { deploymentId: staging.id });
  expect(await db.store.getApprovalRequest(production.id)).toMatchObject({ status: 'pending' });
  // production's role may no longer read its cluster secret (an IAM change)
  reads[PRODUCTION_KEY] = ['app/db'];
  try {
    expect(await runDeployment(deps, { deploymentId: production.id, purpose: 'preview' })).toMatchObject({
      kind: 'waiting',
    });
  } finally {
    reads[PRODUCTION_KEY] = ['helmgate/production/cluster', 'app/db'];
  }
  const request = await db.store.getApprovalRequest(production.id);
  expect(request?.manifestsPending).toBeUndefined();
  expect(request?.manifests?.unavailable).toMatch(/helmgate\/production\/cluster/);
  const page = approvalPage((await db.store.getDeployment(production.id)) as Deployment, request);
  expect(page).toMatch(/id="manifests-unavailable">Rendered diff not available: [^<]*production\/cluster/);
  // the approval itself still holds: the deployment waits for its vote
  expect(request?.status).toBe('pending');
  expect((await db.store.getDeployment(production.id))?.status).toBe('awaiting_approval');
}, 60_000);

test('the preview is bound to the plan digest: a plan that differs from the offered one is not rendered, and a diff for another plan is refused', async () => {
  const { sha, staging, production } = await push({ 'values/web.yaml': 'greeting: ciao\n' }, 'ciao');
  await runDeployment(deps, { deploymentId: staging.id });
  const offered = await db.store.getApprovalRequest(production.id);
  const approvals = deps.finished as ApprovalService;

  // a diff rendered for another plan never lands on this request
  expect(
    await approvals.recordPreview(production.id, {
      planDigest: 'sha256:another-plan',
      manifests: { planDigest: 'sha256:another-plan', renderedAt: new Date().toISOString(), releases: [] },
    }),
  ).toBe(false);
  expect((await db.store.getApprovalRequest(production.id))?.manifestsPending).toEqual(expect.any(String));

  // the commit plans differently now (say a chart repository re-published a pinned version): no render
  const before = markNow();
  const waiting = (await db.store.getDeployment(production.id)) as Deployment;
  const result = await runPreviewJob(
    { ...deps, recordPreview: (id, input) => approvals.recordPreview(id, input) },
    waiting,
    async (sourceDir) => {
      await deps.source.extractTree(REPOSITORY, sha, sourceDir);
      const plan = await planAt(sourceDir, 'deploy.yaml', waiting, deps);
      return { ...plan, digest: 'sha256:0123456789abcdef0123' };
    },
  );
  expect(result).toEqual({ kind: 'waiting', reason: 'manifest preview recorded' });
  const request = await db.store.getApprovalRequest(production.id);
  expect(request?.planDigest).toBe(offered?.planDigest);
  expect(request?.manifests?.releases).toEqual([]);
  expect(request?.manifests?.unavailable).toMatch(
    /plans differently \(0123456789ab\) .* would void this approval/,
  );
  expect(since(before).productionRequests).toEqual([]);
}, 60_000);
