import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { type LocalStack, startLocalStack } from '../../../handlers/local/local-stack';
import type { Deployment } from '../../../lib/deploy/lifecycle';
import { headCommit, pushPayload, signedWebhook } from '../../../lib/local/push-payload';
import { testGit } from '../../helpers/git';
import { makeGitRepo } from '../../helpers/git-repo';

/**
 * Issue 11, as an attacker with push rights would try it, through the real webhook handler of the
 * local stack (render-only runner): each attack now fails with a reason that names the policy rule,
 * nothing is dispatched, and the gate the operator's checkout set at start stays as it was.
 */

const WEBHOOK_SECRET = 'w'.repeat(40);
const OPERATOR_DEPLOY_YAML = `apiVersion: helmgate/v1
environments:
  staging:
    approval: none
    cluster: { secret: helmgate/staging/cluster }
    releases:
      - name: hello
        namespace: hello-staging
        chart: ./charts/hello
        secretValues:
          auth.token: { secret: app/staging-token }
  production:
    approval: required
    after: staging
    cluster: { secret: helmgate/production/cluster }
    releases:
      - name: hello
        namespace: hello-production
        chart: ./charts/hello
        secretValues:
          auth.token: { secret: app/production-token }
`;
const CHART = {
  'charts/hello/Chart.yaml': 'apiVersion: v2\nname: hello\nversion: 0.1.0\n',
  'charts/hello/values.yaml': 'auth:\n  token: ""\n',
  'charts/hello/templates/cm.yaml':
    'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  ok: "yes"\n',
};

let stack: LocalStack;
let repo: ReturnType<typeof makeGitRepo>;
const dispatched: string[] = [];

beforeAll(async () => {
  repo = makeGitRepo(
    { 'deploy.yaml': OPERATOR_DEPLOY_YAML, ...CHART },
    { origin: 'git@github.com:idr/deployment.git' },
  );
  const secretsFile = path.join(repo.dir, '.helmgate', 'secrets.json');
  mkdirSync(path.dirname(secretsFile), { recursive: true });
  writeFileSync(
    secretsFile,
    JSON.stringify({
      'helmgate/github-webhook': WEBHOOK_SECRET,
      'helmgate/approval-signing-key': 'k'.repeat(64),
      'app/staging-token': 'staging-token-value',
      'app/production-token': 'production-token-value',
    }),
    { mode: 0o600 },
  );
  stack = await startLocalStack({
    port: 0,
    repoDir: repo.dir,
    secretsFile,
    logWrite: () => {},
    // intake only: a refused environment must never reach a runner
    runner: false,
    sweepIntervalMs: 0,
  });
  const dispatch = stack.dispatcher.dispatch.bind(stack.dispatcher);
  stack.dispatcher.dispatch = async (job) => {
    dispatched.push(job.deploymentId);
    return dispatch(job);
  };
});

afterAll(async () => {
  await stack?.close();
});

/** Commits `deploy.yaml` (the attacker's), pushes HEAD signed like GitHub, returns its deployments. */
async function pushDeployYaml(text: string): Promise<Record<string, Deployment>> {
  repo.commit({ 'deploy.yaml': text }, 'attack');
  const commit = await headCommit(testGit, repo.dir);
  const req = await signedWebhook(WEBHOOK_SECRET, 'push', pushPayload('idr/deployment', commit));
  const res = await fetch(`${stack.url}/webhook`, { method: 'POST', headers: req.headers, body: req.body });
  expect(res.status).toBe(202);
  await stack.idle();
  const out: Record<string, Deployment> = {};
  for (const env of ['staging', 'production', '*']) {
    const [d] = (await stack.store.listByEnvironment('idr/deployment', env, { limit: 5 })).filter(
      (x) => x.sha === commit.sha,
    );
    if (d) out[env] = d;
  }
  return out;
}

const refused = (d: Deployment | undefined, reason: string) => {
  expect(d).toMatchObject({ status: 'failed', reason });
  expect(d?.startedAt).toBeUndefined();
  expect(dispatched).not.toContain(d?.id);
};

describe('a commit cannot loosen the gate that guards it', () => {
  it("the policy came from the operator's checkout, read once at start", () => {
    expect(stack.policy.source).toContain('deploy.yaml of the working tree');
  });

  it('approval: none for production is refused, naming the rule; staging still deploys', async () => {
    const ds = await pushDeployYaml(
      OPERATOR_DEPLOY_YAML.replace('approval: required\n    after: staging', 'approval: none'),
    );
    refused(
      ds.production,
      'policy: production.approval is required; deploy.yaml says none\npolicy: production.after is staging; deploy.yaml says nothing',
    );
    expect(ds.staging?.status).toBe('queued');
    expect(dispatched).toContain(ds.staging?.id);
  });

  it('approval: auto for production is refused the same way', async () => {
    const ds = await pushDeployYaml(OPERATOR_DEPLOY_YAML.replace('approval: required', 'approval: auto'));
    refused(ds.production, 'policy: production.approval is required; deploy.yaml says auto');
  });

  it("a staging push cannot point staging at production's cluster credentials", async () => {
    const ds = await pushDeployYaml(
      OPERATOR_DEPLOY_YAML.replace('secret: helmgate/staging/cluster', 'secret: helmgate/production/cluster'),
    );
    refused(
      ds.staging,
      'policy: staging.cluster.secret is helmgate/staging/cluster; deploy.yaml says helmgate/production/cluster',
    );
  });

  it("nor copy helmgate's own secrets into a Kubernetes Secret it can read", async () => {
    const ds = await pushDeployYaml(
      OPERATOR_DEPLOY_YAML.replace(
        '    releases:\n      - name: hello\n        namespace: hello-staging',
        `    kubernetesSecrets:
      - name: loot
        namespace: hello-staging
        data:
          webhook: { secret: helmgate/github-webhook }
          signing: { secret: helmgate/approval-signing-key }
    releases:
      - name: hello
        namespace: hello-staging`,
      ),
    );
    refused(
      ds.staging,
      'policy: staging.secretPrefixes is app/staging-token; deploy.yaml reads helmgate/github-webhook (kubernetesSecrets hello-staging/loot.webhook)\npolicy: staging.secretPrefixes is app/staging-token; deploy.yaml reads helmgate/approval-signing-key (kubernetesSecrets hello-staging/loot.signing)',
    );
  });

  it('nor name its own approvers, allow self-approval, deploy elsewhere or add an environment', async () => {
    const ds = await pushDeployYaml(
      `${OPERATOR_DEPLOY_YAML.replace(
        'after: staging',
        'after: staging\n    approvers: { github: [mallory], allowSelfApproval: true }',
      ).replace('namespace: hello-production', 'namespace: kube-system')}  qa:
    approval: none
    cluster: { secret: helmgate/staging/cluster }
    releases: []
`,
    );
    refused(
      ds.production,
      [
        "policy: production.approvers does not include mallory; deploy.yaml may name a subset of the policy's approvers, never add one",
        'policy: production.approvers.allowSelfApproval is false; deploy.yaml says true',
        'policy: production.namespaces is hello-production; deploy.yaml deploys release hello into kube-system',
      ].join('\n'),
    );
    const [qa] = await stack.store.listByEnvironment('idr/deployment', 'qa', { limit: 1 });
    refused(
      qa,
      'policy: qa is not an environment of idr/deployment in the policy; deploy.yaml may not add one',
    );
  });

  it('a plain-http chart repository is refused by the deploy config itself', async () => {
    const ds = await pushDeployYaml(
      `${OPERATOR_DEPLOY_YAML.replace('apiVersion: helmgate/v1', 'apiVersion: helmgate/v1\nchartRepositories:\n  evil: http://charts.example.org/')}`,
    );
    expect(ds['*']?.status).toBe('failed');
    expect(ds['*']?.reason).toContain(
      'not an https:// or oci:// repository URL (got "http://charts.example.org/")',
    );
  });

  it('a stricter commit is accepted, and the deployment records which policy applied', async () => {
    const ds = await pushDeployYaml(
      OPERATOR_DEPLOY_YAML.replace('approval: none', 'approval: required').replace(
        'after: staging',
        'after: staging\n    approvers: { required: 2 }',
      ),
    );
    expect(ds.staging).toMatchObject({ status: 'awaiting_approval', approval: 'required' });
    expect(ds.production).toMatchObject({
      status: 'awaiting_approval',
      policy: { digest: stack.policy.digest },
      requestedApprovers: { required: 2 },
    });
    expect(stack.approvals.requiredFor(ds.production as Deployment)).toBe(2);
  });

  it('changing the working tree after start changes nothing: the policy is read once', async () => {
    const before = stack.policy.digest;
    // the attacker's commit is now this checkout's working tree too (local pushes are of HEAD)
    const ds = await pushDeployYaml(
      OPERATOR_DEPLOY_YAML.replace('approval: required', 'approval: none').replace(
        'hello-production',
        'kube-public',
      ),
    );
    expect(ds.production?.status).toBe('failed');
    expect(stack.policy.digest).toBe(before);
  });
});
