import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type DeployConfig, parseDeployConfig } from '../deploy/deploy-config';
import type { ChartDigestResolver, EnvironmentPlan } from '../deploy/plan';
import { HelmgateError } from '../errors';
import type { Git } from '../exec/git';
import { LocalGitSource } from '../github/local-git-source';
import type { Policy } from '../policy/policy';
import { planAt } from '../runner/runner';
import { directorySourceReader } from '../runner/source-reader';
import type { CliTarget } from './target';

/** A revision (`HEAD`, a branch, a short SHA) of the checkout as a full commit SHA. */
export async function resolveCommit(git: Git, repoDir: string, rev: string): Promise<string> {
  if (/^-/.test(rev)) throw new HelmgateError('bad_request', `not a revision: ${rev}`);
  try {
    const sha = await git.output(repoDir, ['rev-parse', '--verify', '--quiet', `${rev}^{commit}`]);
    if (/^[0-9a-f]{40}$/.test(sha)) return sha;
  } catch {
    // fall through
  }
  throw new HelmgateError(
    'source_unavailable',
    `${rev} is not a commit in ${repoDir} (git fetch first, or run the CLI in the deployment repository)`,
  );
}

/** The deploy config and the extracted tree of one commit; `dispose` removes the tree. */
export interface CommitTree {
  sha: string;
  dir: string;
  config: DeployConfig;
  plan(environment: string): Promise<EnvironmentPlan>;
  dispose(): Promise<void>;
}

/** Extracts the commit's tree (git archive, like the local runner) into a private temp dir and parses its deploy config. */
export async function openCommit(
  git: Git,
  repoDir: string,
  rev: string,
  deployConfigPath: string,
  /** plans are checked against the operator policy and pin remote charts, as the runner's */
  planning: { repository: string; policy: Policy; charts?: ChartDigestResolver },
): Promise<CommitTree> {
  const sha = await resolveCommit(git, repoDir, rev);
  const work = await mkdtemp(path.join(tmpdir(), 'helmgate-cli-'));
  const dir = path.join(work, 'src');
  try {
    await mkdir(dir, { mode: 0o700 });
    await new LocalGitSource(repoDir, git).extractTree('local', sha, dir);
    const text = await directorySourceReader(dir).readFile(deployConfigPath);
    if (text === undefined)
      throw new HelmgateError('invalid_deploy_config', `${deployConfigPath} does not exist at ${sha}`);
    const config = parseDeployConfig(text, deployConfigPath);
    return {
      sha,
      dir,
      config,
      plan: (environment) =>
        planAt(dir, deployConfigPath, { repository: planning.repository, environment, sha }, planning),
      dispose: () => rm(work, { recursive: true, force: true }),
    };
  } catch (e) {
    await rm(work, { recursive: true, force: true });
    throw e;
  }
}

/** The environments a command covers: the one named (which must exist) or all of them, in config order. */
export function environmentsOf(tree: CommitTree, only: string | undefined): string[] {
  const all = Object.keys(tree.config.environments);
  if (only === undefined) return all;
  if (!all.includes(only))
    throw new HelmgateError(
      'invalid_deploy_config',
      `environment ${only} is not in the deploy config at ${tree.sha.slice(0, 12)} (it has: ${all.join(', ')})`,
    );
  return [only];
}

/** `openCommit` of the target's checkout, planned under the target's policy and chart resolver. */
export function openTargetCommit(
  t: Pick<CliTarget, 'git' | 'repoDir' | 'deployConfigPath' | 'policy' | 'charts'>,
  rev: string,
  repository: string,
): Promise<CommitTree> {
  return openCommit(t.git, t.repoDir, rev, t.deployConfigPath, {
    repository,
    policy: t.policy().policy,
    charts: t.charts(),
  });
}
