import { createHmac, randomUUID } from 'node:crypto';
import { makeApprovalHandler } from '../../handlers/approval';
import { makeGithubWebhookHandler } from '../../handlers/github-webhook';
import { makeSlackInteractionsHandler } from '../../handlers/slack-interactions';
import { ApproversConfig } from '../../lib/approval/approval-port';
import { ApprovalService } from '../../lib/approval/approval-service';
import { cookieSettingsFor, csrfToken, type Session, signValue } from '../../lib/auth/session';
import { systemClock } from '../../lib/clock';
import type { Deployment } from '../../lib/deploy/deployment';
import { InProcessBackgroundWork } from '../../lib/dispatch/background';
import { type DeployJob, InProcessDispatcher } from '../../lib/dispatch/dispatcher';
import { LocalBranchState } from '../../lib/github/branch-state';
import { LocalGitSource } from '../../lib/github/local-git-source';
import type { HttpEvent } from '../../lib/http/lambda-http';
import type { ApprovalRequestNotice, Notifier } from '../../lib/notify/notifier';
import { cryptoRandom } from '../../lib/random';
import { type RunResult, runDeployment } from '../../lib/runner/runner';
import { processSlackInteraction, type SlackInteractionJob } from '../../lib/slack/vote-worker';
import { branchPush, signedGithubEvent } from '../helpers/events';
import { testGit } from '../helpers/git';
import { policyOf } from '../helpers/policy';
import { REPOSITORY } from '../integration/runner/harness';
import { blockActions, form } from '../unit/slack/payloads';
import { type RunnerWorld, startRunnerWorld } from './runner-env';

/**
 * Approval races (issue 7, item 3) through the real handlers: web votes (session cookie + CSRF + the
 * plan digest the page showed, makeApprovalHandler) and Slack button presses (signed requests,
 * makeSlackInteractionsHandler → background → processSlackInteraction), all on one ApprovalService over
 * dynalite, whose dispatcher runs the real runner (real helm, Kubernetes API stand-in). Pushes go
 * through the signed GitHub webhook handler. What is counted is what the dispatcher and the runner
 * received, and what the cluster ended up running.
 */

const WEBHOOK_SECRET = 'races-webhook-secret-0123456789abcdef';
const SLACK_SECRET = 'races-slack-signing-secret-0123456789';
const SIGNING_KEY = 'races-session-signing-key-0123456789abcdef';
const PUBLIC_URL = 'http://127.0.0.1:3000';
const PEOPLE = 100;

export const RACES_DEPLOY_YAML = `apiVersion: helmgate/v1
environments:
  production:
    approval: required
    cluster: { secret: test/cluster }
    releases:
      - name: web
        namespace: prod
        chart: ./charts/web
        values: [values/web.yaml]
`;

const slackId = (i: number) => `U0R${String(i).padStart(3, '0')}`;

export type VoterMix = 'distinct' | 'same-person';

export interface ApprovalRound {
  votes: number;
  mix: VoterMix;
  /** deploy jobs the dispatcher received for the deployment (offer jobs excluded) */
  deployDispatches: number;
  /** runner invocations that ran it to the end */
  runnerRuns: number;
  status: Deployment['status'] | undefined;
  /** outcomes of the votes, e.g. approved: 1, duplicate: 40, conflict: 59 */
  outcomes: Record<string, number>;
  /** HTTP statuses the handlers answered */
  statuses: Record<string, number>;
}

export interface SupersedeRound {
  votes: number;
  /**
   * how the race went: the push superseded it before any approval (`push`); an approval queued and
   * dispatched it, then the push superseded it before the runner took it (`approved-then-superseded`);
   * the runner started it before the push arrived (`ran-before-push`: it was never superseded)
   */
  winner: 'push' | 'approved-then-superseded' | 'ran-before-push';
  oldStatus: Deployment['status'] | undefined;
  newStatus: Deployment['status'] | undefined;
  /** the old commit's deploy jobs the dispatcher received */
  oldDispatches: number;
  /** the runner started the old deployment (status running seen) */
  oldRan: boolean;
  /** what the cluster runs for the release: the old commit's greeting? */
  clusterRunsOld: boolean;
  /** the invariant: a superseded commit never deployed */
  violation: boolean;
}

class RaceNotifier implements Notifier {
  readonly requests: ApprovalRequestNotice[] = [];
  constructor(private readonly inner: Notifier) {}
  async deploymentChanged(d: Deployment): Promise<void> {
    await this.inner.deploymentChanged(d);
  }
  async approvalRequested(r: ApprovalRequestNotice): Promise<void> {
    this.requests.push(r);
  }
}

export interface RaceWorld {
  w: RunnerWorld;
  jobs: DeployJob[];
  results: Array<{ job: DeployJob; result: RunResult }>;
  push(): Promise<{ sha: string; status: number }>;
  /** commits a values change: the release's greeting becomes `greeting` */
  commit(greeting: string): string;
  /** the plan digest the approval page shows (its form sends it back) */
  offeredPlan(deploymentId: string): string;
  webVote(deploymentId: string, login: string, plan: string): Promise<number>;
  slackVote(deploymentId: string, userId: string): Promise<number>;
  idle(): Promise<void>;
  approvals: ApprovalService;
  close(): Promise<void>;
}

export async function startRaceWorld(): Promise<RaceWorld> {
  const w = await startRunnerWorld({
    files: { 'deploy.yaml': RACES_DEPLOY_YAML, 'values/web.yaml': 'greeting: initial\n' },
  });
  const { h, db } = w;
  const logger = h.deps.logger;
  const approvers = ApproversConfig.parse({
    production: {
      github: ['dora', ...Array.from({ length: PEOPLE }, (_, i) => `user${i}`)],
      slack: Array.from({ length: PEOPLE }, (_, i) => slackId(i)),
      // every vote is a GitHub login: person n votes as user<n> on the web or as slackId(n) in Slack
      slackToGithub: {
        U0DORA: 'dora',
        ...Object.fromEntries(Array.from({ length: PEOPLE }, (_, i) => [slackId(i), `user${i}`])),
      },
    },
  });
  const notifier = new RaceNotifier(h.notifier);
  const jobs: DeployJob[] = [];
  const results: RaceWorld['results'] = [];
  let approvals: ApprovalService | undefined;
  const dispatcher: InProcessDispatcher = new InProcessDispatcher(async (job) => {
    jobs.push(job);
    const result = await runDeployment(
      { ...h.deps, dispatcher, notifier, ...(approvals ? { finished: approvals } : {}) },
      job,
    );
    results.push({ job, result });
  }, logger);
  approvals = new ApprovalService({
    store: db.store,
    notifier,
    dispatcher,
    clock: systemClock,
    random: cryptoRandom,
    logger,
    redactor: h.redactor,
    approvers,
    publicUrl: PUBLIC_URL,
  });
  const service = approvals;
  const webhook = makeGithubWebhookHandler({
    store: db.store,
    source: new LocalGitSource(w.repo.dir, testGit),
    dispatcher,
    notifier,
    clock: systemClock,
    logger,
    deployConfigPath: 'deploy.yaml',
    branchState: new LocalBranchState(w.repo.dir, testGit),
    headRecheckMs: 0,
    policy: policyOf(RACES_DEPLOY_YAML),
    repositories: [REPOSITORY],
    // the checkout's branch: pushes are accepted only while their commit is its head
    branches: ['main'],
    maxBodyBytes: 5 * 1024 * 1024,
    webhookSecrets: async () => [WEBHOOK_SECRET],
  });
  const web = makeApprovalHandler({
    approvals: service,
    approvers,
    // only POSTs reach it here, and a vote checks the approvers itself
    readAccess: { mayRead: async () => true },
    signingKey: async () => SIGNING_KEY,
    cookies: cookieSettingsFor(PUBLIC_URL),
    clock: systemClock,
    logger,
  });
  const background = new InProcessBackgroundWork<SlackInteractionJob>(async (job) => {
    await processSlackInteraction(
      {
        approvals: service,
        store: db.store,
        slack: { chat: { postEphemeral: async () => ({ ok: true }) as never } },
        logger,
      },
      job.payload,
    );
  }, logger);
  const slack = makeSlackInteractionsHandler({
    signingSecrets: async () => [SLACK_SECRET],
    background,
    clock: systemClock,
    logger,
  });

  return {
    w,
    jobs,
    results,
    approvals: service,
    commit(greeting) {
      return w.repo.commit({ 'values/web.yaml': `greeting: ${greeting}\n` }, `greeting ${greeting}`);
    },
    async push() {
      const sha = w.repo.head();
      const ev = await signedGithubEvent(
        WEBHOOK_SECRET,
        'push',
        branchPush({ sha, repository: REPOSITORY, ref: 'refs/heads/main' }),
      );
      const res = await webhook(ev);
      return { sha, status: res.statusCode };
    },
    offeredPlan(deploymentId) {
      const req = notifier.requests.find((r) => r.deployment.id === deploymentId);
      if (!req?.deployment.planDigest) throw new Error(`no approval offered for ${deploymentId}`);
      return req.deployment.planDigest;
    },
    async webVote(deploymentId, login, plan) {
      const session: Session = {
        sid: `sid-${login}`,
        login,
        teams: [],
        csrf: `csrf-${login}`,
        exp: Date.now() + 3600_000,
      };
      const body = new URLSearchParams({ csrf: csrfToken(session, `approval:${deploymentId}`), plan });
      const path = `/approvals/${encodeURIComponent(deploymentId)}/approve`;
      const res = await web({
        version: '2.0',
        routeKey: `POST ${path}`,
        rawPath: path,
        rawQueryString: '',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          cookie: `helmgate_session=${signValue(SIGNING_KEY, 'session', session)}`,
        },
        pathParameters: { id: deploymentId },
        isBase64Encoded: false,
        body: body.toString(),
        requestContext: { http: { method: 'POST', path } },
      } as unknown as HttpEvent);
      return res.statusCode;
    },
    async slackVote(deploymentId, userId) {
      const body = form(blockActions([`approve:${deploymentId}`], { user: { id: userId, username: 'u' } }));
      const ts = String(Math.floor(Date.now() / 1000));
      const sig = `v0=${createHmac('sha256', SLACK_SECRET).update(`v0:${ts}:`).update(body).digest('hex')}`;
      const res = await slack({
        version: '2.0',
        routeKey: 'POST /slack/interactions',
        rawPath: '/slack/interactions',
        rawQueryString: '',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          'x-slack-signature': sig,
          'x-slack-request-timestamp': ts,
        },
        isBase64Encoded: false,
        body: body.toString('utf8'),
        requestContext: { http: { method: 'POST', path: '/slack/interactions' } },
      } as unknown as HttpEvent);
      return res.statusCode;
    },
    async idle() {
      for (let i = 0; i < 20; i++) {
        await background.idle();
        await dispatcher.idle();
        if (dispatcher.inFlight.size === 0) return;
      }
    },
    close: () => w.close(),
  };
}

async function pushAndOffer(rw: RaceWorld, greeting: string): Promise<Deployment> {
  rw.commit(greeting);
  const { sha, status } = await rw.push();
  if (status !== 202) throw new Error(`push answered ${status}`);
  await rw.idle();
  const d = (await rw.w.db.store.listByEnvironment(REPOSITORY, 'production', { limit: 50 })).find(
    (x) => x.sha === sha,
  );
  if (d?.status !== 'awaiting_approval') throw new Error(`push ${sha}: production is ${d?.status}`);
  return d;
}

/** `votes` votes, alternating web and Slack, each as its own person or all as one mapped person. */
function voters(rw: RaceWorld, d: Deployment, votes: number, mix: VoterMix, plan: string) {
  return Array.from({ length: votes }, (_, i) => {
    const viaWeb = i % 2 === 0;
    if (mix === 'same-person')
      return () => (viaWeb ? rw.webVote(d.id, 'dora', plan) : rw.slackVote(d.id, 'U0DORA'));
    const n = i % PEOPLE;
    return () => (viaWeb ? rw.webVote(d.id, `user${n}`, plan) : rw.slackVote(d.id, slackId(n)));
  });
}

async function voteOutcomes(rw: RaceWorld, id: string): Promise<Record<string, number>> {
  const audit = await rw.w.db.store.listAudit(id);
  const out: Record<string, number> = {};
  for (const a of audit.filter((x) => x.action === 'approve')) out[a.outcome] = (out[a.outcome] ?? 0) + 1;
  return out;
}

let round = 0;

/** One deployment, `votes` concurrent approvals: exactly one deploy must be dispatched and run. */
export async function approvalRound(rw: RaceWorld, votes: number, mix: VoterMix): Promise<ApprovalRound> {
  const d = await pushAndOffer(rw, `approvals-${++round}-${randomUUID().slice(0, 6)}`);
  const plan = rw.offeredPlan(d.id);
  const jobsFrom = rw.jobs.length;
  const resultsFrom = rw.results.length;
  const codes = await Promise.all(voters(rw, d, votes, mix, plan).map((v) => v()));
  await rw.idle();
  const statuses: Record<string, number> = {};
  for (const c of codes) statuses[c] = (statuses[c] ?? 0) + 1;
  return {
    votes,
    mix,
    deployDispatches: rw.jobs.slice(jobsFrom).filter((j) => j.deploymentId === d.id && j.purpose !== 'offer')
      .length,
    runnerRuns: rw.results
      .slice(resultsFrom)
      .filter((r) => r.job.deploymentId === d.id && r.result.kind === 'finished').length,
    status: (await rw.w.db.store.getDeployment(d.id))?.status,
    outcomes: await voteOutcomes(rw, d.id),
    statuses,
  };
}

/**
 * A deployment waiting for approval; `votes` approvals race a push of a newer commit (sent among
 * them). Whichever lands first, the superseded commit must never be deployed.
 */
export async function supersedeRound(rw: RaceWorld, votes: number): Promise<SupersedeRound> {
  const oldGreeting = `old-${++round}-${randomUUID().slice(0, 6)}`;
  const old = await pushAndOffer(rw, oldGreeting);
  const plan = rw.offeredPlan(old.id);
  const newGreeting = `new-${round}-${randomUUID().slice(0, 6)}`;
  rw.commit(newGreeting);
  const jobsFrom = rw.jobs.length;
  const changesFrom = rw.w.h.notifier.changes.length;
  const all = voters(rw, old, votes, 'distinct', plan);
  // the push goes out somewhere among the votes
  const at = Math.floor(Math.random() * (all.length + 1));
  const pushAt: () => Promise<number> = async () => (await rw.push()).status;
  all.splice(at, 0, pushAt);
  await Promise.all(all.map((f) => f()));
  await rw.idle();
  const store = rw.w.db.store;
  const oldNow = await store.getDeployment(old.id);
  const newer = (await store.listByEnvironment(REPOSITORY, 'production', { limit: 50 })).find(
    (x) => x.sha !== old.sha && x.createdAt >= old.createdAt && x.id !== old.id,
  );
  const oldRan = rw.w.h.notifier.changes
    .slice(changesFrom)
    .some((c) => c.id === old.id && c.status === 'running');
  const cm = rw.w.kube.get('ConfigMap', 'prod', 'web-config');
  const clusterRunsOld = cm?.data?.greeting === oldGreeting;
  const superseded = oldNow?.status === 'superseded';
  const oldDispatches = rw.jobs
    .slice(jobsFrom)
    .filter((j) => j.deploymentId === old.id && j.purpose !== 'offer').length;
  return {
    votes,
    winner: !superseded ? 'ran-before-push' : oldDispatches > 0 ? 'approved-then-superseded' : 'push',
    oldStatus: oldNow?.status,
    newStatus: newer?.status,
    oldDispatches: rw.jobs.slice(jobsFrom).filter((j) => j.deploymentId === old.id && j.purpose !== 'offer')
      .length,
    oldRan,
    clusterRunsOld,
    // superseded means it must not have run; not superseded means it started before the push and is
    // then the newest that ran — but it must never be left half: running ⇒ finished
    violation: superseded ? oldRan || clusterRunsOld : oldNow?.status !== 'succeeded',
  };
}
