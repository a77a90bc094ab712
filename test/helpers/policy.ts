import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseDeployConfig } from '../../lib/deploy/deploy-config';
import { type Policy, policyFromDeployConfig } from '../../lib/policy/policy';

/**
 * The operator policy a deploy config implies (what the local stack derives from the operator's
 * checkout), for tests that need "the policy this deploy.yaml passes": the gate and reach of each of
 * its environments, for `repositories` (default: any).
 */
export function policyOf(deployYaml: string, repositories: string[] = ['*']): Policy {
  return policyFromDeployConfig(parseDeployConfig(deployYaml), repositories);
}

/** The same, from the deploy.yaml in a working tree. */
export function policyOfTree(dir: string, file = 'deploy.yaml', repositories: string[] = ['*']): Policy {
  return policyOf(readFileSync(path.join(dir, file), 'utf8'), repositories);
}
