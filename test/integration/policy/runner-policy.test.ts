import { SecretResolver, type SecretsProvider } from '../../../lib/secrets/secrets-provider';
import { startDynalite, type TestDynamo } from '../../helpers/dynalite';
import { policyOf } from '../../helpers/policy';
import { KubeApiStandIn } from '../../stand-ins/kube-api';
import { type Harness, makeHarness, runnerRepo } from '../runner/harness';

/**
 * The runner checks the policy itself (defence in depth: a deployment can reach it without the
 * intake, e.g. `helmgate redeploy`), before it reads a secret or runs helm.
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
`;

let db: TestDynamo;
let kube: KubeApiStandIn;
let repo: ReturnType<typeof runnerRepo>;
let h: Harness;
const reads: string[] = [];

beforeAll(async () => {
  db = await startDynalite();
  kube = await KubeApiStandIn.start();
  repo = runnerRepo({ 'deploy.yaml': DEPLOY_YAML });
  h = makeHarness({ db, kube, repoDir: repo.dir, policy: policyOf(DEPLOY_YAML) });
});

afterAll(async () => {
  await kube.close();
  await db.close();
});

const counting = (): SecretResolver => {
  const provider: SecretsProvider = {
    getSecretString: async (id) => {
      reads.push(id);
      return id === 'test/cluster' ? JSON.stringify({ kubeconfig: kube.kubeconfig() }) : 'value';
    },
  };
  return new SecretResolver(provider, h.redactor);
};

describe('the runner and the policy', () => {
  it('deploys a commit inside the policy', async () => {
    const d = await h.queue(repo.head());
    const r = await h.run(d.id, { secrets: counting });
    expect(r).toMatchObject({ kind: 'finished', deployment: { status: 'succeeded' } });
    expect(reads).toContain('test/cluster');
  });

  it('fails a commit outside the policy before reading any secret or running helm', async () => {
    const sha = repo.commit(
      {
        'deploy.yaml': DEPLOY_YAML.replace('namespace: web', 'namespace: kube-system').concat(
          '        secretValues:\n          x: { secret: helmgate/github-webhook }\n',
        ),
      },
      'attack',
    );
    reads.length = 0;
    const calls = h.calls.length;
    const d = await h.queue(sha);
    const r = await h.run(d.id, { secrets: counting });
    expect(r).toMatchObject({
      kind: 'finished',
      deployment: {
        status: 'failed',
        reason:
          'policy: staging.secretPrefixes is empty; deploy.yaml reads helmgate/github-webhook (release web secretValues x)\npolicy: staging.namespaces is web; deploy.yaml deploys release web into kube-system',
      },
    });
    expect(reads).toEqual([]);
    expect(h.calls.length).toBe(calls);
  });
});
