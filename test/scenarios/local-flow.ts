import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { type LocalStack, startLocalStack } from '../../handlers/local/local-stack';
import { ApproversConfig } from '../../lib/approval/approval-port';
import { systemClock } from '../../lib/clock';
import { createGithubClient } from '../../lib/github/octokit';
import { GithubDeploymentsReporter } from '../../lib/github/status-reporter';
import { headCommit, pushPayload, signedWebhook } from '../../lib/local/push-payload';
import { createLogger } from '../../lib/log/logger';
import { Browser, field } from '../helpers/form-browser';
import { testGit } from '../helpers/git';
import { runnerRepo } from '../integration/runner/harness';
import { GithubApiStandIn } from '../stand-ins/github-api';
import { GithubOAuthStandIn } from '../stand-ins/github-oauth';
import { KubeApiStandIn } from '../stand-ins/kube-api';
import { SlackApiStandIn } from '../stand-ins/slack-api';
import { type SpiedHelmCall, writeHelmSpy } from './helm-spy';
import { ensureHelmForScenarios } from './runner-env';

/**
 * The whole local flow with every edge a loopback stand-in: the local stack (webhook, approvals,
 * Slack, OAuth, runner) deploying for real to the Kubernetes API stand-in through a kubeconfig, Slack
 * and GitHub OAuth stand-ins with the real clients, GitHub Deployments reported to the GitHub API
 * stand-in through real Octokit, and helm seen through a recording wrapper. Secret values are unique
 * canaries per world. Used by the canary scan and the push → first helm measurement.
 */

export const REPO = 'idr/deployment';

/** A chart whose Secret takes the token from values (what secretValues feed) */
const HELLO_CHART = {
  'charts/hello/Chart.yaml': 'apiVersion: v2\nname: hello\nversion: 0.1.0\n',
  'charts/hello/values.yaml': 'greeting: hello\nauth:\n  token: ""\n',
  'charts/hello/templates/configmap.yaml':
    'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  greeting: {{ .Values.greeting | quote }}\n',
  'charts/hello/templates/secret.yaml':
    'apiVersion: v1\nkind: Secret\nmetadata:\n  name: {{ .Release.Name }}\nstringData:\n  token: {{ required "auth.token is required" .Values.auth.token | quote }}\n',
};

const env = (name: string, extra: string[]) =>
  [
    `  ${name}:`,
    ...extra,
    '    cluster: { secret: test/cluster }',
    '    kubernetesSecrets:',
    '      - name: app-credentials',
    `        namespace: ${name}-apps`,
    '        data:',
    '          PASSWORD: { secret: app/db, key: password }',
    '    releases:',
    '      - name: hello',
    `        namespace: ${name}-hello`,
    '        chart: ./charts/hello',
    '        values: [values/hello.yaml]',
    '        secretValues:',
    '          auth.token: { secret: app/token, key: token }',
    '      - name: web',
    `        namespace: ${name}-web`,
    '        chart: ./charts/web',
    '        needs: [hello]',
  ].join('\n');

export const FLOW_DEPLOY_YAML = [
  'apiVersion: helmgate/v1',
  'environments:',
  env('staging', ['    approval: none']),
  env('production', ['    approval: required', '    after: staging']),
  '',
].join('\n');

export interface FlowWorld {
  stack: LocalStack;
  kube: KubeApiStandIn;
  slack: SlackApiStandIn;
  oauth: GithubOAuthStandIn;
  githubApi: GithubApiStandIn;
  repo: ReturnType<typeof runnerRepo>;
  stateDir: string;
  secretsFile: string;
  logs: string[];
  helm: { calls(): SpiedHelmCall[] };
  /** the unique secret values of this world, by name */
  canaries: Record<string, string>;
  webhookSecret: string;
  /** sends a signed push of HEAD to the stack; resolves when it answered (not when deploys finished) */
  push(): Promise<{ sha: string; status: number; sentEpochMs: number; answeredEpochMs: number }>;
  /** opens the newest approval link for `sha` from Slack, logs in through GitHub, approves */
  approveViaWeb(sha: string, deploymentId: string): Promise<number>;
  close(): Promise<void>;
}

export async function startFlowWorld(opts: { force?: boolean } = {}): Promise<FlowWorld> {
  const realHelm = ensureHelmForScenarios();
  const id = randomUUID().slice(0, 8);
  const canaries = {
    'app/token': `canary-token-${randomUUID()}`,
    'app/db': `canary-db-${randomUUID()}`,
    'helmgate/github-webhook': `canary-webhook-${randomUUID()}`,
    'helmgate/approval-signing-key': `canary-signing-${randomUUID()}`,
  };
  const kube = await KubeApiStandIn.start();
  const slack = await new SlackApiStandIn().start();
  const oauth = await new GithubOAuthStandIn(`client-${id}`, `client-secret-${id}`).start();
  const githubApi = await new GithubApiStandIn().start();
  const repo = runnerRepo({
    'deploy.yaml': FLOW_DEPLOY_YAML,
    'values/hello.yaml': 'greeting: hi\n',
    ...HELLO_CHART,
  });
  const stateDir = path.join(repo.dir, '.helmgate');
  mkdirSync(stateDir, { recursive: true });
  const kubeconfig = path.join(stateDir, 'kubeconfig');
  writeFileSync(kubeconfig, kube.kubeconfig(), { mode: 0o600 });
  const secretsFile = path.join(stateDir, 'secrets.json');
  writeFileSync(
    secretsFile,
    JSON.stringify({
      'helmgate/github-webhook': canaries['helmgate/github-webhook'],
      'helmgate/approval-signing-key': canaries['helmgate/approval-signing-key'],
      'helmgate/github-oauth': JSON.stringify({
        client_id: `client-${id}`,
        client_secret: `client-secret-${id}`,
      }),
      'helmgate/slack': JSON.stringify({
        botToken: `xoxb-flow-${id}`,
        signingSecret: 's'.repeat(32),
        channel: 'C0DEPLOYS',
      }),
      'test/cluster': JSON.stringify({ kubeconfig: kube.kubeconfig() }),
      'app/token': JSON.stringify({ token: canaries['app/token'] }),
      'app/db': JSON.stringify({ password: canaries['app/db'] }),
    }),
    { mode: 0o600 },
  );
  const spy = writeHelmSpy(stateDir, realHelm);
  const logs: string[] = [];
  let reporter: GithubDeploymentsReporter | undefined;
  const stack = await startLocalStack({
    port: 0,
    repoDir: repo.dir,
    secretsFile,
    repositories: [REPO],
    logWrite: (l) => logs.push(l),
    logLevel: 'debug',
    approvers: ApproversConfig.parse({ production: { github: ['dora'] } }),
    githubWebUrl: oauth.url,
    githubApiUrl: oauth.url,
    slackApiUrl: slack.apiUrl,
    sweepIntervalMs: 0,
    // the reporter needs the stack's store: it is plugged in once the stack exists
    notifiers: [{ deploymentChanged: async (d) => reporter?.deploymentChanged(d) }],
    runner: {
      kubeconfig,
      upgradeFlags: ['--disable-openapi-validation'],
      helmBin: spy.bin,
      stateDir,
      ...(opts.force ? { force: true } : {}),
    },
  });
  // GitHub Deployments through helmgate's Octokit (retry, throttling) to the GitHub API stand-in, fed by the stack's transitions
  const reporterLogger = createLogger({
    redactor: stack.redactor,
    clock: systemClock,
    write: (l) => logs.push(l),
  });
  reporter = new GithubDeploymentsReporter({
    octokit: createGithubClient({ auth: `ghs_flow_${id}`, baseUrl: githubApi.url, logger: reporterLogger }),
    store: stack.store,
    publicUrl: stack.url,
    clock: systemClock,
    logger: reporterLogger,
    redactor: stack.redactor,
  });

  const webhookSecret = canaries['helmgate/github-webhook'];
  return {
    stack,
    kube,
    slack,
    oauth,
    githubApi,
    repo,
    stateDir,
    secretsFile,
    logs,
    helm: spy,
    canaries,
    webhookSecret,
    async push() {
      const commit = await headCommit(testGit, repo.dir);
      const req = await signedWebhook(webhookSecret, 'push', pushPayload(REPO, commit));
      const sentEpochMs = performance.timeOrigin + performance.now();
      const res = await fetch(`${stack.url}/webhook`, {
        method: 'POST',
        headers: req.headers,
        body: req.body,
      });
      const answeredEpochMs = performance.timeOrigin + performance.now();
      await res.text();
      return { sha: commit.sha, status: res.status, sentEpochMs, answeredEpochMs };
    },
    async approveViaWeb(sha, deploymentId) {
      const calls = JSON.stringify(
        slack.calls.filter((c) => JSON.stringify(c.body).includes(sha.slice(0, 7))),
      );
      const link = [...calls.matchAll(/(http:\/\/127\.0\.0\.1:\d+\/approvals\/[A-Za-z0-9_-]+)/g)].at(-1)?.[1];
      if (!link) throw new Error('no approval link in the Slack messages');
      oauth.user = { login: 'dora', teams: [] };
      const b = new Browser(stack.url);
      const anon = await b.get(link);
      const loginHref = /id="login" href="([^"]+)"/.exec(anon.text)?.[1]?.replace(/&amp;/g, '&');
      if (!loginHref) throw new Error('no login link on the approval page');
      const start = await b.get(loginHref);
      const back = await b.get(start.location as string);
      const cb = await b.get(back.location as string);
      const page = await b.get(cb.location as string);
      const res = await b.post(`/approvals/${deploymentId}/approve`, {
        plan: field(page.text, 'plan'),
        csrf: field(page.text, 'csrf'),
      });
      return res.res.status;
    },
    async close() {
      await stack.close();
      await kube.close();
      await slack.close();
      await oauth.close();
      await githubApi.close();
    },
  };
}
