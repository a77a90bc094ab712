import type { Deployment } from '../deploy/deployment';
import type { ReleaseChange } from '../deploy/plan-diff';
import type { AuditEntry } from '../store/deployment-store';
import type { ApprovalRequest } from './approval-request';

/**
 * Headers for every page: no script at all, styles only inline, forms only to us, never framed, and
 * no Referer (nothing of a deployment leaks to the sites it links).
 */
export const PAGE_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy':
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
};

export type ApprovalPageState =
  | { kind: 'forbidden'; login: string; reason: string }
  | { kind: 'expired'; expiresAt: string }
  | { kind: 'superseded'; by: string }
  | { kind: 'void'; reason: string }
  | { kind: 'decided'; status: string; by?: string; at?: string }
  | {
      kind: 'open';
      login: string;
      csrf: string;
      /** the plan shown: the vote is refused if the request is bound to another one by then */
      planDigest: string;
      rollbackNeeded: boolean;
      votes: number;
      required: number;
      alreadyVoted: boolean;
    };

export interface ApprovalPageInput {
  state: ApprovalPageState;
  deployment: Deployment;
  request?: ApprovalRequest;
  audit: AuditEntry[];
  /** the `after` environment's deployment of the same commit */
  previousStage?: Deployment;
  /** what the environment runs now, when this commit does not lead to it (a rollback) */
  newerRunning?: Deployment;
  /** the outcome of the POST that redirected here */
  flash?: string;
}

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Every dynamic string goes through this: text and attribute values alike. */
export function escapeHtml(v: unknown): string {
  return String(v ?? '').replace(/[&<>"']/g, (c) => ESCAPES[c] as string);
}

function safeHttpUrl(u: string | undefined): string | undefined {
  if (!u) return undefined;
  try {
    const p = new URL(u);
    return p.protocol === 'https:' || p.protocol === 'http:' ? p.toString() : undefined;
  } catch {
    return undefined;
  }
}

const STYLE = `body{font:15px/1.45 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1b1f24}
h1{font-size:1.4rem}code,pre{font:13px ui-monospace,monospace}pre{background:#f6f8fa;padding:.6rem;overflow:auto;border-radius:4px}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem}dt{font-weight:600}
.state{padding:.7rem 1rem;border-radius:4px;background:#fff8c5;margin:1rem 0}.refused{background:#ffebe9}.ok{background:#dafbe1}
table{border-collapse:collapse}td,th{border-bottom:1px solid #d0d7de;padding:.25rem .6rem;text-align:left}
.del{color:#82071e}.add{color:#116329}button{font-size:1rem;padding:.4rem 1.2rem;margin-right:.6rem}
form{display:inline}`;

function layout(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
${body}
</body>
</html>
`;
}

/** A plain page for errors outside an approval (login failures, unknown links). */
export function renderMessagePage(input: { title: string; message: string }): string {
  return layout(
    input.title,
    `<h1>${escapeHtml(input.title)}</h1>\n<p class="state refused" id="message">${escapeHtml(input.message)}</p>`,
  );
}

/** What an anonymous visitor of an approval link sees: a login link, nothing of the deployment. */
export function renderLoginPage(input: { loginUrl: string }): string {
  return layout(
    'helmgate: log in',
    `<h1>Log in to see this deployment</h1>
<p class="state" id="state" data-state="login">Approvals and deployments are shown to approvers and to people who can read the repository on GitHub.</p>
<p><a id="login" href="${escapeHtml(input.loginUrl)}">Log in with GitHub</a></p>`,
  );
}

function diffBlock(diff: string): string {
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

function changesSection(changes: readonly ReleaseChange[]): string {
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

function auditSection(audit: readonly AuditEntry[]): string {
  if (audit.length === 0) return '<p>No decisions yet.</p>';
  const rows = audit
    .map(
      (a) =>
        `<tr><td>${escapeHtml(a.at)}</td><td>${escapeHtml(a.actor)}</td><td>${escapeHtml(a.via)}</td><td>${escapeHtml(a.action)}</td><td>${escapeHtml(a.outcome)}</td><td>${escapeHtml(a.detail ?? '')}</td></tr>`,
    )
    .join('\n');
  return `<table id="audit"><thead><tr><th>when</th><th>who</th><th>via</th><th>action</th><th>outcome</th><th>detail</th></tr></thead><tbody>\n${rows}\n</tbody></table>`;
}

function stateSection(input: ApprovalPageInput): string {
  const s = input.state;
  const d = input.deployment;
  const env = escapeHtml(d.environment);
  switch (s.kind) {
    case 'forbidden':
      return `<p class="state refused" id="state" data-state="forbidden">You are logged in as <strong>${escapeHtml(s.login)}</strong>, who may not approve ${env}: ${escapeHtml(s.reason)}</p>`;
    case 'expired':
      return `<p class="state refused" id="state" data-state="expired">This approval expired at ${escapeHtml(s.expiresAt)}. Push again (or ask for a new approval) to deploy.</p>`;
    case 'superseded':
      return `<p class="state refused" id="state" data-state="superseded">Superseded by ${escapeHtml(s.by)}: a newer commit replaced this deployment.</p>`;
    case 'void':
      return `<p class="state refused" id="state" data-state="void">This approval is void: ${escapeHtml(s.reason)}</p>`;
    case 'decided':
      return `<p class="state ${s.status === 'approved' ? 'ok' : 'refused'}" id="state" data-state="decided">Already ${escapeHtml(s.status)}${s.by ? ` by ${escapeHtml(s.by)}` : ''}${s.at ? ` at ${escapeHtml(s.at)}` : ''}.</p>`;
    case 'open': {
      const action = `/approvals/${encodeURIComponent(d.id)}`;
      const hidden = `<input type="hidden" name="plan" value="${escapeHtml(s.planDigest)}"><input type="hidden" name="csrf" value="${escapeHtml(s.csrf)}">`;
      const rollback = s.rollbackNeeded
        ? `<p class="state refused"><label><input type="checkbox" id="rollback" name="rollback" value="1"> Roll back: ${env} runs ${escapeHtml(input.newerRunning?.sha.slice(0, 12) ?? 'a newer commit')}, which this commit does not lead to (it is older, or on another line). Tick to deploy it anyway.</label></p>`
        : '';
      const progress =
        s.required > 1
          ? `<p id="progress">${s.votes} of ${s.required} approvals so far${s.alreadyVoted ? ' (yours included)' : ''}.</p>`
          : '';
      return `<p class="state" id="state" data-state="open">Logged in as <strong>${escapeHtml(s.login)}</strong>.</p>
${progress}
<form method="post" action="${escapeHtml(`${action}/approve`)}" id="approve-form">${hidden}${rollback}<button type="submit" id="approve" name="decision" value="approve">Approve</button></form>
<form method="post" action="${escapeHtml(`${action}/reject`)}" id="reject-form">${hidden}<button type="submit" id="reject" name="decision" value="reject">Reject</button></form>`;
    }
  }
}

/**
 * The approval page: a pure render of the deployment, its request and the viewer's state. Only
 * readers get here (approvers, and people who can read the repository): all of it is theirs to see.
 */
export function renderApprovalPage(input: ApprovalPageInput): string {
  const d = input.deployment;
  const r = input.request;
  const commitUrl = safeHttpUrl(d.commitUrl);
  const sha = commitUrl
    ? `<a id="commit" href="${escapeHtml(commitUrl)}"><code>${escapeHtml(d.sha)}</code></a>`
    : `<code id="commit">${escapeHtml(d.sha)}</code>`;
  const stage = input.previousStage
    ? `${escapeHtml(input.previousStage.environment)}: ${escapeHtml(input.previousStage.status)}${input.previousStage.finishedAt ? ` at ${escapeHtml(input.previousStage.finishedAt)}` : ''}`
    : r?.after
      ? `${escapeHtml(r.after)}: no deployment of this commit found`
      : 'none required';
  const flash = input.flash ? `<p class="state ok" id="flash">${escapeHtml(input.flash)}</p>` : '';
  const body = `<h1>Deploy <code>${escapeHtml(d.repository)}</code> to ${escapeHtml(d.environment)}?</h1>
${flash}
<dl>
<dt>Repository</dt><dd id="repository">${escapeHtml(d.repository)}</dd>
<dt>Environment</dt><dd id="environment">${escapeHtml(d.environment)}</dd>
<dt>Commit</dt><dd>${sha}</dd>
<dt>Pushed by</dt><dd id="author">${escapeHtml(d.pusher ?? 'unknown')}</dd>
${d.involved?.length ? `<dt>Involved</dt><dd id="involved">${escapeHtml(d.involved.join(', '))} <small>(they may not approve it)</small></dd>` : ''}
<dt>Message</dt><dd><pre id="commit-message">${escapeHtml(d.commitMessage ?? '')}</pre></dd>
<dt>Earlier stage</dt><dd id="staging">${stage}</dd>
${r ? `<dt>Expires</dt><dd id="expires">${escapeHtml(r.expiresAt)}</dd><dt>Plan</dt><dd><code>${escapeHtml(r.planDigest.slice(0, 12))}</code></dd>` : ''}
</dl>
${stateSection(input)}
${r ? `<h2>What will change</h2>\n${changesSection(r.changes)}` : ''}
<h2>Decisions</h2>\n${auditSection(input.audit)}`;
  return layout(`helmgate: ${d.environment} @ ${d.sha.slice(0, 12)}`, body);
}
