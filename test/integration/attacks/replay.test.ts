import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { type LocalStack, startLocalStack } from '../../../handlers/local/local-stack';
import { ApproversConfig } from '../../../lib/approval/approval-port';
import type { Deployment } from '../../../lib/deploy/deployment';
import { headCommit, pushPayload, type SignedRequest, signedWebhook } from '../../../lib/local/push-payload';
import { testGit } from '../../helpers/git';
import { makeGitRepo } from '../../helpers/git-repo';

/**
 * Issue 11, "Replay": an old signed push body sent again under a new X-GitHub-Delivery redeployed the
 * old commit to staging and superseded the newer commit's pending production approval; the rollback
 * warning compared push times, so a forced push back was treated like any push. Through the real
 * webhook handler of a local stack over HTTP, with the checkout as the repository (git rev-parse,
 * git merge-base) and the render-only runner.
 */

const SECRET = 'w'.repeat(40);
const REPO = 'idr/deployment';
const DEPLOY_YAML = `apiVersion: helmgate/v1
environments:
  staging:
    approval: none
    cluster: { secret: local/staging/cluster }
    releases:
      - { name: hello, namespace: hello-staging, chart: ./charts/hello, values: [values/hello.yaml] }
  preview:
    approval: auto
    after: staging
    cluster: { secret: local/preview/cluster }
    releases:
      - { name: hello, namespace: hello-preview, chart: ./charts/hello, values: [values/hello.yaml] }
  production:
    approval: required
    after: staging
    cluster: { secret: local/production/cluster }
    releases:
      - { name: hello, namespace: hello-production, chart: ./charts/hello, values: [values/hello.yaml] }
`;
const CHART = {
  'charts/hello/Chart.yaml': 'apiVersion: v2\nname: hello\nversion: 0.1.0\n',
  'charts/hello/values.yaml': 'greeting: hello\n',
  'charts/hello/templates/configmap.yaml':
    'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  greeting: {{ .Values.greeting | quote }}\n',
};

let stack: LocalStack;
let repo: ReturnType<typeof makeGitRepo>;

beforeAll(async () => {
  repo = makeGitRepo({
    // the stack's state lives in the checkout: never commit it (the test resets the branch)
    '.gitignore': '.helmgate/\n',
    'deploy.yaml': DEPLOY_YAML,
    'values/hello.yaml': 'greeting: a\n',
    ...CHART,
  });
  const secretsFile = path.join(repo.dir, '.helmgate', 'secrets.json');
  mkdirSync(path.dirname(secretsFile), { recursive: true });
  writeFileSync(
    secretsFile,
    JSON.stringify({
      'helmgate/github-webhook': SECRET,
      'helmgate/approval-signing-key': 'k'.repeat(64),
      'local/staging/cluster': 'x',
      'local/preview/cluster': 'x',
      'local/production/cluster': 'x',
    }),
    { mode: 0o600 },
  );
  stack = await startLocalStack({
    port: 0,
    repoDir: repo.dir,
    secretsFile,
    repositories: [REPO],
    logWrite: () => {},
    approvers: ApproversConfig.parse({ production: { github: ['dora'] } }),
    sweepIntervalMs: 0,
  });
});

afterAll(async () => {
  await stack?.close();
});

/** A push of the checkout's HEAD as GitHub would sign it; `before` is where the branch was. */
async function signedPush(before: string, opts: { forced?: boolean } = {}): Promise<SignedRequest> {
  const commit = await headCommit(testGit, repo.dir);
  const payload = { ...pushPayload(REPO, commit, { before }), forced: opts.forced === true };
  return signedWebhook(SECRET, 'push', payload);
}

/** Sends a signed body; `deliveryId` replaces the header (it is not covered by the signature). */
async function send(req: SignedRequest, deliveryId = randomUUID()) {
  const res = await fetch(`${stack.url}/webhook`, {
    method: 'POST',
    headers: { ...req.headers, 'x-github-delivery': deliveryId },
    body: req.body,
  });
  const body = (await res.json()) as Record<string, unknown>;
  await stack.idle();
  return { status: res.status, body };
}

async function all(): Promise<Deployment[]> {
  return stack.store.listDeployments({ limit: 200 });
}

async function of(sha: string, environment: string): Promise<Deployment[]> {
  return (await all()).filter((d) => d.sha === sha && d.environment === environment);
}

async function approve(d: Deployment, rollback = false) {
  return stack.approvals.vote({
    deploymentId: d.id,
    voter: { kind: 'github', id: 'dora' },
    via: 'web',
    decision: 'approve',
    ...(rollback ? { rollback: true } : {}),
  });
}

const ZERO = '0'.repeat(40);

test('replays are refused as stale or duplicate, and a forced push back is a rollback by ancestry', async () => {
  // A: staging renders, preview promotes itself, production waits and is approved → production runs A
  const a = repo.head();
  const pushA = await signedPush(ZERO);
  expect((await send(pushA)).body).toMatchObject({ accepted: true });
  const [prodA] = await of(a, 'production');
  expect(prodA?.status).toBe('awaiting_approval');
  expect((await approve(prodA as Deployment)).kind).toBe('approved');
  await stack.idle();
  expect((await of(a, 'production'))[0]?.status).toBe('rendered');
  expect((await of(a, 'preview'))[0]?.status).toBe('rendered');

  // B: production waits for approval
  const b = repo.commit({ 'values/hello.yaml': 'greeting: b\n' }, 'b');
  const pushB = await signedPush(a);
  expect((await send(pushB)).body).toMatchObject({ accepted: true });
  const [prodB] = await of(b, 'production');
  expect(prodB?.status).toBe('awaiting_approval');

  // the attack: A's signed body again under a new delivery id
  const before = await all();
  const replay = await send(pushA);
  expect(replay.status).toBe(202);
  expect(replay.body).toMatchObject({
    accepted: false,
    stale: { reason: expect.stringContaining(`stale push: refs/heads/main is at ${b.slice(0, 12)}`) },
  });
  const after = await all();
  const fresh = after.filter((d) => !before.some((x) => x.id === d.id));
  // one visible record of the refusal, nothing that deploys
  expect(fresh).toEqual([
    expect.objectContaining({ environment: '*', status: 'superseded', sha: a, supersededBy: b }),
  ]);
  expect(fresh[0]?.reason).toMatch(/a replayed or late delivery\); nothing deployed/);
  expect(existsSync(path.join(repo.dir, '.helmgate', 'rendered', fresh[0]?.id as string))).toBe(false);
  // B's production approval is untouched
  expect((await stack.store.getDeployment(prodB?.id as string))?.status).toBe('awaiting_approval');

  // B's own body again (the head, a new delivery id): the same push, nothing new
  const dup = await send(pushB);
  expect(dup.body).toMatchObject({ accepted: false, duplicate: expect.anything() });
  expect((await all()).length).toBe(after.length);
  expect((await of(b, 'staging')).length).toBe(1);

  // production runs B after its approval
  expect((await approve(prodB as Deployment)).kind).toBe('approved');
  await stack.idle();
  expect((await stack.store.getDeployment(prodB?.id as string))?.status).toBe('rendered');

  // a forced push moves the branch back to A: a rollback, recognised by ancestry
  repo.git('reset', '-q', '--hard', a);
  const back = await send(await signedPush(b, { forced: true }));
  expect(back.body).toMatchObject({ accepted: true, rollback: { from: b, ancestry: 'behind' } });
  const rolled = await of(a, 'production');
  const prodBack = rolled.find((d) => d.id !== prodA?.id) as Deployment;
  expect(prodBack.status).toBe('awaiting_approval');
  // preview promotes itself on pushes, but not a rollback: it waits for a person now
  const previewBack = (await of(a, 'preview')).find((d) => d.status !== 'rendered') as Deployment;
  expect(previewBack).toMatchObject({ approval: 'required', status: 'awaiting_approval' });
  expect(await stack.store.listAudit(previewBack.id)).toContainEqual(
    expect.objectContaining({ action: 'rollback-push', outcome: 'approval auto → required' }),
  );
  // approving production without confirming the rollback is refused, naming the rule; nothing runs
  await expect(approve(prodBack)).rejects.toMatchObject({
    code: 'conflict',
    message: expect.stringContaining(`production runs ${b.slice(0, 12)}, which this commit does not lead to`),
  });
  expect((await stack.store.getDeployment(prodBack.id))?.status).toBe('awaiting_approval');
  // confirmed, it goes ahead
  expect((await approve(prodBack, true)).kind).toBe('approved');
  await stack.idle();
  expect((await stack.store.getDeployment(prodBack.id))?.status).toBe('rendered');
}, 120_000);
