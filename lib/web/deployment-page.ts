import type { Deployment } from '../deploy/deployment';
import { formatDiagnosis } from '../deploy/diagnosis';
import { OVERRIDE_REASON_MAX } from '../deploy/freeze-override';
import type { FreezeOverrideVote } from '../deploy/lifecycle';
import { describeTests, testsSummary } from '../deploy/release-tests';
import { retryDecision } from '../deploy/retry';
import type { AuditEntry } from '../store/deployment-store';
import type { DeploymentDetail } from './dashboard-data';
import { driftBadge, driftSection } from './drift';
import {
  changesSection,
  commitLink,
  compareUrlOf,
  deploymentHref,
  manifestSection,
  statusBadge,
} from './fragments';
import { escapeHtml, humanDuration, timeTag } from './html';
import { DASHBOARD_NAV, renderLayout } from './layout';
import { LIVE_REFRESH_SCRIPT, type PageContext, waitingBlock } from './overview';

/** The state-changing buttons of the deployment page (handlers/deployment-actions.ts). */
export type DeploymentAction = 'retry' | 'override';

/** Each action's CSRF token is bound to the session, the action and the deployment. */
export function deploymentActionCsrfPurpose(action: DeploymentAction, deploymentId: string): string {
  return `${action}:${deploymentId}`;
}

export interface TimelineEvent {
  at: string;
  /** ok, bad, wait or neutral: the dot's colour (the words say the same) */
  tone: 'ok' | 'bad' | 'wait' | 'neutral';
  what: string;
  who?: string;
  detail?: string;
}

const TERMINAL_TEXT: Partial<Record<Deployment['status'], [TimelineEvent['tone'], string]>> = {
  succeeded: ['ok', 'succeeded'],
  rendered: ['ok', 'rendered (no cluster): nothing deployed'],
  failed: ['bad', 'failed'],
  rejected: ['bad', 'rejected'],
  superseded: ['neutral', 'superseded'],
  expired: ['bad', 'approval expired'],
};

function toneOf(a: AuditEntry): TimelineEvent['tone'] {
  if (a.outcome.startsWith('refused') || a.outcome === 'rejected' || a.outcome === 'failed') return 'bad';
  if (a.outcome === 'approved' || a.outcome === 'succeeded') return 'ok';
  if (a.action === 'offer' || a.outcome === 'recorded') return 'wait';
  return 'neutral';
}

/**
 * Every transition and decision in time order: the deployment's own timestamps (recorded, started,
 * finished) and every audit entry (offers, votes and refusals, operator actions, the sweeper).
 */
export function timelineOf(d: Deployment, audit: readonly AuditEntry[]): TimelineEvent[] {
  const out: TimelineEvent[] = [
    {
      at: d.createdAt,
      tone: 'neutral',
      what:
        d.trigger && d.trigger !== 'push'
          ? `${d.trigger} requested`
          : `push recorded${d.status === 'awaiting_approval' || d.approval !== 'none' ? ' (approval required)' : ''}`,
      ...(d.requestedBy || d.pusher ? { who: d.requestedBy ?? d.pusher } : {}),
    },
  ];
  for (const a of audit)
    out.push({
      at: a.at,
      tone: toneOf(a),
      what: `${a.action}: ${a.outcome}`,
      who: `${a.actor}${a.via && a.via !== 'system' ? ` via ${a.via}` : ''}`,
      ...(a.detail ? { detail: a.detail } : {}),
    });
  if (d.startedAt) out.push({ at: d.startedAt, tone: 'neutral', what: 'run started' });
  const end = TERMINAL_TEXT[d.status];
  if (end && (d.finishedAt || d.status === 'superseded'))
    out.push({
      at: d.finishedAt ?? d.updatedAt,
      tone: end[0],
      what: end[1],
      ...(d.reason ? { detail: d.reason } : d.supersededBy ? { detail: `by ${d.supersededBy}` } : {}),
    });
  return out.sort((a, b) => a.at.localeCompare(b.at));
}

function timeline(events: readonly TimelineEvent[], now: Date): string {
  return `<ol class="timeline" id="timeline">${events
    .map(
      (e) =>
        `<li class="t-${e.tone}"><strong>${escapeHtml(e.what)}</strong>${e.who ? ` — ${escapeHtml(e.who)}` : ''} <span class="muted">${timeTag(e.at, now)} · ${escapeHtml(e.at)}</span>${e.detail ? `<br><span class="detail">${escapeHtml(e.detail)}</span>` : ''}</li>`,
    )
    .join('')}</ol>`;
}

function releasesTable(d: Deployment): string {
  const rs = d.releases ?? [];
  if (rs.length === 0) return '<p class="muted">No per-release results (yet).</p>';
  const rows = rs
    .map(
      (r) =>
        `<tr data-release="${escapeHtml(r.name)}"><th scope="row">${escapeHtml(r.name)}</th><td>${escapeHtml(r.namespace)}</td><td><code>${escapeHtml(r.chart ?? '')}</code></td><td>${statusBadge(r.status)}</td><td class="num">${escapeHtml(humanDuration(r.durationMs))}</td><td class="num">${r.attempts}</td><td class="num">${escapeHtml(r.revision ?? '')}</td><td>${escapeHtml(r.reason ?? '')}</td></tr>`,
    )
    .join('');
  return `<div class="table-wrap"><table id="releases"><caption>Per-release results</caption><thead><tr><th scope="col">Release</th><th scope="col">Namespace</th><th scope="col">Chart</th><th scope="col">Status</th><th scope="col" class="num">Duration</th><th scope="col" class="num">Attempts</th><th scope="col" class="num">Revision</th><th scope="col">Reason</th></tr></thead><tbody>${rows}</tbody></table></div>`;
}

function errorTails(d: Deployment): string {
  const failed = (d.releases ?? []).filter((r) => r.errorTail);
  if (failed.length === 0) return '';
  return `<h2>Error output</h2>${failed
    .map(
      (r) =>
        `<details open class="error-tail" data-release="${escapeHtml(r.name)}"><summary>${escapeHtml(r.name)} (${escapeHtml(r.namespace)})</summary><pre>${escapeHtml(r.errorTail)}</pre></details>`,
    )
    .join('')}`;
}

/** ` · helm test passed (2 releases)` after the earlier stage's badge, when it ran tests. */
function stageTests(stage: Deployment): string {
  const t = testsSummary(stage.releases);
  return t ? ` · <span class="stage-tests">${escapeHtml(t)}</span>` : '';
}

/** Per release that ran `helm test` (issue 13, item 8): passed, or which test hook failed. */
function testsSection(d: Deployment): string {
  const tested = (d.releases ?? []).filter((r) => r.tests);
  if (tested.length === 0) return '';
  const rows = tested
    .map(
      (r) =>
        `<tr data-release="${escapeHtml(r.name)}"><th scope="row">${escapeHtml(r.name)}</th><td class="${r.tests?.outcome === 'passed' ? 'ok' : 'refused'}">${escapeHtml(r.tests ? describeTests(r.tests) : '')}</td><td>${escapeHtml(r.tests?.at ?? '')}</td><td class="num">${escapeHtml(humanDuration(r.tests?.durationMs))}</td></tr>`,
    )
    .join('');
  return `<div id="tests" class="table-wrap"><h2>Tests</h2><table><caption>helm test, per release</caption><thead><tr><th scope="col">Release</th><th scope="col">Outcome</th><th scope="col">Ran at</th><th scope="col" class="num">Duration</th></tr></thead><tbody>${rows}</tbody></table></div>`;
}

/** Per failed release, what the cluster showed (pods, container states, events, log tails), redacted. */
function diagnosis(d: Deployment): string {
  const diagnosed = (d.releases ?? []).filter((r) => r.diagnosis);
  if (diagnosed.length === 0) return '';
  return `<div id="diagnosis"><h2>Diagnosis</h2>${diagnosed
    .map(
      (r) =>
        `<details open class="diagnosis" data-release="${escapeHtml(r.name)}"><summary>${escapeHtml(r.name)} (${escapeHtml(r.namespace)}) — collected ${escapeHtml(r.diagnosis?.at ?? '')}${r.rolledBackTo !== undefined ? `, before the rollback to revision ${escapeHtml(r.rolledBackTo)}` : r.uninstalled ? ', before the failed install was uninstalled' : ''}</summary><pre>${escapeHtml(r.diagnosis ? formatDiagnosis(r.diagnosis) : '')}</pre></details>`,
    )
    .join('')}</div>`;
}

function actionPath(d: Deployment, action: DeploymentAction): string {
  return `/deployments/${encodeURIComponent(d.id)}/${action}`;
}

/**
 * A failed deployment that ran: its one retry (same commit, same plan), a button for the
 * environment's approvers, or the retry it already has.
 */
function retrySection(detail: DeploymentDetail, ctx: PageContext): string {
  const d = detail.deployment;
  if (d.status !== 'failed') return '';
  if (detail.retry)
    return `<section id="retry" aria-labelledby="retry-h"><h2 id="retry-h">Retry</h2><p id="retried">Retried as <a href="${escapeHtml(deploymentHref(detail.retry))}">${escapeHtml(detail.retry.id)}</a> ${statusBadge(detail.retry.status)}</p></section>`;
  if (detail.retryRefusal)
    return `<section id="retry" aria-labelledby="retry-h"><h2 id="retry-h">Retry</h2><p class="muted" id="retry-refused">Not retried from here: ${escapeHtml(detail.retryRefusal)}.</p></section>`;
  if (!detail.retryable) return '';
  const request = detail.request;
  const decision = retryDecision({
    failed: d,
    request: request
      ? {
          status: request.status,
          planDigest: request.planDigest,
          expiresAtMs: request.expiresAtMs,
          ...(request.decidedBy ? { decidedBy: request.decidedBy } : {}),
        }
      : undefined,
    nowMs: ctx.now.getTime(),
    // the newer deployments were looked at already (detail.retryRefusal)
    environment: [],
  });
  const what = `Runs commit <code>${escapeHtml(d.sha.slice(0, 12))}</code> with the same plan${d.planDigest ? ` <code>${escapeHtml(d.planDigest.slice(0, 12))}</code>` : ''} again, as a new deployment.`;
  const approval =
    decision.kind === 'retry' && d.approval === 'required'
      ? ` ${decision.status === 'queued' ? 'Its approval holds: it starts at once.' : 'It waits for a new approval.'} <span class="muted">(${escapeHtml(decision.reason)})</span>`
      : '';
  if (!detail.right?.ok || !ctx.actionCsrf)
    return `<section id="retry" aria-labelledby="retry-h"><h2 id="retry-h">Retry</h2><p class="muted" id="retry-not-allowed">Only approvers of ${escapeHtml(d.environment)} can retry it from here${detail.right && !detail.right.ok ? ` (${escapeHtml(detail.right.reason)})` : ''}.</p></section>`;
  return `<section id="retry" aria-labelledby="retry-h"><h2 id="retry-h">Retry</h2><form method="post" action="${escapeHtml(actionPath(d, 'retry'))}" class="action"><input type="hidden" name="csrf" value="${escapeHtml(ctx.actionCsrf('retry', d.id))}"><p>${what}${approval}</p><button type="submit" class="primary" id="retry-button">Retry this deployment</button></form></section>`;
}

function overrideVotes(votes: readonly FreezeOverrideVote[], now: Date): string {
  return `<ul class="override-votes">${votes
    .map(
      (v) =>
        `<li><strong>${escapeHtml(v.label)}</strong> <span class="muted">via ${escapeHtml(v.via)}, ${timeTag(v.at, now)}</span><br><q>${escapeHtml(v.reason)}</q></li>`,
    )
    .join('')}</ul>`;
}

/**
 * An approved deployment waiting in a freeze: the override votes so far and, for an approver who may
 * still give one, the form (a written reason is required). Once overridden: who did, and why.
 */
function freezeSection(detail: DeploymentDetail, ctx: PageContext): string {
  const d = detail.deployment;
  const done = d.freezeOverride;
  if (done)
    return `<section id="freeze-override" aria-labelledby="freeze-h"><h2 id="freeze-h">Freeze overridden</h2><p>The freeze until ${escapeHtml(done.until)} <span class="muted">(${timeTag(done.until, ctx.now)})</span> was overridden by ${done.votes.length} of ${done.required} required approver${done.required === 1 ? '' : 's'} ${timeTag(done.completedAt, ctx.now)}:</p>${overrideVotes(done.votes, ctx.now)}</section>`;
  const f = detail.freeze;
  if (!f) return '';
  const progress = `<p id="override-progress">${f.votes.length} of ${f.required} override${f.required === 1 ? '' : 's'} given${f.alreadyVoted ? ' (yours included)' : ''}.</p>`;
  let action: string;
  if (!detail.right?.ok || !ctx.actionCsrf)
    action = `<p class="muted" id="override-not-allowed">Only approvers of ${escapeHtml(d.environment)} can override the freeze${detail.right && !detail.right.ok ? ` (${escapeHtml(detail.right.reason)})` : ''}.</p>`;
  else if (f.alreadyVoted)
    action = '<p class="muted">You have overridden this freeze; it waits for the other approvers.</p>';
  else if (f.selfRefusal) action = `<p class="refused-note">${escapeHtml(f.selfRefusal)}</p>`;
  else
    action = `<form method="post" action="${escapeHtml(actionPath(d, 'override'))}" class="action override"><input type="hidden" name="csrf" value="${escapeHtml(ctx.actionCsrf('override', d.id))}"><label for="override-reason">Why must it start before the freeze ends? <span class="muted">(required, at most ${OVERRIDE_REASON_MAX} characters; audited)</span></label><textarea id="override-reason" name="reason" rows="3" maxlength="${OVERRIDE_REASON_MAX}" required></textarea><button type="submit" class="danger" id="override-button">Override the freeze</button></form>`;
  return `<section id="freeze" class="wait" aria-labelledby="freeze-h"><h2 id="freeze-h">Frozen until ${escapeHtml(f.until)} <span class="muted">(${timeTag(f.until, ctx.now)})</span></h2><p>It is approved and starts when the freeze ends, or earlier when ${f.required} approver${f.required === 1 ? '' : 's'} of ${escapeHtml(d.environment)} override the freeze, each with a written reason.</p>${progress}${f.votes.length ? overrideVotes(f.votes, ctx.now) : ''}${action}</section>`;
}

/** `/deployments/{id}` for a browser. */
export function renderDeploymentPage(detail: DeploymentDetail, ctx: PageContext): string {
  const d = detail.deployment;
  const compare = compareUrlOf(d, detail.previousSuccess, ctx.githubWebUrl);
  const ran = d.startedAt && d.finishedAt ? Date.parse(d.finishedAt) - Date.parse(d.startedAt) : undefined;
  const flash = ctx.flash
    ? `<p class="state ${ctx.flash.ok ? 'ok' : 'refused'}" id="flash" role="status">${escapeHtml(ctx.flash.text)}</p>`
    : '';
  const waiting = detail.waiting
    ? `<h2>Waits for approval</h2>${waitingBlock(detail.waiting, ctx, deploymentHref(d))}`
    : '';
  const live =
    d.status === 'running' || d.status === 'queued'
      ? `<p id="live-${escapeHtml(d.id)}" data-live="${escapeHtml(d.status)}" data-refresh="5" class="run">${statusBadge(d.status)} ${progressText(d)} · <a href="${escapeHtml(deploymentHref(d))}">Refresh</a></p>`
      : '';
  const body = `<h1>${escapeHtml(d.environment)} @ <code>${escapeHtml(d.sha.slice(0, 12))}</code> ${statusBadge(d.status)}${driftBadge(detail.drift)}</h1>
${flash}${live}
<dl id="summary">
<dt>Repository</dt><dd>${escapeHtml(d.repository)}</dd>
<dt>Commit</dt><dd>${commitLink(d, ctx.githubWebUrl)}${compare ? ` · <a id="compare" href="${escapeHtml(compare)}">compare with ${escapeHtml(detail.previousSuccess?.sha.slice(0, 7))} (what ran before)</a>` : ''}</dd>
<dt>Message</dt><dd><pre id="commit-message">${escapeHtml(d.commitMessage ?? '')}</pre></dd>
<dt>Pushed by</dt><dd>${escapeHtml(d.pusher ?? 'unknown')}${d.requestedBy ? ` · requested by ${escapeHtml(d.requestedBy)}` : ''}</dd>
<dt>Recorded</dt><dd>${timeTag(d.createdAt, ctx.now)}</dd>
<dt>Ran</dt><dd>${d.startedAt ? `${timeTag(d.startedAt, ctx.now)} for ${escapeHtml(humanDuration(ran))}` : '<span class="muted">not started</span>'}</dd>
${d.reason ? `<dt>Reason</dt><dd id="reason">${escapeHtml(d.reason)}</dd>` : ''}
${detail.previousStage ? `<dt>Earlier stage</dt><dd><a href="${escapeHtml(deploymentHref(detail.previousStage))}">${escapeHtml(detail.previousStage.environment)}</a> ${statusBadge(detail.previousStage.status)}${stageTests(detail.previousStage)}</dd>` : ''}
${d.planDigest ? `<dt>Plan</dt><dd><code>${escapeHtml(d.planDigest.slice(0, 12))}</code></dd>` : ''}
${d.retryOf ? `<dt>Retry of</dt><dd><a href="${escapeHtml(`/deployments/${encodeURIComponent(d.retryOf)}`)}">${escapeHtml(d.retryOf)}</a></dd>` : ''}
</dl>
${retrySection(detail, ctx)}
${freezeSection(detail, ctx)}
${waiting}
<h2>Releases</h2>
${releasesTable(d)}
${testsSection(d)}
${errorTails(d)}
${diagnosis(d)}
${driftSection(detail.drift, ctx.now).replace('<h3>Drift</h3>', '<h2>Drift</h2>')}
${detail.request ? `<h2>What was ${detail.request.status === 'approved' ? 'approved' : 'offered for approval'}</h2>${changesSection(detail.request.changes)}` : ''}
${detail.request?.manifests || detail.request?.manifestsPending ? `<h2>Rendered objects</h2>${manifestSection(detail.request.manifests, detail.request)}` : ''}
<h2>Timeline</h2>
${timeline(timelineOf(d, detail.audit), ctx.now)}
<p><a href="${escapeHtml(`${deploymentHref(d)}?format=json`)}">This deployment as JSON</a></p>`;
  return renderLayout({
    title: `helmgate: ${d.environment} @ ${d.sha.slice(0, 7)}`,
    body,
    current: '/deployments',
    login: ctx.login,
    nav: DASHBOARD_NAV,
    script: { nonce: ctx.nonce, source: LIVE_REFRESH_SCRIPT },
  });
}

/** How far a live deployment is: releases done of its releases, or that none has started yet. */
function progressText(d: Deployment): string {
  const rs = d.releases ?? [];
  if (rs.length === 0) return d.status === 'queued' ? 'not started yet' : 'planning';
  return `${rs.filter((r) => r.status !== 'pending' && r.status !== 'running').length} of ${rs.length} releases done`;
}
