import type { Deployment } from '../deploy/deployment';
import type { DriftChange } from '../deploy/drift';
import type { Logger } from '../log/logger';

/** Port: told about every deployment transition (Slack, GitHub Deployments, the console). */
export interface Notifier {
  deploymentChanged(deployment: Deployment): Promise<void>;
  /**
   * A production deployment now waits for people. `approvalUrl` is the approval page: it carries no
   * token (deciding there needs an approver's GitHub login), so it may be shown anywhere.
   */
  approvalRequested?(request: ApprovalRequestNotice): Promise<void>;
  /** An approval expires soon (the sweeper calls it once per approval request). */
  approvalReminder?(notice: ApprovalReminderNotice): Promise<void>;
  /**
   * The scheduled drift check found a change (issue 13, item 4): a release drifted, its drift changed, or
   * it is back in line. Called once per change; every value in it is masked already.
   */
  driftChanged?(notice: DriftNotice): Promise<void>;
  /** The rendered-manifest diff of an open approval is ready (or why it is not): its summary lines. */
  manifestsPreviewed?(notice: ManifestsPreviewNotice): Promise<void>;
}

/** What one drift check changed in one environment, and what it did about it. */
export interface DriftNotice {
  repository: string;
  environment: string;
  /** the commit that runs: the deployment helmgate last deployed there */
  sha: string;
  /** the commit the previous report was about, when another one runs now (its drift status is closed) */
  previousSha?: string;
  deploymentId: string;
  checkedAt: string;
  changes: DriftChange[];
  /** every release still drifted after this check (empty: the environment is back in line) */
  drifted: string[];
  /** the policy's word for the environment */
  action: 'warn' | 'correct';
  /** `correct`: the redeploy opened for it, or why none was */
  correction?: { deploymentId: string; waitsForApproval: boolean } | { skipped: string };
}

export interface ManifestsPreviewNotice {
  deployment: Deployment;
  approvalUrl: string;
  /** `web: objects 2 changed (ConfigMap/web-config, Deployment/web)`, or why there is no diff */
  summary: string[];
}

/** A reminder that an approval will expire soon. The link is not repeated: only its hash is stored. */
export interface ApprovalReminderNotice {
  deployment: Deployment;
  expiresAt: string;
  votes: number;
  /** distinct approvals needed */
  required?: number;
  summary: string[];
  /** who to mention: Slack user ids (mentioned), GitHub logins without a Slack id (named) */
  approvers?: { slack: string[]; github: string[] };
}

export interface ApprovalRequestNotice {
  deployment: Deployment;
  approvalUrl: string;
  expiresAt: string;
  /** one line per release: `jupyterhub 4.3.0 → 4.4.0`, `grafana: values changed`, `prometheus: unchanged` */
  summary: string[];
}

export class ConsoleNotifier implements Notifier {
  /**
   * `withTokens: false` cuts a `token=` query parameter out of approval links before logging them.
   * Links carry no token since issue 11; the cut stays as a guard should one ever come back.
   */
  constructor(
    private readonly logger: Logger,
    private readonly opts: { withTokens?: boolean } = { withTokens: true },
  ) {}
  async deploymentChanged(d: Deployment): Promise<void> {
    this.logger.info('deployment changed', {
      deploymentId: d.id,
      environment: d.environment,
      sha: d.sha,
      status: d.status,
      reason: d.reason,
    });
  }
  async approvalReminder(r: ApprovalReminderNotice): Promise<void> {
    logReminder(this.logger, r);
  }
  async driftChanged(n: DriftNotice): Promise<void> {
    // static message at warn: the drift is in the fields (masked); never a live value here
    this.logger.warn('drift changed', {
      repository: n.repository,
      environment: n.environment,
      deploymentId: n.deploymentId,
      changes: n.changes.map((c) => `${c.release}: ${c.kind}`),
      drifted: n.drifted,
      ...(n.correction ? { correction: n.correction } : {}),
    });
  }
  async manifestsPreviewed(r: ManifestsPreviewNotice): Promise<void> {
    this.logger.info('rendered manifest diff ready', { deploymentId: r.deployment.id, summary: r.summary });
  }
  async approvalRequested(r: ApprovalRequestNotice): Promise<void> {
    this.logger.info('approval requested', {
      deploymentId: r.deployment.id,
      environment: r.deployment.environment,
      approvalUrl: this.opts.withTokens ? r.approvalUrl : r.approvalUrl.replace(/([?&]token=)[^&]*/, '$1…'),
      expiresAt: r.expiresAt,
      summary: r.summary,
    });
  }
}

/** The console's reminder: one log line. */
export function logReminder(logger: Logger, r: ApprovalReminderNotice): void {
  logger.info('approval expires soon', {
    deploymentId: r.deployment.id,
    environment: r.deployment.environment,
    expiresAt: r.expiresAt,
    votes: r.votes,
  });
}

/** Fans out to several notifiers; one failing never stops the others or the deploy. */
export class FanOutNotifier implements Notifier {
  constructor(
    private readonly notifiers: Notifier[],
    private readonly logger: Logger,
  ) {}
  async deploymentChanged(d: Deployment): Promise<void> {
    await Promise.all(
      this.notifiers.map((n) =>
        n
          .deploymentChanged(d)
          .catch((e) => this.logger.warn('notifier failed', { deploymentId: d.id, err: e })),
      ),
    );
  }
  async approvalReminder(r: ApprovalReminderNotice): Promise<void> {
    await Promise.all(
      this.notifiers.map((n) =>
        n.approvalReminder
          ? n
              .approvalReminder(r)
              .catch((e) => this.logger.warn('notifier failed', { deploymentId: r.deployment.id, err: e }))
          : undefined,
      ),
    );
  }
  async driftChanged(n: DriftNotice): Promise<void> {
    await Promise.all(
      this.notifiers.map((x) =>
        x.driftChanged
          ? x
              .driftChanged(n)
              .catch((e) => this.logger.warn('notifier failed', { deploymentId: n.deploymentId, err: e }))
          : undefined,
      ),
    );
  }
  async approvalRequested(r: ApprovalRequestNotice): Promise<void> {
    await Promise.all(
      this.notifiers.map((n) =>
        n.approvalRequested
          ? n
              .approvalRequested(r)
              .catch((e) => this.logger.warn('notifier failed', { deploymentId: r.deployment.id, err: e }))
          : undefined,
      ),
    );
  }
  async manifestsPreviewed(r: ManifestsPreviewNotice): Promise<void> {
    await Promise.all(
      this.notifiers.map((n) =>
        n.manifestsPreviewed
          ? n
              .manifestsPreviewed(r)
              .catch((e) => this.logger.warn('notifier failed', { deploymentId: r.deployment.id, err: e }))
          : undefined,
      ),
    );
  }
}
