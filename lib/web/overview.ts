import type { Deployment, ReleaseResult } from '../deploy/deployment';
import type { EnvironmentCard, WaitingItem } from './dashboard-data';
import { driftBadge, driftSection } from './drift';
import { commitLink, deploymentHref, statusBadge, voteForms } from './fragments';
import { escapeHtml, firstLine, humanDuration, timeTag } from './html';
import { DASHBOARD_NAV, renderLayout } from './layout';

export interface PageContext {
  login: string;
  now: Date;
  githubWebUrl: string;
  /** the nonce of this response's CSP, for the live-refresh script */
  nonce: string;
  /** the CSRF token of a vote form for one deployment */
  csrfFor: (deploymentId: string) => string;
  /** the CSRF token of a deployment page's action form (retry, freeze override) */
  actionCsrf?: (action: 'retry' | 'override', deploymentId: string) => string;
  /** what the last action did (after a vote's redirect) */
  flash?: { ok: boolean; text: string };
}

/** How often a page with something running reloads its live parts. */
export const REFRESH_SECONDS = 5;

/**
 * The one small script: while something runs, fetch this page again every few seconds and swap the
 * parts marked `data-live`; when the set of live parts changes (a run finished, an approval opened),
 * reload, unless the user is in a form. Without JavaScript the page has a Refresh link.
 */
export const LIVE_REFRESH_SCRIPT = `(function(){var m=document.querySelector('main [data-refresh]');if(!m)return;var s=(+m.getAttribute('data-refresh')||5)*1000;
function ids(d){return [].map.call(d.querySelectorAll('[data-live]'),function(e){return e.id}).join(' ')}
function tick(){fetch(location.href,{headers:{accept:'text/html'},credentials:'same-origin'}).then(function(r){return r.ok?r.text():null}).then(function(h){if(!h){setTimeout(tick,s*2);return}
var d=new DOMParser().parseFromString(h,'text/html');var a=document.activeElement;var busy=a&&a.form;
if(ids(d)!==ids(document)&&!busy){location.reload();return}
d.querySelectorAll('[data-live]').forEach(function(e){var o=document.getElementById(e.id);if(o&&!(busy&&o.contains(a)))o.replaceWith(document.importNode(e,true))});
if(d.querySelector('main [data-refresh]'))setTimeout(tick,s)}).catch(function(){setTimeout(tick,s*2)})}
setTimeout(tick,s)})();`;

function releaseLine(r: ReleaseResult): string {
  const dur =
    r.durationMs !== undefined
      ? ` <span class="muted">${escapeHtml(humanDuration(r.durationMs))}</span>`
      : '';
  return `<li><span>${escapeHtml(r.name)}${r.chart ? ` <span class="muted">${escapeHtml(r.chart)}</span>` : ''}</span><span>${statusBadge(r.status)}${dur}</span></li>`;
}

function charts(d: Deployment): string {
  const list = (d.releases ?? []).filter((r) => r.chart);
  if (list.length === 0) return '';
  return `<dt>Charts</dt><dd><ul class="releases">${list
    .map((r) => `<li><span>${escapeHtml(r.name)}</span><code>${escapeHtml(r.chart)}</code></li>`)
    .join('')}</ul></dd>`;
}

function runsSection(card: EnvironmentCard, ctx: PageContext): string {
  const d = card.current;
  if (!d) return '<section><h3>Runs</h3><p class="muted">Nothing deployed yet.</p></section>';
  const approved =
    card.approval === 'none'
      ? '<span class="muted">no approval needed</span>'
      : card.approvedBy.length
        ? escapeHtml(card.approvedBy.join(', '))
        : '<span class="muted">not recorded</span>';
  return `<section><h3>Runs</h3><dl>
<dt>Commit</dt><dd>${commitLink(d, ctx.githubWebUrl)} ${escapeHtml(firstLine(d.commitMessage))}</dd>
<dt>Author</dt><dd>${escapeHtml(d.pusher ?? d.requestedBy ?? 'unknown')}</dd>
<dt>Deployed</dt><dd>${timeTag(d.finishedAt, ctx.now)} ${d.status === 'rendered' ? statusBadge('rendered') : ''} <a href="${escapeHtml(deploymentHref(d))}">details</a></dd>
<dt>Approved by</dt><dd>${approved}</dd>
${charts(d)}
</dl></section>`;
}

function activeSection(card: EnvironmentCard, ctx: PageContext): string {
  if (card.active.length === 0) return '';
  const items = card.active.map((d) => {
    const rs = d.releases ?? [];
    const done = rs.filter((r) => r.status !== 'pending' && r.status !== 'running').length;
    const progress = rs.length
      ? `<progress max="${rs.length}" value="${done}" aria-label="${escapeHtml(`${done} of ${rs.length} releases done`)}">${done}/${rs.length}</progress><p class="muted">${done} of ${rs.length} releases done</p><ul class="releases">${rs.map(releaseLine).join('')}</ul>`
      : '';
    return `<div class="run" id="${escapeHtml(`live-${d.id}`)}" data-live="${escapeHtml(d.status)}"><p>${statusBadge(d.status)} ${commitLink(d, ctx.githubWebUrl)} ${escapeHtml(firstLine(d.commitMessage))} — started ${timeTag(d.startedAt ?? d.createdAt, ctx.now)} <a href="${escapeHtml(deploymentHref(d))}">details</a></p>${progress}</div>`;
  });
  return `<section class="active" data-refresh="${REFRESH_SECONDS}"><h3>Running now</h3>${items.join('')}<p><a href="/">Refresh</a></p></section>`;
}

export function waitingBlock(w: WaitingItem, ctx: PageContext, returnTo: string): string {
  const d = w.deployment;
  const head = `${commitLink(d, ctx.githubWebUrl)} ${escapeHtml(firstLine(d.commitMessage))} <span class="muted">by ${escapeHtml(d.pusher ?? 'unknown')}</span>`;
  if (!w.open) {
    return `<div class="wait" id="${escapeHtml(`live-wait-${d.id}`)}" data-live="waiting" data-deployment="${escapeHtml(d.id)}"><p>${head}</p><p class="waits-for">Waiting for ${escapeHtml(w.waitsFor ?? 'the earlier stage')} to pass before the approval opens.</p><p><a href="${escapeHtml(deploymentHref(d))}">details</a></p></div>`;
  }
  const req = w.request;
  const progress =
    w.required > 1
      ? `<p>${req?.voteCount ?? 0} of ${w.required} approvals so far${w.alreadyVoted ? ' (yours included)' : ''}.</p>`
      : '';
  const summary = req?.summary.length
    ? `<ul class="summary">${req.summary
        .slice(0, 8)
        .map((l) => `<li>${escapeHtml(l)}</li>`)
        .join('')}</ul>`
    : '';
  const action = !w.right.ok
    ? `<p class="refused-note">You (${escapeHtml(ctx.login)}) may not approve ${escapeHtml(d.environment)}: ${escapeHtml(w.right.reason)}</p>`
    : voteForms({
        deployment: d,
        csrf: ctx.csrfFor(d.id),
        planDigest: req?.planDigest ?? '',
        returnTo,
        rollbackNeeded: w.rollbackNeeded,
        ...(w.newerRunningSha ? { newerRunningSha: w.newerRunningSha } : {}),
      });
  return `<div class="wait" id="${escapeHtml(`live-wait-${d.id}-open`)}" data-live="approval" data-deployment="${escapeHtml(d.id)}"><p>${head}</p>${summary}${progress}<p class="muted">Expires ${timeTag(req?.expiresAt, ctx.now)} · <a href="${escapeHtml(deploymentHref(d))}">see the full diff</a></p>${action}</div>`;
}

function waitingSection(card: EnvironmentCard, ctx: PageContext): string {
  if (card.waiting.length === 0) return '';
  return `<section class="waiting"><h3>Waits for approval</h3>${card.waiting.map((w) => waitingBlock(w, ctx, '/')).join('')}</section>`;
}

function failureSection(card: EnvironmentCard, ctx: PageContext): string {
  const f = card.lastFailure;
  if (!f) return '';
  const failed = (f.releases ?? []).filter((r) => r.status === 'failed');
  return `<section class="last-failure"><h3>Last failure${card.restored ? ' <span class="muted">(since restored)</span>' : ''}</h3><div class="${card.restored ? '' : 'fail'}"><p>${commitLink(f, ctx.githubWebUrl)} ${timeTag(f.finishedAt ?? f.updatedAt, ctx.now)}: <span class="reason">${escapeHtml(f.reason ?? 'no reason recorded')}</span></p>${
    failed.length ? `<p class="muted">failed: ${failed.map((r) => escapeHtml(r.name)).join(', ')}</p>` : ''
  }<p><a href="${escapeHtml(deploymentHref(f))}">error tail and timeline</a></p></div></section>`;
}

function card(c: EnvironmentCard, ctx: PageContext, showRepo: boolean): string {
  const status = c.active[0]?.status ?? (c.waiting.length ? 'awaiting_approval' : c.latest?.status);
  const id = `env-${c.repository}-${c.environment}`.replace(/[^\w-]/g, '-');
  return `<article class="card" id="${escapeHtml(id)}" data-environment="${escapeHtml(c.environment)}" aria-labelledby="${escapeHtml(`${id}-h`)}">
<h2 id="${escapeHtml(`${id}-h`)}">${escapeHtml(c.environment)}${status ? ` ${statusBadge(status)}` : ''}${driftBadge(c.drift)}${showRepo ? ` <small class="muted">${escapeHtml(c.repository)}</small>` : ''}</h2>
${runsSection(c, ctx)}
${activeSection(c, ctx)}
${waitingSection(c, ctx)}
${failureSection(c, ctx)}
${driftSection(c.drift, ctx.now)}
</article>`;
}

/** `/`: one card per environment — what runs, what runs now, what waits, the last failure. */
export function renderOverview(cards: readonly EnvironmentCard[], ctx: PageContext): string {
  const repos = new Set(cards.map((c) => c.repository));
  const flash = ctx.flash
    ? `<p class="state ${ctx.flash.ok ? 'ok' : 'refused'}" id="flash" role="status">${escapeHtml(ctx.flash.text)}</p>`
    : '';
  const waiting = cards.reduce((a, c) => a + c.waiting.filter((w) => w.open && w.right.ok).length, 0);
  const body = `<h1>Environments</h1>
${flash}
${waiting ? `<p class="state" id="waiting-for-you">${waiting} deployment${waiting === 1 ? '' : 's'} wait${waiting === 1 ? 's' : ''} for your approval.</p>` : ''}
${cards.length ? `<div class="cards">${cards.map((c) => card(c, ctx, repos.size > 1)).join('\n')}</div>` : '<p>No deployments yet. Push to the default branch (locally: <code>npm run push</code>).</p>'}`;
  return renderLayout({
    title: 'helmgate: environments',
    body,
    current: '/',
    login: ctx.login,
    nav: DASHBOARD_NAV,
    script: { nonce: ctx.nonce, source: LIVE_REFRESH_SCRIPT },
  });
}
