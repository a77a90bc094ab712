import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { type FlowWorld, REPO, startFlowWorld } from './local-flow';

/**
 * The secret canary (issue 7, item 5): the full local flow — push → staging deployed to the stand-in
 * cluster → Slack message with the approval link → GitHub login → approve → production deployed,
 * GitHub Deployments reported — with unique canary secret values, then a scan of every place a
 * secret could leak for each value and its base64 forms (at each of the three byte alignments, so a
 * canary inside a longer encoded blob is found too).
 */

/** The value, and its base64 encodings as they appear inside any longer base64 text. */
export function canaryForms(value: string): string[] {
  const v = Buffer.from(value, 'utf8');
  const forms = new Set<string>([value]);
  for (let k = 0; k < 3; k++) {
    const b64 = Buffer.concat([Buffer.alloc(k), v]).toString('base64');
    // only the characters made of the value's bits alone: independent of what surrounds it
    forms.add(b64.slice(Math.ceil((8 * k) / 6), Math.floor((8 * (k + v.length)) / 6)));
    forms.add(
      b64
        .slice(Math.ceil((8 * k) / 6), Math.floor((8 * (k + v.length)) / 6))
        .replace(/\+/g, '-')
        .replace(/\//g, '_'),
    );
  }
  return [...forms];
}

export interface CanaryPlace {
  place: string;
  /** items (lines, requests, files…) scanned */
  scanned: number;
  /** occurrences of any canary form */
  found: number;
  /** where a secret must be (the value's destination): reported, not counted as a leak */
  expected?: boolean;
  examples: string[];
}

export interface CanaryResult {
  canaries: number;
  forms: number;
  places: CanaryPlace[];
  leaks: number;
  /** the flow really happened: statuses of staging and production, helm upgrades */
  flow: { staging?: string; production?: string; helmUpgrades: number; githubStatuses: number };
}

function scan(
  place: string,
  items: Array<{ label: string; text: string }>,
  forms: string[],
  expected = false,
): CanaryPlace {
  let found = 0;
  const examples: string[] = [];
  for (const it of items)
    for (const f of forms) {
      let i = it.text.indexOf(f);
      while (i >= 0) {
        found++;
        if (examples.length < 3) examples.push(it.label);
        i = it.text.indexOf(f, i + f.length);
      }
    }
  return { place, scanned: items.length, found, ...(expected ? { expected } : {}), examples };
}

function filesUnder(dir: string, skip: (f: string) => boolean): Array<{ label: string; text: string }> {
  const out: Array<{ label: string; text: string }> = [];
  for (const rel of readdirSync(dir, { recursive: true }).map(String)) {
    const f = path.join(dir, rel);
    if (skip(f) || !statSync(f).isFile()) continue;
    out.push({ label: rel, text: readFileSync(f).toString('latin1') });
  }
  return out;
}

async function scanTable(w: FlowWorld): Promise<Array<{ label: string; text: string }>> {
  const items: Array<{ label: string; text: string }> = [];
  let start: Record<string, unknown> | undefined;
  do {
    const out = await w.stack.store.documentClient.send(
      new ScanCommand({ TableName: w.stack.store.tableName, ...(start ? { ExclusiveStartKey: start } : {}) }),
    );
    for (const i of out.Items ?? []) items.push({ label: `${i.PK} ${i.SK}`, text: JSON.stringify(i) });
    start = out.LastEvaluatedKey;
  } while (start);
  return items;
}

/** Runs the flow and scans. */
export async function canaryScan(): Promise<CanaryResult> {
  const w = await startFlowWorld();
  try {
    const push = await w.push();
    if (push.status !== 202) throw new Error(`push answered ${push.status}`);
    await w.stack.idle();
    const list = await w.stack.store.listDeployments({ limit: 50 });
    const production = list.find((d) => d.sha === push.sha && d.environment === 'production');
    if (production?.status !== 'awaiting_approval')
      throw new Error(`production is ${production?.status}, not awaiting approval`);
    const approved = await w.approveViaWeb(push.sha, production.id);
    if (approved !== 303) throw new Error(`approval answered ${approved}`);
    await w.stack.idle();
    const final = await w.stack.store.listByEnvironment(REPO, 'production', { limit: 50 });
    const staging = await w.stack.store.listByEnvironment(REPO, 'staging', { limit: 50 });
    // what our own endpoints answer, as an approver and an operator see them
    const read = { headers: { authorization: `Bearer ${w.stack.apiToken}` } };
    const pages = [
      { label: 'GET /deployments', text: await (await fetch(`${w.stack.url}/deployments`, read)).text() },
      ...(await Promise.all(
        [...final, ...staging].map(async (d) => ({
          label: `GET /deployments/${d.id}`,
          text: await (await fetch(`${w.stack.url}/deployments/${d.id}`, read)).text(),
        })),
      )),
    ];

    const forms = Object.values(w.canaries).flatMap(canaryForms);
    const secretPath = /\/secrets(\/|$)/;
    const kubeSecretWrites = w.kube.requests.filter(
      (r) => secretPath.test(r.path) && ['POST', 'PUT', 'PATCH'].includes(r.method),
    );
    const kubeOther = w.kube.requests.filter((r) => !kubeSecretWrites.includes(r));
    const places: CanaryPlace[] = [
      scan(
        'log lines (stack, runner, reporters)',
        w.logs.map((l, i) => ({ label: `log ${i}`, text: l })),
        forms,
      ),
      scan('DynamoDB items (full table scan)', await scanTable(w), forms),
      scan(
        'Slack Web API request bodies',
        w.slack.calls.map((c, i) => ({ label: `slack ${i} ${c.method}`, text: JSON.stringify(c.body) })),
        forms,
      ),
      scan(
        'GitHub API request bodies (Deployments)',
        w.githubApi.calls.map((c, i) => ({
          label: `github ${i} ${c.method} ${c.path}`,
          text: JSON.stringify(c.body ?? ''),
        })),
        forms,
      ),
      scan(
        'GitHub OAuth request bodies',
        w.oauth.calls.map((c, i) => ({
          label: `oauth ${i} ${c.path}`,
          text: JSON.stringify(c.body) + JSON.stringify(c.query),
        })),
        forms,
      ),
      scan(
        'helm argv',
        w.helm.calls().map((c, i) => ({ label: `helm ${i} ${c.args[0]}`, text: c.args.join(' ') })),
        forms,
      ),
      scan(
        'files under the state dir (rendered, work, charts; not secrets.json)',
        filesUnder(
          w.stateDir,
          (f) => f === w.secretsFile || f.endsWith('helm-spy.log') || f.includes(`${path.sep}bin${path.sep}`),
        ),
        forms,
      ),
      scan('our HTTP answers (/deployments, /deployments/{id})', pages, forms),
      scan(
        'Kubernetes API requests other than Secret writes',
        kubeOther.map((r, i) => ({ label: `kube ${i} ${r.method} ${r.path}`, text: r.text })),
        forms,
      ),
      scan(
        'Kubernetes API Secret writes (where the values must go)',
        kubeSecretWrites.map((r, i) => ({ label: `kube ${i} ${r.method} ${r.path}`, text: r.text })),
        forms,
        true,
      ),
    ];
    return {
      canaries: Object.keys(w.canaries).length,
      forms: forms.length,
      places,
      leaks: places.filter((p) => !p.expected).reduce((a, p) => a + p.found, 0),
      flow: {
        ...(staging[0] ? { staging: staging.find((d) => d.sha === push.sha)?.status ?? '' } : {}),
        ...(final[0] ? { production: final.find((d) => d.sha === push.sha)?.status ?? '' } : {}),
        helmUpgrades: w.helm.calls().filter((c) => c.args[0] === 'upgrade').length,
        githubStatuses: w.githubApi.calls.filter((c) => c.path.endsWith('/statuses')).length,
      },
    };
  } finally {
    await w.close();
  }
}
