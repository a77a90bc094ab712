import type { DeploymentStatus } from '../deploy/deployment';
import { DEPLOYMENT_STATUSES } from '../deploy/lifecycle';
import type { HistoryPage, HistoryQuery } from './dashboard-data';
import { commitLink, deploymentHref, statusBadge } from './fragments';
import { escapeHtml, firstLine, hrefWith, humanDuration, timeTag } from './html';
import { DASHBOARD_NAV, renderLayout } from './layout';
import type { PageContext } from './overview';

/** The status filter's choices: every status, in the lifecycle's order. */
export const STATUSES: readonly DeploymentStatus[] = DEPLOYMENT_STATUSES;

function options(values: readonly string[], selected: string | undefined, any: string): string {
  return [`<option value="">${escapeHtml(any)}</option>`]
    .concat(
      values.map(
        (v) =>
          `<option value="${escapeHtml(v)}"${v === selected ? ' selected' : ''}>${escapeHtml(v.replace(/_/g, ' '))}</option>`,
      ),
    )
    .join('');
}

/** `/deployments` for a browser: filters (a plain GET form), a table, and a cursor to the next page. */
export function renderHistory(
  page: HistoryPage,
  q: HistoryQuery,
  ctx: Pick<PageContext, 'login' | 'now' | 'githubWebUrl'>,
): string {
  const many = page.repositories.length > 1;
  const filters = `<form class="filters" method="get" action="/deployments" role="search" aria-label="Filter deployments">
${many ? `<label>Repository <select name="repository" id="f-repository">${options(page.repositories, q.repository, 'any')}</select></label>` : ''}
<label>Environment <select name="environment" id="f-environment">${options(page.environments, q.environment, 'any')}</select></label>
<label>Status <select name="status" id="f-status">${options(STATUSES, q.status, 'any')}</select></label>
<label>Commit <input name="commit" id="f-commit" value="${escapeHtml(q.commit ?? '')}" size="10" pattern="[0-9a-fA-F]{1,40}" title="a commit SHA or its start"></label>
<label>Person <input name="person" id="f-person" value="${escapeHtml(q.person ?? '')}" size="12"></label>
<button type="submit">Filter</button> <a href="/deployments">Clear</a>
</form>`;
  const rows = page.deployments
    .map((d) => {
      const dur =
        d.startedAt && d.finishedAt ? humanDuration(Date.parse(d.finishedAt) - Date.parse(d.startedAt)) : '—';
      return `<tr data-id="${escapeHtml(d.id)}"><td>${timeTag(d.createdAt, ctx.now)}</td>${many ? `<td>${escapeHtml(d.repository)}</td>` : ''}<td>${escapeHtml(d.environment)}</td><td>${commitLink(d, ctx.githubWebUrl)}</td><td><a href="${escapeHtml(deploymentHref(d))}">${escapeHtml(firstLine(d.commitMessage) || d.id)}</a></td><td>${escapeHtml(d.pusher ?? d.requestedBy ?? '')}</td><td>${statusBadge(d.status)}</td><td class="num">${escapeHtml(dur)}</td></tr>`;
    })
    .join('\n');
  const base = {
    repository: q.repository,
    environment: q.environment,
    status: q.status,
    commit: q.commit,
    person: q.person,
  };
  const next = page.nextCursor
    ? `<a id="next-page" rel="next" href="${escapeHtml(hrefWith('/deployments', { ...base, cursor: page.nextCursor }))}">Older →</a>`
    : '';
  const first = q.cursor
    ? `<a id="first-page" href="${escapeHtml(hrefWith('/deployments', base))}">← Newest</a>`
    : '';
  const body = `<h1>Deployment history</h1>
${filters}
${
  page.deployments.length
    ? `<div class="table-wrap"><table id="history"><caption>Deployments, newest first</caption><thead><tr><th scope="col">Created</th>${many ? '<th scope="col">Repository</th>' : ''}<th scope="col">Environment</th><th scope="col">Commit</th><th scope="col">Message</th><th scope="col">Pushed by</th><th scope="col">Status</th><th scope="col" class="num">Ran for</th></tr></thead><tbody>
${rows}
</tbody></table></div>`
    : '<p id="no-results">No deployments match.</p>'
}
<nav class="pager" aria-label="Pages">${first}${next}</nav>`;
  return renderLayout({
    title: 'helmgate: history',
    body,
    current: '/deployments',
    login: ctx.login,
    nav: DASHBOARD_NAV,
  });
}
