import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { systemClock } from '../../../lib/clock';
import type { EnvironmentPlan } from '../../../lib/deploy/plan';
import { createLogger, memorySink } from '../../../lib/log/logger';
import { Redactor } from '../../../lib/log/redact';
import { clusterAccessFromSecret } from '../../../lib/runner/kube-access';
import { FileSecretsProvider } from '../../../lib/secrets/file-provider';
import { SecretResolver } from '../../../lib/secrets/secrets-provider';

/** Issue 12 item 5: what is derived from a secret is as secret as the secret. */

const TOKEN = 'canary-bearer-token-5f1c8e2a9d';
const NESTED = 'canary-nested-leaf-77ab01';
const tmp = path.resolve(__dirname, '../../../.tmp');

test('every string leaf of a JSON secret is masked on its own, at any depth', async () => {
  const redactor = new Redactor();
  const resolver = new SecretResolver(
    {
      getSecretString: async () =>
        JSON.stringify({ server: 'https://k8s.example.org', token: TOKEN, more: { list: [NESTED, 42] } }),
    },
    redactor,
  );
  await resolver.resolve({ secret: 'prod/cluster' });
  expect(redactor.redact(`Authorization: Bearer ${TOKEN}`)).toBe('Authorization: Bearer ***');
  expect(redactor.redact(`x ${NESTED} y`)).toBe('x *** y');
  expect(redactor.redact(Buffer.from(TOKEN).toString('base64'))).toBe('***');
  // every field counts, even one that looks public (the server URL): the secret's owner chose to keep it there
  expect(redactor.redact('https://k8s.example.org is the server')).toBe('*** is the server');
  // a number too short to be a secret on its own does not mask ordinary digits
  expect(redactor.redact('port 42')).toBe('port 42');
});

test('the kubeconfig built from a JSON cluster secret is registered: its token and the whole file are masked', async () => {
  const redactor = new Redactor();
  const resolver = new SecretResolver(
    {
      getSecretString: async () =>
        JSON.stringify({ server: 'http://127.0.0.1:1', token: TOKEN, insecureSkipTlsVerify: true }),
    },
    redactor,
  );
  const sink = memorySink();
  const logger = createLogger({ redactor, clock: systemClock, write: sink.write });
  const workDir = mkdtempSync(path.join(tmp, 'access-'));
  const access = await clusterAccessFromSecret({ logger })(
    { cluster: { secret: 'prod/cluster' } } as EnvironmentPlan,
    { workDir, secrets: resolver, digestKey: 'k-0123456789' },
  );
  const file = access.helm.kind === 'kubeconfig' ? access.helm.path : '';
  // helm's file is written before helm's first command, not when the session opens
  expect(existsSync(file)).toBe(false);
  await access.prepareHelm?.();
  expect(statSync(file).mode & 0o777).toBe(0o600);
  const content = readFileSync(file, 'utf8');
  expect(content).toContain(TOKEN);
  expect(redactor.redact(content)).not.toContain(TOKEN);
  expect(redactor.redact(`token: ${TOKEN}`)).toBe('token: ***');
  expect(redactor.redact(`before\n${content}\nafter`)).toBe('before\n***\nafter');
});

test('a secret id naming an Object.prototype member is not a secret', async () => {
  const file = path.join(mkdtempSync(path.join(tmp, 'secrets-')), 'secrets.json');
  writeFileSync(file, JSON.stringify({ real: 'value-1234' }));
  const provider = new FileSecretsProvider(file);
  expect(await provider.getSecretString('__proto__')).toBeUndefined();
  expect(await provider.getSecretString('constructor')).toBeUndefined();
  expect(await provider.getSecretString('real')).toBe('value-1234');
});
