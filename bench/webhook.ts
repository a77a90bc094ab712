/**
 * `npm run bench:webhook`: the webhook's cost, with the bare HMAC check of the same payload measured
 * in the same run as the baseline.
 *  1. in-process (store excluded: an in-memory store): p50/p99 per request and requests/s;
 *  2. loopback HTTP against the local stack (real dynalite) with autocannon;
 *  3. each handler's minified bundle size and cold import time (minus a bare `node -e ""`);
 *  4. the store round trips (DynamoDB requests, counted at the SDK client) of an accepted push, an
 *     approval offer and a vote.
 */
import './lib/esm';
import { createHmac, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import autocannon from 'autocannon';
import { makeGithubWebhookHandler } from '../handlers/github-webhook';
import { startLocalStack } from '../handlers/local/local-stack';
import { fixedClock, systemClock } from '../lib/clock';
import { RecordingDispatcher } from '../lib/dispatch/dispatcher';
import { createLogger } from '../lib/log/logger';
import { Redactor } from '../lib/log/redact';
import { ConsoleNotifier } from '../lib/notify/notifier';
import { MemoryBranchState } from '../test/fakes/memory-branch-state';
import { MemoryDeploymentStore } from '../test/fakes/memory-store';
import { branchPush, signedGithubEvent } from '../test/helpers/events';
import { MemoryRepoSource } from '../test/helpers/memory-source';
import { policyOf } from '../test/helpers/policy';
import { fmt, summarize, table } from './lib';
import { handlerBundles } from './lib/bundles';
import { measureRoundTrips, type RoundTripReport } from './lib/round-trips';
import { type BenchRow, row } from './lib/table';

const SECRET = 'bench-webhook-secret-0123456789abcdef';
const REPO = 'Codertocat/Hello-World';
const root = path.resolve(__dirname, '..');
const DEPLOY_YAML = readFileSync(path.join(root, 'test/fixtures/intake/deploy.yaml'), 'utf8');
const N = Number(process.env.BENCH_N ?? 2000);

function sha(i: number): string {
  return i.toString(16).padStart(40, '0');
}

async function inProcess() {
  const source = new MemoryRepoSource();
  const branches = new MemoryBranchState();
  const clock = fixedClock('2026-01-01T00:00:00Z');
  const quiet = createLogger({ redactor: new Redactor(), clock, write: () => {}, level: 'warn' });
  const handler = makeGithubWebhookHandler({
    store: new MemoryDeploymentStore(),
    source,
    dispatcher: new RecordingDispatcher(),
    notifier: new ConsoleNotifier(quiet),
    clock,
    logger: quiet,
    deployConfigPath: 'deploy.yaml',
    // every push moves the branch: the head is the commit of the push being sent
    branchState: branches,
    headRecheckMs: 0,
    policy: policyOf(DEPLOY_YAML),
    repositories: [REPO],
    branches: [],
    maxBodyBytes: 5 * 1024 * 1024,
    webhookSecrets: async () => [SECRET],
  });
  const events = [];
  for (let i = 0; i < N; i++) {
    source.setCommit(sha(i + 1), { 'deploy.yaml': DEPLOY_YAML });
    events.push(await signedGithubEvent(SECRET, 'push', branchPush({ sha: sha(i + 1) })));
  }
  const payload = Buffer.from(events[0]?.body ?? '', 'base64');
  // warm-up
  for (let i = 0; i < 200; i++) createHmac('sha256', SECRET).update(payload).digest('hex');
  const hmac: number[] = [];
  for (let i = 0; i < N; i++) {
    const t0 = process.hrtime.bigint();
    createHmac('sha256', SECRET).update(payload).digest('hex');
    hmac.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  const lat: number[] = [];
  const statuses = new Map<number, number>();
  const t0all = process.hrtime.bigint();
  for (const [i, ev] of events.entries()) {
    clock.advance(1000);
    branches.setHead(REPO, 'master', sha(i + 1));
    const t0 = process.hrtime.bigint();
    const res = await handler(ev);
    lat.push(Number(process.hrtime.bigint() - t0) / 1e6);
    statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
  }
  const wallS = Number(process.hrtime.bigint() - t0all) / 1e9;
  return {
    ours: summarize(lat),
    hmac: summarize(hmac),
    rps: N / wallS,
    statuses,
    payloadBytes: payload.length,
  };
}

async function loopback() {
  const source = new MemoryRepoSource();
  const stack = await startLocalStack({
    port: 0,
    repoDir: root,
    secretsFile: path.join(root, '.tmp', `bench-secrets-${process.pid}.json`),
    repositories: [REPO],
    logWrite: () => {},
    logLevel: 'error',
    clock: systemClock,
    source,
    // the same push, 1500 times under new delivery ids: the first is accepted, the rest are duplicates
    branchState: new MemoryBranchState().setHead(REPO, 'master', 'a'.repeat(40)),
    runner: false, // the webhook alone: deployments stay queued
    sweepIntervalMs: 0,
  });
  const { writeFileSync } = await import('node:fs');
  writeFileSync(stack.secretsFile, JSON.stringify({ 'helmgate/github-webhook': SECRET }), { mode: 0o600 });
  const shaX = 'a'.repeat(40);
  source.setCommit(shaX, { 'deploy.yaml': DEPLOY_YAML });
  const ev = await signedGithubEvent(SECRET, 'push', branchPush({ sha: shaX }));
  const body = Buffer.from(ev.body ?? '', 'base64').toString('utf8');
  const headers = ev.headers as Record<string, string>;
  const statuses = new Map<number, number>();
  const result = await autocannon({
    url: `${stack.url}/webhook`,
    connections: 8,
    amount: Math.min(N, 1500),
    requests: [
      {
        method: 'POST',
        body,
        setupRequest: (req: { headers?: Record<string, string> }) => ({
          ...req,
          headers: { ...headers, 'x-github-delivery': randomUUID() },
        }),
        onResponse: (status: number) => {
          statuses.set(status, (statuses.get(status) ?? 0) + 1);
        },
      },
    ],
  } as autocannon.Options);
  await stack.close();
  return { result, statuses };
}

async function bundles() {
  const { bare, handlers } = await handlerBundles();
  return {
    baseline: bare,
    rows: handlers.map((h) => ({
      handler: h.name,
      'bundle KB': h.kb.toFixed(1),
      'of which AWS SDK KB': h.sdkKb.toFixed(1),
      'cold import ms (minus bare node)': fmt(h.coldMs, 1),
      'has @kubernetes/client-node': h.hasKubeClient ? 'yes' : 'no',
    })),
  };
}

export async function benchWebhook() {
  const ip = await inProcess();
  const lb = await loopback();
  const b = await bundles();
  const rt = await measureRoundTrips(root);
  return { ip, lb, b, rt };
}

const ROUND_TRIP_ROWS: Array<[keyof RoundTripReport, string]> = [
  ['firstPush', 'accepted push (2 environments, nothing to supersede)'],
  ['nextPush', 'accepted push (2 environments, each supersedes one)'],
  ['offer', 'approval offer'],
  ['vote', 'deciding vote'],
  ['rollbackVote', 'deciding vote, rollback confirmed'],
];

function roundTripText(counts: Record<string, number>): string {
  return Object.entries(counts)
    .filter(([k]) => k !== 'total')
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
}

/** `npm run bench` rows: our figures against the baselines measured in the same run. */
export async function run(): Promise<BenchRow[]> {
  const { ip, lb, b, rt } = await benchWebhook();
  const B = 'webhook';
  const rows: BenchRow[] = [
    row(B, 'in-process p50 (store excluded)', Number(ip.ours.p50.toFixed(3)), {
      unit: 'ms',
      baseline: Number(ip.hmac.p50.toFixed(4)),
      ratio: ip.ours.p50 / ip.hmac.p50,
      note: `baseline: bare HMAC-SHA256 of the same ${ip.payloadBytes}-byte payload; ${ip.ours.n} pushes`,
    }),
    row(B, 'in-process p99 (store excluded)', Number(ip.ours.p99.toFixed(3)), {
      unit: 'ms',
      baseline: Number(ip.hmac.p99.toFixed(4)),
      ratio: ip.ours.p99 / ip.hmac.p99,
    }),
    row(B, 'in-process throughput', Math.round(ip.rps), { unit: 'req/s' }),
    row(B, 'loopback HTTP (dynalite) req/s', Math.round(lb.result.requests.average), {
      unit: 'req/s',
      note: `autocannon, 8 connections, ${lb.result.requests.total} pushes; statuses ${JSON.stringify(Object.fromEntries(lb.statuses))}`,
    }),
    row(B, 'loopback HTTP p50 / p99', `${lb.result.latency.p50} / ${lb.result.latency.p99}`, { unit: 'ms' }),
    ...ROUND_TRIP_ROWS.map(([k, label]) =>
      row(B, `store round trips: ${label}`, rt[k].total ?? 0, {
        unit: 'requests',
        note: roundTripText(rt[k]),
      }),
    ),
  ];
  for (const h of b.rows)
    rows.push(
      row(B, `bundle ${h.handler}`, Number(h['bundle KB']), {
        unit: 'KB',
        baseline: `${h['of which AWS SDK KB']} KB AWS SDK`,
        note: `cold import ${h['cold import ms (minus bare node)']} ms beyond a bare node start of ${b.baseline.toFixed(1)} ms`,
      }),
    );
  return rows;
}

if (require.main === module) {
  benchWebhook().then(
    ({ ip, lb, b, rt }) => {
      console.log(
        `\nwebhook in-process, store excluded (in-memory store), ${ip.ours.n} signed pushes of ${ip.payloadBytes} bytes`,
      );
      console.log(
        table([
          {
            measure: 'webhook handler',
            'p50 ms': fmt(ip.ours.p50),
            'p99 ms': fmt(ip.ours.p99),
            'req/s': ip.rps.toFixed(0),
          },
          {
            measure: 'baseline: bare HMAC-SHA256 of the payload',
            'p50 ms': fmt(ip.hmac.p50),
            'p99 ms': fmt(ip.hmac.p99),
            'req/s': '',
          },
          {
            measure: 'ratio handler/HMAC',
            'p50 ms': fmt(ip.ours.p50 / ip.hmac.p50, 1),
            'p99 ms': fmt(ip.ours.p99 / ip.hmac.p99, 1),
            'req/s': '',
          },
        ]),
      );
      console.log(`statuses: ${JSON.stringify(Object.fromEntries(ip.statuses))}`);
      const l = lb.result.latency;
      console.log(
        `\nwebhook over loopback HTTP (local stack, dynalite, autocannon 8 connections, ${lb.result.requests.total} requests)`,
      );
      console.log(
        table([
          {
            'req/s (mean)': lb.result.requests.average.toFixed(0),
            'p50 ms': l.p50,
            'p99 ms': l.p99,
            errors: lb.result.errors,
            non2xx: lb.result.non2xx,
          },
        ]),
      );
      console.log(`statuses: ${JSON.stringify(Object.fromEntries(lb.statuses))}`);
      console.log(
        `\nhandler bundles (esbuild, minified, AWS SDK bundled); bare node start = ${fmt(b.baseline, 1)} ms`,
      );
      console.log(table(b.rows));
      console.log('\nstore round trips (DynamoDB requests, counted at the SDK client, against dynalite)');
      console.log(
        table(
          ROUND_TRIP_ROWS.map(([k, label]) => ({
            'entry point': label,
            requests: String(rt[k].total ?? 0),
            'by command': roundTripText(rt[k]),
          })),
        ),
      );
    },
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
}
