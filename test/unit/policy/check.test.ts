import { parseDeployConfig } from '../../../lib/deploy/deploy-config';
import { checkPlan, effectiveApprovers, policyLine, secretAllowed } from '../../../lib/policy/check';
import { parsePolicy, policyDigest, policyFromDeployConfig } from '../../../lib/policy/policy';

const POLICY = parsePolicy(`
apiVersion: helmgate/policy/v1
repositories:
  org/deploys:
    environments:
      staging:
        approval: none
        cluster: { secret: helmgate/staging/cluster }
        secretPrefixes: [idr/readonly]
        namespaces: [hub-staging]
        chartRepositories: [https://hub.jupyter.org/helm-chart/]
        healthHosts: [staging.example.org]
      production:
        approval: required
        after: staging
        approvers: { github: [alice, bob], githubTeams: [org/ops], slack: [U1], slackToGithub: { U1: alice }, required: 1 }
        cluster: { secret: helmgate/production/cluster }
        secretPrefixes: [idr/]
        namespaces: [hub]
        chartRepositories: [https://hub.jupyter.org/helm-chart, oci://registry.example.org/charts]
        healthHosts: [example.org]
`);

function config(production: string, staging = STAGING): ReturnType<typeof parseDeployConfig> {
  return parseDeployConfig(`apiVersion: helmgate/v1
chartRepositories:
  jupyterhub: https://hub.jupyter.org/helm-chart/
  other: https://charts.evil.example/
environments:
${staging}
  production:
${production}
`);
}

const STAGING = `  staging:
    approval: none
    cluster: { secret: helmgate/staging/cluster }
    releases:
      - name: hub
        namespace: hub-staging
        chart: { repository: jupyterhub, name: jupyterhub, version: 4.4.0 }
        secretValues: { a.b: { secret: idr/readonly, key: password } }
        health: { http: [{ url: https://staging.example.org/hub/health }] }`;

const PRODUCTION = `    approval: required
    after: staging
    cluster: { secret: helmgate/production/cluster }
    releases:
      - name: hub
        namespace: hub
        chart: { repository: jupyterhub, name: jupyterhub, version: 4.4.0 }`;

const messages = (production: string, env = 'production') =>
  checkPlan(POLICY, 'org/deploys', config(production), env).violations.map((v) => v.message);

describe('checkPlan', () => {
  it('accepts a deploy.yaml exactly as strict as the policy and says what applies', () => {
    const r = checkPlan(POLICY, 'org/deploys', config(PRODUCTION), 'production');
    expect(r.violations).toEqual([]);
    expect(r.effective).toMatchObject({
      approval: 'required',
      after: 'staging',
      cluster: { secret: 'helmgate/production/cluster' },
      approvers: { github: ['alice', 'bob'], required: 1, allowSelfApproval: false },
      policyDigest: policyDigest(POLICY),
    });
    expect(policyLine(r.effective as NonNullable<typeof r.effective>)).toMatch(
      /^policy [0-9a-f]{12}: approval required \(1 of 4\+ approver\(s\), self-approval forbidden\) after staging; cluster helmgate\/production\/cluster/,
    );
  });

  it('a commit cannot switch off its own production approval (none or auto)', () => {
    expect(messages(PRODUCTION.replace('approval: required', 'approval: none'))).toEqual([
      'policy: production.approval is required; deploy.yaml says none',
    ]);
    expect(messages(PRODUCTION.replace('approval: required', 'approval: auto'))).toEqual([
      'policy: production.approval is required; deploy.yaml says auto',
    ]);
  });

  it('a commit may be stricter: approval where the policy deploys on push, more approvals, no self-approval, fewer approvers', () => {
    const staging = checkPlan(
      POLICY,
      'org/deploys',
      config(PRODUCTION, STAGING.replace('approval: none', 'approval: required')),
      'staging',
    );
    expect(staging.violations).toEqual([]);
    expect(staging.effective?.approval).toBe('required');
    const r = checkPlan(
      POLICY,
      'org/deploys',
      config(`${PRODUCTION}\n    approvers: { github: [bob], required: 2, allowSelfApproval: false }`),
      'production',
    );
    expect(r.violations).toEqual([]);
    expect(r.effective?.approvers).toMatchObject({
      github: ['bob'],
      githubTeams: [],
      slack: [],
      required: 2,
      allowSelfApproval: false,
    });
  });

  it('`after` is a gate even without a vote: approval none with after waits like auto', () => {
    const policy = parsePolicy(
      JSON.stringify({
        ...POLICY,
        repositories: {
          'org/deploys': {
            environments: {
              ...POLICY.repositories['org/deploys']?.environments,
              production: {
                ...POLICY.repositories['org/deploys']?.environments.production,
                approval: 'none',
              },
            },
          },
        },
      }),
    );
    const r = checkPlan(
      policy,
      'org/deploys',
      config(PRODUCTION.replace('approval: required', 'approval: none')),
      'production',
    );
    expect(r.violations).toEqual([]);
    expect(r.effective?.after).toBe('staging');
    expect(r.effective?.approval).toBe('auto');
  });

  it('a commit cannot add approvers, lower `required`, allow self-approval or drop `after`', () => {
    expect(
      messages(
        `${PRODUCTION.replace('    after: staging\n', '')}\n    approvers: { github: [mallory], required: 1, allowSelfApproval: true }`,
      ),
    ).toEqual([
      'policy: production.after is staging; deploy.yaml says nothing',
      "policy: production.approvers does not include mallory; deploy.yaml may name a subset of the policy's approvers, never add one",
      'policy: production.approvers.allowSelfApproval is false; deploy.yaml says true',
    ]);
  });

  it('a commit cannot pick whose credentials are used, nor read control secrets', () => {
    const out = messages(
      `${PRODUCTION.replace('helmgate/production/cluster', 'helmgate/staging/cluster')}
        secretValues: { x: { secret: helmgate/github-webhook } }
    kubernetesSecrets:
      - name: leak
        namespace: hub
        data: { key: { secret: helmgate/approval-signing-key } }`,
    );
    expect(out).toEqual([
      'policy: production.cluster.secret is helmgate/production/cluster; deploy.yaml says helmgate/staging/cluster',
      'policy: production.secretPrefixes is idr/; deploy.yaml reads helmgate/approval-signing-key (kubernetesSecrets hub/leak.key)',
      'policy: production.secretPrefixes is idr/; deploy.yaml reads helmgate/github-webhook (release hub secretValues x)',
    ]);
  });

  it('namespaces, chart repositories and health hosts must be allowed', () => {
    expect(
      messages(`${PRODUCTION.replace('namespace: hub', 'namespace: kube-system').replace('repository: jupyterhub', 'repository: other')}
        health: { http: [{ url: http://169.254.169.254/latest/meta-data }] }`),
    ).toEqual([
      'policy: production.namespaces is hub; deploy.yaml deploys release hub into kube-system',
      'policy: production.chartRepositories is https://hub.jupyter.org/helm-chart, oci://registry.example.org/charts; deploy.yaml pulls jupyterhub from https://charts.evil.example/ (release hub)',
      'policy: production.healthHosts is example.org; deploy.yaml checks http://169.254.169.254/latest/meta-data (release hub)',
    ]);
  });

  it('an environment or repository the policy does not know is refused', () => {
    const cfg = config(PRODUCTION);
    expect(checkPlan(POLICY, 'org/deploys', cfg, 'qa').violations[0]?.message).toBe(
      'policy: qa is not an environment of org/deploys in the policy; deploy.yaml may not add one',
    );
    expect(checkPlan(POLICY, 'org/other', cfg, 'production').violations[0]?.message).toBe(
      'policy: repository org/other has no policy; nothing of it may deploy',
    );
    expect(checkPlan(POLICY, 'ORG/Deploys', cfg, 'production').violations).toEqual([]);
  });
});

describe('secretAllowed', () => {
  it('matches at path boundaries only', () => {
    expect(secretAllowed('idr/readonly', ['idr/readonly'])).toBe(true);
    expect(secretAllowed('idr/readonly/x', ['idr/readonly'])).toBe(true);
    expect(secretAllowed('idr/readonlyx', ['idr/readonly'])).toBe(false);
    expect(secretAllowed('idr/x', ['idr/'])).toBe(true);
    expect(secretAllowed('idr/', ['idr/'])).toBe(false);
    expect(secretAllowed('idr-evil/x', ['idr/'])).toBe(false);
    expect(secretAllowed('arn:aws:secretsmanager:eu-west-1:1:secret:idr/x-AbCdEf', ['idr/'])).toBe(false);
  });
});

describe('effectiveApprovers', () => {
  it('self-approval is forbidden unless the policy allows it explicitly', () => {
    const base = {
      github: ['a'],
      githubTeams: [],
      slack: [],
      slackToGithub: {},
      cli: [],
      cliToGithub: {},
      required: 1,
    };
    expect(effectiveApprovers(base, undefined).allowSelfApproval).toBe(false);
    expect(effectiveApprovers({ ...base, allowSelfApproval: true }, undefined).allowSelfApproval).toBe(true);
    expect(
      effectiveApprovers(
        { ...base, allowSelfApproval: true },
        {
          github: [],
          githubTeams: [],
          slack: [],
          allowSelfApproval: false,
        },
      ).allowSelfApproval,
    ).toBe(false);
  });
});

describe('EKS through IAM (issue 15 item 2): a cluster given as { eks: { name, region } }', () => {
  const EKS_POLICY = parsePolicy(`
apiVersion: helmgate/policy/v1
repositories:
  org/deploys:
    environments:
      production:
        approval: none
        cluster: { eks: { name: platform-prod, region: eu-west-1 } }
        namespaces: [hub]
        chartRepositories: [https://hub.jupyter.org/helm-chart/]
`);
  const deployYaml = (cluster: string) =>
    parseDeployConfig(`apiVersion: helmgate/v1
chartRepositories:
  jupyterhub: https://hub.jupyter.org/helm-chart/
environments:
  production:
    approval: none
    cluster: ${cluster}
    releases:
      - name: hub
        namespace: hub
        chart: { repository: jupyterhub, name: jupyterhub, version: 4.4.0 }
`);
  const check = (cluster: string) =>
    checkPlan(EKS_POLICY, 'org/deploys', deployYaml(cluster), 'production').violations.map((v) => v.message);

  it('is accepted when deploy.yaml names the same cluster, and the effective environment carries it', () => {
    const result = checkPlan(
      EKS_POLICY,
      'org/deploys',
      deployYaml('{ eks: { name: platform-prod, region: eu-west-1 } }'),
      'production',
    );
    expect(result.violations).toEqual([]);
    expect(result.effective?.cluster).toEqual({ eks: { name: 'platform-prod', region: 'eu-west-1' } });
  });

  it('a commit cannot point at another EKS cluster, another region, or a cluster secret instead', () => {
    expect(check('{ eks: { name: platform-staging, region: eu-west-1 } }')).toEqual([
      'policy: production.cluster is EKS platform-prod (eu-west-1); deploy.yaml says eks:platform-staging@eu-west-1',
    ]);
    expect(check('{ eks: { name: platform-prod, region: us-east-1 } }')).toHaveLength(1);
    expect(check('{ secret: helmgate/production/cluster }')).toHaveLength(1);
    // nor a secret spelled like the EKS label
    expect(check('{ secret: "eks:platform-prod@eu-west-1" }')).toHaveLength(1);
  });

  it('a policy refuses a bad cluster name or region, and both forms at once', () => {
    const bad = (cluster: string) => () =>
      parsePolicy(`apiVersion: helmgate/policy/v1
repositories:
  org/deploys:
    environments:
      production: { approval: none, cluster: ${cluster} }
`);
    expect(bad('{ eks: { name: "a/b", region: eu-west-1 } }')).toThrow();
    expect(bad('{ eks: { name: ok, region: "eu-west-1.evil" } }')).toThrow();
    expect(bad('{ secret: x, eks: { name: ok, region: eu-west-1 } }')).toThrow();
    expect(bad('{ eks: { name: ok, region: eu-west-1 } }')).not.toThrow();
  });
});

describe('requireHelmTest (issue 13 item 8): the policy may require helm test; a commit may add it, never drop it', () => {
  const policyWith = (require: string) =>
    parsePolicy(`apiVersion: helmgate/policy/v1
repositories:
  org/deploys:
    environments:
      staging:
        approval: none
        cluster: { secret: helmgate/staging/cluster }
        namespaces: [hub-staging]
        ${require}
`);
  const deployYaml = (hub: string, extra = '') =>
    parseDeployConfig(`apiVersion: helmgate/v1
environments:
  staging:
    approval: none
    cluster: { secret: helmgate/staging/cluster }
    releases:
      - name: hub
        namespace: hub-staging
        chart: ./charts/hub
        ${hub}${extra}
`);
  const tested = 'health: { helmTest: true }';
  const grafana = `
      - name: grafana
        namespace: hub-staging
        chart: ./charts/grafana`;
  const check = (require: string, config: ReturnType<typeof parseDeployConfig>) =>
    checkPlan(policyWith(require), 'org/deploys', config, 'staging').violations;

  it('true: every release must declare it; a deploy.yaml without the line is refused under rule helmTest', () => {
    expect(check('requireHelmTest: true', deployYaml('health: { workloads: true }'))).toEqual([
      {
        rule: 'helmTest',
        message:
          'policy: staging.requireHelmTest requires helm test of release hub; deploy.yaml does not declare it (health.helmTest: true)',
      },
    ]);
    expect(check('requireHelmTest: true', deployYaml(tested))).toEqual([]);
    expect(check('requireHelmTest: true', deployYaml(tested, grafana)).map((v) => v.message)).toEqual([
      'policy: staging.requireHelmTest requires helm test of release grafana; deploy.yaml does not declare it (health.helmTest: true)',
    ]);
  });

  it('a list requires it of the releases named only; naming one the commit does not deploy is no violation', () => {
    expect(check('requireHelmTest: [hub, gone]', deployYaml(tested, grafana))).toEqual([]);
    expect(check('requireHelmTest: [grafana]', deployYaml('health: {}', grafana))).toHaveLength(1);
  });

  it('absent or false: the commit decides (declaring tests is always allowed: stricter)', () => {
    expect(check('', deployYaml(tested))).toEqual([]);
    expect(check('requireHelmTest: false', deployYaml('health: {}'))).toEqual([]);
  });

  it('the policy line says so; a malformed requirement is refused', () => {
    const summary = (require: string) =>
      checkPlan(policyWith(require), 'org/deploys', deployYaml(tested), 'staging').effective?.summary;
    expect(summary('requireHelmTest: true')).toContain('helm test required of every release');
    expect(summary('requireHelmTest: [hub]')).toContain('helm test required of hub');
    expect(summary('')).not.toContain('helm test');
    expect(() => policyWith('requireHelmTest: []')).toThrow();
    expect(() => policyWith('requireHelmTest: "yes"')).toThrow();
    expect(() => policyWith('requireHelmTest: ["Not A Release"]')).toThrow();
  });

  it('the local default policy keeps the releases the checkout tests tested', () => {
    const checkout = deployYaml(tested, grafana);
    const local = policyFromDeployConfig(checkout, ['org/deploys']);
    expect(local.repositories['org/deploys']?.environments.staging?.requireHelmTest).toEqual(['hub']);
    expect(
      checkPlan(local, 'org/deploys', deployYaml('health: {}', grafana), 'staging').violations,
    ).toHaveLength(1);
    // a checkout that tests nothing requires nothing
    const none = policyFromDeployConfig(deployYaml('health: {}'), ['org/deploys']);
    expect(none.repositories['org/deploys']?.environments.staging?.requireHelmTest).toBeUndefined();
  });
});
