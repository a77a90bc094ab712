import './esm';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { makeGithubWebhookHandler } from '../../handlers/github-webhook';
import { ApprovalService } from '../../lib/approval/approval-service';
import { fixedClock } from '../../lib/clock';
import type { EnvironmentPlan } from '../../lib/deploy/plan';
import { RecordingDispatcher } from '../../lib/dispatch/dispatcher';
import { createLogger } from '../../lib/log/logger';
import { Redactor } from '../../lib/log/redact';
import { ConsoleNotifier } from '../../lib/notify/notifier';
import { cryptoRandom } from '../../lib/random';
import { MemoryBranchState } from '../../test/fakes/memory-branch-state';
import { startDynalite } from '../../test/helpers/dynalite';
import { branchPush, signedGithubEvent } from '../../test/helpers/events';
import { MemoryRepoSource } from '../../test/helpers/memory-source';
import { policyOf } from '../../test/helpers/policy';

/** DynamoDB requests by command, counted at the SDK client: every round trip, whatever code made it. */
export function countRequests(client: DynamoDBClient): {
  counts: Record<string, number>;
  total(): number;
  reset(): void;
} {
  const counts: Record<string, number> = {};
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const name = String(context.commandName ?? 'unknown').replace(/Command$/, '');
      counts[name] = (counts[name] ?? 0) + 1;
      return next(args);
    },
    { step: 'initialize', name: 'helmgateCountRequests' },
  );
  return {
    counts,
    total: () => Object.values(counts).reduce((a, b) => a + b, 0),
    reset: () => {
      for (const k of Object.keys(counts)) delete counts[k];
    },
  };
}

export interface RoundTripReport {
  /** the first push of a repository: two environments, nothing to supersede */
  firstPush: Record<string, number>;
  /** the next push: two environments, each supersedes the previous push's waiting deployment */
  nextPush: Record<string, number>;
  /** opening the approval of the waiting production deployment (the runner's offer job, store part) */
  offer: Record<string, number>;
  /** a deciding approval vote through the web link */
  vote: Record<string, number>;
  /** a deciding vote that confirms a rollback (no look at what runs now) */
  rollbackVote: Record<string, number>;
}

const SECRET = 'bench-webhook-secret-0123456789abcdef';
const REPO = 'Codertocat/Hello-World';

function withTotal(counts: Record<string, number>): Record<string, number> {
  return { ...counts, total: Object.values(counts).reduce((a, b) => a + b, 0) };
}

/** Counts the store round trips of an accepted push and of a vote, against dynalite. */
export async function measureRoundTrips(root: string): Promise<RoundTripReport> {
  const db = await startDynalite();
  try {
    const deployYaml = readFileSync(path.join(root, 'test/fixtures/intake/deploy.yaml'), 'utf8');
    const counter = countRequests(db.client);
    const clock = fixedClock('2026-01-01T00:00:00Z');
    const quiet = createLogger({ redactor: new Redactor(), clock, write: () => {}, level: 'error' });
    const source = new MemoryRepoSource();
    const dispatcher = new RecordingDispatcher();
    const notifier = new ConsoleNotifier(quiet);
    // every push moves the branch to its commit (the head check answers from memory, no store trip)
    let head = '';
    const branches = new MemoryBranchState(() => head);
    const handler = makeGithubWebhookHandler({
      store: db.store,
      source,
      dispatcher,
      notifier,
      clock,
      logger: quiet,
      deployConfigPath: 'deploy.yaml',
      branchState: branches,
      headRecheckMs: 0,
      policy: policyOf(deployYaml),
      repositories: [REPO],
      branches: [],
      maxBodyBytes: 5 * 1024 * 1024,
      webhookSecrets: async () => [SECRET],
    });
    const push = async (sha: string) => {
      source.setCommit(sha, { 'deploy.yaml': deployYaml });
      head = sha;
      const ev = await signedGithubEvent(SECRET, 'push', branchPush({ sha }));
      counter.reset();
      const res = await handler(ev);
      if (res.statusCode !== 202) throw new Error(`push answered ${res.statusCode}`);
      return withTotal({ ...counter.counts });
    };
    const firstPush = await push('1'.repeat(40));
    clock.advance(60_000);
    const nextPush = await push('2'.repeat(40));

    const approvals = new ApprovalService({
      store: db.store,
      notifier,
      dispatcher,
      clock,
      random: cryptoRandom,
      redactor: new Redactor(),
      logger: quiet,
      publicUrl: 'https://helmgate.example.org',
      approvers: {
        production: {
          github: ['alice'],
          githubTeams: [],
          slack: [],
          cli: [],
          required: 1,
          allowSelfApproval: true,
          slackToGithub: {},
          cliToGithub: {},
        },
      },
    });
    const waiting = (await db.store.listDeployments()).find(
      (d) => d.environment === 'production' && d.status === 'awaiting_approval',
    );
    if (!waiting) throw new Error('no production deployment waits');
    const plan: EnvironmentPlan = {
      environment: 'production',
      sha: waiting.sha,
      approval: 'required',
      cluster: { secret: 'test/production/cluster' },
      releases: [],
      kubernetesSecrets: [],
      secretRefs: [],
      digest: 'plan-digest',
    };
    counter.reset();
    await approvals.offer(waiting.id, { plan });
    const offer = withTotal({ ...counter.counts });
    counter.reset();
    const out = await approvals.vote({
      deploymentId: waiting.id,
      voter: { kind: 'github', id: 'alice' },
      via: 'web',
      decision: 'approve',
      planDigest: plan.digest,
    });
    if (out.kind !== 'approved') throw new Error(`vote: ${out.kind}`);
    const vote = withTotal({ ...counter.counts });

    // a rollback: the next push's production deployment, approved with the rollback confirmed
    clock.advance(60_000);
    await push('3'.repeat(40));
    const next = (await db.store.listDeployments()).find(
      (d) => d.environment === 'production' && d.status === 'awaiting_approval',
    );
    if (!next) throw new Error('no production deployment waits');
    await approvals.offer(next.id, { plan: { ...plan, sha: next.sha } });
    counter.reset();
    const rolled = await approvals.vote({
      deploymentId: next.id,
      voter: { kind: 'github', id: 'alice' },
      via: 'web',
      decision: 'approve',
      planDigest: plan.digest,
      rollback: true,
    });
    if (rolled.kind !== 'approved') throw new Error(`rollback vote: ${rolled.kind}`);
    const rollbackVote = withTotal({ ...counter.counts });
    return { firstPush, nextPush, offer, vote, rollbackVote };
  } finally {
    await db.close();
  }
}

if (require.main === module) {
  measureRoundTrips(path.resolve(__dirname, '../..')).then(
    (r) => console.log(JSON.stringify(r, null, 2)),
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
}
