import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { kubeConfigFromSecret } from '../../lib/kube/kube-config';
import { startDynalite } from '../helpers/dynalite';
import { makeHarness, runnerRepo } from '../integration/runner/harness';
import { KubeApiStandIn } from '../stand-ins/kube-api';
import { type CanaryPlace, canaryForms } from './canary';
import { ensureHelmForScenarios } from './runner-env';

/**
 * The JSON cluster secret canary (issue 12, item 5): the runner deploys with a cluster secret in the
 * `{server, token}` form — client-node's requests to the stand-in API carry it, so it was really used — with one
 * release that succeeds and one that fails (helm's error recorded), then a library error that quotes the
 * token and the kubeconfig built from it is logged, as client-node's errors may. The token and every
 * base64 form of it must be nowhere: logs, the table, notifications, helm argv and stdin, files left in
 * the work root, the API request bodies.
 */
export interface ClusterCanaryResult {
  places: CanaryPlace[];
  leaks: number;
  /** the run really happened: API requests that carried the token, helm upgrades, final status */
  used: { authorizedRequests: number; helmUpgrades: number; status?: string };
}

const DEPLOY_YAML = `apiVersion: helmgate/v1
environments:
  staging:
    approval: none
    cluster: { secret: test/cluster }
    kubernetesSecrets:
      - name: web-credentials
        namespace: web
        data: { PASSWORD: { secret: app/db, key: password } }
    releases:
      - name: web
        namespace: web
        chart: ./charts/web
      - name: broken
        namespace: web
        chart: ./charts/broken
`;

function scan(place: string, items: Array<{ label: string; text: string }>, forms: string[]): CanaryPlace {
  let found = 0;
  const examples: string[] = [];
  for (const it of items)
    for (const f of forms)
      for (let i = it.text.indexOf(f); i >= 0; i = it.text.indexOf(f, i + f.length)) {
        found++;
        if (examples.length < 3) examples.push(it.label);
      }
  return { place, scanned: items.length, found, examples };
}

export async function clusterSecretCanary(): Promise<ClusterCanaryResult> {
  ensureHelmForScenarios();
  const token = `canary-cluster-token-${Math.random().toString(36).slice(2)}${Date.now().toString(36)}`;
  const db = await startDynalite();
  // helm (client-go) sends no bearer token over plain http (see the stand-in), client-node does: the
  // Secret sync and health checks prove the token was used
  const kube = await KubeApiStandIn.start();
  try {
    const secret = JSON.stringify({ server: kube.url, token, insecureSkipTlsVerify: true });
    const repo = runnerRepo({ 'deploy.yaml': DEPLOY_YAML });
    const h = makeHarness({ db, kube, repoDir: repo.dir, secrets: { 'test/cluster': secret } });
    const d = await h.queue(repo.head());
    await h.run(d.id);
    // what a client library's error may carry: the Authorization header, the kubeconfig it was given
    const kubeconfig = kubeConfigFromSecret(secret).exportConfig();
    h.deps.logger.error('cluster request failed', {
      err: new Error(`401 Unauthorized (Authorization: Bearer ${token})`),
      kubeconfig,
      kubeconfigBase64: Buffer.from(kubeconfig).toString('base64'),
    });

    const forms = canaryForms(token);
    const items: Array<{ label: string; text: string }> = [];
    let start: Record<string, unknown> | undefined;
    do {
      const out = await db.store.documentClient.send(
        new ScanCommand({ TableName: db.table, ...(start ? { ExclusiveStartKey: start } : {}) }),
      );
      for (const i of out.Items ?? []) items.push({ label: `${i.PK} ${i.SK}`, text: JSON.stringify(i) });
      start = out.LastEvaluatedKey;
    } while (start);
    const files: Array<{ label: string; text: string }> = [];
    for (const rel of readdirSync(h.deps.workRoot, { recursive: true }).map(String)) {
      const f = path.join(h.deps.workRoot, rel);
      if (rel === 'secrets.json' || !statSync(f).isFile()) continue;
      files.push({ label: rel, text: readFileSync(f).toString('latin1') });
    }
    const places = [
      scan(
        'log lines',
        h.logs.map((l, i) => ({ label: `log ${i}`, text: l })),
        forms,
      ),
      scan('DynamoDB items', items, forms),
      scan(
        'notifications',
        h.notifier.changes.map((c, i) => ({ label: `notification ${i}`, text: JSON.stringify(c) })),
        forms,
      ),
      scan(
        'helm argv and stdin',
        h.calls.map((c, i) => ({ label: `helm ${i} ${c.args[0]}`, text: `${c.args.join(' ')}\n${c.stdin}` })),
        forms,
      ),
      scan('files left in the work root', files, forms),
      scan(
        'Kubernetes API request bodies',
        kube.requests.map((r, i) => ({ label: `kube ${i} ${r.method} ${r.path}`, text: r.text })),
        forms,
      ),
    ];
    const final = await db.store.getDeployment(d.id);
    return {
      places,
      leaks: places.reduce((a, p) => a + p.found, 0),
      used: {
        authorizedRequests: kube.requests.filter((r) => r.authorization === `Bearer ${token}`).length,
        helmUpgrades: h.calls.filter((c) => c.args[0] === 'upgrade').length,
        ...(final ? { status: final.status } : {}),
      },
    };
  } finally {
    await kube.close();
    await db.close();
  }
}
