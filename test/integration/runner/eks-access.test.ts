import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { fixedClock } from '../../../lib/clock';
import type { EnvironmentPlan } from '../../../lib/deploy/plan';
import { createLogger } from '../../../lib/log/logger';
import { Redactor } from '../../../lib/log/redact';
import {
  describeEksCluster,
  EKS_TOKEN_PREFIX,
  eksToken,
  eksTokenSource,
} from '../../../lib/runner/eks-token';
import { clusterAccessFromEks } from '../../../lib/runner/kube-access';
import { SecretResolver } from '../../../lib/secrets/secrets-provider';
import { EksApiStandIn, eksTokenProblem } from '../../stand-ins/aws-sigv4';
import { KubeApiStandIn } from '../../stand-ins/kube-api';

// EKS through IAM (issue 15 item 2): the token is made by the SDK's signer (@smithy/signature-v4) and
// checked by a SigV4 verifier written apart from it (test/stand-ins/aws-sigv4.ts), as EKS checks it.
const credentials = {
  accessKeyId: 'AKIDEKSTESTEXAMPLE01',
  secretAccessKey: 'eks/test/secret/key/EXAMPLEKEY0000000000',
};
const creds = async () => credentials;
const cluster = { name: 'platform-prod', region: 'eu-west-1' };
const T0 = new Date('2026-11-26T02:00:00Z');
const expected = (now = T0) => ({ cluster: cluster.name, region: cluster.region, credentials, now });

describe('the EKS token', () => {
  it('is k8s-aws-v1. + base64url (no padding) of a presigned STS GetCallerIdentity URL that EKS accepts', async () => {
    const token = await eksToken({ cluster, credentials: creds, now: T0 });
    expect(token.startsWith(EKS_TOKEN_PREFIX)).toBe(true);
    expect(token).not.toMatch(/[=+/]/);
    const url = new URL(Buffer.from(token.slice(EKS_TOKEN_PREFIX.length), 'base64url').toString());
    expect(url.origin).toBe('https://sts.eu-west-1.amazonaws.com');
    expect(url.searchParams.get('Action')).toBe('GetCallerIdentity');
    expect(url.searchParams.get('X-Amz-Expires')).toBe('60');
    expect(url.searchParams.get('X-Amz-SignedHeaders')).toBe('host;x-k8s-aws-id');
    expect(url.searchParams.get('X-Amz-Date')).toBe('20261126T020000Z');
    expect(eksTokenProblem(token, expected())).toBeUndefined();
  });

  it('is refused for another cluster, with other keys, after 15 minutes, or altered', async () => {
    const token = await eksToken({ cluster, credentials: creds, now: T0 });
    expect(eksTokenProblem(token, { ...expected(), cluster: 'platform-staging' })).toMatch(/signature/);
    expect(
      eksTokenProblem(token, { ...expected(), credentials: { ...credentials, secretAccessKey: 'other' } }),
    ).toMatch(/signature/);
    expect(eksTokenProblem(token, expected(new Date(T0.getTime() + 14 * 60_000)))).toBeUndefined();
    expect(eksTokenProblem(token, expected(new Date(T0.getTime() + 16 * 60_000)))).toMatch(/expired/);
    const url = Buffer.from(token.slice(EKS_TOKEN_PREFIX.length), 'base64url').toString();
    const forged = url.replace('GetCallerIdentity', 'GetSessionToken');
    expect(
      eksTokenProblem(EKS_TOKEN_PREFIX + Buffer.from(forged).toString('base64url'), expected()),
    ).toBeDefined();
    const otherAction = url.replace('Version=2011-06-15', 'Version=2011-06-15&DurationSeconds=900');
    expect(
      eksTokenProblem(EKS_TOKEN_PREFIX + Buffer.from(otherAction).toString('base64url'), expected()),
    ).toMatch(/signature/);
  });

  it("carries a role session's token (temporary credentials) in the signed URL", async () => {
    const token = await eksToken({
      cluster,
      credentials: async () => ({ ...credentials, sessionToken: 'session/token+value=' }),
      now: T0,
    });
    const url = new URL(Buffer.from(token.slice(EKS_TOKEN_PREFIX.length), 'base64url').toString());
    expect(url.searchParams.get('X-Amz-Security-Token')).toBe('session/token+value=');
    expect(eksTokenProblem(token, expected())).toBeUndefined();
  });

  it('refuses names and regions that are not an EKS cluster name or a region', async () => {
    await expect(
      eksToken({ cluster: { name: 'a/b', region: 'eu-west-1' }, credentials: creds, now: T0 }),
    ).rejects.toMatchObject({ code: 'invalid_config' });
    await expect(
      eksToken({ cluster: { name: 'a', region: 'evil.example.com#' }, credentials: creds, now: T0 }),
    ).rejects.toMatchObject({ code: 'invalid_config' });
  });

  it('is signed anew after 10 minutes, before EKS would refuse the held one', async () => {
    const clock = fixedClock(T0);
    const seen: string[] = [];
    const source = await eksTokenSource({
      clock,
      sign: (now) => eksToken({ cluster, credentials: creds, now }),
      onToken: (t) => {
        seen.push(t);
      },
    });
    const first = source.current();
    clock.advance(9 * 60_000);
    expect(source.current()).toBe(first);
    expect(seen).toHaveLength(1);
    clock.advance(60_000 + 1);
    // the held token is still good (EKS: 15 minutes); the next one is being signed meanwhile
    expect(source.current()).toBe(first);
    const next = await source.fresh();
    expect(next).not.toBe(first);
    expect(source.current()).toBe(next);
    expect(seen).toEqual([first, next]);
    expect(eksTokenProblem(next, expected(clock.now()))).toBeUndefined();
    expect(eksTokenProblem(first, expected(new Date(clock.now().getTime() + 5 * 60_000)))).toMatch(/expired/);
  });
});

describe('EKS through IAM against the stand-ins', () => {
  let kube: KubeApiStandIn;
  let eks: EksApiStandIn;
  let work: string;
  const clock = fixedClock(T0);

  beforeAll(async () => {
    kube = await KubeApiStandIn.start({ eks: { ...expected(), now: () => clock.now() } });
    eks = await new EksApiStandIn({
      region: cluster.region,
      credentials,
      clusters: {
        [cluster.name]: {
          endpoint: kube.url,
          certificateAuthorityData: Buffer.from('not used over http').toString('base64'),
        },
      },
    }).start();
  });
  afterAll(async () => {
    await kube.close();
    await eks.close();
  });
  beforeEach(() => {
    work = mkdtempSync(path.join(tmpdir(), 'helmgate-eks-'));
  });
  afterEach(() => rmSync(work, { recursive: true, force: true }));

  it('DescribeCluster is signed (the stand-in checks it) and gives the endpoint and CA', async () => {
    const info = await describeEksCluster({ cluster, credentials: creds, now: T0, eksEndpoint: eks.url });
    expect(info).toEqual({
      endpoint: kube.url,
      certificateAuthorityData: Buffer.from('not used over http').toString('base64'),
    });
    expect(eks.requests.at(-1)).toEqual({ path: `/clusters/${cluster.name}`, problem: undefined });
    await expect(
      describeEksCluster({
        cluster,
        credentials: async () => ({ ...credentials, secretAccessKey: 'wrong' }),
        now: T0,
        eksEndpoint: eks.url,
      }),
    ).rejects.toMatchObject({ code: 'forbidden' });
    await expect(
      describeEksCluster({
        cluster: { ...cluster, name: 'nope' },
        credentials: creds,
        now: T0,
        eksEndpoint: eks.url,
      }),
    ).rejects.toMatchObject({ code: 'invalid_config' });
  });

  it('a session writes to the cluster with the EKS token, and helm’s kubeconfig holds a current one', async () => {
    const redactor = new Redactor();
    const logger = createLogger({ redactor, clock, write: () => {} });
    const secrets = new SecretResolver({ getSecretString: async () => undefined }, redactor);
    const factory = clusterAccessFromEks({
      logger,
      clock,
      eksEndpoint: eks.url,
      credentialsFor: () => creds,
    });
    const plan = { environment: 'production', cluster: { eks: cluster } } as unknown as EnvironmentPlan;
    const access = await factory(plan, { workDir: work, secrets, digestKey: 'k', repository: 'o/r' });
    const before = kube.requests.length;
    await access.kube.syncSecrets([{ namespace: 'default', name: 'app-env', data: { A: 'b' }, restart: [] }]);
    expect(kube.requests.length).toBeGreaterThan(before);
    expect(kube.eksRefusals).toEqual([]);
    expect(kube.get('Secret', 'default', 'app-env')).toBeDefined();

    const tokenInFile = () => {
      const doc = parseYaml(readFileSync(path.join(work, 'kubeconfig'), 'utf8')) as {
        users: Array<{ user: { token: string } }>;
      };
      return doc.users[0]?.user.token as string;
    };
    const first = tokenInFile();
    expect(eksTokenProblem(first, expected(clock.now()))).toBeUndefined();
    // the token is a derived secret: redacted wherever it would be logged
    expect(redactor.redact(`Authorization: Bearer ${first}`)).not.toContain(first.slice(20));

    // 12 minutes on: the next request starts a new signature, helm's file gets it
    clock.advance(12 * 60_000);
    await access.kube.syncSecrets([{ namespace: 'default', name: 'app-env', data: { A: 'c' }, restart: [] }]);
    for (let i = 0; i < 50 && tokenInFile() === first; i++) await new Promise((r) => setTimeout(r, 10));
    const second = tokenInFile();
    expect(second).not.toBe(first);
    expect(eksTokenProblem(second, expected(clock.now()))).toBeUndefined();
    // at 16 minutes the first token would be refused; the session uses the new one
    clock.advance(4 * 60_000);
    await access.kube.syncSecrets([{ namespace: 'default', name: 'app-env', data: { A: 'd' }, restart: [] }]);
    expect(kube.eksRefusals).toEqual([]);
  });

  it('the cluster refuses a token signed for another cluster', async () => {
    const other = await eksToken({
      cluster: { ...cluster, name: 'platform-staging' },
      credentials: creds,
      now: clock.now(),
    });
    const res = await fetch(`${kube.url}/api/v1/namespaces`, {
      headers: { authorization: `Bearer ${other}` },
    });
    expect(res.status).toBe(401);
    expect(kube.eksRefusals.at(-1)).toMatch(/signature/);
  });
});
