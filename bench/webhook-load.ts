/**
 * `npx tsx bench/webhook-load.ts`: POST /webhook under load on the local stack (real HTTP, dynalite,
 * deploy.yaml read with `git show` from a throwaway repository), a mix of valid pushes (distinct
 * delivery ids and commits), redeliveries, bad signatures and malformed bodies, sent by autocannon.
 * Baseline: GET /healthz on the same stack with the same connections (the HTTP floor).
 * Then every figure that matters is read back through the store: every accepted delivery has exactly
 * one set of deployments, nothing invalid was recorded, no 5xx.
 */
import './lib/esm';
import { createHmac, randomUUID } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import autocannon from 'autocannon';
import { startLocalStack } from '../handlers/local/local-stack';
import { pushPayload } from '../lib/local/push-payload';
import { makeGitRepo } from '../test/helpers/git-repo';
import { type BenchRow, benchTable, counts, machine, row } from './lib/table';

const REPO = 'bench/load';
const root = path.resolve(__dirname, '..');
const DEPLOY_YAML = readFileSync(path.join(root, 'test/fixtures/intake/deploy.yaml'), 'utf8');
const TOTAL = Number(process.env.BENCH_LOAD_N ?? 800);
const CONNECTIONS = Number(process.env.BENCH_LOAD_CONNECTIONS ?? 8);

type Kind = 'valid' | 'redelivery' | 'bad-signature' | 'malformed-signed' | 'malformed-unsigned';

interface Planned {
  kind: Kind;
  deliveryId: string;
  sha?: string;
  body: string;
  headers: Record<string, string>;
  statuses: number[];
}

function sign(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

function shuffle<T>(xs: T[], seed: number): T[] {
  let s = seed >>> 0 || 1;
  const rnd = () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [xs[i], xs[j]] = [xs[j] as T, xs[i] as T];
  }
  return xs;
}

function headersFor(deliveryId: string, signature: string | undefined): Record<string, string> {
  return {
    'content-type': 'application/json',
    'x-github-event': 'push',
    'x-github-delivery': deliveryId,
    ...(signature !== undefined ? { 'x-hub-signature-256': signature } : {}),
  };
}

const MALFORMED = [
  '{"ref": "refs/heads/ma',
  'not json at all',
  '',
  '{"ref":"refs/heads/main"}',
  '[1,2,3]',
  '{"ref":"refs/heads/main","after":"nope","repository":{"full_name":"bench/load"}}',
];

async function runLoad(
  url: string,
  plan: Planned[],
): Promise<{ result: autocannon.Result; byStatus: Map<number, number> }> {
  let next = 0;
  const byStatus = new Map<number, number>();
  const result = await autocannon({
    url,
    connections: CONNECTIONS,
    amount: plan.length,
    timeout: 30,
    requests: [
      {
        method: 'POST',
        path: '/webhook',
        setupRequest: (req, context) => {
          const item = plan[next++ % plan.length] as Planned;
          (context as { item?: Planned }).item = item;
          return { ...req, method: 'POST', path: '/webhook', headers: item.headers, body: item.body };
        },
        onResponse: (status, _body, context) => {
          (context as { item?: Planned }).item?.statuses.push(status);
          byStatus.set(status, (byStatus.get(status) ?? 0) + 1);
        },
      },
    ],
  });
  return { result, byStatus };
}

export async function run(): Promise<BenchRow[]> {
  const repo = makeGitRepo(
    { 'deploy.yaml': DEPLOY_YAML, 'values/hello.yaml': 'greeting: hi\n' },
    { origin: `git@github.com:${REPO}.git` },
  );
  const stack = await startLocalStack({
    port: 0,
    repoDir: repo.dir,
    secretsFile: path.join(repo.dir, '.helmgate', 'secrets.json'),
    repositories: [REPO],
    logWrite: () => {},
    logLevel: 'error',
  });
  try {
    const secret = JSON.parse(readFileSync(stack.secretsFile, 'utf8'))['helmgate/github-webhook'] as string;

    const nValid = Math.round(TOTAL * 0.4);
    const nRedeliver = Math.round(TOTAL * 0.15);
    const nBadSig = Math.round(TOTAL * 0.2);
    const nMalformed = TOTAL - nValid - nRedeliver - nBadSig;

    // one commit per valid push, all with the same tree (commit-tree is one git call each)
    const tree = repo.git('rev-parse', `${repo.first}^{tree}`);
    const shas: string[] = [];
    let parent = repo.first;
    for (let i = 0; i < nValid; i++) {
      parent = repo.git('commit-tree', tree, '-p', parent, '-m', `bench push ${i}`);
      shas.push(parent);
    }
    repo.git('update-ref', 'refs/heads/main', parent);

    const valid: Planned[] = shas.map((sha, i) => {
      const body = JSON.stringify(
        pushPayload(REPO, { sha, branch: 'main', message: `bench push ${i}`, author: 'Bench Pusher' }),
      );
      const deliveryId = randomUUID();
      return {
        kind: 'valid',
        deliveryId,
        sha,
        body,
        headers: headersFor(deliveryId, sign(secret, body)),
        statuses: [],
      };
    });
    const redeliveries: Planned[] = Array.from({ length: nRedeliver }, (_, i) => {
      const original = valid[(i * 7) % valid.length] as Planned;
      return { ...original, kind: 'redelivery', statuses: [] };
    });
    const badSignatures: Planned[] = Array.from({ length: nBadSig }, (_, i) => {
      const original = valid[(i * 11) % valid.length] as Planned;
      const deliveryId = randomUUID();
      const signature =
        i % 3 === 0
          ? sign(`not-${secret}`, original.body)
          : i % 3 === 1
            ? sign(secret, `${original.body} `)
            : undefined;
      return {
        kind: 'bad-signature',
        deliveryId,
        ...(original.sha ? { sha: original.sha } : {}),
        body: original.body,
        headers: headersFor(deliveryId, signature),
        statuses: [],
      };
    });
    const malformed: Planned[] = Array.from({ length: nMalformed }, (_, i) => {
      const body = MALFORMED[i % MALFORMED.length] as string;
      const deliveryId = randomUUID();
      const signed = i % 2 === 0;
      return {
        kind: signed ? 'malformed-signed' : 'malformed-unsigned',
        deliveryId,
        body,
        headers: headersFor(deliveryId, signed ? sign(secret, body) : `sha256=${'0'.repeat(64)}`),
        statuses: [],
      };
    });
    // redeliveries go in the second half, after (most of) their originals
    const half = Math.floor((badSignatures.length + malformed.length) / 2);
    const noise = shuffle([...badSignatures, ...malformed], 7);
    const plan = [
      ...shuffle([...valid, ...noise.slice(0, half)], 11),
      ...shuffle([...redeliveries, ...noise.slice(half)], 13),
    ];

    // baseline: the HTTP floor of the same server
    const floor = await autocannon({
      url: `${stack.url}/healthz`,
      connections: CONNECTIONS,
      amount: plan.length,
    });
    const { result, byStatus } = await runLoad(stack.url, plan);
    await stack.idle();

    // read back through the store
    const stored = await stack.store.listDeployments({ limit: 10 * TOTAL });
    const byDelivery = new Map<string, typeof stored>();
    for (const d of stored) {
      const k = d.deliveryId ?? '?';
      byDelivery.set(k, [...(byDelivery.get(k) ?? []), d]);
    }
    let lost = 0;
    let notOneSet = 0;
    let accepted = 0;
    for (const v of valid) {
      const answered = [
        ...v.statuses,
        ...redeliveries.filter((r) => r.deliveryId === v.deliveryId).flatMap((r) => r.statuses),
      ];
      const ok = answered.some((s) => s === 202 || s === 200);
      if (ok) accepted++;
      const set = byDelivery.get(v.deliveryId) ?? [];
      const envs = set.map((d) => `${d.environment}@${d.sha}`).sort();
      // only the branch head deploys; a push of an older commit is recorded once as stale (issue 11)
      const isHead = v.sha === parent;
      const want = isHead ? [`production@${v.sha}`, `staging@${v.sha}`] : [`*@${v.sha}`];
      const staleOk = isHead || set.every((d) => d.status === 'superseded' && /stale/.test(d.reason ?? ''));
      if (ok && set.length === 0) lost++;
      else if (ok && (JSON.stringify(envs) !== JSON.stringify(want) || !staleOk)) notOneSet++;
    }
    let invalidAccepted = 0;
    for (const p of [...badSignatures, ...malformed]) {
      if (p.statuses.some((s) => s === 202)) invalidAccepted++;
      if (byDelivery.has(p.deliveryId) || (await stack.store.hasDelivery(p.deliveryId))) invalidAccepted++;
    }
    const serverErrors = [...byStatus.entries()].filter(([s]) => s >= 500).reduce((a, [, n]) => a + n, 0);
    const unanswered = plan.length - [...byStatus.values()].reduce((a, b) => a + b, 0);
    const statusesOf = (kinds: Kind[]) => {
      const m = new Map<number, number>();
      for (const p of plan)
        if (kinds.includes(p.kind)) for (const s of p.statuses) m.set(s, (m.get(s) ?? 0) + 1);
      return counts(m);
    };

    const B = 'webhook-load';
    const rps = result.requests.average;
    return [
      row(B, 'requests/s (mean)', rps, {
        unit: 'req/s',
        baseline: floor.requests.average,
        ratio: rps / floor.requests.average,
        note: `${plan.length} requests, ${CONNECTIONS} connections; baseline GET /healthz on the same stack`,
      }),
      row(B, 'latency p50', result.latency.p50, {
        unit: 'ms',
        baseline: floor.latency.p50,
        ratio: floor.latency.p50 > 0 ? result.latency.p50 / floor.latency.p50 : undefined,
      }),
      row(B, 'latency p99', result.latency.p99, {
        unit: 'ms',
        baseline: floor.latency.p99,
        ratio: floor.latency.p99 > 0 ? result.latency.p99 / floor.latency.p99 : undefined,
      }),
      row(B, 'statuses', counts(byStatus), {
        note: `errors ${result.errors}, timeouts ${result.timeouts}, unanswered ${unanswered}`,
      }),
      row(B, 'statuses of valid pushes + redeliveries', statusesOf(['valid', 'redelivery']), {
        note: `${nValid} pushes of distinct commits, ${nRedeliver} redeliveries`,
      }),
      row(B, 'statuses of bad signatures', statusesOf(['bad-signature']), { note: `${nBadSig} sent` }),
      row(B, 'statuses of malformed bodies', statusesOf(['malformed-signed', 'malformed-unsigned']), {
        note: `${nMalformed} sent, half signed`,
      }),
      row(B, 'valid deliveries lost', lost, { baseline: 0, note: `${accepted} of ${nValid} accepted` }),
      row(B, 'accepted deliveries without exactly one outcome', notOneSet, {
        baseline: 0,
        note: `${stored.length} records stored (${nValid + 1} expected: staging and production for the branch head, one stale record for each older commit)`,
      }),
      row(B, 'invalid requests accepted or recorded', invalidAccepted, { baseline: 0 }),
      row(B, '5xx responses', serverErrors, { baseline: 0 }),
    ];
  } finally {
    await stack.close();
    rmSync(repo.dir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  run().then(
    (rows) => {
      console.log(`\nwebhook under load (local stack, autocannon) on ${machine()}`);
      console.log(benchTable(rows));
    },
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
}
