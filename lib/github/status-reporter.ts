import type { Octokit } from '@octokit/core';
import type { Clock } from '../clock';
import type { Deployment, DeploymentStatus } from '../deploy/deployment';
import type { Logger } from '../log/logger';
import type { Redactor } from '../log/redact';
import type { DriftNotice, Notifier } from '../notify/notifier';
import type { DeploymentStore } from '../store/deployment-store';
import { splitRepo } from './github-contents';

/** GitHub's deployment status states (https://docs.github.com/en/rest/deployments/statuses). */
export type GithubDeploymentState =
  | 'error'
  | 'failure'
  | 'inactive'
  | 'in_progress'
  | 'queued'
  | 'pending'
  | 'success';

/** Store item that decides which Lambda creates the GitHub deployment of a helmgate deployment. */
export const GITHUB_DEPLOYMENT_KIND = 'GHDEPLOY';
export const GITHUB_DEPLOYMENT_REF = 'githubDeploymentId';
const DESCRIPTION_MAX = 140;

type GithubDeploymentRef =
  | { state: 'claimed'; claimedAt: string }
  | { state: 'created'; githubDeploymentId: string }
  | { state: 'failed'; failedAt: string };

export interface GithubStatus {
  state: GithubDeploymentState;
  description: string;
  log_url: string;
  environment_url?: string;
}

function truncate(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}

/** Statuses that mean "never started": a deployment first seen in one is not worth creating on GitHub. */
const NEVER_STARTED: readonly DeploymentStatus[] = ['superseded', 'rejected', 'expired'];

/**
 * Pure: the GitHub status for a deployment's state. Every status links the deployment's page on the
 * dashboard (`/deployments/{id}`: a page for browsers, JSON for API clients); while it waits for
 * approval that page is also the environment URL, and it offers Approve/Reject to a logged-in approver.
 */
export function githubStatusOf(d: Deployment, publicUrl: string): GithubStatus {
  const base = publicUrl.replace(/\/$/, '');
  const logUrl = `${base}/deployments/${encodeURIComponent(d.id)}`;
  const reason = d.reason ? `: ${d.reason}` : '';
  const s = (state: GithubDeploymentState, description: string): GithubStatus => ({
    state,
    description: truncate(description.replace(/\s+/g, ' ').trim(), DESCRIPTION_MAX),
    log_url: logUrl,
  });
  switch (d.status) {
    case 'awaiting_approval': {
      return { ...s('queued', 'Waiting for approval'), environment_url: logUrl };
    }
    case 'queued':
      return s('queued', 'Queued');
    case 'running':
      return s('in_progress', 'Deploying');
    case 'succeeded':
      return s('success', 'Deployed');
    case 'rendered':
      return s('inactive', 'Rendered only (no cluster configured); nothing was deployed');
    case 'failed':
      return s('failure', `Failed${reason}`);
    case 'superseded':
      return s('inactive', 'Superseded by a newer push');
    case 'rejected':
      return s('inactive', 'Rejected');
    case 'expired':
      return s('inactive', 'Approval expired');
  }
}

/** Pure: the commit status a drift report sets (context `helmgate/drift/<environment>`). */
export function driftStatusOf(
  n: Pick<DriftNotice, 'repository' | 'environment' | 'drifted' | 'correction'>,
  publicUrl: string,
): { state: 'success' | 'failure'; context: string; description: string; target_url: string } {
  // the environment's card on the dashboard, where the drift is shown in full
  const card = `env-${n.repository}-${n.environment}`.replace(/[^\w-]/g, '-');
  const target = `${publicUrl.replace(/\/$/, '')}/#${card}`;
  const corr =
    n.correction && 'deploymentId' in n.correction ? `; redeploying as ${n.correction.deploymentId}` : '';
  return {
    state: n.drifted.length ? 'failure' : 'success',
    context: `helmgate/drift/${n.environment}`,
    description: truncate(
      n.drifted.length
        ? `Drifted from what helmgate deployed: ${n.drifted.join(', ')}${corr}`
        : 'Runs as helmgate deployed it',
      DESCRIPTION_MAX,
    ),
    target_url: target,
  };
}

export interface GithubDeploymentsReporterOptions {
  octokit: Pick<Octokit, 'request'>;
  store: DeploymentStore;
  /** public base URL of helmgate's API (approval pages, deployment views) */
  publicUrl: string;
  clock: Clock;
  logger: Logger;
  /** applied to descriptions (defence in depth: reasons may quote tool output) */
  redactor?: Redactor;
  /** how long a loser of the "who creates" race waits for the winner's id; default 3 s */
  claimWaitMs?: number;
  /** a claim older than this without an id is taken over; default 60 s */
  staleClaimMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

/**
 * Mirrors helmgate deployments into GitHub Deployments: one GitHub deployment per helmgate
 * deployment (environment at a sha), created on first sight, its id kept in
 * `externalRefs.githubDeploymentId`, then one status per transition. Errors are logged, never
 * thrown: GitHub being down must not fail a deploy.
 */
export class GithubDeploymentsReporter implements Notifier {
  private readonly sleep: (ms: number) => Promise<void>;
  constructor(private readonly opts: GithubDeploymentsReporterOptions) {
    this.sleep = opts.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  async deploymentChanged(d: Deployment): Promise<void> {
    const log = this.opts.logger.child({ deploymentId: d.id, sha: d.sha });
    // the '*' pseudo-environment records an unreadable deploy config: there is no environment to report
    if (d.environment === '*') return;
    try {
      const id = await this.githubDeploymentId(d);
      if (!id) return;
      const status = githubStatusOf(d, this.opts.publicUrl);
      const description = this.opts.redactor
        ? this.opts.redactor.redact(status.description)
        : status.description;
      const [owner, repo] = splitRepo(d.repository);
      await this.opts.octokit.request('POST /repos/{owner}/{repo}/deployments/{deployment_id}/statuses', {
        owner,
        repo,
        deployment_id: Number(id),
        state: status.state,
        description,
        log_url: status.log_url,
        ...(status.environment_url ? { environment_url: status.environment_url } : {}),
      });
    } catch (e) {
      log.warn('github deployment status failed', { httpStatus: (e as { status?: number }).status, err: e });
    }
  }

  /**
   * Drift as a commit status on the commit that runs, context `helmgate/drift/<environment>`: `failure`
   * while releases differ from what helmgate deployed, `success` once back in line. One status per
   * change (the drift check calls once per change); the description names releases, never values.
   */
  async driftChanged(n: DriftNotice): Promise<void> {
    try {
      const status = driftStatusOf(n, this.opts.publicUrl);
      const [owner, repo] = splitRepo(n.repository);
      // the commit the last report was about no longer runs: its status must not stay `failure`
      if (n.previousSha && n.previousSha !== n.sha)
        await this.opts.octokit.request('POST /repos/{owner}/{repo}/statuses/{sha}', {
          owner,
          repo,
          sha: n.previousSha,
          state: 'success',
          context: status.context,
          description: truncate(
            `No longer runs in ${n.environment}; drift is checked on ${n.sha.slice(0, 7)}`,
            DESCRIPTION_MAX,
          ),
          target_url: status.target_url,
        });
      await this.opts.octokit.request('POST /repos/{owner}/{repo}/statuses/{sha}', {
        owner,
        repo,
        sha: n.sha,
        state: status.state,
        context: status.context,
        description: this.opts.redactor ? this.opts.redactor.redact(status.description) : status.description,
        target_url: status.target_url,
      });
    } catch (e) {
      this.opts.logger
        .child({ deploymentId: n.deploymentId, sha: n.sha })
        .warn('github drift status failed', { httpStatus: (e as { status?: number }).status, err: e });
    }
  }

  /** The GitHub deployment's id, created at most once (a conditional put decides who creates). */
  private async githubDeploymentId(d: Deployment): Promise<string | undefined> {
    const { store, clock } = this.opts;
    const known = d.externalRefs?.[GITHUB_DEPLOYMENT_REF];
    if (known) return known;
    let item = await store.getItem<GithubDeploymentRef>(GITHUB_DEPLOYMENT_KIND, d.id);
    if (item?.state === 'created') return item.githubDeploymentId;
    if (!item && NEVER_STARTED.includes(d.status)) return undefined;
    if (!item) {
      const claim: GithubDeploymentRef = { state: 'claimed', claimedAt: clock.now().toISOString() };
      if (await store.putItem(GITHUB_DEPLOYMENT_KIND, d.id, claim, { ifNotExists: true }))
        return this.create(d);
      item = await this.waitForCreate(d.id);
      if (item?.state === 'created') return item.githubDeploymentId;
    }
    if (item?.state === 'claimed') {
      const age = clock.now().getTime() - new Date(item.claimedAt).getTime();
      if (age < (this.opts.staleClaimMs ?? 60_000)) {
        item = await this.waitForCreate(d.id);
        if (item?.state === 'created') return item.githubDeploymentId;
        this.opts.logger.warn('github deployment is still being created elsewhere; status skipped', {
          deploymentId: d.id,
        });
        return undefined;
      }
    }
    await store.putItem(GITHUB_DEPLOYMENT_KIND, d.id, {
      state: 'claimed',
      claimedAt: clock.now().toISOString(),
    });
    return this.create(d);
  }

  private async create(d: Deployment): Promise<string> {
    const { store, clock } = this.opts;
    const [owner, repo] = splitRepo(d.repository);
    try {
      const res = await this.opts.octokit.request('POST /repos/{owner}/{repo}/deployments', {
        owner,
        repo,
        ref: d.sha,
        environment: d.environment,
        task: 'deploy',
        auto_merge: false,
        required_contexts: [],
        transient_environment: false,
        production_environment: d.approval !== 'none',
        description: truncate(`helmgate ${d.id}`, DESCRIPTION_MAX),
        payload: { helmgateDeploymentId: d.id },
      });
      const id = (res.data as { id?: unknown }).id;
      if (typeof id !== 'number') throw new Error(`GitHub created no deployment (HTTP ${res.status})`);
      const githubDeploymentId = String(id);
      await store.putItem(GITHUB_DEPLOYMENT_KIND, d.id, { state: 'created', githubDeploymentId });
      // merge into the freshest copy: other reporters keep their own refs in the same map
      const current = await store.getDeployment(d.id);
      await store.update(
        d.id,
        { externalRefs: { ...current?.externalRefs, [GITHUB_DEPLOYMENT_REF]: githubDeploymentId } },
        clock.now(),
      );
      return githubDeploymentId;
    } catch (e) {
      await store.putItem(GITHUB_DEPLOYMENT_KIND, d.id, {
        state: 'failed',
        failedAt: clock.now().toISOString(),
      });
      throw e;
    }
  }

  private async waitForCreate(id: string): Promise<GithubDeploymentRef | undefined> {
    const deadline = this.opts.claimWaitMs ?? 3_000;
    let item: GithubDeploymentRef | undefined;
    for (let waited = 0; waited <= deadline; waited += 100) {
      item = await this.opts.store.getItem<GithubDeploymentRef>(GITHUB_DEPLOYMENT_KIND, id);
      if (item?.state !== 'claimed') return item;
      await this.sleep(100);
    }
    return item;
  }
}
