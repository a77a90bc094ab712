import type { Clock } from '../clock';
import type { Deployment, ReleaseResult } from '../deploy/lifecycle';
import { duration, type Output } from './output';

/**
 * What `--wait` shows while a deployment runs (issue 14, item 4): one line per release as its status
 * changes (pending → running → succeeded/failed/skipped, with its duration). On a terminal the block
 * is redrawn in place (a running release's time ticks); otherwise each change is one appended line,
 * so a log or CI keeps every step. With --json nothing is shown: stdout gets only the final document.
 */
export class WaitProgress {
  private readonly seen = new Map<string, string>();
  /** when the CLI first saw a release running: a running one has no duration of its own yet */
  private readonly runningSince = new Map<string, number>();
  private lastStatus: string | undefined;
  private drawn = 0;
  private lastDrawn = '';

  constructor(
    private readonly o: Output,
    private readonly clock: Clock,
  ) {}

  update(d: Deployment): void {
    if (this.o.json) return;
    const now = this.clock.now().getTime();
    const releases = d.releases ?? [];
    for (const r of releases) {
      if (r.status === 'running' && !this.runningSince.has(r.name)) this.runningSince.set(r.name, now);
    }
    const width = Math.max(0, ...releases.map((r) => r.name.length));
    if (this.o.live) {
      const lines = [this.header(d), ...releases.map((r) => this.line(r, width, now))];
      const text = lines.join('\n');
      if (text !== this.lastDrawn) this.drawn = this.o.redraw(lines, this.drawn);
      this.lastDrawn = text;
      this.lastStatus = d.status;
      return;
    }
    // the deployment's first line, then what changed in its releases, then how the deployment moved
    if (this.lastStatus === undefined) this.o.note(this.header(d));
    for (const r of releases) {
      if (this.seen.get(r.name) === r.status) continue;
      this.seen.set(r.name, r.status);
      this.o.note(this.line(r, width, now));
    }
    if (this.lastStatus !== undefined && d.status !== this.lastStatus)
      this.o.note(
        `${d.id}: ${this.lastStatus} → ${this.o.status(d.status)}${d.reason ? ` (${d.reason})` : ''}`,
      );
    this.lastStatus = d.status;
  }

  private header(d: Deployment): string {
    return `${d.id}: ${this.o.status(d.status)}${d.reason ? ` (${d.reason})` : ''}`;
  }

  private line(r: ReleaseResult, width: number, now: number): string {
    const since = this.runningSince.get(r.name);
    const took =
      r.status === 'running'
        ? since !== undefined && now > since
          ? duration(now - since)
          : ''
        : duration(r.durationMs);
    const status = this.o.status(r.status) + ' '.repeat(Math.max(0, 9 - r.status.length));
    return `  ${r.name.padEnd(width)}  ${status}${took ? `  ${took}` : ''}${r.reason ? `  ${r.reason}` : ''}`.trimEnd();
  }
}
