import { renderMessagePage } from '../lib/approval/approval-page';
import type { ApproversConfig } from '../lib/approval/approval-port';
import type { ApproversKey } from '../lib/approval/approval-service';
import { authorize } from '../lib/approval/approver-policy';
import { type CookieSettings, type Session, verifyCsrf } from '../lib/auth/session';
import { requestSession, type SessionRegistry } from '../lib/auth/session-registry';
import { approverTeams, type TeamMembership } from '../lib/auth/team-membership';
import { HelmgateError } from '../lib/errors';
import {
  errorPage,
  type HttpEvent,
  type HttpHandler,
  type HttpResult,
  html,
  rawBody,
} from '../lib/http/lambda-http';
import type { ApplyDeps } from '../lib/lifecycle/apply';
import { overrideFreeze } from '../lib/lifecycle/freeze-override';
import { AlreadyRetriedError, type RetryDeps, retryDeployment } from '../lib/lifecycle/retry';
import type { Logger } from '../lib/log/logger';
import { type DeploymentAction, deploymentActionCsrfPurpose } from '../lib/web/deployment-page';
import { pageHeaders } from '../lib/web/layout';

export interface DeploymentActionsDeps extends ApplyDeps {
  logger: Logger;
  /** from the operator's policy, per deployment (see ApprovalServiceDeps.approvers) */
  approvers: ApproversConfig | ((d: ApproversKey) => ApproversConfig);
  /** the failed deployment's approval request (a retry may carry it over) */
  approvalOf: RetryDeps['approvalOf'];
  /** HMAC key for the session cookie (`helmgate/approval-signing-key`) */
  signingKey: () => Promise<string>;
  cookies: CookieSettings;
  sessions?: SessionRegistry;
  /** team membership asked when an action is taken; absent: the teams read at login */
  teamMembership?: TeamMembership;
  /** form bodies are tiny; default 8 KiB */
  maxBodyBytes?: number;
}

function message(status: number, title: string, text: string): HttpResult {
  return html(status, renderMessagePage({ title, message: text }), pageHeaders());
}

function seeOther(location: string): HttpResult {
  return { statusCode: 303, headers: { location, 'cache-control': 'no-store' }, body: '' };
}

const page = (id: string, result: string) => `/deployments/${encodeURIComponent(id)}?result=${result}`;

/**
 * The deployment page's buttons (issue 13): POST /deployments/{id}/retry runs a failed deployment again
 * (lib/lifecycle/retry, as `helmgate retry`), POST /deployments/{id}/override overrides the freeze an
 * approved deployment waits in (lib/lifecycle/freeze-override, as `helmgate override`). Both only for a
 * logged-in GitHub user who approves the environment, with a CSRF token bound to the session, the action
 * and the deployment; then 303 back to a deployment page. 401 not logged in, 403 not an approver (or the
 * four-eyes rule), 404 no such deployment, 409 not in a state for it, 400 bad CSRF or reason.
 */
export function makeDeploymentActionsHandler(deps: DeploymentActionsDeps): HttpHandler {
  const approvers = (d: ApproversKey) =>
    typeof deps.approvers === 'function' ? deps.approvers(d) : deps.approvers;
  return async (event: HttpEvent) => {
    const id = event.pathParameters?.id ?? '';
    const log = deps.logger.child({ deploymentId: id, route: 'deployment-actions' });
    try {
      const method = event.requestContext?.http?.method ?? 'GET';
      const path = event.rawPath ?? event.requestContext?.http?.path ?? '';
      const action: DeploymentAction | undefined = path.endsWith('/retry')
        ? 'retry'
        : path.endsWith('/override')
          ? 'override'
          : undefined;
      if (method !== 'POST' || !action || !id) throw new HelmgateError('not_found', 'no such route');
      const session = await requestSession(deps, event, deps.clock.now());
      if (!session)
        throw new HelmgateError('unauthenticated', 'log in with GitHub first (open the dashboard again)');
      const body = rawBody(event);
      if (body.length > (deps.maxBodyBytes ?? 8192))
        throw new HelmgateError('payload_too_large', 'form too large');
      const form = new URLSearchParams(body.toString('utf8'));
      if (!verifyCsrf(session, deploymentActionCsrfPurpose(action, id), form.get('csrf') ?? undefined))
        throw new HelmgateError(
          'bad_request',
          'the form expired or did not come from this page (CSRF check failed); reload and try again',
        );
      const d = await deps.store.getDeployment(id);
      if (!d) throw new HelmgateError('not_found', `no deployment ${id}`);
      const teams = await teamsNow(d, session);
      const voter = { kind: 'github' as const, id: session.login, teams };

      if (action === 'override') {
        const outcome = await overrideFreeze(
          { ...deps, approvers },
          { deploymentId: d.id, voter, via: 'web', reason: form.get('reason') ?? '' },
        );
        log.info('web freeze override', { outcome: outcome.kind, login: session.login });
        return seeOther(
          page(d.id, outcome.kind === 'duplicate' ? 'override-duplicate' : `override-${outcome.kind}`),
        );
      }

      // only the environment's approvers retry from the web (the CLI's operators may too)
      const auth = authorize(voter, d.environment, approvers(d));
      if (!auth.ok) {
        await deps.store.appendAudit({
          deploymentId: d.id,
          at: deps.clock.now().toISOString(),
          actor: session.login,
          via: 'web',
          action: 'retry',
          outcome: 'refused: forbidden',
          detail: auth.reason,
        });
        throw new HelmgateError('forbidden', `${auth.reason.replace('to approve', 'to approve or retry')}`);
      }
      try {
        const { retry } = await retryDeployment(deps, {
          id: d.id,
          actor: auth.identity.label,
          via: 'web',
          mayApprove: true,
          login: auth.identity.login,
        });
        log.info('web retry', { retry: retry.id, status: retry.status, login: session.login });
        return seeOther(page(retry.id, 'retried'));
      } catch (e) {
        // a second press (double click, another tab): the one retry there is
        if (e instanceof AlreadyRetriedError) return seeOther(page(e.retryId, 'already-retried'));
        throw e;
      }
    } catch (e) {
      return errorPage(e, log, 'deployment action failed', message);
    }
  };

  /** The approver teams of this deployment the user belongs to now (asked of GitHub), else as at login. */
  async function teamsNow(d: ApproversKey, session: Session): Promise<string[]> {
    if (!deps.teamMembership) return session.teams;
    const candidates = approverTeams(approvers(d));
    return candidates.length === 0 ? [] : await deps.teamMembership(session.login, candidates);
  }
}
