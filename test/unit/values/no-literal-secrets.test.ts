import { readdirSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { findLiteralSecrets, looksRandom, REPO_ROOT, readRepoFile } from './support';

// No secret value in any file helmgate deploys from: secrets live in AWS Secrets Manager and reach
// pods through Kubernetes Secrets. These heuristics look for the ways one slips in anyway.

function deployedFiles(): string[] {
  const values = readdirSync(path.join(REPO_ROOT, 'values'))
    .filter((f) => /\.ya?ml$/.test(f))
    .map((f) => `values/${f}`);
  const charts = readdirSync(path.join(REPO_ROOT, 'charts')).map((c) => `charts/${c}/values.yaml`);
  return ['deploy.yaml', ...values, ...charts];
}

test('the scan covers deploy.yaml, every values file and every custom chart', () => {
  const files = deployedFiles();
  expect(files).toEqual(
    expect.arrayContaining([
      'deploy.yaml',
      'values/jupyterhub-config.yaml',
      'values/jupyterhub-vae.yaml',
      'values/grafana.yaml',
      'values/prometheus.yaml',
      'charts/idr-analysis-website/values.yaml',
      'charts/jupyterhub-shared-scratch/values.yaml',
    ]),
  );
});

test.each(deployedFiles())('%s holds no literal secret', (file) => {
  expect(findLiteralSecrets(parse(readRepoFile(file)))).toEqual([]);
});

describe('the heuristics', () => {
  const HEX40 = '5f0c2b9a7e1d4c3b8a6f9e2d1c0b7a8f6e5d4c3b';

  test.each([
    [
      'a client secret in hub.config',
      { hub: { config: { GitHubOAuthenticator: { client_secret: 'hunter2' } } } },
    ],
    ['a proxy token', { proxy: { secretToken: 'abc' } }],
    ['a numeric password', { db: { password: 123456 } }],
    ['a password in an env map', { singleuser: { extraEnv: { IDR_PASSWORD: 'letmein' } } }],
    ['an admin password in grafana values', { adminPassword: 'correct horse' }],
    ['an apiKey (ends in "Key" but is no key name)', { apiKey: 'k-123' }],
    ['a random token under an innocent key', { hub: { extraEnv: { FOO: HEX40 } } }],
    ['a GitHub token in code', { hub: { extraConfig: { x: `c.A.b = "ghp_${'a1B2'.repeat(9)}"` } } }],
    [
      'a literal assigned in Python',
      { hub: { extraConfig: { x: 'c.GitHubOAuthenticator.client_secret = "s3cr3t-value"' } } },
    ],
    ['a secret literal in grafana.ini', { 'grafana.ini': { 'auth.github': { client_secret: 'abcdef' } } }],
    [
      'a private key',
      { tls: { key: '-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----\n' } },
    ],
    ['credentials in a URL', { datasource: { url: 'https://admin:hunter2@prometheus.example.org' } }],
    ['a token in a *_url key', { token_url: 'ghs_0123456789abcdef' }],
    ['a literal where deploy.yaml wants a Secrets Manager id', { cluster: { secret: 'P@ssw0rd!' } }],
  ])('flag %s', (_what, doc) => {
    expect(findLiteralSecrets(doc).length).toBeGreaterThan(0);
  });

  test.each([
    [
      'a Secret reference',
      { IDR_PASSWORD: { valueFrom: { secretKeyRef: { name: 'idr-readonly', key: 'password' } } } },
    ],
    ['Grafana variable expansion', { 'auth.github': { client_secret: '$__env{GITHUB_CLIENT_SECRET}' } }],
    [
      'names of Secrets and of keys in them',
      { admin: { existingSecret: 'grafana-admin', passwordKey: 'admin-password' } },
    ],
    ['a TLS Secret name', { tls: [{ secretName: 'jupyterhub-tls', hosts: ['a.example.org'] }] }],
    [
      'a Secrets Manager id',
      {
        cluster: { secret: 'helmgate/production/cluster' },
        data: { x: { secret: 'idr/readonly', key: 'password' } },
      },
    ],
    ['an empty or unset secret', { proxy: { secretToken: null }, hub: { cookieSecret: '' } }],
    ['an OAuth token endpoint', { token_url: 'https://login.aai.lifescience-ri.eu/oidc/token' }],
    ['a boolean about tokens', { automountServiceAccountToken: false }],
    [
      'code reading the environment',
      { x: 'c.GitHubOAuthenticator.client_secret = os.environ["GITHUB_CLIENT_SECRET"]' },
    ],
    [
      'host names, images, quantities',
      {
        host: 'vae-aai.idr-analysis.openmicroscopy.org',
        image: 'quay.io/jupyterhub/k8s-hub:4.4.0',
        size: '100Gi',
      },
    ],
  ])('pass %s', (_what, doc) => {
    expect(findLiteralSecrets(doc)).toEqual([]);
  });

  test('random-looking means long, mixed and high-entropy', () => {
    expect(looksRandom(HEX40)).toBe(true);
    expect(looksRandom('dGhpcyBpcyBhIHNlY3JldCB2YWx1ZQ==')).toBe(true);
    expect(looksRandom('jupyterhub_server_spawn_duration_seconds_bucket')).toBe(false);
    expect(looksRandom('aaaaaaaaaaaaaaaaaaaaaaaa1')).toBe(false);
    expect(looksRandom('short1A')).toBe(false);
  });
});
