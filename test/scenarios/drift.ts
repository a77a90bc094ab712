import { KubeConfig } from '@kubernetes/client-node';
import { createProcessRunner } from '../../lib/exec/command-runner';
import { createHelmRunner } from '../../lib/helm/helm-runner';
import { listHelmReleaseRecords } from '../../lib/kube/release-records';
import { Redactor } from '../../lib/log/redact';
import { checkDrift } from '../../lib/runner/drift-check';
import { helmMs, startRunnerWorld } from './runner-env';

/**
 * The drift scenario of `bench:drift` (issue 13, item 4): one environment of 8 releases (6 web
 * releases and a db → app chain, real helm, Kubernetes API stand-in) deployed once, then the runner's
 * drift check of it — in line, and with one Deployment edited by hand — against, in the same run, what
 * reading helm's state alone costs: one metadata-only list of helm's release records (what skip-unchanged
 * reads) and a bare `helm list` process.
 */
export interface DriftResult {
  releases: number;
  /** median wall time of a drift check that finds the environment in line */
  inLineMs: number;
  /** of it: time inside helm processes (none when the release records can be read), summed */
  inLineHelmMs: number;
  /** of it: fetching and planning the commit, its secrets, opening the cluster (per environment) */
  inLinePrepareMs: number;
  /** of it: helm's records and every release's live objects against its manifest */
  inLineCompareMs: number;
  helmCalls: number;
  /** median wall time of a check that finds (and stores, and reports) one drifted Deployment */
  driftedMs: number;
  /** median: one list of helm's release records, metadata only */
  recordListMs: number;
  /** median: `helm list --all-namespaces` as a process */
  helmListMs: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

function deployYaml(independent: number): string {
  const lines = ['apiVersion: helmgate/v1', 'environments:', '  staging:', '    approval: none'];
  lines.push('    cluster: { secret: test/cluster }', '    releases:');
  for (let i = 1; i <= independent; i++)
    lines.push(`      - name: web${i}`, `        namespace: web${i}`, '        chart: ./charts/web');
  lines.push(
    '      - { name: db, namespace: apps, chart: ./charts/db }',
    '      - { name: app, namespace: apps, chart: ./charts/app, needs: [db] }',
    '',
  );
  return lines.join('\n');
}

export async function measureDrift(
  opts: { independent?: number; rounds?: number } = {},
): Promise<DriftResult> {
  const independent = opts.independent ?? 6;
  const rounds = opts.rounds ?? 5;
  const w = await startRunnerWorld({ files: { 'deploy.yaml': deployYaml(independent) } });
  try {
    const d = await w.h.queue(w.repo.head());
    const r = await w.h.run(d.id);
    if (r.kind !== 'finished' || r.deployment.status !== 'succeeded')
      throw new Error(
        `drift bench: the deployment ended ${r.kind === 'finished' ? r.deployment.status : r.kind}`,
      );
    const check = async () => {
      const from = w.h.calls.length;
      const t0 = performance.now();
      const out = await checkDrift(w.h.deps, d.id);
      const ms = performance.now() - t0;
      if (out.kind !== 'drift-checked') throw new Error(`drift bench: ${JSON.stringify(out).slice(0, 300)}`);
      return { ms, calls: w.h.calls.slice(from), drifted: out.drifted, parts: out.ms };
    };
    await check(); // warm-up: cold helm and client caches are not measured
    const inLine = [];
    for (let i = 0; i < rounds; i++) inLine.push(await check());
    if (inLine.some((c) => c.drifted.length > 0)) throw new Error('drift bench: drift found before any edit');
    const live = w.kube.get('Deployment', 'web1', 'web1');
    if (!live) throw new Error('drift bench: web1 is not installed');
    const drifted: number[] = [];
    for (let i = 0; i < 3; i++) {
      live.spec.replicas = 2 + i; // a different drift each time: stored and reported each time
      w.kube.put(live);
      const c = await check();
      if (c.drifted[0] !== 'web1') throw new Error('drift bench: the edit was not found');
      drifted.push(c.ms);
    }

    const kc = new KubeConfig();
    kc.loadFromString(w.kube.kubeconfig());
    const namespaces = [...Array.from({ length: independent }, (_, i) => `web${i + 1}`), 'apps'];
    const lists: number[] = [];
    for (let i = 0; i < rounds; i++) {
      const t0 = performance.now();
      await listHelmReleaseRecords(kc, namespaces);
      lists.push(performance.now() - t0);
    }
    const helm = createHelmRunner({
      commandRunner: createProcessRunner(),
      helmBin: process.env.HELMGATE_HELM_BIN as string,
      homeDir: w.h.deps.workRoot,
      redactor: new Redactor(),
      baseEnv: process.env,
      connection: { kind: 'apiserver', url: w.kube.url },
    });
    const helmLists: number[] = [];
    for (let i = 0; i < rounds; i++) {
      const t0 = performance.now();
      await helm.list();
      helmLists.push(performance.now() - t0);
    }
    const mid = inLine.slice().sort((a, b) => a.ms - b.ms)[
      Math.floor(inLine.length / 2)
    ] as (typeof inLine)[number];
    return {
      releases: independent + 2,
      inLineMs: mid.ms,
      inLineHelmMs: helmMs(mid.calls),
      inLinePrepareMs: mid.parts.prepare,
      inLineCompareMs: mid.parts.compare,
      helmCalls: mid.calls.length,
      driftedMs: median(drifted),
      recordListMs: median(lists),
      helmListMs: median(helmLists),
    };
  } finally {
    await w.close();
  }
}
