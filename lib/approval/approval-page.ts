import type { Deployment } from '../deploy/deployment';
import type { AuditEntry } from '../store/deployment-store';
import { auditSection, changesSection, manifestSection } from '../web/fragments';
import { escapeHtml, safeHttpUrl } from '../web/html';
import { pageHeaders, renderLayout } from '../web/layout';
import type { ApprovalRequest } from './approval-request';

/**
 * Headers for every approval page: the shared page headers without a script nonce (the approval page
 * has no script), so no script runs at all.
 */
export const PAGE_HEADERS: Readonly<Record<string, string>> = pageHeaders();

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

export { escapeHtml };

function layout(title: string, body: string): string {
  return renderLayout({ title, body });
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

/** A plain page for errors outside an approval (login failures, unknown links). */
export function renderMessagePage(input: { title: string; message: string }): string {
  return layout(
    input.title,
    `<h1>${escapeHtml(input.title)}</h1>\n<p class="state refused" id="message">${escapeHtml(input.message)}</p>`,
  );
}

function stateSection(input: ApprovalPageInput): string {
  const s = input.state;
  const d = input.deployment;
  const env = escapeHtml(d.environment);
  switch (s.kind) {
    case 'forbidden':
      return `<p class="state refused" id="state" data-state="forbidden">You are logged in as <strong>${escapeHtml(s.login)}</strong>, who may not approve ${env}: ${escapeHtml(s.reason)}</p>
${LOGOUT_FORM}`;
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
<form method="post" action="${escapeHtml(`${action}/approve`)}" id="approve-form">${hidden}${rollback}<button type="submit" class="primary" id="approve" name="decision" value="approve">Approve</button></form>
<form method="post" action="${escapeHtml(`${action}/reject`)}" id="reject-form">${hidden}<button type="submit" class="danger" id="reject" name="decision" value="reject">Reject</button></form>
${LOGOUT_FORM}`;
    }
  }
}

/** Ends the session here and server-side (POST /auth/logout; same-origin, so SameSite=Lax sends the cookie). */
const LOGOUT_FORM =
  '<form method="post" action="/auth/logout" id="logout-form"><button type="submit" id="logout">Log out</button></form>';

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
${d.policy ? `<dt>Policy</dt><dd id="policy"><code>${escapeHtml(d.policy.digest.slice(0, 12))}</code> ${escapeHtml(d.policy.summary)}</dd>` : ''}
</dl>
${stateSection(input)}
${r ? `<h2>What will change</h2>\n${changesSection(r.changes)}` : ''}
${r ? `<h2 id="manifests">Rendered objects</h2>\n${manifestSection(r.manifests, r)}` : ''}
<h2>Decisions</h2>\n${auditSection(input.audit)}`;
  return layout(`helmgate: ${d.environment} @ ${d.sha.slice(0, 12)}`, body);
}
