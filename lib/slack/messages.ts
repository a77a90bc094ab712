import type { Deployment, ReleaseResult } from '../deploy/deployment';
import { formatDiagnosis } from '../deploy/diagnosis';
import { fieldLine } from '../deploy/drift';
import type {
  ApprovalReminderNotice,
  ApprovalRequestNotice,
  DriftNotice,
  ManifestsPreviewNotice,
} from '../notify/notifier';
import { approveActionId, approveAllActionId, rejectActionId, retryActionId } from './interaction';

/**
 * Pure renders of helmgate state as Slack Block Kit. The main message of a commit is a function of
 * the commit's deployments only, so any Lambda can re-render it and `chat.update` it in place
 * (keel's habit): nothing is appended, nothing depends on what the message said before.
 */

export interface TextObject {
  type: 'plain_text' | 'mrkdwn';
  text: string;
  emoji?: boolean;
}
export interface ConfirmDialog {
  title: TextObject;
  text: TextObject;
  confirm: TextObject;
  deny: TextObject;
  style?: 'primary' | 'danger';
}
export interface ButtonElement {
  type: 'button';
  action_id: string;
  text: TextObject;
  value?: string;
  style?: 'primary' | 'danger';
  confirm?: ConfirmDialog;
}
export type SlackBlock =
  | { type: 'section'; block_id?: string; text: TextObject }
  | { type: 'context'; block_id?: string; elements: TextObject[] }
  | { type: 'actions'; block_id?: string; elements: ButtonElement[] }
  | { type: 'divider'; block_id?: string };

export interface SlackMessage {
  /** the notification / fallback text */
  text: string;
  blocks: SlackBlock[];
}

export interface Votes {
  approvedBy: string[];
  rejectedBy: string[];
}

export interface CommitState {
  repository: string;
  sha: string;
  commitUrl?: string;
  commitMessage?: string;
  author?: string;
  /** every deployment of this repository at this sha, any order */
  deployments: Deployment[];
  /** who voted, per deployment id (read from the audit log by the notifier) */
  votes?: Record<string, Votes>;
  /**
   * Deployments whose approval is offered (the earlier stage passed), as the notifier reads it from the
   * audit. Without it, an approval counts as open once no other environment of the commit that
   * deploys without approval is still on its way.
   */
  openApprovals?: readonly string[];
}

export interface RenderOptions {
  /** for commit links when a deployment carries no commitUrl */
  githubUrl?: string;
  /** helmgate's own base URL: each environment links to its deployment page */
  publicUrl?: string;
}

/** The deployment's page on the dashboard. */
export function deploymentPageUrl(publicUrl: string, id: string): string {
  return `${publicUrl.replace(/\/+$/, '')}/deployments/${encodeURIComponent(id)}`;
}

/**
 * Is the approval of an awaiting deployment open, and if not, what does it wait for? Open when the
 * notifier saw the offer; without that knowledge, when no other environment of the commit that deploys
 * without approval is still queued or running.
 */
export function approvalState(
  d: Deployment,
  state: Pick<CommitState, 'deployments' | 'openApprovals'>,
): { open: true } | { open: false; waitsFor: string } {
  const before = latestPerEnvironment(state.deployments).filter(
    (o) => o.id !== d.id && o.approval === 'none' && (o.status === 'queued' || o.status === 'running'),
  );
  const open = state.openApprovals ? state.openApprovals.includes(d.id) : before.length === 0;
  if (open) return { open: true };
  const waiting = before.map((o) => environmentName(o));
  return { open: false, waitsFor: waiting.length ? waiting.join(' and ') : 'the earlier stage' };
}

const SECTION_MAX = 3000;
const TAIL_MAX = 1500;
const MAX_FAILED_RELEASES_SHOWN = 20;

/** Slack's mrkdwn control characters (https://api.slack.com/reference/surfaces/formatting#escaping). */
export function escapeMrkdwn(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** `<url|label>`; a `|` or `>` in the URL would end the link early, so they are percent-encoded. */
export function link(url: string, label: string): string {
  const safeUrl = url.replace(/\|/g, '%7C').replace(/>/g, '%3E').replace(/</g, '%3C').replace(/ /g, '%20');
  return `<${safeUrl}|${escapeMrkdwn(label)}>`;
}

function truncate(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}

export function shortSha(sha: string): string {
  return sha.slice(0, 7);
}

function firstLine(message: string | undefined): string | undefined {
  const line = message?.split(/\r?\n/, 1)[0]?.trim();
  return line ? line : undefined;
}

/** A voter as the audit log records them: `slack:U…`, `github:login`, or a bare id. */
export function formatActor(actor: string): string {
  const m = /^(?:(slack|github|cli|web):)?(.+)$/.exec(actor);
  const kind = m?.[1];
  const id = m?.[2] ?? actor;
  if ((kind === 'slack' || kind === undefined) && /^[UW][A-Z0-9]{2,}$/.test(id)) return `<@${id}>`;
  return escapeMrkdwn(id);
}

function people(list: readonly string[]): string {
  return [...new Set(list)].map(formatActor).join(', ');
}

export function commitUrlOf(
  state: Pick<CommitState, 'repository' | 'sha' | 'commitUrl'>,
  opts: RenderOptions = {},
): string {
  return (
    state.commitUrl ??
    `${(opts.githubUrl ?? 'https://github.com').replace(/\/$/, '')}/${state.repository}/commit/${state.sha}`
  );
}

/** The newest deployment per environment: a re-push of the same commit supersedes the older one. */
export function latestPerEnvironment(deployments: readonly Deployment[]): Deployment[] {
  const newest = new Map<string, Deployment>();
  for (const d of deployments) {
    const seen = newest.get(d.environment);
    if (!seen || `${d.createdAt}#${d.id}` > `${seen.createdAt}#${seen.id}`) newest.set(d.environment, d);
  }
  // environments without approval (staging) first, then by name: a stable order across re-renders
  return [...newest.values()].sort((a, b) => {
    const ra = a.approval === 'none' ? 0 : 1;
    const rb = b.approval === 'none' ? 0 : 1;
    return ra - rb || a.environment.localeCompare(b.environment);
  });
}

/** `3 releases: 2 deployed, 1 unchanged` */
export function releaseCounts(releases: readonly ReleaseResult[] | undefined): string | undefined {
  if (!releases || releases.length === 0) return undefined;
  const order = ['deployed', 'unchanged', 'rendered', 'failed', 'skipped', 'cancelled', 'running', 'pending'];
  const counts = new Map<string, number>();
  for (const r of releases) {
    const label =
      r.status === 'succeeded' ? (r.reason === 'unchanged' ? 'unchanged' : 'deployed') : (r.status as string);
    counts.set(label, (counts.get(label) ?? 0) + 1);
  }
  const parts = order.filter((l) => counts.has(l)).map((l) => `${counts.get(l)} ${l}`);
  return `${releases.length} release${releases.length === 1 ? '' : 's'}: ${parts.join(', ')}`;
}

function environmentName(d: Deployment): string {
  // '*' records a push that deployed nothing: an unreadable deploy config, or a stale push (superseded)
  if (d.environment === '*') return d.status === 'superseded' ? 'stale push' : 'deploy config';
  return d.environment;
}

/** One line of state per environment; the environment's name links to its deployment page. */
export function environmentLine(
  d: Deployment,
  votes: Votes | undefined,
  opts: { publicUrl?: string; waitsFor?: string } = {},
): string {
  const env = opts.publicUrl
    ? `*${link(deploymentPageUrl(opts.publicUrl, d.id), environmentName(d))}*`
    : `*${escapeMrkdwn(environmentName(d))}*`;
  const approvedBy = votes && votes.approvedBy.length > 0 ? ` by ${people(votes.approvedBy)}` : '';
  const counts = releaseCounts(d.releases);
  const withCounts = (s: string) => (counts ? `${s} — ${counts}` : s);
  const reason = d.reason ? `: ${escapeMrkdwn(truncate(d.reason, 300))}` : '';
  switch (d.status) {
    case 'awaiting_approval':
      if (opts.waitsFor) return `:hourglass_flowing_sand: ${env} waiting for ${escapeMrkdwn(opts.waitsFor)}`;
      return `:hourglass_flowing_sand: ${env} awaiting approval${approvedBy ? ` (approved so far${approvedBy})` : ''}`;
    case 'queued':
      return `:clock3: ${env} queued${d.approval !== 'none' && approvedBy ? ` (approved${approvedBy})` : ''}`;
    case 'running':
      return withCounts(`:arrows_counterclockwise: ${env} deploying`);
    case 'succeeded':
      return withCounts(`:white_check_mark: ${env} deployed`);
    case 'rendered':
      return withCounts(`:page_facing_up: ${env} rendered only (no cluster configured), nothing deployed`);
    case 'failed':
      return withCounts(`:x: ${env} failed${reason}`);
    case 'rejected':
      return `:no_entry: ${env} rejected${votes && votes.rejectedBy.length > 0 ? ` by ${people(votes.rejectedBy)}` : ''}`;
    case 'superseded':
      return `:fast_forward: ${env} superseded by a newer push`;
    case 'expired':
      return `:alarm_clock: ${env} approval expired`;
  }
}

function plain(text: string): TextObject {
  return { type: 'plain_text', text: truncate(text, 75), emoji: true };
}

function approvalButtons(d: Deployment, sha: string): SlackBlock {
  const env = environmentName(d);
  return {
    type: 'actions',
    block_id: `vote:${d.id}`.slice(0, 255),
    elements: [
      {
        type: 'button',
        action_id: approveActionId(d.id),
        value: approveActionId(d.id),
        style: 'primary',
        text: plain(`Approve ${env}`),
        confirm: {
          title: plain(`Deploy to ${env}?`),
          text: {
            type: 'mrkdwn',
            text: `Deploy \`${shortSha(sha)}\` to *${escapeMrkdwn(env)}*. This cannot be undone by a click here.`,
          },
          confirm: plain('Approve'),
          deny: plain('Cancel'),
          style: 'primary',
        },
      },
      {
        type: 'button',
        action_id: rejectActionId(d.id),
        value: rejectActionId(d.id),
        style: 'danger',
        text: plain(`Reject ${env}`),
        confirm: {
          title: plain(`Reject ${env}?`),
          text: {
            type: 'mrkdwn',
            text: `\`${shortSha(sha)}\` will not be deployed to *${escapeMrkdwn(env)}*.`,
          },
          confirm: plain('Reject'),
          deny: plain('Cancel'),
          style: 'danger',
        },
      },
    ],
  };
}

/** The commit's state from its deployments (repository, sha, message, author of the newest). */
export function commitStateOf(
  deployments: readonly Deployment[],
  votes: Record<string, Votes> = {},
): CommitState {
  const newest = [...deployments].sort((a, b) => (`${b.createdAt}` > `${a.createdAt}` ? 1 : -1))[0];
  if (!newest) throw new Error('commitStateOf needs at least one deployment');
  return {
    repository: newest.repository,
    sha: newest.sha,
    ...(newest.commitUrl ? { commitUrl: newest.commitUrl } : {}),
    ...(newest.commitMessage !== undefined ? { commitMessage: newest.commitMessage } : {}),
    ...(newest.pusher ? { author: newest.pusher } : {}),
    deployments: [...deployments],
    votes,
  };
}

/**
 * The main message of a commit: header (repository, short SHA linking to the commit, first line of
 * the message, author), one line per environment, and Approve / Reject buttons only for
 * environments awaiting approval, plus "Approve all" when more than one waits.
 */
export function renderCommitMessage(state: CommitState, opts: RenderOptions = {}): SlackMessage {
  const envs = latestPerEnvironment(state.deployments);
  const title = firstLine(state.commitMessage);
  const header = [
    `*${escapeMrkdwn(state.repository)}*`,
    link(commitUrlOf(state, opts), shortSha(state.sha)),
    ...(title ? [escapeMrkdwn(truncate(title, 150))] : []),
  ].join('  ');
  const blocks: SlackBlock[] = [
    { type: 'section', block_id: 'commit', text: { type: 'mrkdwn', text: header } },
  ];
  if (state.author)
    blocks.push({
      type: 'context',
      block_id: 'author',
      elements: [{ type: 'mrkdwn', text: `pushed by ${escapeMrkdwn(state.author)}` }],
    });
  blocks.push({ type: 'divider' });

  const awaiting: Deployment[] = [];
  for (const d of envs) {
    // buttons only while the approval is open: before the earlier stage passed a vote would be refused
    const approval = d.status === 'awaiting_approval' ? approvalState(d, state) : undefined;
    const line = environmentLine(d, state.votes?.[d.id], {
      ...(opts.publicUrl ? { publicUrl: opts.publicUrl } : {}),
      ...(approval && !approval.open ? { waitsFor: approval.waitsFor } : {}),
    });
    blocks.push({
      type: 'section',
      block_id: `env:${d.id}`.slice(0, 255),
      text: { type: 'mrkdwn', text: truncate(line, SECTION_MAX) },
    });
    if (approval?.open) {
      awaiting.push(d);
      blocks.push(approvalButtons(d, state.sha));
    }
  }
  if (awaiting.length > 1) {
    const names = awaiting.map((d) => `*${escapeMrkdwn(environmentName(d))}*`).join(', ');
    blocks.push({
      type: 'actions',
      block_id: 'approve_all',
      elements: [
        {
          type: 'button',
          action_id: approveAllActionId(state.sha),
          value: approveAllActionId(state.sha),
          text: plain(`Approve all (${awaiting.length})`),
          confirm: {
            title: plain('Approve every waiting environment?'),
            text: { type: 'mrkdwn', text: `Deploy \`${shortSha(state.sha)}\` to ${names}.` },
            confirm: plain('Approve all'),
            deny: plain('Cancel'),
            style: 'primary',
          },
        },
      ],
    });
  }

  const summary = envs.map((d) => `${environmentName(d)} ${d.status.replace('_', ' ')}`).join(', ');
  return {
    text: truncate(`${state.repository} ${shortSha(state.sha)}: ${summary || 'no environments'}`, 3000),
    blocks,
  };
}

/** Removes what would let a tail close our code block. */
function codeBlock(text: string): string {
  const body = escapeMrkdwn(text.replace(/```/g, 'ʼʼʼ'));
  return `\`\`\`${body}\`\`\``;
}

function tail(text: string, max: number): string {
  const trimmed = text.trimEnd();
  return trimmed.length <= max ? trimmed : `…${trimmed.slice(trimmed.length - max + 1)}`;
}

/**
 * Thread details of a failed deployment: the reason and, per failed release, its redacted error tail
 * (truncated, in a code block). Undefined for any other status.
 */
export function renderFailureDetails(d: Deployment, opts: RenderOptions = {}): SlackMessage | undefined {
  if (d.status !== 'failed') return undefined;
  const env = escapeMrkdwn(environmentName(d));
  const page = opts.publicUrl
    ? ` (${link(deploymentPageUrl(opts.publicUrl, d.id), 'timeline and error output')})`
    : '';
  const head = `:x: *${env}* failed at \`${shortSha(d.sha)}\`${d.reason ? `: ${escapeMrkdwn(truncate(d.reason, 500))}` : ''}${page}`;
  const blocks: SlackBlock[] = [
    { type: 'section', text: { type: 'mrkdwn', text: truncate(head, SECTION_MAX) } },
  ];
  const failed = (d.releases ?? []).filter((r) => r.status === 'failed');
  for (const r of failed.slice(0, MAX_FAILED_RELEASES_SHOWN)) {
    const title = `*${escapeMrkdwn(r.name)}* (${escapeMrkdwn(r.namespace)})${r.reason ? ` — ${escapeMrkdwn(truncate(r.reason, 300))}` : ''}${r.attempts > 1 ? `, ${r.attempts} attempts` : ''}`;
    const evidence = [
      // both fit one section: the error tail gets less room when a diagnosis follows it
      ...(r.errorTail ? [codeBlock(tail(r.errorTail, r.diagnosis ? 800 : TAIL_MAX))] : []),
      // the failing pods as they were before any rollback (issue 13): states, events, last log lines
      ...(r.diagnosis ? [codeBlock(tail(formatDiagnosis(r.diagnosis), 1300))] : []),
    ];
    const text = [title, ...evidence].join('\n');
    blocks.push({ type: 'section', text: { type: 'mrkdwn', text: truncate(text, SECTION_MAX) } });
  }
  if (failed.length > MAX_FAILED_RELEASES_SHOWN)
    blocks.push({
      type: 'context',
      elements: [
        { type: 'mrkdwn', text: `and ${failed.length - MAX_FAILED_RELEASES_SHOWN} more failed releases` },
      ],
    });
  // a deployment that ran can be run again, once (same commit and plan): for the environment's approvers
  if (d.startedAt && d.planDigest)
    blocks.push({
      type: 'actions',
      block_id: `retry:${d.id}`.slice(0, 255),
      elements: [
        {
          type: 'button',
          action_id: retryActionId(d.id),
          value: retryActionId(d.id),
          text: plain(`Retry ${environmentName(d)}`),
          confirm: {
            title: plain(`Retry ${environmentName(d)}?`),
            text: {
              type: 'mrkdwn',
              text: `Run \`${shortSha(d.sha)}\` with the same plan on *${env}* again. Its approval holds while it is valid for that plan; otherwise the retry waits for a new one.`,
            },
            confirm: plain('Retry'),
            deny: plain('Cancel'),
          },
        },
      ],
    });
  return { text: truncate(`${environmentName(d)} failed at ${shortSha(d.sha)}`, 3000), blocks };
}

/**
 * The reminder before an approval expires, posted once in the commit's thread: it mentions the approvers
 * (Slack ids) and names the ones Slack cannot reach; the link is not repeated (it is further up the thread).
 */
export function renderApprovalReminder(notice: ApprovalReminderNotice): SlackMessage {
  const d = notice.deployment;
  const mentions = (notice.approvers?.slack ?? [])
    .filter((id) => /^[UW][A-Z0-9]+$/.test(id))
    .map((id) => `<@${id}>`);
  const named = (notice.approvers?.github ?? []).map((l) => escapeMrkdwn(l));
  const who = [...mentions, ...named].join(' ');
  const votes =
    notice.required !== undefined
      ? `${notice.votes} of ${notice.required} approvals`
      : `${notice.votes} approval(s)`;
  const text = `:alarm_clock: ${who ? `${who}: ` : ''}*${escapeMrkdwn(environmentName(d))}* at \`${shortSha(d.sha)}\` still waits for approval (${votes}); the request expires at ${escapeMrkdwn(notice.expiresAt)}. The approval link is further up this thread.`;
  return {
    text: truncate(`${environmentName(d)} approval expires at ${notice.expiresAt}`, 3000),
    blocks: [{ type: 'section', text: { type: 'mrkdwn', text: truncate(text, SECTION_MAX) } }],
  };
}

/**
 * The approval link, posted once in the commit's thread: the same page GitHub's deployment status
 * links to. It grants nothing by itself: deciding there needs an approver's GitHub login.
 */
export function renderApprovalRequested(notice: ApprovalRequestNotice): SlackMessage {
  const d = notice.deployment;
  const env = escapeMrkdwn(environmentName(d));
  const expires = Math.floor(new Date(notice.expiresAt).getTime() / 1000);
  const expiry = Number.isFinite(expires)
    ? ` (expires <!date^${expires}^{date_short_pretty} {time}|${escapeMrkdwn(notice.expiresAt)}>)`
    : '';
  const lines = notice.summary.slice(0, 40).map((l) => `• ${escapeMrkdwn(truncate(l, 200))}`);
  const blocks: SlackBlock[] = [
    {
      type: 'section',
      text: {
        type: 'mrkdwn',
        text: `:key: *${env}* waits for approval of \`${shortSha(d.sha)}\`: ${link(notice.approvalUrl, 'review the changes and approve')}${expiry}`,
      },
    },
  ];
  if (lines.length > 0)
    blocks.push({ type: 'section', text: { type: 'mrkdwn', text: truncate(lines.join('\n'), SECTION_MAX) } });
  return { text: `${environmentName(d)} waits for approval of ${shortSha(d.sha)}`, blocks };
}

/** The dashboard's card of an environment (its drift is shown there in full). */
export function environmentPageUrl(publicUrl: string, repository: string, environment: string): string {
  const id = `env-${repository}-${environment}`.replace(/[^\w-]/g, '-');
  return `${publicUrl.replace(/\/+$/, '')}/#${id}`;
}

/**
 * A drift report (issue 13, item 4): what changed since the last report, per release, with the changed
 * fields (values as the drift holds them: masked), and what is done about it. A channel message: drift
 * concerns what runs, not a commit's progress. Bounded: 10 releases, 6 fields each.
 */
export function renderDriftNotice(n: DriftNotice, opts: RenderOptions = {}): SlackMessage {
  const env = escapeMrkdwn(n.environment);
  const at = `\`${shortSha(n.sha)}\``;
  const head =
    n.drifted.length === 0
      ? `:white_check_mark: *${env}* is back in line with what helmgate deployed (${at}).`
      : `:warning: *${env}* differs from what helmgate deployed (${at}): ${n.drifted.map(escapeMrkdwn).join(', ')}.`;
  const lines: string[] = [];
  for (const c of n.changes.slice(0, 10)) {
    if (c.kind === 'back-in-line') {
      lines.push(`• *${escapeMrkdwn(c.release)}*: back in line`);
      continue;
    }
    const d = c.drift;
    lines.push(`• *${escapeMrkdwn(c.release)}*: ${c.kind === 'drifted' ? 'drifted' : 'drift changed'}`);
    if (d.helm) lines.push(`    ${escapeMrkdwn(d.helm)}`);
    for (const o of d.objects.slice(0, 4)) {
      if (o.missing) {
        lines.push(`    ${escapeMrkdwn(o.object)}: deleted`);
        continue;
      }
      const fields = o.fields.slice(0, 6).map((f) => `\`${escapeMrkdwn(truncate(fieldLine(f), 200))}\``);
      const more = o.fields.length - fields.length + (o.omittedFields ?? 0);
      lines.push(`    ${escapeMrkdwn(o.object)}: ${fields.join(', ')}${more > 0 ? ` (+${more} more)` : ''}`);
    }
    const moreObjects = Math.max(0, d.objects.length - 4) + (d.omittedObjects ?? 0);
    if (moreObjects > 0) lines.push(`    +${moreObjects} more object(s)`);
  }
  if (n.changes.length > 10) lines.push(`+${n.changes.length - 10} more release(s)`);
  const c = n.correction;
  const what =
    n.drifted.length === 0
      ? undefined
      : n.action === 'warn'
        ? 'Policy `warn`: nothing is changed; the next deployment redeploys the drifted releases.'
        : c && 'deploymentId' in c
          ? `Policy \`correct\`: redeploying ${at} as ${opts.publicUrl ? link(deploymentPageUrl(opts.publicUrl, c.deploymentId), c.deploymentId) : `\`${escapeMrkdwn(c.deploymentId)}\``}${c.waitsForApproval ? ' (waits for approval)' : ''}.`
          : `Policy \`correct\`: no redeploy opened: ${escapeMrkdwn(c && 'skipped' in c ? c.skipped : 'nothing to do')}.`;
  const page = opts.publicUrl
    ? ` ${link(environmentPageUrl(opts.publicUrl, n.repository, n.environment), 'the diff on the dashboard')}`
    : '';
  const blocks: SlackBlock[] = [
    { type: 'section', text: { type: 'mrkdwn', text: truncate(`${head}${page}`, SECTION_MAX) } },
  ];
  if (lines.length)
    blocks.push({ type: 'section', text: { type: 'mrkdwn', text: truncate(lines.join('\n'), SECTION_MAX) } });
  if (what) blocks.push({ type: 'section', text: { type: 'mrkdwn', text: truncate(what, SECTION_MAX) } });
  return {
    text: truncate(
      n.drifted.length === 0
        ? `${n.environment} is back in line`
        : `${n.environment} drifted: ${n.drifted.join(', ')}`,
      3000,
    ),
    blocks,
  };
}

/** The thread reply when an open approval's rendered diff is ready: objects changed per release. */
export function renderManifestsPreviewed(notice: ManifestsPreviewNotice): SlackMessage {
  const d = notice.deployment;
  const env = escapeMrkdwn(environmentName(d));
  const lines = notice.summary.slice(0, 40).map((l) => `• ${escapeMrkdwn(truncate(l, 200))}`);
  const blocks: SlackBlock[] = [
    {
      type: 'section',
      text: {
        type: 'mrkdwn',
        text: `:mag: Rendered objects for *${env}* at \`${shortSha(d.sha)}\` (${link(notice.approvalUrl, 'full diff on the approval page')}):`,
      },
    },
  ];
  if (lines.length > 0)
    blocks.push({ type: 'section', text: { type: 'mrkdwn', text: truncate(lines.join('\n'), SECTION_MAX) } });
  return { text: `rendered objects for ${environmentName(d)} at ${shortSha(d.sha)}`, blocks };
}
