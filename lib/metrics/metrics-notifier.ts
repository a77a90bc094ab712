import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Deployment } from '../deploy/deployment';
import type { Notifier } from '../notify/notifier';

export interface MetricsNotifierOptions {
  /** CloudWatch namespace (the alarms in serverless.yml watch `Helmgate`) */
  namespace: string;
  /** the `service` dimension every metric carries */
  service: string;
  /** where an EMF document goes: Lambda's stdout, which CloudWatch turns into metrics */
  write?: (line: string) => void;
}

const FINAL = new Set(['succeeded', 'failed', 'rendered']);

/**
 * Deploy metrics as CloudWatch embedded metric format (Powertools metrics), from the same transitions
 * every other notifier sees:
 * - per environment (`service`, `environment`): DeploymentSucceeded / DeploymentFailed (count),
 *   DeploymentDuration (ms, start to finish), ReleaseRetries (count of attempts beyond the first),
 *   ApprovalWait (seconds from the push to the approval that queued it), DeploymentBlocked (failed
 *   without ever running: its `after` environment failed or its commit could not be planned);
 * - per release (`service`, `environment`, `release`): ReleaseSucceeded / ReleaseFailed / ReleaseSkipped.
 * The production alarm watches DeploymentFailed with exactly `service` and `environment`.
 */
export class MetricsNotifier implements Notifier {
  private readonly write: (line: string) => void;
  constructor(private readonly opts: MetricsNotifierOptions) {
    this.write = opts.write ?? ((line) => process.stdout.write(`${line}\n`));
  }

  async deploymentChanged(d: Deployment): Promise<void> {
    if (d.environment === '*') return; // an unreadable config has no environment to measure
    if (d.status === 'queued' && d.approval !== 'none' && !d.startedAt) {
      const waited = (Date.parse(d.updatedAt) - Date.parse(d.createdAt)) / 1000;
      if (Number.isFinite(waited) && waited >= 0)
        this.emit(d, {}, (m) => m.addMetric('ApprovalWait', MetricUnit.Seconds, waited));
      return;
    }
    if (!FINAL.has(d.status)) return;
    if (d.status === 'failed' && !d.startedAt) {
      // it never ran (its `after` environment failed, its commit could not be planned): not a failed
      // deploy, so the production alarm stays quiet; counted apart
      this.emit(d, {}, (m) => m.addMetric('DeploymentBlocked', MetricUnit.Count, 1));
      return;
    }
    const releases = d.releases ?? [];
    this.emit(d, {}, (m) => {
      m.addMetric(d.status === 'failed' ? 'DeploymentFailed' : 'DeploymentSucceeded', MetricUnit.Count, 1);
      const start = Date.parse(d.startedAt ?? d.createdAt);
      const end = Date.parse(d.finishedAt ?? d.updatedAt);
      if (Number.isFinite(start) && Number.isFinite(end) && end >= start)
        m.addMetric('DeploymentDuration', MetricUnit.Milliseconds, end - start);
      const retries = releases.reduce((n, r) => n + Math.max(0, (r.attempts ?? 0) - 1), 0);
      m.addMetric('ReleaseRetries', MetricUnit.Count, retries);
    });
    for (const r of releases) {
      const name =
        r.status === 'failed'
          ? 'ReleaseFailed'
          : r.status === 'skipped'
            ? 'ReleaseSkipped'
            : 'ReleaseSucceeded';
      if (r.status === 'pending' || r.status === 'running' || r.status === 'cancelled') continue;
      this.emit(d, { release: r.name }, (m) => m.addMetric(name, MetricUnit.Count, 1));
    }
  }

  private emit(d: Deployment, extra: Record<string, string>, add: (m: Metrics) => void): void {
    const m = new Metrics({ namespace: this.opts.namespace, serviceName: this.opts.service });
    m.addDimensions({ environment: d.environment, ...extra });
    add(m);
    m.addMetadata('deploymentId', d.id);
    m.addMetadata('sha', d.sha);
    this.write(JSON.stringify(m.serializeMetrics()));
    m.clearMetrics();
    m.clearDimensions();
    m.clearMetadata();
  }
}
