import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadPolicy } from '../../../lib/config/policy-loader';
import { parseDeployConfig } from '../../../lib/deploy/deploy-config';
import { checkPlan } from '../../../lib/policy/check';
import {
  environmentPolicy,
  outboundHosts,
  parsePolicy,
  policyDigest,
  policyFromDeployConfig,
  policyOutbound,
} from '../../../lib/policy/policy';

const root = path.resolve(__dirname, '../../..');
const POLICY_JSON = JSON.stringify({
  apiVersion: 'helmgate/policy/v1',
  repositories: {
    '*': {
      environments: {
        production: {
          approval: 'required',
          approvers: { github: ['alice'] },
          cluster: { secret: 'helmgate/production/cluster' },
          secretPrefixes: ['idr/'],
          namespaces: ['hub'],
        },
      },
    },
  },
});
const settings = { HELMGATE_REPOSITORIES: ['org/deploys'], HELMGATE_DEPLOY_CONFIG: 'deploy.yaml' };

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'helmgate-policy-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('loadPolicy', () => {
  it('takes HELMGATE_POLICY as JSON, with `*` standing for any repository without its own entry', () => {
    const loaded = loadPolicy({ ...settings, HELMGATE_POLICY: POLICY_JSON });
    expect(loaded.source).toBe('HELMGATE_POLICY (JSON)');
    expect(loaded.digest).toBe(policyDigest(loaded.policy));
    expect(environmentPolicy(loaded.policy, 'any/repo', 'production')?.approvers.github).toEqual(['alice']);
  });

  it('takes HELMGATE_POLICY as the path of a YAML file, relative to cwd', () => {
    writeFileSync(path.join(dir, 'policy.yaml'), readFileSync(path.join(root, 'helmgate-policy.yaml')));
    const loaded = loadPolicy({ ...settings, HELMGATE_POLICY: 'policy.yaml' }, { cwd: dir });
    expect(loaded.source).toBe(`HELMGATE_POLICY file ${path.join(dir, 'policy.yaml')}`);
  });

  it("locally, without HELMGATE_POLICY, derives it once from the working tree's deploy.yaml", () => {
    const loaded = loadPolicy(settings, { repoDir: root });
    const production = environmentPolicy(loaded.policy, 'org/deploys', 'production');
    expect(production).toMatchObject({
      approval: 'required',
      after: 'staging',
      cluster: { secret: 'helmgate/production/cluster' },
      approvers: { required: 1 },
    });
    expect(production?.approvers.allowSelfApproval).toBeUndefined();
    expect(production?.secretPrefixes).toContain('idr/readonly');
    expect(production?.namespaces).toContain('grafana');
    // the repository's own deploy.yaml passes the policy it implies
    const config = parseDeployConfig(readFileSync(path.join(root, 'deploy.yaml'), 'utf8'));
    for (const env of ['staging', 'production'])
      expect(checkPlan(loaded.policy, 'org/deploys', config, env).violations).toEqual([]);
  });

  it('in AWS (no working tree) refuses to run without a policy', () => {
    expect(() => loadPolicy(settings)).toThrow('HELMGATE_POLICY is not set');
  });

  it('names the source and the field of a bad policy, never loads half of it', () => {
    expect(() =>
      loadPolicy({ ...settings, HELMGATE_POLICY: POLICY_JSON.replace('"required"', '"sometimes"') }),
    ).toThrow(/^HELMGATE_POLICY: repositories\.\*\.environments\.production\.approval: /);
    expect(() =>
      loadPolicy({
        ...settings,
        HELMGATE_POLICY: POLICY_JSON.replace(
          '"namespaces"',
          '"chartRepositories":["http://x.org"],"namespaces"',
        ),
      }),
    ).toThrow('not an https:// or oci:// repository URL');
    expect(() => loadPolicy({ ...settings, HELMGATE_POLICY: 'missing.yaml' }, { cwd: dir })).toThrow(
      'cannot be read',
    );
  });

  it('still accepts HELMGATE_APPROVERS and merges it into the policy, never loosening self-approval', () => {
    const loaded = loadPolicy({
      ...settings,
      HELMGATE_POLICY: POLICY_JSON,
      HELMGATE_APPROVERS: JSON.stringify({
        production: { github: ['bob'], slack: ['U1'], slackToGithub: { U1: 'bob' }, required: 2 },
        qa: { github: ['carol'] },
      }),
    });
    const a = environmentPolicy(loaded.policy, 'org/deploys', 'production')?.approvers;
    expect(a).toMatchObject({
      github: ['alice', 'bob'],
      slack: ['U1'],
      slackToGithub: { U1: 'bob' },
      required: 2,
    });
    expect(a?.allowSelfApproval).toBeUndefined();
    expect(environmentPolicy(loaded.policy, 'org/deploys', 'qa')).toBeUndefined();
    const strict = loadPolicy({
      ...settings,
      HELMGATE_POLICY: POLICY_JSON.replace(
        '"github":["alice"]',
        '"github":["alice"],"allowSelfApproval":false',
      ),
      HELMGATE_APPROVERS: JSON.stringify({ production: { allowSelfApproval: true } }),
    });
    expect(environmentPolicy(strict.policy, 'x/y', 'production')?.approvers.allowSelfApproval).toBe(false);
  });
});

describe('parsePolicy', () => {
  it('refuses unknown keys, `auto` without `after`, and an `after` naming no environment', () => {
    const text = (env: string) =>
      `apiVersion: helmgate/policy/v1\nrepositories:\n  a/b:\n    environments:\n      p:\n${env}\n        cluster: { secret: c }\n`;
    expect(() => parsePolicy(text('        approval: auto'))).toThrow('set `after`');
    expect(() => parsePolicy(text('        approval: required\n        after: s'))).toThrow(
      '"s" is not another environment',
    );
    expect(() => parsePolicy(text('        approval: none\n        approvrs: {}'))).toThrow('approvrs');
  });
});

describe('environments sharing a namespace on one cluster (security review of issue 13)', () => {
  const policy = (envs: Record<string, { cluster: unknown; namespaces: string[] }>) =>
    JSON.stringify({
      apiVersion: 'helmgate/policy/v1',
      repositories: {
        'a/b': {
          environments: Object.fromEntries(
            Object.entries(envs).map(([name, e]) => [name, { approval: 'none', ...e }]),
          ),
        },
        // another repository may use the same namespaces: the check is per repository entry
        'c/d': {
          environments: { staging: { approval: 'none', cluster: { secret: 'k' }, namespaces: ['hub'] } },
        },
      },
    });
  const eks = { eks: { name: 'main', region: 'eu-west-1' } };

  it('refuses two environments of a repository that share a namespace of the same cluster secret or EKS cluster, naming both and the namespace', () => {
    expect(() =>
      parsePolicy(
        policy({
          staging: { cluster: { secret: 'k' }, namespaces: ['web', 'hub'] },
          production: { cluster: { secret: 'k' }, namespaces: ['hub'] },
        }),
      ),
    ).toThrow(
      /repositories\.a\/b\.environments\.production\.namespaces: environments staging and production of a\/b share namespace hub on cluster k/,
    );
    expect(() =>
      parsePolicy(
        policy({
          staging: { cluster: eks, namespaces: ['hub'] },
          production: { cluster: eks, namespaces: ['hub'] },
        }),
      ),
    ).toThrow('share namespace hub on cluster eks:main@eu-west-1');
  });

  it('accepts the same namespace on different clusters, and different namespaces on one cluster', () => {
    expect(() =>
      parsePolicy(
        policy({
          staging: { cluster: { secret: 'k' }, namespaces: ['hub'] },
          production: { cluster: { secret: 'other' }, namespaces: ['hub'] },
          vae: { cluster: eks, namespaces: ['hub'] },
          public: { cluster: { eks: { name: 'main', region: 'us-east-1' } }, namespaces: ['hub'] },
          aai: { cluster: { secret: 'k' }, namespaces: ['aai'] },
        }),
      ),
    ).not.toThrow();
  });

  it('a deploy.yaml whose environments share a namespace on one cluster derives no local policy: it is refused, saying why', () => {
    const yaml = `apiVersion: helmgate/v1
environments:
  staging:
    approval: none
    cluster: { secret: test/cluster }
    releases:
      - { name: web-staging, namespace: web, chart: ./charts/web }
  production:
    approval: none
    cluster: { secret: test/cluster }
    releases:
      - { name: web, namespace: web, chart: ./charts/web }
`;
    expect(() => policyFromDeployConfig(parseDeployConfig(yaml), ['a/b'])).toThrow(
      /^policy from deploy\.yaml: .*environments staging and production of a\/b share namespace web on cluster test\/cluster/,
    );
  });
});

describe('helmgate-policy.yaml (this stack)', () => {
  it("is a valid policy that this repository's own deploy.yaml satisfies", () => {
    const policy = parsePolicy(readFileSync(path.join(root, 'helmgate-policy.yaml'), 'utf8'));
    const config = parseDeployConfig(readFileSync(path.join(root, 'deploy.yaml'), 'utf8'));
    for (const env of ['staging', 'production'])
      expect(checkPlan(policy, 'any/repository', config, env).violations).toEqual([]);
  });
});

describe('policyOutbound', () => {
  it("lists every environment's chart repositories and health hosts once (for the outbound guard)", () => {
    const policy = parsePolicy(readFileSync(path.join(root, 'helmgate-policy.yaml'), 'utf8'));
    const out = policyOutbound(policy);
    expect(out.chartRepositories).toEqual([
      'https://grafana-community.github.io/helm-charts',
      'https://hub.jupyter.org/helm-chart/',
      'https://prometheus-community.github.io/helm-charts',
    ]);
    expect(out.healthHosts).toContain('staging.idr-analysis.openmicroscopy.org');
    expect(out.healthHosts).toContain('grafana.idr-analysis.openmicroscopy.org');
    expect(new Set(out.healthHosts).size).toBe(out.healthHosts.length);
  });
});

describe('outboundHosts', () => {
  it("names an environment's chart repository hosts and health hosts, for the outbound guard", () => {
    const policy = parsePolicy(readFileSync(path.join(root, 'helmgate-policy.yaml'), 'utf8'));
    expect(outboundHosts(policy, 'staging')).toEqual([
      'hub.jupyter.org',
      'idr-analysis.openmicroscopy.org',
      'staging.idr-analysis.openmicroscopy.org',
    ]);
    expect(outboundHosts(policy, 'production')).not.toContain('staging.idr-analysis.openmicroscopy.org');
    expect(outboundHosts(policy, 'qa')).toEqual([]);
    expect(outboundHosts(policy)).toContain('grafana-community.github.io');
  });
});
