import type { Deployment } from '../deploy/deployment';
import { type ManifestDiff, objectLabel } from '../deploy/manifest-diff';
import type { ReleaseChange } from '../deploy/plan-diff';
import type { AuditEntry } from '../store/deployment-store';
import { escapeHtml, safeHttpUrl, shortSha } from './html';

export function diffBlock(diff: string): string {
  const lines = diff.split('\n').map((l) => {
    const cls =
      l.startsWith('+') && !l.startsWith('+++')
        ? 'add'
        : l.startsWith('-') && !l.startsWith('---')
          ? 'del'
          : '';
    return cls ? `<span class="${cls}">${escapeHtml(l)}</span>` : escapeHtml(l);
  });
  return `<pre>${lines.join('\n')}</pre>`;
}

export function changesSection(changes: readonly ReleaseChange[]): string {
  if (changes.length === 0) return '<p>No releases in this plan.</p>';
  const unchanged = changes.filter((c) => c.change === 'unchanged').map((c) => c.name);
  const parts: string[] = [];
  for (const c of changes) {
    if (c.change === 'unchanged') continue;
    const items: string[] = [];
    if (c.chart) {
      if (c.change === 'new') items.push(`<li>chart ${escapeHtml(c.chart.to)}</li>`);
      else if (c.change === 'removed')
        items.push(
          `<li>was ${escapeHtml(c.chart.from)}; no longer in the plan: <strong>will be uninstalled</strong> by this deployment where the environment's policy allows pruning</li>`,
        );
      else items.push(`<li>chart ${escapeHtml(c.chart.from)} → ${escapeHtml(c.chart.to)}</li>`);
    }
    if (c.secretKeysChanged.length)
      items.push(
        `<li>secret values whose source changed (values not shown): ${c.secretKeysChanged.map((k) => `<code>${escapeHtml(k)}</code>`).join(', ')}</li>`,
      );
    if (c.note) items.push(`<li>${escapeHtml(c.note)}</li>`);
    parts.push(
      `<section class="release" data-release="${escapeHtml(c.name)}"><h3>${escapeHtml(c.name)} <small>(${escapeHtml(c.change)})</small></h3>` +
        `${items.length ? `<ul>${items.join('')}</ul>` : ''}${c.valuesDiff ? diffBlock(c.valuesDiff) : ''}</section>`,
    );
  }
  if (unchanged.length)
    parts.push(
      `<p id="unchanged">Skipped as unchanged: ${unchanged.map((n) => `<code>${escapeHtml(n)}</code>`).join(', ')}</p>`,
    );
  return parts.join('\n');
}

/**
 * The rendered objects' diff: per release, per object, Secret keys by name only. Without one, says why:
 * still being rendered by the environment's preview job (`pendingSince`), or never made.
 */
export function manifestSection(
  m: ManifestDiff | undefined,
  request?: { manifestsPending?: string; status?: string },
): string {
  if (!m && request?.manifestsPending)
    return request.status === undefined || request.status === 'pending'
      ? `<p class="state" id="manifests-pending">Rendered diff pending: it is being rendered with this environment’s own credentials (asked at ${escapeHtml(request.manifestsPending)}). Reload this page to see it.</p>`
      : `<p class="state" id="manifests-pending">No rendered diff: this approval was decided before it was ready (asked at ${escapeHtml(request.manifestsPending)}).</p>`;
  if (!m) return '<p id="manifests-none">No rendered diff was made for this approval.</p>';
  if (m.unavailable)
    return `<p class="state" id="manifests-unavailable">Rendered diff not available: ${escapeHtml(m.unavailable)}</p>`;
  const parts: string[] = [];
  for (const r of m.releases) {
    const head = `<h3>${escapeHtml(r.release)} <small>(${escapeHtml(r.namespace)}${r.firstInstall ? ', first install' : ''})</small></h3>`;
    if (r.error) {
      parts.push(
        `<section class="manifest" data-release="${escapeHtml(r.release)}">${head}<p class="state refused">Could not render: ${escapeHtml(r.error)}</p></section>`,
      );
      continue;
    }
    if (r.objects.length === 0) continue;
    const objects = r.objects.map((o) => {
      const keys = o.secretKeys
        ? (['added', 'removed', 'changed'] as const)
            .filter((k) => o.secretKeys?.[k].length)
            .map((k) => `${k}: ${o.secretKeys?.[k].map((x) => `<code>${escapeHtml(x)}</code>`).join(', ')}`)
            .join('; ')
        : '';
      return `<div class="object" data-object="${escapeHtml(`${o.ref.kind}/${o.ref.name}`)}" data-change="${escapeHtml(o.change)}"><h4>${escapeHtml(objectLabel(o.ref))} <small>(${escapeHtml(o.change)})</small></h4>${
        keys ? `<p>Secret keys (values never shown) ${keys}</p>` : ''
      }${o.diff !== undefined ? diffBlock(o.diff) : '<p>(diff left out: size limit)</p>'}</div>`;
    });
    const tail = [
      r.unchanged ? `${r.unchanged} object${r.unchanged === 1 ? '' : 's'} unchanged` : '',
      r.omitted ? `${r.omitted} diff${r.omitted === 1 ? '' : 's'} left out for size` : '',
    ]
      .filter(Boolean)
      .join('; ');
    parts.push(
      `<section class="manifest" data-release="${escapeHtml(r.release)}">${head}${objects.join('\n')}${tail ? `<p>${escapeHtml(tail)}.</p>` : ''}</section>`,
    );
  }
  if (parts.length === 0)
    return '<p id="manifests-same">The rendered objects are the same as what runs now.</p>';
  return `<p>Rendered at ${escapeHtml(m.renderedAt)} against what the cluster runs (<code>helm get manifest</code> → <code>helm template</code>).</p>\n${parts.join('\n')}`;
}

export function auditSection(audit: readonly AuditEntry[]): string {
  if (audit.length === 0) return '<p>No decisions yet.</p>';
  const rows = audit
    .map(
      (a) =>
        `<tr><td>${escapeHtml(a.at)}</td><td>${escapeHtml(a.actor)}</td><td>${escapeHtml(a.via)}</td><td>${escapeHtml(a.action)}</td><td>${escapeHtml(a.outcome)}</td><td>${escapeHtml(a.detail ?? '')}</td></tr>`,
    )
    .join('\n');
  return `<table id="audit"><thead><tr><th>when</th><th>who</th><th>via</th><th>action</th><th>outcome</th><th>detail</th></tr></thead><tbody>\n${rows}\n</tbody></table>`;
}

/** A status as a coloured badge with its words (colour never carries the meaning alone). */
export function statusBadge(status: string): string {
  return `<span class="badge s-${escapeHtml(status)}">${escapeHtml(status.replace(/_/g, ' '))}</span>`;
}

export function commitUrlOf(d: Deployment, githubWebUrl: string): string | undefined {
  const given = safeHttpUrl(d.commitUrl);
  if (given) return given;
  if (!/^[\w.-]+\/[\w.-]+$/.test(d.repository) || !/^[0-9a-f]{7,64}$/i.test(d.sha)) return undefined;
  return `${githubWebUrl.replace(/\/+$/, '')}/${d.repository}/commit/${d.sha}`;
}

/** The GitHub compare view from what ran before to this commit. */
export function compareUrlOf(
  d: Deployment,
  base: Deployment | undefined,
  githubWebUrl: string,
): string | undefined {
  if (!base || base.sha === d.sha) return undefined;
  if (!/^[\w.-]+\/[\w.-]+$/.test(d.repository)) return undefined;
  if (!/^[0-9a-f]{7,64}$/i.test(d.sha) || !/^[0-9a-f]{7,64}$/i.test(base.sha)) return undefined;
  return `${githubWebUrl.replace(/\/+$/, '')}/${d.repository}/compare/${base.sha}...${d.sha}`;
}

/** The short SHA, linked to the commit on GitHub when we know where that is. */
export function commitLink(d: Deployment, githubWebUrl: string): string {
  const url = commitUrlOf(d, githubWebUrl);
  const code = `<code>${escapeHtml(shortSha(d.sha))}</code>`;
  return url
    ? `<a href="${escapeHtml(url)}" title="commit ${escapeHtml(d.sha)} on GitHub">${code}</a>`
    : code;
}

export function deploymentHref(d: Pick<Deployment, 'id'>): string {
  return `/deployments/${encodeURIComponent(d.id)}`;
}

export interface VoteFormInput {
  deployment: Deployment;
  csrf: string;
  planDigest: string;
  /** where the approval route sends the browser back to (a dashboard path) */
  returnTo: string;
  rollbackNeeded: boolean;
  newerRunningSha?: string;
}

/**
 * Approve and Reject for an allowed approver. They post to the approval routes, which check the
 * session, the CSRF token and the plan the page showed, and vote through the approval service like
 * every other channel.
 */
export function voteForms(v: VoteFormInput): string {
  const d = v.deployment;
  const action = `/approvals/${encodeURIComponent(d.id)}`;
  const env = escapeHtml(d.environment);
  const hidden = `<input type="hidden" name="csrf" value="${escapeHtml(v.csrf)}"><input type="hidden" name="plan" value="${escapeHtml(v.planDigest)}"><input type="hidden" name="return" value="${escapeHtml(v.returnTo)}">`;
  const rollback = v.rollbackNeeded
    ? `<label class="rollback"><input type="checkbox" name="rollback" value="1"> Roll back: ${env} runs ${escapeHtml(shortSha(v.newerRunningSha) || 'a newer commit')}, which this commit does not lead to</label><br>`
    : '';
  return `<div class="votes"><form method="post" action="${escapeHtml(`${action}/approve`)}" class="approve-form">${hidden}${rollback}<button type="submit" class="primary" data-vote="approve">Approve ${env}</button></form><form method="post" action="${escapeHtml(`${action}/reject`)}" class="reject-form">${hidden}<button type="submit" class="danger" data-vote="reject">Reject ${env}</button></form></div>`;
}
