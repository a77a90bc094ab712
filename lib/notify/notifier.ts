import type { Deployment } from '../deploy/deployment';
import type { Logger } from '../log/logger';

/** Port: told about every deployment transition (Slack, GitHub Deployments, the console). */
export interface Notifier {
  deploymentChanged(deployment: Deployment): Promise<void>;
  /**
   * A production deployment now waits for people. `approvalUrl` is the approval page: it carries no
   * token (deciding there needs an approver's GitHub login), so it may be shown anywhere.
   */
  approvalRequested?(request: ApprovalRequestNotice): Promise<void>;
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
}
