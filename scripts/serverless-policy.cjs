'use strict';
/**
 * A local osls plugin (see `plugins` in serverless.yml): turns the operator policy packaged with the
 * stack (custom.policyFile, default helmgate-policy.yaml) into
 *  - HELMGATE_POLICY on every function (the policy as JSON: the one the code enforces), and
 *  - one IAM role per repository and environment, which may read only that environment's cluster
 *    secret and its secretPrefixes, and which only the deploy runner's role may assume;
 *    HELMGATE_ENVIRONMENT_ROLES on the runner maps `<repository>#<environment>` to its role ARN.
 * So a staging deployment cannot read production's credentials, nor any deployment helmgate's own
 * secrets, even if helmgate's code were wrong: IAM says no (docs/policy.md, SECURITY.md).
 */
const { createHash } = require('node:crypto');
const { readFileSync } = require('node:fs');
const path = require('node:path');
const YAML = require('yaml');

const RUNNER_ROLE = 'DeployRunnerRole';
const RUNNER_FUNCTION = 'DeployRunnerLambdaFunction';
const SECRET_NAME = /^[\w/+=.@-]{1,512}$/;
const EKS_NAME = /^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$/;
const EKS_REGION = /^[a-z]{2}(-[a-z]+)+-\d$/;
/** Lambda's limit for all of a function's environment variables together. */
const LAMBDA_ENV_LIMIT = 4096;

function secretArn(name) {
  return {
    'Fn::Sub': `arn:\${AWS::Partition}:secretsmanager:\${AWS::Region}:\${AWS::AccountId}:secret:${name}`,
  };
}

/** The ARN patterns one prefix stands for, as lib/policy/check.ts `secretAllowed` reads it. */
function prefixArns(prefix) {
  if (!SECRET_NAME.test(prefix) || prefix.startsWith('/'))
    throw new Error(`policy: bad secret prefix ${prefix}`);
  return prefix.endsWith('/')
    ? [secretArn(`${prefix}*`)]
    : [secretArn(`${prefix}-??????`), secretArn(`${prefix}/*`)];
}

/** One role per (repository, environment) of the policy: its logical id, name suffix and secret ARNs. */
function environmentRoles(policy) {
  const out = [];
  for (const [repository, rp] of Object.entries(policy.repositories ?? {})) {
    for (const [environment, env] of Object.entries(rp.environments ?? {})) {
      const eks = env.cluster?.eks;
      const cluster = env.cluster?.secret;
      if (eks) {
        if (!EKS_NAME.test(eks.name ?? '') || !EKS_REGION.test(eks.region ?? ''))
          throw new Error(`policy: ${repository} ${environment} has no valid cluster.eks name and region`);
      } else if (typeof cluster !== 'string' || !SECRET_NAME.test(cluster))
        throw new Error(`policy: ${repository} ${environment} has no valid cluster.secret or cluster.eks`);
      const key = `${repository}#${environment}`;
      const hash = createHash('sha256').update(key).digest('hex').slice(0, 10);
      out.push({
        key,
        logicalId: `HelmgateEnv${hash}Role`,
        hash,
        environment,
        resources: [
          ...(eks ? [] : [secretArn(`${cluster}-??????`)]),
          ...(env.secretPrefixes ?? []).flatMap(prefixArns),
        ],
        // EKS through IAM: the role describes its cluster (endpoint, CA) and signs the token with which
        // the cluster's access entry for this role admits it; it reads no cluster secret
        ...(eks
          ? {
              eks: {
                'Fn::Sub': `arn:\${AWS::Partition}:eks:${eks.region}:\${AWS::AccountId}:cluster/${eks.name}`,
              },
            }
          : {}),
      });
    }
  }
  return out;
}

class HelmgatePolicyPlugin {
  constructor(serverless) {
    this.serverless = serverless;
    this.hooks = {
      'after:aws:package:finalize:mergeCustomProviderResources': () => this.apply(),
    };
  }

  apply() {
    const sls = this.serverless;
    const service = sls.service;
    const dir = sls.serviceDir ?? sls.config.servicePath;
    const file = path.resolve(dir, service.custom?.policyFile ?? 'helmgate-policy.yaml');
    const policy = YAML.parse(readFileSync(file, 'utf8'));
    if (policy?.apiVersion !== 'helmgate/policy/v1')
      throw new Error(`${file}: apiVersion must be helmgate/policy/v1`);
    const json = JSON.stringify(policy);
    const stage = sls.getProvider('aws').getStage();
    const template = service.provider.compiledCloudFormationTemplate;
    const resources = template.Resources;
    if (!resources[RUNNER_ROLE] || !resources[RUNNER_FUNCTION])
      throw new Error(`serverless-policy: ${RUNNER_ROLE} and ${RUNNER_FUNCTION} must exist`);

    const roles = environmentRoles(policy);
    for (const r of roles) {
      resources[r.logicalId] = {
        Type: 'AWS::IAM::Role',
        Properties: {
          RoleName: `${service.service}-${stage}-env-${r.hash}`,
          Description: `helmgate: secrets of ${r.key} only`,
          MaxSessionDuration: 3600,
          AssumeRolePolicyDocument: {
            Version: '2012-10-17',
            Statement: [
              {
                Effect: 'Allow',
                Principal: { AWS: { 'Fn::GetAtt': [RUNNER_ROLE, 'Arn'] } },
                Action: 'sts:AssumeRole',
              },
            ],
          },
          Policies: [
            {
              PolicyName: 'environment-secrets',
              PolicyDocument: {
                Version: '2012-10-17',
                Statement: [
                  ...(r.resources.length
                    ? [{ Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: r.resources }]
                    : []),
                  ...(r.eks ? [{ Effect: 'Allow', Action: 'eks:DescribeCluster', Resource: r.eks }] : []),
                ],
              },
            },
          ],
        },
      };
    }

    // the runner's own role may assume exactly these roles
    const runnerPolicies = resources[RUNNER_ROLE].Properties.Policies;
    runnerPolicies.push({
      PolicyName: 'assume-environment-roles',
      PolicyDocument: {
        Version: '2012-10-17',
        Statement: [
          {
            Effect: 'Allow',
            Action: 'sts:AssumeRole',
            Resource: roles.map((r) => ({ 'Fn::GetAtt': [r.logicalId, 'Arn'] })),
          },
        ],
      },
    });

    const roleMap = ['{'];
    roles.forEach((r, i) => {
      roleMap.push(`${i ? ',' : ''}${JSON.stringify(r.key)}:"`, { 'Fn::GetAtt': [r.logicalId, 'Arn'] }, '"');
    });
    roleMap.push('}');
    for (const [id, res] of Object.entries(resources)) {
      if (res.Type !== 'AWS::Lambda::Function') continue;
      res.Properties.Environment ??= { Variables: {} };
      const vars = res.Properties.Environment.Variables;
      vars.HELMGATE_POLICY = json;
      if (id === RUNNER_FUNCTION) vars.HELMGATE_ENVIRONMENT_ROLES = { 'Fn::Join': ['', roleMap] };
      const literal = Object.entries(vars).reduce(
        (n, [k, v]) => n + k.length + (typeof v === 'string' ? v.length : 200),
        0,
      );
      if (literal > LAMBDA_ENV_LIMIT)
        throw new Error(
          `${id}: its environment (about ${literal} bytes with the policy) exceeds Lambda's 4 KB; shorten ${path.basename(file)}`,
        );
    }
  }
}

module.exports = HelmgatePolicyPlugin;
module.exports.environmentRoles = environmentRoles;
