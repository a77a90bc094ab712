import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseDeployConfig } from '../deploy/deploy-config';
import {
  mergeLegacyApprovers,
  type Policy,
  PolicyError,
  parseLegacyApprovers,
  parsePolicy,
  policyDigest,
  policyFromDeployConfig,
} from '../policy/policy';

/** The policy in force, where it came from, and its digest (shown with every plan and approval). */
export interface LoadedPolicy {
  policy: Policy;
  /** `HELMGATE_POLICY (JSON)`, `HELMGATE_POLICY file /path`, or `deploy.yaml of the working tree /path` */
  source: string;
  digest: string;
}

export interface PolicySettings {
  /** HELMGATE_POLICY: the document (JSON, starting with "{") or a file path */
  HELMGATE_POLICY?: string | undefined;
  /** HELMGATE_APPROVERS: legacy approvers, merged into the policy */
  HELMGATE_APPROVERS?: string | undefined;
  HELMGATE_REPOSITORIES: readonly string[];
  HELMGATE_DEPLOY_CONFIG: string;
}

/**
 * The one policy loader, run ONCE at start (never per push, never from a pushed commit):
 * 1. `HELMGATE_POLICY`: the policy itself (JSON) or the path of a YAML/JSON file (relative paths
 *    against `cwd`; in AWS the stage parameter or the file packaged with the stack);
 * 2. else, with `repoDir` (the local stack, the CLI): the policy implied by the deploy config in the
 *    operator's working tree (lib/policy/policy.ts `policyFromDeployConfig`);
 * 3. else (AWS without a policy): an error — helmgate does not run without one.
 * `HELMGATE_APPROVERS` is merged into whichever applies.
 */
export function loadPolicy(
  settings: PolicySettings,
  opts: { repoDir?: string; cwd?: string; readFile?: (file: string) => string } = {},
): LoadedPolicy {
  const read = opts.readFile ?? ((f: string) => readFileSync(f, 'utf8'));
  const raw = settings.HELMGATE_POLICY?.trim();
  let policy: Policy;
  let source: string;
  if (raw) {
    if (raw.startsWith('{')) {
      source = 'HELMGATE_POLICY (JSON)';
      policy = parsePolicy(raw, 'HELMGATE_POLICY');
    } else {
      const file = path.resolve(opts.cwd ?? process.cwd(), raw);
      source = `HELMGATE_POLICY file ${file}`;
      let text: string;
      try {
        text = read(file);
      } catch (e) {
        throw new PolicyError(`HELMGATE_POLICY names ${file}, which cannot be read`, { cause: e });
      }
      policy = parsePolicy(text, file);
    }
  } else if (opts.repoDir) {
    const file = path.resolve(opts.repoDir, settings.HELMGATE_DEPLOY_CONFIG);
    source = `${settings.HELMGATE_DEPLOY_CONFIG} of the working tree ${file}`;
    let text: string;
    try {
      text = read(file);
    } catch (e) {
      throw new PolicyError(
        `no HELMGATE_POLICY and no ${file} to derive the policy from: set HELMGATE_POLICY (docs/policy.md)`,
        { cause: e },
      );
    }
    policy = policyFromDeployConfig(parseDeployConfig(text, file), settings.HELMGATE_REPOSITORIES);
  } else {
    throw new PolicyError('HELMGATE_POLICY is not set: helmgate needs the operator policy (docs/policy.md)');
  }
  policy = mergeLegacyApprovers(policy, parseLegacyApprovers(settings.HELMGATE_APPROVERS));
  return { policy, source, digest: policyDigest(policy) };
}
