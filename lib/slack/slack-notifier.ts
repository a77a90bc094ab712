import type { WebClient } from '@slack/web-api';
import type { Clock } from '../clock';
import type { Deployment } from '../deploy/deployment';
import type { Logger } from '../log/logger';
import type { Redactor } from '../log/redact';
import type {
  ApprovalReminderNotice,
  ApprovalRequestNotice,
  DriftNotice,
  ManifestsPreviewNotice,
  Notifier,
} from '../notify/notifier';
import type { AuditEntry, DeploymentStore } from '../store/deployment-store';
import {
  commitStateOf,
  latestPerEnvironment,
  type RenderOptions,
  renderApprovalReminder,
  renderApprovalRequested,
  renderCommitMessage,
  renderDriftNotice,
  renderFailureDetails,
  renderManifestsPreviewed,
  type SlackMessage,
  type Votes,
} from './messages';
import { slackErrorCode } from './web-client';

/** Store item kinds this notifier owns. */
export const SLACK_MESSAGE_KIND = 'SLACKMSG';
export const SLACK_DETAIL_KIND = 'SLACKDETAIL';

type SlackChat = Pick<WebClient['chat'], 'postMessage' | 'update'>;

export interface SlackNotifierOptions {
  client: { chat: SlackChat };
  /** channel id the commit messages go to */
  channel: string;
  store: DeploymentStore;
  clock: Clock;
  logger: Logger;
  /** applied to every rendered message (defence in depth; error tails are redacted already) */
  redactor?: Redactor;
  githubUrl?: string;
  /** helmgate's base URL: environments link to their deployment page */
  publicUrl?: string;
  /** how the audit log says who voted; the default reads `approve`/`reject` entries */
  votesOf?: (entries: AuditEntry[]) => Votes;
  /** how many deployments to scan for the commit's others; default 200 */
  scanLimit?: number;
  /** how long a loser of the "who posts" race waits for the winner's ts; default 3 s */
  claimWaitMs?: number;
  /** a claim older than this without a posted message is taken over (a crashed poster); default 60 s */
  staleClaimMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

/** The stored reference of a commit's message. */
export type SlackMessageRef =
  | { state: 'claimed'; claimedAt: string }
  | { state: 'posted'; channel: string; ts: string; postedAt: string }
  | { state: 'failed'; failedAt: string };

/** Counts votes from audit entries: `approve` → approved/recorded, `reject` → rejected. */
export function votesFromAudit(entries: AuditEntry[]): Votes {
  const approvedBy = entries
    .filter((e) => e.action === 'approve' && (e.outcome === 'approved' || e.outcome === 'recorded'))
    .map((e) => e.actor);
  const rejectedBy = entries
    .filter((e) => e.action === 'reject' && e.outcome === 'rejected')
    .map((e) => e.actor);
  return { approvedBy, rejectedBy };
}

/**
 * One Slack message per commit, re-rendered from the store on every transition and edited in place
 * (`chat.update`); details (failures, the approval link) go to its thread. Who posts the message
 * first is decided by a conditional put of `SLACKMSG/<repo>@<sha>`, so two Lambdas notified at once
 * post one message: the loser waits for the winner's `ts` and updates. Slack errors are logged and
 * never thrown: a notification must not fail a deploy.
 */
export class SlackNotifier implements Notifier {
  private readonly sleep: (ms: number) => Promise<void>;
  constructor(private readonly opts: SlackNotifierOptions) {
    this.sleep = opts.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  async deploymentChanged(deployment: Deployment): Promise<void> {
    const log = this.opts.logger.child({ deploymentId: deployment.id, sha: deployment.sha });
    try {
      const ref = await this.refresh(deployment);
      if (ref && deployment.status === 'failed') await this.postFailureDetails(deployment, ref);
    } catch (e) {
      log.warn('slack notification failed', { slackError: slackErrorCode(e), status: deployment.status });
    }
  }

  async approvalRequested(notice: ApprovalRequestNotice): Promise<void> {
    const d = notice.deployment;
    const log = this.opts.logger.child({ deploymentId: d.id, sha: d.sha });
    try {
      const ref = await this.refresh(d);
      if (!ref) return;
      // redact everything that may quote tool output; the link (no token in it) stays as it is
      const safe: ApprovalRequestNotice = {
        ...notice,
        deployment: this.redact(d),
        summary: notice.summary.map((l) => this.opts.redactor?.redact(l) ?? l),
      };
      const msg = renderApprovalRequested(safe);
      await this.postInThread(ref, msg);
    } catch (e) {
      log.warn('slack approval notice failed', { slackError: slackErrorCode(e) });
    }
  }

  /** The reminder before an approval expires, in the commit's thread (the sweeper sends it once). */
  async approvalReminder(notice: ApprovalReminderNotice): Promise<void> {
    const d = notice.deployment;
    try {
      const ref = await this.refresh(d);
      if (!ref) return;
      const msg = renderApprovalReminder({
        ...notice,
        deployment: this.redact(d),
        summary: notice.summary.map((l) => this.opts.redactor?.redact(l) ?? l),
      });
      await this.postInThread(ref, msg);
    } catch (e) {
      this.opts.logger
        .child({ deploymentId: d.id, sha: d.sha })
        .warn('slack approval reminder failed', { slackError: slackErrorCode(e) });
    }
  }

  /**
   * A drift report, as its own channel message (the drift check calls it once per change). Every string
   * goes through the redactor on top of the masking the drift already had.
   */
  async driftChanged(notice: DriftNotice): Promise<void> {
    try {
      const safe = this.opts.redactor ? this.opts.redactor.redactValue(notice) : notice;
      const msg = renderDriftNotice(safe, this.renderOptions());
      await this.opts.client.chat.postMessage({
        channel: this.opts.channel,
        text: msg.text,
        blocks: msg.blocks as never,
        unfurl_links: false,
        unfurl_media: false,
      });
    } catch (e) {
      this.opts.logger
        .child({ deploymentId: notice.deploymentId })
        .warn('slack drift notice failed', { slackError: slackErrorCode(e) });
    }
  }

  /** The rendered diff of an open approval, summarised in the commit's thread when it is ready. */
  async manifestsPreviewed(notice: ManifestsPreviewNotice): Promise<void> {
    const d = notice.deployment;
    try {
      const ref = await this.refresh(d);
      if (!ref) return;
      const msg = renderManifestsPreviewed({
        ...notice,
        deployment: this.redact(d),
        summary: notice.summary.map((l) => this.opts.redactor?.redact(l) ?? l),
      });
      await this.postInThread(ref, msg);
    } catch (e) {
      this.opts.logger
        .child({ deploymentId: d.id, sha: d.sha })
        .warn('slack preview notice failed', { slackError: slackErrorCode(e) });
    }
  }

  /** Renders the commit's message and posts or updates it; returns where it lives. */
  private async refresh(trigger: Deployment): Promise<{ channel: string; ts: string } | undefined> {
    const key = `${trigger.repository}@${trigger.sha}`;
    let msg = await this.render(trigger);
    const ref = await this.ensurePosted(key, msg);
    if (!ref) return undefined;
    if (!ref.fresh) await this.update(ref, msg);
    // Another Lambda may have rendered an older state and updated after us: re-read once after our
    // write, and write again if the state moved. Whoever writes last re-checks, so the message converges.
    for (let i = 0; i < 2; i++) {
      const again = await this.render(trigger);
      if (JSON.stringify(again) === JSON.stringify(msg)) break;
      msg = again;
      await this.update(ref, msg);
    }
    return ref;
  }

  private async update(ref: { channel: string; ts: string }, msg: SlackMessage): Promise<void> {
    await this.opts.client.chat.update({
      channel: ref.channel,
      ts: ref.ts,
      text: msg.text,
      blocks: msg.blocks as never,
    });
  }

  /** The commit's deployments: the store's newest, with the triggering one as given (it is the freshest). */
  private async commitDeployments(trigger: Deployment): Promise<Deployment[]> {
    const listed = await this.opts.store.listDeployments({ limit: this.opts.scanLimit ?? 200 });
    const same = listed.filter((d) => d.repository === trigger.repository && d.sha === trigger.sha);
    const byId = new Map(same.map((d) => [d.id, d]));
    const stored = byId.get(trigger.id);
    // index reads may lag behind the write that triggered us: keep whichever copy is newer
    if (!stored || stored.updatedAt <= trigger.updatedAt) byId.set(trigger.id, trigger);
    return [...byId.values()];
  }

  private async render(trigger: Deployment): Promise<SlackMessage> {
    const deployments = (await this.commitDeployments(trigger)).map((d) => this.redact(d));
    const votes: Record<string, Votes> = {};
    const votesOf = this.opts.votesOf ?? votesFromAudit;
    const openApprovals: string[] = [];
    for (const d of latestPerEnvironment(deployments)) {
      if (d.approval === 'none') continue;
      const audit = await this.opts.store.listAudit(d.id);
      votes[d.id] = votesOf(audit);
      // the approval opens with its offer (after the earlier stage passed); until then: no buttons
      if (audit.some((a) => a.action === 'offer' && a.outcome === 'offered')) openApprovals.push(d.id);
    }
    return renderCommitMessage({ ...commitStateOf(deployments, votes), openApprovals }, this.renderOptions());
  }

  private renderOptions(): RenderOptions {
    return {
      ...(this.opts.githubUrl ? { githubUrl: this.opts.githubUrl } : {}),
      ...(this.opts.publicUrl ? { publicUrl: this.opts.publicUrl } : {}),
    };
  }

  private redact(d: Deployment): Deployment {
    return this.opts.redactor ? this.opts.redactor.redactValue(d) : d;
  }

  /**
   * Posts the message if nobody has: claim the key (conditional put), post, record the ts. A loser
   * waits for the winner's ts. A failed or long-stale claim is taken over (an unconditional put: a
   * second message is possible only if two Lambdas take over the same dead claim at once).
   */
  private async ensurePosted(
    key: string,
    msg: SlackMessage,
  ): Promise<{ channel: string; ts: string; fresh: boolean } | undefined> {
    const { store, clock } = this.opts;
    let item = await store.getItem<SlackMessageRef>(SLACK_MESSAGE_KIND, key);
    if (item?.state === 'posted') return { channel: item.channel, ts: item.ts, fresh: false };
    if (!item) {
      const claim: SlackMessageRef = { state: 'claimed', claimedAt: clock.now().toISOString() };
      if (await store.putItem(SLACK_MESSAGE_KIND, key, claim, { ifNotExists: true }))
        return this.post(key, msg);
      item = await this.waitForPost(key);
      if (item?.state === 'posted') return { channel: item.channel, ts: item.ts, fresh: false };
    }
    if (item?.state === 'claimed') {
      const age = clock.now().getTime() - new Date(item.claimedAt).getTime();
      if (age < (this.opts.staleClaimMs ?? 60_000)) {
        item = await this.waitForPost(key);
        if (item?.state === 'posted') return { channel: item.channel, ts: item.ts, fresh: false };
        this.opts.logger.warn('slack message is still being posted elsewhere; skipped this refresh', { key });
        return undefined;
      }
    }
    await store.putItem(SLACK_MESSAGE_KIND, key, { state: 'claimed', claimedAt: clock.now().toISOString() });
    return this.post(key, msg);
  }

  private async post(
    key: string,
    msg: SlackMessage,
  ): Promise<{ channel: string; ts: string; fresh: boolean }> {
    const { store, clock } = this.opts;
    try {
      const res = await this.opts.client.chat.postMessage({
        channel: this.opts.channel,
        text: msg.text,
        blocks: msg.blocks as never,
        unfurl_links: false,
        unfurl_media: false,
      });
      if (!res.ts || !res.channel) throw new Error('chat.postMessage returned no ts/channel');
      const ref: SlackMessageRef = {
        state: 'posted',
        channel: res.channel,
        ts: res.ts,
        postedAt: clock.now().toISOString(),
      };
      await store.putItem(SLACK_MESSAGE_KIND, key, ref);
      return { channel: res.channel, ts: res.ts, fresh: true };
    } catch (e) {
      // let the next transition try again instead of everyone waiting on a dead claim
      await store.putItem(SLACK_MESSAGE_KIND, key, { state: 'failed', failedAt: clock.now().toISOString() });
      throw e;
    }
  }

  private async waitForPost(key: string): Promise<SlackMessageRef | undefined> {
    const deadline = this.opts.claimWaitMs ?? 3_000;
    let item: SlackMessageRef | undefined;
    for (let waited = 0; waited <= deadline; waited += 100) {
      item = await this.opts.store.getItem<SlackMessageRef>(SLACK_MESSAGE_KIND, key);
      if (item?.state !== 'claimed') return item;
      await this.sleep(100);
    }
    return item;
  }

  /** Once per failed deployment (a conditional put decides who posts), in the commit's thread. */
  private async postFailureDetails(d: Deployment, ref: { channel: string; ts: string }): Promise<void> {
    const details = renderFailureDetails(this.redact(d), this.renderOptions());
    if (!details) return;
    const first = await this.opts.store.putItem(
      SLACK_DETAIL_KIND,
      `${d.id}#failed`,
      { postedAt: this.opts.clock.now().toISOString() },
      { ifNotExists: true },
    );
    if (!first) return;
    await this.opts.client.chat.postMessage({
      channel: ref.channel,
      thread_ts: ref.ts,
      text: details.text,
      blocks: details.blocks as never,
    });
  }

  /** An approval message (request or reminder) as a reply in the commit's thread, without link previews. */
  private async postInThread(
    ref: { channel: string; ts: string },
    msg: { text: string; blocks: unknown[] },
  ): Promise<void> {
    await this.opts.client.chat.postMessage({
      channel: ref.channel,
      thread_ts: ref.ts,
      text: msg.text,
      blocks: msg.blocks as never,
      unfurl_links: false,
      unfurl_media: false,
    });
  }
}
