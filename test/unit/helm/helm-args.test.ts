import {
  connectionArgs,
  historyArgs,
  listArgs,
  pullArgs,
  rollbackArgs,
  statusArgs,
  templateArgs,
  uninstallArgs,
  upgradeInstallArgs,
} from '../../../lib/helm/helm-args';

const repoChart = {
  kind: 'repo',
  repoUrl: 'https://hub.jupyter.org/helm-chart/',
  name: 'jupyterhub',
  version: '4.4.0',
} as const;

describe('upgradeInstallArgs', () => {
  it('builds upgrade --install of a repository chart with values files in order and secrets on stdin last', () => {
    expect(
      upgradeInstallArgs({
        release: 'jupyterhub',
        namespace: 'jupyterhub-staging',
        chart: repoChart,
        valuesFiles: ['/src/values/a.yaml', '/src/values/b.yaml'],
        secretValuesOnStdin: true,
        timeoutSeconds: 900,
      }),
    ).toEqual([
      'upgrade',
      '--install',
      'jupyterhub',
      'jupyterhub',
      '--repo',
      'https://hub.jupyter.org/helm-chart/',
      '--version',
      '4.4.0',
      '--namespace',
      'jupyterhub-staging',
      '--create-namespace',
      '-f',
      '/src/values/a.yaml',
      '-f',
      '/src/values/b.yaml',
      '-f',
      '-',
      '--history-max',
      '10',
      '--timeout',
      '900s',
    ]);
  });

  it('builds upgrade --install of a local chart path with --wait, without rollback-on-failure, plus test flags', () => {
    expect(
      upgradeInstallArgs({
        release: 'hello',
        namespace: 'demo',
        chart: { kind: 'local', path: '/src/charts/hello' },
        valuesFiles: [],
        secretValuesOnStdin: false,
        timeoutSeconds: 60,
        wait: true,
        rollbackOnFailure: false,
        createNamespace: false,
        historyMax: 3,
        extraFlags: ['--disable-openapi-validation'],
      }),
    ).toEqual([
      'upgrade',
      '--install',
      'hello',
      '/src/charts/hello',
      '--namespace',
      'demo',
      '--history-max',
      '3',
      '--timeout',
      '60s',
      '--wait',
      '--disable-openapi-validation',
    ]);
  });

  it('addresses an OCI chart as <url>/<name> without --repo', () => {
    const args = upgradeInstallArgs({
      release: 'grafana',
      namespace: 'monitoring',
      chart: {
        kind: 'repo',
        repoUrl: 'oci://ghcr.io/grafana-community/helm-charts/',
        name: 'grafana',
        version: '12.11.1',
      },
      valuesFiles: [],
      secretValuesOnStdin: false,
      timeoutSeconds: 300,
    });
    expect(args.slice(0, 6)).toEqual([
      'upgrade',
      '--install',
      'grafana',
      'oci://ghcr.io/grafana-community/helm-charts/grafana',
      '--version',
      '12.11.1',
    ]);
    expect(args).not.toContain('--repo');
  });

  it.each([
    ['a release name that is a flag', { release: '--post-renderer=x' }],
    ['an uppercase release name', { release: 'Hello' }],
    ['a namespace that is a flag', { namespace: '--kubeconfig' }],
    ['a values file that is a flag', { valuesFiles: ['--set=a=b'] }],
    ['a chart path that is a flag', { chart: { kind: 'local', path: '-x' } }],
    ['a version range with spaces', { chart: { ...repoChart, version: '>= 1' } }],
    ['a zero timeout', { timeoutSeconds: 0 }],
    ['a fractional timeout', { timeoutSeconds: 1.5 }],
    ['an extra argument that is not a flag', { extraFlags: ['value'] }],
  ])('refuses %s', (_what, override) => {
    const base = {
      release: 'hello',
      namespace: 'demo',
      chart: { kind: 'local', path: '/c' } as const,
      valuesFiles: [] as string[],
      secretValuesOnStdin: false,
      timeoutSeconds: 60,
    };
    expect(() =>
      upgradeInstallArgs({ ...base, ...override } as Parameters<typeof upgradeInstallArgs>[0]),
    ).toThrow(/invalid/);
  });

  it('refuses a repository URL with credentials and does not echo it', () => {
    let message = '';
    try {
      upgradeInstallArgs({
        release: 'x',
        namespace: 'y',
        chart: {
          kind: 'repo',
          repoUrl: 'https://user:hunter22@charts.example.org',
          name: 'x',
          version: '1.0.0',
        },
        valuesFiles: [],
        secretValuesOnStdin: false,
        timeoutSeconds: 60,
      });
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toBe('invalid chart repository URL for helm');
  });
});

describe('templateArgs', () => {
  it('builds template with the same chart and values inputs and an optional output directory', () => {
    expect(
      templateArgs({
        release: 'jupyterhub',
        namespace: 'jh',
        chart: repoChart,
        valuesFiles: ['/v/a.yaml'],
        secretValuesOnStdin: true,
        outputDir: '/out/jupyterhub',
      }),
    ).toEqual([
      'template',
      'jupyterhub',
      'jupyterhub',
      '--repo',
      'https://hub.jupyter.org/helm-chart/',
      '--version',
      '4.4.0',
      '--namespace',
      'jh',
      '-f',
      '/v/a.yaml',
      '-f',
      '-',
      '--output-dir',
      '/out/jupyterhub',
    ]);
    expect(
      templateArgs({
        release: 'a',
        namespace: 'b',
        chart: { kind: 'local', path: '/c' },
        valuesFiles: [],
        secretValuesOnStdin: false,
      }),
    ).toEqual(['template', 'a', '/c', '--namespace', 'b']);
  });
});

describe('release maintenance commands', () => {
  it('builds status, history, rollback, uninstall, pull and list', () => {
    expect(statusArgs('hub', 'jh')).toEqual(['status', 'hub', '--namespace', 'jh', '-o', 'json']);
    expect(historyArgs('hub', 'jh')).toEqual(['history', 'hub', '--namespace', 'jh', '-o', 'json']);
    expect(historyArgs('hub', 'jh', 20)).toEqual([
      'history',
      'hub',
      '--namespace',
      'jh',
      '-o',
      'json',
      '--max',
      '20',
    ]);
    expect(rollbackArgs('hub', 'jh', 3, { timeoutSeconds: 120 })).toEqual([
      'rollback',
      'hub',
      '3',
      '--namespace',
      'jh',
      '--history-max',
      '10',
      '--timeout',
      '120s',
    ]);
    expect(uninstallArgs('hub', 'jh', { timeoutSeconds: 120, wait: true })).toEqual([
      'uninstall',
      'hub',
      '--namespace',
      'jh',
      '--timeout',
      '120s',
      '--wait',
    ]);
    expect(
      pullArgs({
        repoUrl: 'https://charts.example.org',
        name: 'grafana',
        version: '12.11.1',
        destination: '/cache',
      }),
    ).toEqual([
      'pull',
      'grafana',
      '--repo',
      'https://charts.example.org',
      '--version',
      '12.11.1',
      '--destination',
      '/cache',
    ]);
    expect(listArgs('jh')).toEqual(['list', '--namespace', 'jh', '-o', 'json']);
    expect(listArgs()).toEqual(['list', '--all-namespaces', '-o', 'json']);
  });

  it('refuses to roll back to revision 0', () => {
    expect(() => rollbackArgs('hub', 'jh', 0, { timeoutSeconds: 60 })).toThrow(/invalid revision/);
  });
});

describe('connectionArgs', () => {
  it('points helm at a kubeconfig file (with an optional context) or at an API server URL', () => {
    expect(connectionArgs({ kind: 'kubeconfig', path: '/w/kubeconfig' })).toEqual([
      '--kubeconfig',
      '/w/kubeconfig',
    ]);
    expect(connectionArgs({ kind: 'kubeconfig', path: '/w/kc', context: 'staging' })).toEqual([
      '--kubeconfig',
      '/w/kc',
      '--kube-context',
      'staging',
    ]);
    expect(connectionArgs({ kind: 'apiserver', url: 'http://127.0.0.1:4567' })).toEqual([
      '--kube-apiserver',
      'http://127.0.0.1:4567',
    ]);
  });
});
