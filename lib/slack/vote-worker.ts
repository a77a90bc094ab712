import type { WebClient } from '@slack/web-api';
import type { ApprovalPort, ApproversConfig, Decision, VoteOutcome } from '../approval/approval-port';
import type { ApproversKey } from '../approval/approval-service';
import { authorize } from '../approval/approver-policy';
import type { BackgroundJob } from '../dispatch/background';
import { HelmgateError, isHelmgateError } from '../errors';
import { AlreadyRetriedError, type RetryDeps, retryDeployment } from '../lifecycle/retry';
import type { Logger } from '../log/logger';
import type { DeploymentStore } from '../store/deployment-store';
import { type SlackAction, SlackInteraction } from './interaction';
import { escapeMrkdwn, shortSha } from './messages';
import { slackErrorCode } from './web-client';

/**
 * The background half of a Slack button press: the HTTP handler (handlers/slack-interactions.ts) has
 * verified the request and answered Slack; this casts the votes and tells the voter what happened.
 */
export const SLACK_INTERACTION_JOB = 'slack-interaction';
export type SlackInteractionJob = BackgroundJob<typeof SLACK_INTERACTION_JOB, SlackInteraction>;

/**
 * The payload of a background job, checked again: it crossed a process boundary (a Lambda async
 * invoke) and is parsed, never cast. The error names the field, never the value.
 */
export function parseSlackInteractionJob(payload: unknown): SlackInteraction {
  const parsed = SlackInteraction.safeParse(payload);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    throw new HelmgateError(
      'bad_request',
      `not a Slack interaction job: ${first?.path.join('.') || '(root)'}: ${first?.message}`,
    );
  }
  return parsed.data;
}

export interface SlackInteractionWorkerDeps {
  approvals: ApprovalPort;
  store: DeploymentStore;
  slack: { chat: Pick<WebClient['chat'], 'postEphemeral'> };
  logger: Logger;
  /** how many recent deployments "approve all" scans for the commit's; default 200 */
  scanLimit?: number;
  /**
   * The failure message's Retry button (lib/lifecycle/retry, as `helmgate retry`): the lifecycle's deps
   * and who approves; absent: the button is answered with "not set up here".
   */
  retry?: RetryDeps & { approvers: (d: ApproversKey) => ApproversConfig; publicUrl?: string };
}

interface Target {
  deploymentId: string;
  decision: Decision;
}

/** What happened to one vote, for the reply and for tests. */
export type VoteReport =
  | { deploymentId: string; decision: Decision; ok: true; outcome: VoteOutcome }
  | { deploymentId: string; decision: Decision; ok: false; code: string; message: string };

async function targetsOf(
  deps: SlackInteractionWorkerDeps,
  action: Exclude<SlackAction, { kind: 'retry' }>,
): Promise<Target[]> {
  if (action.kind === 'approve') return [{ deploymentId: action.deploymentId, decision: 'approve' }];
  if (action.kind === 'reject') return [{ deploymentId: action.deploymentId, decision: 'reject' }];
  const recent = await deps.store.listDeployments({ limit: deps.scanLimit ?? 200 });
  return recent
    .filter((d) => d.sha.startsWith(action.sha) && d.status === 'awaiting_approval' && d.approval !== 'none')
    .map((d) => ({ deploymentId: d.id, decision: 'approve' as const }));
}

/**
 * The background half: one vote per target through the ApprovalPort, as the Slack user. Refusals
 * (forbidden, expired, superseded...) and partial outcomes are told to the voter alone
 * (`chat.postEphemeral`); successes show up when the notifier refreshes the message.
 */
export async function processSlackInteraction(
  deps: SlackInteractionWorkerDeps,
  interaction: SlackInteraction,
): Promise<VoteReport[]> {
  const log = deps.logger.child({ slackUser: interaction.userId });
  const reports: VoteReport[] = [];
  const lines: string[] = [];
  for (const action of interaction.actions) {
    if (action.kind === 'retry') {
      lines.push(await retryFromSlack(deps, interaction, action.deploymentId, log));
      continue;
    }
    const targets = await targetsOf(deps, action);
    if (action.kind === 'approve_all' && targets.length === 0)
      lines.push(
        `:information_source: Nothing at \`${shortSha(action.sha)}\` is waiting for approval any more.`,
      );
    for (const t of targets) {
      const env = await environmentOf(deps, t.deploymentId);
      try {
        const outcome = await deps.approvals.vote({
          deploymentId: t.deploymentId,
          voter: {
            kind: 'slack',
            id: interaction.userId,
            ...(interaction.userName ? { displayName: interaction.userName } : {}),
          },
          via: 'slack',
          decision: t.decision,
        });
        reports.push({ ...t, ok: true, outcome });
        log.info('slack vote', { deploymentId: t.deploymentId, decision: t.decision, outcome: outcome.kind });
        if (outcome.kind === 'recorded')
          lines.push(
            `:ballot_box_with_check: Your approval of *${env}* is recorded (${outcome.votes} of ${outcome.required}).`,
          );
        else if (outcome.kind === 'duplicate')
          lines.push(`:information_source: You already voted on *${env}*.`);
      } catch (e) {
        if (isHelmgateError(e)) {
          reports.push({ ...t, ok: false, code: e.code, message: e.message });
          log.info('slack vote refused', {
            deploymentId: t.deploymentId,
            decision: t.decision,
            code: e.code,
          });
          lines.push(`:no_entry_sign: Could not ${t.decision} *${env}*: ${escapeMrkdwn(e.message)}`);
        } else {
          reports.push({ ...t, ok: false, code: 'internal', message: 'internal error' });
          log.error('slack vote failed', { deploymentId: t.deploymentId, err: e });
          lines.push(`:warning: Could not ${t.decision} *${env}*: internal error; see helmgate's logs.`);
        }
      }
    }
  }
  if (lines.length > 0) await tell(deps, interaction, lines.join('\n'), log);
  return reports;
}

/**
 * The Retry button of a failed deployment's message: only the environment's approvers (a Slack id mapped
 * to a GitHub login, as for votes) retry; the retry keeps the approval while it is valid for the plan.
 * Refusals are audited; a second press names the one retry there is.
 */
async function retryFromSlack(
  deps: SlackInteractionWorkerDeps,
  interaction: SlackInteraction,
  deploymentId: string,
  log: Logger,
): Promise<string> {
  const env = await environmentOf(deps, deploymentId);
  const r = deps.retry;
  if (!r)
    return `:warning: Retry from Slack is not set up on this helmgate; use \`helmgate retry ${escapeMrkdwn(deploymentId)}\`.`;
  try {
    const d = await deps.store.getDeployment(deploymentId);
    if (!d) throw new HelmgateError('not_found', `no deployment ${deploymentId}`);
    const voter = {
      kind: 'slack' as const,
      id: interaction.userId,
      ...(interaction.userName ? { displayName: interaction.userName } : {}),
    };
    const auth = authorize(voter, d.environment, r.approvers(d));
    if (!auth.ok) {
      await deps.store.appendAudit({
        deploymentId: d.id,
        at: r.clock.now().toISOString(),
        actor: `Slack ${interaction.userId}`,
        via: 'slack',
        action: 'retry',
        outcome: 'refused: forbidden',
        detail: auth.reason,
      });
      throw new HelmgateError('forbidden', auth.reason.replace('to approve', 'to approve or retry'));
    }
    const { retry, reason } = await retryDeployment(r, {
      id: d.id,
      actor: auth.identity.label,
      via: 'slack',
      mayApprove: true,
      login: auth.identity.login,
    });
    log.info('slack retry', { deploymentId: d.id, retry: retry.id, status: retry.status });
    const page = r.publicUrl
      ? ` <${r.publicUrl.replace(/\/+$/, '')}/deployments/${encodeURIComponent(retry.id)}|${escapeMrkdwn(retry.id)}>`
      : ` \`${escapeMrkdwn(retry.id)}\``;
    return `:repeat: Retry of *${env}* created:${page} (${escapeMrkdwn(reason)}).`;
  } catch (e) {
    if (e instanceof AlreadyRetriedError)
      return `:information_source: *${env}* was retried already, as \`${escapeMrkdwn(e.retryId)}\`; nothing new was created.`;
    if (isHelmgateError(e)) {
      log.info('slack retry refused', { deploymentId, code: e.code });
      return `:no_entry_sign: Could not retry *${env}*: ${escapeMrkdwn(e.message)}`;
    }
    log.error('slack retry failed', { deploymentId, err: e });
    return `:warning: Could not retry *${env}*: internal error; see helmgate's logs.`;
  }
}

async function environmentOf(deps: SlackInteractionWorkerDeps, deploymentId: string): Promise<string> {
  try {
    const d = await deps.store.getDeployment(deploymentId);
    return escapeMrkdwn(d ? d.environment : deploymentId);
  } catch {
    return escapeMrkdwn(deploymentId);
  }
}

async function tell(
  deps: SlackInteractionWorkerDeps,
  i: SlackInteraction,
  text: string,
  log: Logger,
): Promise<void> {
  if (!i.channelId) {
    log.warn('slack interaction has no channel; cannot reply');
    return;
  }
  try {
    await deps.slack.chat.postEphemeral({ channel: i.channelId, user: i.userId, text });
  } catch (e) {
    log.warn('slack ephemeral reply failed', { slackError: slackErrorCode(e) });
  }
}

/**
 * Runs one background job of the Slack function: an interaction job is parsed (never cast) and voted
 * on; a malformed job or one of another kind is logged and dropped (retrying cannot fix it).
 */
export async function runSlackBackgroundJob(
  deps: SlackInteractionWorkerDeps,
  job: { kind: string; payload?: unknown },
): Promise<VoteReport[] | undefined> {
  if (job.kind !== SLACK_INTERACTION_JOB) {
    deps.logger.warn('unknown background job', { kind: job.kind.slice(0, 100) });
    return undefined;
  }
  let interaction: SlackInteraction;
  try {
    interaction = parseSlackInteractionJob(job.payload);
  } catch (e) {
    // a retry cannot fix a malformed job: say so and drop it
    deps.logger.error('slack interaction job rejected', { err: e });
    return undefined;
  }
  return processSlackInteraction(deps, interaction);
}
