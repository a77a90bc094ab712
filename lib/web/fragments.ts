import type { ReleaseChange } from '../deploy/plan-diff';
import type { AuditEntry } from '../store/deployment-store';
import { escapeHtml } from './html';

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
        items.push(`<li>was ${escapeHtml(c.chart.from)}; no longer in the plan</li>`);
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
