import type { Deployment } from '../deploy/deployment';
import type { Logger } from '../log/logger';

/** Port: told about every deployment transition (Slack, GitHub Deployments, the console). */
export interface Notifier {
  deploymentChanged(deployment: Deployment): Promise<void>;
}

export class ConsoleNotifier implements Notifier {
  constructor(private readonly logger: Logger) {}
  async deploymentChanged(d: Deployment): Promise<void> {
    this.logger.info('deployment changed', {
      deploymentId: d.id,
      environment: d.environment,
      sha: d.sha,
      status: d.status,
      reason: d.reason,
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
        n.deploymentChanged(d).catch((e) => this.logger.warn('notifier failed', { deploymentId: d.id, err: e })),
      ),
    );
  }
}
