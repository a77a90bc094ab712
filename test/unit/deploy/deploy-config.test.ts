import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import {
  DeployConfigError,
  type DeployConfigIssue,
  environmentApproval,
  environmentNames,
  parseDeployConfig,
  releaseTimeoutSeconds,
} from '../../../lib/deploy/deploy-config';
import { formatDuration, parseDuration } from '../../../lib/deploy/duration';
import { HelmgateError } from '../../../lib/errors';

const ROOT = path.resolve(__dirname, '../../..');
const EXAMPLE = readFileSync(path.join(ROOT, 'test/fixtures/deploy-config/valid.yaml'), 'utf8');

/** Lines 1-8 are fixed; `releases` starts on line 9. */
function config(releases: string, extra = ''): string {
  return `apiVersion: helmgate/v1
chartRepositories:
  jupyterhub: https://hub.jupyter.org/helm-chart/
environments:
  staging:
    approval: none
    cluster: { secret: helmgate/staging/cluster }
    releases:
${releases}${extra}`;
}

function issuesOf(text: string, file?: string): DeployConfigIssue[] {
  try {
    parseDeployConfig(text, file);
  } catch (e) {
    expect(e).toBeInstanceOf(DeployConfigError);
    return (e as DeployConfigError).issues;
  }
  throw new Error('expected the config to be rejected');
}

function messageOf(text: string): string {
  try {
    parseDeployConfig(text);
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error('expected the config to be rejected');
}

describe('parseDeployConfig accepts', () => {
  test('the example in docs/deploy-config.md, with defaults filled in', () => {
    const c = parseDeployConfig(EXAMPLE);
    expect(environmentNames(c)).toEqual(['staging', 'production']);
    expect(environmentApproval(c, 'staging')).toBe('none');
    expect(environmentApproval(c, 'production')).toBe('required');
    const [scratch, hub] = c.environments.staging?.releases ?? [];
    expect(scratch?.chart).toBe('./charts/jupyterhub-shared-scratch');
    expect(scratch?.health).toEqual({ workloads: true, http: [] });
    expect(scratch?.needs).toEqual([]);
    expect(hub?.chart).toEqual({ repository: 'jupyterhub', name: 'jupyterhub', version: '4.4.0' });
    expect(hub?.health.http).toEqual([{ url: 'https://staging.example.org/hub/health', expectStatus: 200 }]);
    expect(c.environments.production?.approvers?.allowSelfApproval).toBe(false);
    expect(releaseTimeoutSeconds(c, scratch as never)).toBe(600);
    expect(releaseTimeoutSeconds(c, hub as never)).toBe(900);
  });

  test('the example in the docs is the fixture, so the format and the fixture cannot drift apart', () => {
    const doc = readFileSync(path.join(ROOT, 'docs/deploy-config.md'), 'utf8');
    const example = /```yaml\n([\s\S]*?)```/.exec(doc)?.[1];
    expect(example).toBe(EXAMPLE);
  });

  const configs = ['test/fixtures/deploy-config/valid.yaml', 'deploy.yaml'].filter((f) =>
    existsSync(path.join(ROOT, f)),
  );
  test.each(configs)('the deploy config %s in the repository', (f) => {
    expect(() => parseDeployConfig(readFileSync(path.join(ROOT, f), 'utf8'), f)).not.toThrow();
  });

  test('a release without timeout falls back to helm’s 5m when there are no defaults', () => {
    const c = parseDeployConfig(config('      - { name: a, namespace: ns, chart: ./charts/a }\n'));
    expect(releaseTimeoutSeconds(c, c.environments.staging?.releases[0] as never)).toBe(300);
  });

  test('a prerelease and build metadata are still exact versions', () => {
    const c = parseDeployConfig(
      config(
        '      - { name: a, namespace: ns, chart: { repository: jupyterhub, name: jupyterhub, version: 4.4.0-beta.1+git.5 } }\n',
      ),
    );
    expect(c.environments.staging?.releases[0]?.chart).toMatchObject({ version: '4.4.0-beta.1+git.5' });
  });
});

describe('parseDeployConfig rejects, naming file, path and line', () => {
  test('a self-referencing alias is a config error, not a stack overflow (found by the property test)', () => {
    expect(messageOf('apiVersion: &a1 {timeout: staging, staging: *a1}\n')).toBe(
      'deploy.yaml: YAML: the alias *a1 is used inside the node its anchor names, which makes a cyclic value',
    );
  });

  test('a version range for a remote chart, with the readable one-line message', () => {
    const text = config(`      - name: a
        namespace: ns
        chart: ./charts/a
      - name: hub
        namespace: ns
        chart:
          repository: jupyterhub
          name: jupyterhub
          version: ^4.4
`);
    expect(messageOf(text)).toBe(
      'deploy.yaml:17 environments.staging.releases[1].chart.version: remote charts must pin an exact version (got "^4.4")',
    );
    expect(issuesOf(text)).toEqual([
      {
        file: 'deploy.yaml',
        path: 'environments.staging.releases[1].chart.version',
        line: 17,
        message: 'remote charts must pin an exact version (got "^4.4")',
      },
    ]);
  });

  test.each([
    ['latest', 'latest'],
    ['"4"', '4'],
    ['4.4', '4.4'],
    ['v4.4.0', 'v4.4.0'],
    ['">=4.0.0"', '>=4.0.0'],
    ['4.4.x', '4.4.x'],
  ])('version %s is not an exact version', (written, shown) => {
    const [issue] = issuesOf(
      config(
        `      - { name: a, namespace: ns, chart: { repository: jupyterhub, name: jupyterhub, version: ${written} } }\n`,
      ),
    );
    expect(issue).toMatchObject({
      path: 'environments.staging.releases[0].chart.version',
      line: 9,
      message: `remote charts must pin an exact version (got "${shown}")`,
    });
  });

  test('an unknown key, at the key’s own line and with the file name given', () => {
    const text = config(`      - name: a
        namespace: ns
        chart: ./charts/a
        valuez: [values/a.yaml]
`);
    expect(issuesOf(text, 'ops/deploy.yaml')).toEqual([
      {
        file: 'ops/deploy.yaml',
        path: 'environments.staging.releases[0].valuez',
        line: 12,
        message: 'unknown key "valuez"',
      },
    ]);
  });

  test('an unknown top-level key and a missing required key', () => {
    const issues = issuesOf('apiVersion: helmgate/v1\nenvironment:\n  staging: {}\n');
    expect(issues).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ path: 'environment', line: 2, message: 'unknown key "environment"' }),
        expect.objectContaining({ path: 'environments', line: 1 }),
      ]),
    );
  });

  test('a wrong apiVersion', () => {
    expect(issuesOf(config('      []\n').replace('helmgate/v1', 'helmgate/v2'))).toEqual([
      expect.objectContaining({ path: 'apiVersion', line: 1, message: 'apiVersion must be "helmgate/v1"' }),
    ]);
  });

  test('a chart repository that chartRepositories does not declare', () => {
    const [issue] = issuesOf(
      config('      - { name: a, namespace: ns, chart: { repository: bitnami, name: x, version: 1.0.0 } }\n'),
    );
    expect(issue).toMatchObject({
      path: 'environments.staging.releases[0].chart.repository',
      line: 9,
      message: 'chart repository "bitnami" is not declared in chartRepositories',
    });
  });

  test('release names repeated within an environment', () => {
    const issues = issuesOf(
      config(
        '      - { name: a, namespace: ns, chart: ./charts/a }\n      - { name: a, namespace: other, chart: ./charts/b }\n',
      ),
    );
    expect(issues).toEqual([
      expect.objectContaining({
        path: 'environments.staging.releases[1].name',
        line: 10,
        message: 'release "a" is already defined at releases[0]',
      }),
    ]);
  });

  test('the same release name in two environments is fine', () => {
    const text = config(
      '      - { name: a, namespace: ns, chart: ./charts/a }\n',
      '  production:\n    approval: required\n    cluster: { secret: p }\n    releases:\n      - { name: a, namespace: ns, chart: ./charts/a }\n',
    );
    expect(() => parseDeployConfig(text)).not.toThrow();
  });

  test('needs naming something that is not a release of the same environment', () => {
    const text = config(
      '      - { name: a, namespace: ns, chart: ./charts/a, needs: [b] }\n',
      '  production:\n    approval: required\n    cluster: { secret: p }\n    releases:\n      - { name: b, namespace: ns, chart: ./charts/b }\n',
    );
    expect(issuesOf(text)).toEqual([
      expect.objectContaining({
        path: 'environments.staging.releases[0].needs[0]',
        line: 9,
        message: '"b" is not a release of environment staging',
      }),
    ]);
  });

  test('a dependency cycle, naming the cycle', () => {
    const text = config(`      - { name: a, namespace: ns, chart: ./charts/a, needs: [c] }
      - { name: b, namespace: ns, chart: ./charts/b, needs: [a] }
      - { name: c, namespace: ns, chart: ./charts/c, needs: [b] }
      - { name: d, namespace: ns, chart: ./charts/d, needs: [a] }
`);
    expect(issuesOf(text)).toEqual([
      {
        file: 'deploy.yaml',
        path: 'environments.staging.releases[0].needs',
        line: 9,
        message: 'dependency cycle: a → c → b → a',
      },
    ]);
  });

  test('a release that needs itself', () => {
    expect(
      issuesOf(config('      - { name: a, namespace: ns, chart: ./charts/a, needs: [a] }\n'))[0],
    ).toMatchObject({
      path: 'environments.staging.releases[0].needs[0]',
      message: 'release "a" cannot need itself',
    });
  });

  test.each([
    [
      '/srv/charts/a',
      'a local chart path must be relative to the repository root, not absolute (got "/srv/charts/a")',
    ],
    ['../other-repo/chart', 'a local chart path must stay inside the repository (got "../other-repo/chart")'],
    ['charts/../../x', 'a local chart path must stay inside the repository (got "charts/../../x")'],
    [
      'https://example.org/a-1.0.0.tgz',
      'a local chart path must be a path inside the repository, not a URL (got "https://example.org/a-1.0.0.tgz")',
    ],
  ])('a local chart outside the repository: %s', (chart, message) => {
    expect(issuesOf(config(`      - name: a\n        namespace: ns\n        chart: ${chart}\n`))).toEqual([
      { file: 'deploy.yaml', path: 'environments.staging.releases[0].chart', line: 11, message },
    ]);
  });

  test('a values file outside the repository', () => {
    expect(
      issuesOf(
        config(
          '      - name: a\n        namespace: ns\n        chart: ./charts/a\n        values:\n          - values/a.yaml\n          - ../../etc/passwd\n',
        ),
      ),
    ).toEqual([
      expect.objectContaining({
        path: 'environments.staging.releases[0].values[1]',
        line: 14,
        message: 'a values file path must stay inside the repository (got "../../etc/passwd")',
      }),
    ]);
  });

  test('a chart that is neither a path nor a chart reference', () => {
    expect(issuesOf(config('      - { name: a, namespace: ns, chart: 42 }\n'))[0]).toMatchObject({
      path: 'environments.staging.releases[0].chart',
      message: 'expected a local chart path ("./charts/x") or { repository, name, version }',
    });
  });

  test('an unknown key inside a remote chart reference is reported as such, not as a union failure', () => {
    expect(
      issuesOf(
        config(
          '      - { name: a, namespace: ns, chart: { repository: jupyterhub, name: j, version: 1.0.0, repo: x } }\n',
        ),
      ),
    ).toEqual([
      expect.objectContaining({
        path: 'environments.staging.releases[0].chart.repo',
        message: 'unknown key "repo"',
      }),
    ]);
  });

  test('`after` naming an environment that does not exist', () => {
    const text = config(
      '      []\n',
      '  production:\n    approval: required\n    after: stagin\n    cluster: { secret: p }\n    releases: []\n',
    );
    expect(issuesOf(text)).toEqual([
      expect.objectContaining({
        path: 'environments.production.after',
        line: 12,
        message: '"stagin" is not an environment (known: staging, production)',
      }),
    ]);
  });

  test('`after` naming itself, and environments waiting for each other', () => {
    expect(
      issuesOf(config('      []\n').replace('approval: none', 'approval: none\n    after: staging'))[0],
    ).toMatchObject({
      path: 'environments.staging.after',
      line: 7,
      message: 'an environment cannot come after itself',
    });
    const text = config(
      '      []\n',
      '  production:\n    approval: required\n    after: staging\n    cluster: { secret: p }\n    releases: []\n',
    ).replace('approval: none', 'approval: none\n    after: production');
    expect(issuesOf(text)[0]?.message).toMatch(
      /^environments wait for each other: (staging → production → staging|production → staging → production)$/,
    );
  });

  test('approval auto without `after`', () => {
    expect(issuesOf(config('      []\n').replace('approval: none', 'approval: auto'))[0]).toMatchObject({
      path: 'environments.staging.approval',
      line: 6,
    });
  });

  test.each([
    ['10 minutes', 'not a duration: use Go\'s form, like 300s, 10m or 1h30m (got "10 minutes")'],
    ['300', 'a duration needs a unit, like "300s" (got "300")'],
    ['0s', 'not a duration: use Go\'s form, like 300s, 10m or 1h30m (got "0s")'],
    ['500ms', 'not a duration: use Go\'s form, like 300s, 10m or 1h30m (got "500ms")'],
  ])('a timeout that is not a duration: %s', (timeout, message) => {
    expect(
      issuesOf(
        config(
          `      - name: a\n        namespace: ns\n        chart: ./charts/a\n        timeout: ${timeout}\n`,
        ),
      ),
    ).toEqual([{ file: 'deploy.yaml', path: 'environments.staging.releases[0].timeout', line: 12, message }]);
  });

  test('a secretValues path helm could not parse, with the dotted key quoted in the path', () => {
    const [issue] = issuesOf(
      config(
        '      - name: a\n        namespace: ns\n        chart: ./charts/a\n        secretValues:\n          hub..x: { secret: s, key: k }\n',
      ),
    );
    expect(issue).toMatchObject({
      path: 'environments.staging.releases[0].secretValues["hub..x"]',
      line: 13,
    });
    expect(issue?.message).toMatch(/^not a value path: empty key/);
  });

  test('a YAML syntax error, with its line', () => {
    const text =
      'apiVersion: helmgate/v1\nenvironments:\n  staging:\n    approval: none\n    approval: required\n';
    expect(issuesOf(text)).toEqual([
      { file: 'deploy.yaml', path: '', line: 5, message: 'YAML: Map keys must be unique' },
    ]);
  });

  test('an empty file', () => {
    expect(issuesOf('').map((i) => i.path)).toEqual(expect.arrayContaining(['apiVersion', 'environments']));
  });

  test('every problem at once, as a DeployConfigError with code invalid_deploy_config', () => {
    let err: unknown;
    try {
      parseDeployConfig(
        config(
          '      - { name: A, namespace: ns, chart: ./charts/a, color: blue }\n      - { name: b, namespace: Bad_NS, chart: ./charts/b }\n',
        ),
      );
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(HelmgateError);
    expect((err as HelmgateError).code).toBe('invalid_deploy_config');
    expect((err as HelmgateError).name).toBe('DeployConfigError');
    expect((err as DeployConfigError).issues.map((i) => `${i.line} ${i.path}`)).toEqual([
      '9 environments.staging.releases[0].name',
      '9 environments.staging.releases[0].color',
      '10 environments.staging.releases[1].namespace',
    ]);
    expect((err as Error).message.split('\n')).toHaveLength(3);
  });
});

describe('durations', () => {
  test.each([
    ['300s', 300],
    ['10m', 600],
    ['1h30m', 5400],
    ['1h', 3600],
    ['1.5h', 5400],
    ['2m30s', 150],
  ])('%s is %i seconds', (text, seconds) => {
    expect(parseDuration(text)).toBe(seconds);
  });

  test.each(['', '10', '10 m', '-5m', '0s', '0.5s', '1d', 'm'])('%j is refused', (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });

  test('formatDuration writes them back', () => {
    expect([5400, 600, 90, 3600, 0].map(formatDuration)).toEqual(['1h30m', '10m', '1m30s', '1h', '0s']);
  });
});

test('an environment name that is not a DNS label says why', () => {
  expect(issuesOf(config('      []\n').replace('  staging:', '  Staging:'))).toEqual([
    {
      file: 'deploy.yaml',
      path: 'environments.Staging',
      line: 5,
      message: 'environment names are lowercase letters, digits and "-" (like a DNS label)',
    },
  ]);
});
