import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CoreV1Api } from '@kubernetes/client-node';
import { HelmgateError } from '../../../lib/errors';
import { kubeConfigFromSecret, writeKubeconfig } from '../../../lib/kube/kube-config';
import { KubeApiStandIn } from '../../stand-ins/kube-api';

// The cluster secret → KubeConfig → a real client-node call and a real helm call against the stand-in.
const TOKEN = 'canary-KubeToken-5e0c2b7d';
const CA = Buffer.from('-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n').toString('base64');
const helmBin = process.env.HELMGATE_HELM_BIN as string;

let kube: KubeApiStandIn;
let dir: string;

beforeEach(async () => {
  kube = await KubeApiStandIn.start({ token: TOKEN });
  dir = await mkdtemp(path.join(tmpdir(), 'helmgate-kubeconfig-'));
});

afterEach(async () => {
  await kube.close();
  await rm(dir, { recursive: true, force: true });
});

function thrown(f: () => unknown): HelmgateError {
  try {
    f();
  } catch (e) {
    if (e instanceof HelmgateError) return e;
    throw e;
  }
  throw new Error('expected a HelmgateError');
}

it('accepts {"kubeconfig": "<yaml>"} and the resulting client reaches the cluster with the token', async () => {
  const kc = kubeConfigFromSecret(JSON.stringify({ kubeconfig: kube.kubeconfig() }));
  const list = await kc.makeApiClient(CoreV1Api).listNamespace();
  expect(list.items.map((n) => n.metadata?.name)).toContain('default');
  expect(kc.getCurrentUser()?.token).toBe(TOKEN);
});

it('accepts a raw kubeconfig YAML document', async () => {
  const kc = kubeConfigFromSecret(kube.kubeconfig());
  expect(kc.getCurrentCluster()?.server).toBe(kube.url);
  await expect(kc.makeApiClient(CoreV1Api).readNamespace({ name: 'default' })).resolves.toBeDefined();
});

it('accepts server, certificateAuthorityData and token fields', async () => {
  const kc = kubeConfigFromSecret(
    JSON.stringify({ server: 'https://eks.example:443', certificateAuthorityData: CA, token: TOKEN }),
  );
  expect(kc.getCurrentCluster()).toMatchObject({
    server: 'https://eks.example:443',
    caData: CA,
    skipTLSVerify: false,
  });
  expect(kc.getCurrentUser()?.token).toBe(TOKEN);

  // an http server (the stand-in, a local proxy) needs no CA
  const local = kubeConfigFromSecret(JSON.stringify({ server: kube.url, token: TOKEN }));
  const ns = await local.makeApiClient(CoreV1Api).readNamespace({ name: 'default' });
  expect(ns.metadata?.name).toBe('default');
});

it('a wrong token is refused by the stand-in, so the token is really what authenticates', async () => {
  const kc = kubeConfigFromSecret(JSON.stringify({ server: kube.url, token: 'wrong-token' }));
  const err = await kc
    .makeApiClient(CoreV1Api)
    .readNamespace({ name: 'default' })
    .catch((e: unknown) => e);
  expect((err as { code?: number }).code).toBe(401);
});

it.each([
  ['empty', '  ', 'is empty'],
  ['broken JSON', `{"token": "${TOKEN}"`, 'looks like JSON but does not parse'],
  ['no server', JSON.stringify({ token: TOKEN }), 'missing "server"'],
  ['no token', JSON.stringify({ server: 'https://k' }), 'missing "token"'],
  ['neither', JSON.stringify({ foo: TOKEN }), 'missing "server" and "token"'],
  [
    'https without CA',
    JSON.stringify({ server: 'https://k', token: TOKEN }),
    'missing "certificateAuthorityData"',
  ],
  [
    'bad server',
    JSON.stringify({ server: `ftp://${TOKEN}`, token: TOKEN }),
    '"server" must be an http(s) URL',
  ],
  [
    'kubeconfig not a string',
    JSON.stringify({ kubeconfig: { token: TOKEN } }),
    '"kubeconfig" must be a non-empty string',
  ],
  ['YAML that is no kubeconfig', `just a ${TOKEN} string`, 'is neither JSON nor a kubeconfig YAML document'],
  [
    'kubeconfig without a current context',
    `apiVersion: v1\nkind: Config\nusers:\n- name: u\n  user:\n    token: ${TOKEN}\n`,
    'kubeconfig has no current-context',
  ],
])('rejects %s with a clear message that never contains the token', (_name, secret, expected) => {
  const e = thrown(() => kubeConfigFromSecret(secret, { secretName: 'helmgate/staging/cluster' }));
  expect(e.code).toBe('invalid_config');
  expect(e.message).toContain('cluster secret helmgate/staging/cluster');
  expect(e.message).toContain(expected);
  expect(e.message).not.toContain(TOKEN);
  expect(e.cause).toBeUndefined();
});

it('writes the kubeconfig with mode 0600 (also over an existing file) and helm can use it', async () => {
  await writeFile(path.join(dir, 'kubeconfig'), 'old', { mode: 0o644 });
  // client-go sends bearer tokens over TLS only (kubernetes/kubectl#744): helm gets a stand-in without one
  const open = await KubeApiStandIn.start();
  try {
    const kc = kubeConfigFromSecret(JSON.stringify({ server: open.url, token: TOKEN }));
    const file = await writeKubeconfig(kc, dir);
    expect(file).toBe(path.join(dir, 'kubeconfig'));
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(await readFile(file, 'utf8')).toContain(TOKEN);

    const out = await new Promise<string>((resolve, reject) =>
      execFile(
        helmBin,
        ['list', '--all-namespaces', '-o', 'json', '--kubeconfig', file],
        { env: { PATH: process.env.PATH ?? '', HOME: dir }, encoding: 'utf8' },
        (err, stdout, stderr) => (err ? reject(new Error(stderr)) : resolve(stdout)),
      ),
    );
    expect(JSON.parse(out)).toEqual([]);
    // helm found the server through the file
    expect(
      open.requests.some((q) => q.path === '/api/v1/secrets' && q.query.labelSelector === 'owner=helm'),
    ).toBe(true);
  } finally {
    await open.close();
  }
});

it('rewrites the kubeconfig whole: a reader never sees a truncated file (an EKS token refresh while helm starts)', async () => {
  const kc = kubeConfigFromSecret(JSON.stringify({ server: 'http://127.0.0.1:1', token: TOKEN }));
  const file = await writeKubeconfig(kc, dir);
  let reading = true;
  const seen: number[] = [];
  const reader = (async () => {
    while (reading) {
      seen.push((await readFile(file, 'utf8')).length);
      await new Promise((r) => setImmediate(r));
    }
  })();
  for (let i = 0; i < 200; i++) await writeKubeconfig(kc, dir);
  reading = false;
  await reader;
  expect(seen.length).toBeGreaterThan(0);
  expect(seen.filter((n) => n === 0)).toEqual([]);
  expect((await stat(file)).mode & 0o777).toBe(0o600);
  expect((await readdir(dir)).filter((f) => f.endsWith('.tmp'))).toEqual([]);
});
