import { parse } from 'yaml';
import { RecordingCommandRunner } from '../../../lib/exec/recording-command-runner';
import { createHelmRunner, HelmError, secretValuesDocument } from '../../../lib/helm/helm-runner';
import { Redactor } from '../../../lib/log/redact';

const CANARY = 'canary-Secret-8f3a1c9e';

function setup(opts: { render?: boolean } = {}) {
  const fake = new RecordingCommandRunner();
  const redactor = new Redactor();
  const helm = createHelmRunner({
    commandRunner: fake,
    helmBin: '/opt/helm/helm',
    homeDir: '/work/run-1/helm',
    redactor,
    baseEnv: {
      PATH: '/usr/bin',
      HOME: '/root',
      AWS_SECRET_ACCESS_KEY: 'aws-secret',
      SLACK_BOT_TOKEN: 'xoxb-1',
    },
    ...(opts.render ? {} : { connection: { kind: 'kubeconfig', path: '/work/run-1/kubeconfig' } as const }),
  });
  return { fake, redactor, helm };
}

const release = {
  release: 'hub',
  namespace: 'jh',
  chart: { kind: 'local', path: '/src/charts/hub' } as const,
  valuesFiles: ['/src/values/hub.yaml'],
  secretValues: [{ path: 'hub.config.GitHubOAuthenticator.client_secret', value: CANARY }],
};

describe('HelmRunner.upgradeInstall', () => {
  it('runs helm upgrade --install with secret values on stdin only and reads the revision', async () => {
    const { fake, helm } = setup();
    fake.reply('upgrade', {
      stdout: `Release "hub" has been upgraded.\nNAME: hub\nSTATUS: deployed\nREVISION: 4\n`,
    });
    const out = await helm.upgradeInstall({ ...release, timeoutSeconds: 600 });
    expect(out.revision).toBe(4);
    const call = fake.calls[0]!;
    expect(call.command).toBe('/opt/helm/helm');
    expect(call.args).toEqual([
      'upgrade',
      '--install',
      'hub',
      '/src/charts/hub',
      '--namespace',
      'jh',
      '--create-namespace',
      '-f',
      '/src/values/hub.yaml',
      '-f',
      '-',
      '--history-max',
      '10',
      '--timeout',
      '600s',
      '--kubeconfig',
      '/work/run-1/kubeconfig',
    ]);
    expect(parse(call.stdin)).toEqual({
      hub: { config: { GitHubOAuthenticator: { client_secret: CANARY } } },
    });
    expect(JSON.stringify(call.args)).not.toContain(CANARY);
    expect(JSON.stringify(call.env)).not.toContain(CANARY);
    expect(call.timeoutMs).toBe(630_000);
  });

  it('gives helm only PATH, HOME, private helm homes and the explicit kubeconfig', async () => {
    const { fake, helm } = setup();
    await helm.status('hub', 'jh').catch(() => undefined);
    expect(fake.calls[0]!.env).toEqual({
      PATH: '/usr/bin',
      HOME: '/root',
      HELM_CACHE_HOME: '/work/run-1/helm/cache',
      HELM_CONFIG_HOME: '/work/run-1/helm/config',
      HELM_DATA_HOME: '/work/run-1/helm/data',
      KUBECONFIG: '/work/run-1/kubeconfig',
    });
  });

  it('redacts the secret from the output it returns', async () => {
    const { fake, helm } = setup();
    fake.reply('upgrade', { stdout: `NOTES:\nyour secret is ${CANARY}\nREVISION: 1\n` });
    const out = await helm.upgradeInstall({ ...release, timeoutSeconds: 60 });
    expect(out.output).not.toContain(CANARY);
    expect(out.output).toContain('your secret is ***');
  });

  it('asks helm status for the revision when the output does not show it', async () => {
    const { fake, helm } = setup();
    fake.reply('upgrade', { stdout: 'ok\n' });
    fake.reply('status', {
      stdout: JSON.stringify({ name: 'hub', version: 7, info: { status: 'deployed' } }),
    });
    expect((await helm.upgradeInstall({ ...release, timeoutSeconds: 60 })).revision).toBe(7);
  });

  it('throws a classified HelmError whose message and tail are redacted', async () => {
    const { fake, helm } = setup();
    fake.failNext({
      subcommand: 'upgrade',
      stderr: `Error: UPGRADE FAILED: execution error at (hub/templates/secret.yaml:3:4): token ${CANARY} must be 32 bytes\n`,
    });
    const err = await helm.upgradeInstall({ ...release, timeoutSeconds: 60 }).catch((e) => e);
    expect(err).toBeInstanceOf(HelmError);
    expect(err.code).toBe('helm_failed');
    expect(err.classification).toEqual({
      kind: 'permanent',
      reason: 'chart template failed (required value or fail)',
    });
    expect(err.message).toBe(
      'helm upgrade exited with code 1: Error: UPGRADE FAILED: execution error at (hub/templates/secret.yaml:3:4): token *** must be 32 bytes',
    );
    expect(err.stderrTail).not.toContain(CANARY);
    expect(JSON.stringify(err)).not.toContain(CANARY);
  });

  it('refuses cluster commands in render-only mode', async () => {
    const { helm } = setup({ render: true });
    await expect(helm.upgradeInstall({ ...release, timeoutSeconds: 60 })).rejects.toThrow(/render-only/);
  });
});

describe('HelmRunner queries', () => {
  it('reads status from -o json and returns undefined for a release helm does not know', async () => {
    const { fake, helm } = setup();
    fake.reply('status', {
      stdout: JSON.stringify({
        name: 'hub',
        version: 3,
        info: { status: 'pending-upgrade' },
        chart: { metadata: { name: 'hub', version: '4.4.0', appVersion: '5.4.3' } },
        config: { secret: CANARY },
      }),
    });
    expect(await helm.status('hub', 'jh')).toEqual({
      status: 'pending-upgrade',
      revision: 3,
      chartVersion: '4.4.0',
      appVersion: '5.4.3',
    });
    fake.failNext({ subcommand: 'status', stderr: 'Error: release: not found' });
    expect(await helm.status('hub', 'jh')).toBeUndefined();
    expect(fake.calls[0]!.args).toEqual([
      'status',
      'hub',
      '--namespace',
      'jh',
      '-o',
      'json',
      '--kubeconfig',
      '/work/run-1/kubeconfig',
    ]);
  });

  it('reads history oldest first, and none for an unknown release', async () => {
    const { fake, helm } = setup();
    fake.reply('history', {
      stdout: JSON.stringify([
        {
          revision: 2,
          status: 'deployed',
          chart: 'hub-1.1.0',
          app_version: '1',
          description: 'Upgrade complete',
        },
        {
          revision: 1,
          status: 'superseded',
          chart: 'hub-1.0.0',
          app_version: '',
          description: 'Install complete',
        },
      ]),
    });
    expect(await helm.history('hub', 'jh')).toEqual([
      { revision: 1, status: 'superseded', chart: 'hub-1.0.0', description: 'Install complete' },
      {
        revision: 2,
        status: 'deployed',
        chart: 'hub-1.1.0',
        appVersion: '1',
        description: 'Upgrade complete',
      },
    ]);
    fake.failNext({ subcommand: 'history', stderr: 'Error: release: not found' });
    expect(await helm.history('hub', 'jh')).toEqual([]);
  });

  it('does not quote stdout that is not JSON (it could hold values)', async () => {
    const { fake, helm } = setup();
    fake.reply('status', { stdout: `not json ${CANARY}` });
    const err = await helm.status('hub', 'jh').catch((e) => e);
    expect(err.message).toBe('helm status printed something that is not JSON');
  });

  it('pulls a chart into a directory and returns the archive path', async () => {
    const { fake, helm } = setup();
    const file = await helm.pull({
      repoUrl: 'https://charts.example.org',
      name: 'grafana',
      version: '12.11.1',
      destination: '/cache',
    });
    expect(file).toBe('/cache/grafana-12.11.1.tgz');
    expect(fake.calls[0]!.args).not.toContain('--kubeconfig');
  });

  it('renders with helm template without a cluster, secrets on stdin', async () => {
    const { fake, helm } = setup({ render: true });
    fake.reply('template', { stdout: `kind: Secret\ndata: ${CANARY}\n` });
    const manifest = await helm.template(release);
    expect(manifest).toBe('kind: Secret\ndata: ***\n');
    expect(fake.calls[0]!.args).toEqual([
      'template',
      'hub',
      '/src/charts/hub',
      '--namespace',
      'jh',
      '-f',
      '/src/values/hub.yaml',
      '-f',
      '-',
    ]);
  });
});

describe('secretValuesDocument', () => {
  it('builds nested YAML from helm --set paths, with escaped dots and list indexes', () => {
    const doc = secretValuesDocument([
      { path: 'hub.config.a', value: 'one' },
      { path: 'hub.config.b', value: 'two' },
      { path: 'podAnnotations.prometheus\\.io/token', value: 'three' },
      { path: 'extraEnv[1].value', value: 'four' },
    ]);
    expect(parse(doc)).toEqual({
      hub: { config: { a: 'one', b: 'two' } },
      podAnnotations: { 'prometheus.io/token': 'three' },
      extraEnv: [null, { value: 'four' }],
    });
  });

  it('quotes every string so YAML 1.1 readers (helm) keep yes, on and 0123 as strings', () => {
    const doc = secretValuesDocument([
      { path: 'a', value: 'yes' },
      { path: 'b', value: '0123' },
      { path: 'c', value: 'multi\nline "q"' },
    ]);
    expect(doc).toBe('"a": "yes"\n"b": "0123"\n"c": "multi\\nline \\"q\\""\n');
    expect(parse(doc, { version: '1.1' })).toEqual({ a: 'yes', b: '0123', c: 'multi\nline "q"' });
  });
});
