import { ApprovalService, type ApprovalServiceDeps } from '../../../lib/approval/approval-service';
import { fixedClock } from '../../../lib/clock';
import type { Deployment } from '../../../lib/deploy/deployment';
import type { EnvironmentPlan, PlannedRelease } from '../../../lib/deploy/plan';
import { RecordingDispatcher } from '../../../lib/dispatch/dispatcher';
import { createLogger } from '../../../lib/log/logger';
import { Redactor } from '../../../lib/log/redact';
import type { ApprovalRequestNotice, Notifier } from '../../../lib/notify/notifier';
import { cryptoRandom } from '../../../lib/random';
import type { DeploymentStore } from '../../../lib/store/deployment-store';

export const REPO = 'org/charts';
export const SHA = 'a'.repeat(40);
export const NEWER_SHA = 'b'.repeat(40);

export function release(name: string, over: Partial<PlannedRelease> = {}): PlannedRelease {
  return {
    name,
    namespace: 'hub',
    chart: {
      kind: 'repo',
      repository: 'jupyterhub',
      url: 'https://hub.jupyter.org/helm-chart/',
      name: 'jupyterhub',
      version: '4.4.0',
    },
    valuesFiles: [],
    mergedValues: { hub: { replicas: 1 } },
    secretValues: [{ path: 'hub.secret', ref: { secret: 'idr/oauth', key: 'client_secret' } }],
    needs: [],
    timeoutSeconds: 300,
    health: { workloads: true, http: [], helmTest: false },
    digest: `digest-${name}-1`,
    ...over,
  };
}

export function plan(over: Partial<EnvironmentPlan> = {}): EnvironmentPlan {
  return {
    environment: 'production',
    sha: SHA,
    approval: 'required',
    after: 'staging',
    cluster: { secret: 'helmgate/production/cluster' },
    releases: [release('jupyterhub')],
    kubernetesSecrets: [],
    secretRefs: [],
    digest: 'plan-digest-1',
    ...over,
  };
}

export function deployment(over: Partial<Deployment> = {}): Deployment {
  return {
    id: `dep-${Math.random().toString(36).slice(2, 10)}`,
    repository: REPO,
    environment: 'production',
    sha: SHA,
    ref: 'refs/heads/main',
    status: 'awaiting_approval',
    approval: 'required',
    pusher: 'pusher',
    commitMessage: 'bump hub',
    createdAt: '2026-01-01T00:00:00.000Z',
    updatedAt: '2026-01-01T00:00:00.000Z',
    ...over,
  };
}

export class RecordingNotifier implements Notifier {
  readonly changes: Deployment[] = [];
  readonly requests: ApprovalRequestNotice[] = [];
  readonly reminders: unknown[] = [];
  async deploymentChanged(d: Deployment): Promise<void> {
    this.changes.push(d);
  }
  async approvalRequested(r: ApprovalRequestNotice): Promise<void> {
    this.requests.push(r);
  }
  async approvalReminder(r: unknown): Promise<void> {
    this.reminders.push(r);
  }
}

export function makeService(db: { store: DeploymentStore }, over: Partial<ApprovalServiceDeps> = {}) {
  const clock = fixedClock('2026-01-01T01:00:00.000Z');
  const notifier = new RecordingNotifier();
  const dispatcher = new RecordingDispatcher();
  const logs: string[] = [];
  const redactor = new Redactor();
  const logger = createLogger({ redactor, clock, write: (l) => logs.push(l) });
  const deps: ApprovalServiceDeps = {
    store: db.store,
    notifier,
    dispatcher,
    clock,
    random: cryptoRandom,
    logger,
    redactor,
    publicUrl: 'https://helmgate.example.org',
    approvers: {
      production: {
        github: ['alice', 'bob', 'pusher', ...Array.from({ length: 50 }, (_, i) => `user${i}`)],
        githubTeams: ['org/platform'],
        cli: [],
        slack: ['U0CAROL'],
        required: 1,
        allowSelfApproval: true,
        slackToGithub: { U0BOB: 'bob', U0CAROL: 'carol' },
        cliToGithub: {},
      },
    },
    ...over,
  };
  return { service: new ApprovalService(deps), clock, notifier, dispatcher, logs, deps, redactor };
}

/** Creates the deployment and offers it; returns the link and the plan digest the page shows. */
export async function offered(
  db: { store: DeploymentStore },
  svc: ApprovalService,
  d: Deployment,
  p: EnvironmentPlan = plan(),
): Promise<{ planDigest: string; url: string }> {
  await db.store.createDeployment(d);
  const r = await svc.offer(d.id, { plan: { ...p, sha: d.sha, environment: d.environment } });
  if (!r.approvalUrl) throw new Error('not offered');
  const req = await svc.getRequest(d.id);
  if (!req) throw new Error('no approval request');
  return { planDigest: req.planDigest, url: r.approvalUrl };
}
