/**
 * The local stack: the same handlers as in AWS, mounted on the local HTTP adapter, with the
 * dependency graph of lib/compose/local.ts (dynalite in-process, a secrets file, the runner in-process).
 */
import { timingSafeEqual } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { cookieSettingsFor } from '../../lib/auth/session';
import { LOCAL_DISPATCH_PATH } from '../../lib/cli/local-dispatch';
import { composeLocal, type LocalGraph, type LocalGraphOptions } from '../../lib/compose/local';
import type { LoadedPolicy } from '../../lib/config/policy-loader';
import { json } from '../../lib/http/lambda-http';
import { createLocalHttpServer, listen, type Route } from '../../lib/http/local-adapter';
import { ensureSecretsFile, localApiToken } from '../../lib/local/local-secrets';
import type { Logger } from '../../lib/log/logger';
import { cryptoRandom } from '../../lib/random';
import { type SweepReport, sweep } from '../../lib/sweeper/sweeper';
import { STYLESHEET_PATH } from '../../lib/web/layout';
import { makeApprovalHandler } from '../approval';
import { makeAuthHandler } from '../auth';
import { makeDashboardHandler } from '../dashboard';
import { makeDeploymentActionsHandler } from '../deployment-actions';
import { makeDeploymentsHandler } from '../deployments';
import { makeGithubWebhookHandler } from '../github-webhook';
import { makeLocalDispatchHandler } from '../local-dispatch';
import { makeSlackInteractionsHandler } from '../slack-interactions';

export interface LocalStackOptions extends Omit<LocalGraphOptions, 'url'> {
  port?: number;
  /** run the sweeper this often (ms); 0 = never; default 60 s */
  sweepIntervalMs?: number;
  /**
   * Where to write `{url, dynamodbEndpoint, table, secretsFile, repoDir, pid}` (0600) so the operator CLI
   * finds this stack (`npm start` writes `.helmgate/stack.json`; removed on close).
   */
  stateFile?: string;
  /**
   * A single-use login link for the dashboard without a GitHub OAuth app (like Jupyter's token URL):
   * the stack makes a random token; the first GET of `loginUrl` sets a session for this identity.
   */
  oneTimeLogin?: { login: string; teams?: string[] };
}

/** What tests, benches and `npm start` reach into: the graph's main pieces plus the server. */
export interface LocalStack
  extends Pick<
    LocalGraph,
    | 'store'
    | 'redactor'
    | 'logger'
    | 'secrets'
    | 'newSecretResolver'
    | 'source'
    | 'clock'
    | 'notifier'
    | 'dispatcher'
    | 'repositories'
    | 'approvals'
  > {
  url: string;
  /** the read API's bearer token from the secrets file (created on first start) */
  apiToken: string;
  /** the operator policy this stack enforces, loaded once at start */
  policy: LoadedPolicy;
  /** the one-time dashboard login link, when `oneTimeLogin` was given */
  loginUrl?: string;
  port: number;
  secretsFile: string;
  /** runs one sweep now (expiry, reminders, stale locks) */
  sweep(): Promise<SweepReport>;
  /** waits for in-process deploy jobs and background work started so far */
  idle(): Promise<void>;
  close(): Promise<void>;
}

export async function startLocalStack(opts: LocalStackOptions): Promise<LocalStack> {
  ensureSecretsFile(opts.secretsFile, opts.random);

  // the HTTP server first: approval links need its port
  const routes: Route[] = [];
  // the adapter logs through the graph's logger, which exists once the port is known
  let graph: LocalGraph | undefined;
  const adapterLogger: Logger = {
    debug: (m, f) => graph?.logger.debug(m, f),
    info: (m, f) => graph?.logger.info(m, f),
    warn: (m, f) => graph?.logger.warn(m, f),
    error: (m, f) => graph?.logger.error(m, f),
    child: () => adapterLogger,
  };
  const server: Server = createLocalHttpServer(routes, {
    ...(opts.clock ? { clock: opts.clock } : {}),
    ...(opts.random ? { random: opts.random } : {}),
    // HSTS only when the stack is published over https (behind a TLS proxy), never on plain-http loopback
    hsts: opts.publicUrl ? cookieSettingsFor(opts.publicUrl).secure : false,
    logger: adapterLogger,
  });
  const port = await listen(server, opts.port ?? 3000);
  const url = `http://127.0.0.1:${port}`;
  const g = await composeLocal({ ...opts, url });
  graph = g;

  const deployments = makeDeploymentsHandler(g.deployments);
  let loginToken = opts.oneTimeLogin
    ? (opts.random ?? cryptoRandom).bytes(32).toString('base64url')
    : undefined;
  const dashboard = makeDashboardHandler({
    ...g.dashboard,
    json: deployments,
    oneTimeLogin: {
      consume: (token) => {
        if (!opts.oneTimeLogin || !loginToken) return undefined;
        const a = Buffer.from(token);
        const b = Buffer.from(loginToken);
        if (a.length !== b.length || !timingSafeEqual(a, b)) return undefined;
        loginToken = undefined; // single use
        return { login: opts.oneTimeLogin.login, teams: opts.oneTimeLogin.teams ?? [] };
      },
    },
  });
  const approval = makeApprovalHandler(g.approval);
  const actions = makeDeploymentActionsHandler(g.actions);
  const auth = makeAuthHandler(g.auth);
  routes.push(
    { method: 'POST', path: '/webhook', handler: makeGithubWebhookHandler(g.webhook) },
    { method: 'GET', path: '/', handler: dashboard },
    { method: 'GET', path: '/deployments', handler: dashboard },
    { method: 'GET', path: '/deployments/{id}', handler: dashboard },
    { method: 'GET', path: '/metrics', handler: dashboard },
    { method: 'GET', path: STYLESHEET_PATH, handler: dashboard },
    { method: 'GET', path: '/auth/local', handler: dashboard },
    { method: 'GET', path: '/approvals/{id}', handler: approval },
    { method: 'POST', path: '/approvals/{id}/approve', handler: approval },
    { method: 'POST', path: '/approvals/{id}/reject', handler: approval },
    { method: 'POST', path: '/deployments/{id}/retry', handler: actions },
    { method: 'POST', path: '/deployments/{id}/override', handler: actions },
    { method: 'GET', path: '/auth/github/login', handler: auth },
    { method: 'GET', path: '/auth/github/callback', handler: auth },
    { method: 'POST', path: '/auth/logout', handler: auth },
    { method: 'POST', path: '/slack/interactions', handler: makeSlackInteractionsHandler(g.slack) },
    // the operator CLI hands jobs to this process (loopback only, JSON only)
    { method: 'POST', path: LOCAL_DISPATCH_PATH, handler: makeLocalDispatchHandler(g.localDispatch) },
    { method: 'GET', path: '/healthz', handler: async () => json(200, { ok: true }) },
  );

  const sweepEvery = opts.sweepIntervalMs ?? 60_000;
  const sweepTimer =
    sweepEvery > 0
      ? setInterval(() => {
          sweep(g.sweeper).catch((e) => g.logger.warn('sweep failed', { err: e }));
        }, sweepEvery)
      : undefined;
  sweepTimer?.unref();

  if (opts.stateFile) {
    const state = {
      url,
      dynamodbEndpoint: g.dynamodbEndpoint,
      table: g.table,
      secretsFile: opts.secretsFile,
      repoDir: opts.repoDir,
      deployConfigPath: g.deployConfigPath,
      pid: process.pid,
      repositories: g.repositories,
      // the CLI decides and plans as this stack does: the same policy (and test approvers, if any)
      ...(g.testApprovers ? { approvers: g.testApprovers } : {}),
      policy: g.policy.policy,
      policySource: g.policy.source,
      renderOnly: g.renderOnly,
    };
    writeFileSync(opts.stateFile, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  }

  const idle = async () => {
    // jobs start background work and vice versa: wait until both are quiet
    for (let i = 0; i < 50; i++) {
      await g.dispatcher.idle();
      await g.background.idle();
      if (g.dispatcher.inFlight.size === 0) return;
    }
  };

  return {
    store: g.store,
    redactor: g.redactor,
    logger: g.logger,
    secrets: g.secrets,
    newSecretResolver: g.newSecretResolver,
    source: g.source,
    clock: g.clock,
    notifier: g.notifier,
    dispatcher: g.dispatcher,
    repositories: g.repositories,
    approvals: g.approvals,
    url,
    apiToken: localApiToken(opts.secretsFile) ?? '',
    policy: g.policy,
    ...(loginToken ? { loginUrl: `${g.publicUrl}/auth/local?token=${loginToken}` } : {}),
    port,
    secretsFile: opts.secretsFile,
    sweep: () => sweep(g.sweeper),
    idle,
    close: async () => {
      if (sweepTimer) clearInterval(sweepTimer);
      if (opts.stateFile) rmSync(opts.stateFile, { force: true });
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections?.();
      await idle();
      await g.close();
    },
  };
}
