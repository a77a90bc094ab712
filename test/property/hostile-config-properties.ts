import { lookup } from 'node:dns/promises';
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { parseDocument, stringify } from 'yaml';
import { DeployConfigError, parseDeployConfig } from '../../lib/deploy/deploy-config';
import { planEnvironment } from '../../lib/deploy/plan';
import { mergeValues } from '../../lib/deploy/values-merge';
import { HelmgateError } from '../../lib/errors';
import { secretValuesDocument } from '../../lib/helm/helm-runner';
import { addressProblem, outboundGuard, type ResolvedAddress } from '../../lib/http/outbound-guard';
import { directorySourceReader } from '../../lib/runner/source-reader';
import { checkProperty, type PropertyOptions, type PropertyReport, tally } from './harness';

/**
 * Hostile deploy.yaml (issue 12): the valid fixture with prototype keys at any depth (`__proto__`,
 * `constructor`, `prototype`, as YAML keys and inside secretValues paths), values paths that climb out
 * or go through a link out of the tree, and chart repository / health-check URLs aimed at internal
 * addresses in every spelling. For each: parse, plan against a real tree (with a link out of it),
 * build helm's secret values document and merge values. Never a pollution (Object.prototype unchanged),
 * never an escape (nothing outside the tree read into a plan; no internal address passes the outbound
 * check), and only our own errors.
 */

const VALID = readFileSync(path.join(__dirname, '../fixtures/intake/deploy.yaml'), 'utf8');
const VALID_JS = parseDocument(VALID).toJS() as Record<string, unknown>;
const SENTINEL = 'sentinel-beside-the-repository-a41f0c';
const POLLUTION = ['polluted', 'HELM_KUBEAPISERVER', 'isAdmin', 'x'];

/** A repository tree for planning, with a values file that is a link out of it. */
const TREE = (() => {
  const base = path.resolve(__dirname, '../../.tmp');
  mkdirSync(base, { recursive: true });
  const parent = mkdtempSync(path.join(base, 'hostile-config-'));
  writeFileSync(path.join(parent, 'secret.txt'), SENTINEL);
  const root = path.join(parent, 'repo');
  mkdirSync(path.join(root, 'charts/hello/templates'), { recursive: true });
  mkdirSync(path.join(root, 'values'), { recursive: true });
  writeFileSync(path.join(root, 'charts/hello/Chart.yaml'), 'apiVersion: v2\nname: hello\nversion: 0.1.0\n');
  writeFileSync(path.join(root, 'charts/hello/values.yaml'), 'greeting: hi\n');
  writeFileSync(path.join(root, 'charts/hello/templates/cm.yaml'), 'kind: ConfigMap\n');
  writeFileSync(path.join(root, 'values/hello.yaml'), 'greeting: hello\n');
  writeFileSync(
    path.join(root, 'values/proto.yaml'),
    '__proto__: { polluted: yes }\nconstructor: { prototype: { polluted: yes } }\n',
  );
  symlinkSync('../../secret.txt', path.join(root, 'values/link.yaml'));
  symlinkSync('/etc/hostname', path.join(root, 'values/host.yaml'));
  mkdirSync(path.join(root, 'd'));
  symlinkSync('.', path.join(root, 'd/s'));
  symlinkSync(`${'s/'.repeat(6)}${'../'.repeat(3)}secret.txt`, path.join(root, 'd/x.yaml'));
  return root;
})();

/** Names the fake resolver knows; numeric spellings go to the system resolver (no network needed). */
const NAMES: Record<string, string[]> = {
  'public.example.org': ['93.184.216.34'],
  'metadata.example.org': ['169.254.169.254'],
  'mixed.example.org': ['93.184.216.34', '10.0.0.7'],
  'v6.example.org': ['fe80::1'],
};
const resolve = async (host: string): Promise<ResolvedAddress[]> => {
  const known = NAMES[host];
  if (known) return known.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  if (!/^[0-9a-fx.]+$/i.test(host)) throw Object.assign(new Error('unknown'), { code: 'ENOTFOUND' });
  return (await lookup(host, { all: true })).map((a) => ({
    address: a.address,
    family: a.family === 6 ? 6 : 4,
  }));
};

const FORBIDDEN = ['__proto__', 'constructor', 'prototype'];
const key = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...FORBIDDEN) },
  { weight: 1, arbitrary: fc.constantFrom('toString', 'hasOwnProperty', 'valueOf', 'polluted', 'x') },
);
const valuesPath = fc.oneof(
  fc.constantFrom(
    '__proto__.HELM_KUBEAPISERVER',
    'constructor.prototype.polluted',
    'a.__proto__.polluted',
    'a[0].prototype',
    'a\\.__proto__.b',
    'db.password',
    'hub.config.token',
    '__proto__',
    'a.b\\.c',
  ),
  fc
    .tuple(fc.array(fc.oneof(key, fc.constantFrom('a', 'b')), { minLength: 1, maxLength: 4 }))
    .map(([s]) => s.join('.')),
);
const filePath = fc.constantFrom(
  'values/hello.yaml',
  'values/link.yaml',
  'values/host.yaml',
  'values/proto.yaml',
  'd/x.yaml',
  'd/s/s/s/values/hello.yaml',
  '../secret.txt',
  'values/../../secret.txt',
  '/etc/hostname',
  './charts/hello/../../../secret.txt',
);
const chartPath = fc.constantFrom(
  './charts/hello',
  './d/s/charts/hello',
  '../repo/charts/hello',
  './d',
  '/etc',
);
const url = fc.constantFrom(
  'http://169.254.169.254/latest/meta-data/',
  'http://[fe80::1]/',
  'http://[::ffff:169.254.169.254]/',
  'http://0xa9fea9fe/',
  'http://2852039166/',
  'http://0251.0376.0251.0376/',
  'http://169.254.169.254.:80/',
  'http://user:pw@169.254.169.254/',
  'http://127.0.0.1:8080/health',
  'http://localhost/health',
  'http://10.0.0.1/',
  'http://metadata.example.org/',
  'http://mixed.example.org/',
  'http://v6.example.org/',
  'https://public.example.org/healthz',
  'oci://169.254.169.254/charts',
  'oci://0251.0376.0251.0376/charts',
  'oci://public.example.org/charts',
);

type Change =
  | { kind: 'key'; at: string[]; key: string }
  | { kind: 'secretValue'; path: string }
  | { kind: 'values'; file: string }
  | { kind: 'chart'; path: string }
  | { kind: 'repo'; url: string }
  | { kind: 'health'; url: string };

const PLACES = [
  [],
  ['environments'],
  ['environments', 'staging'],
  ['environments', 'staging', 'releases', '0'],
  ['environments', 'staging', 'cluster'],
  ['environments', 'production'],
];
const change: fc.Arbitrary<Change> = fc.oneof(
  fc.record({ kind: fc.constant('key' as const), at: fc.constantFrom(...PLACES), key }),
  fc.record({ kind: fc.constant('secretValue' as const), path: valuesPath }),
  fc.record({ kind: fc.constant('values' as const), file: filePath }),
  fc.record({ kind: fc.constant('chart' as const), path: chartPath }),
  fc.record({ kind: fc.constant('repo' as const), url }),
  fc.record({ kind: fc.constant('health' as const), url }),
);

/** Sets an OWN property (also `__proto__`), as YAML's own parser does. */
function own(o: Record<string, unknown>, k: string, v: unknown): void {
  Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
}

function at(doc: Record<string, unknown>, keys: readonly string[]): Record<string, unknown> | undefined {
  let cur: unknown = doc;
  for (const k of keys) {
    if (typeof cur !== 'object' || cur === null) return undefined;
    cur = Array.isArray(cur)
      ? cur[Number(k)]
      : Object.hasOwn(cur, k)
        ? (cur as Record<string, unknown>)[k]
        : undefined;
  }
  return typeof cur === 'object' && cur !== null && !Array.isArray(cur)
    ? (cur as Record<string, unknown>)
    : undefined;
}

export const hostileConfig = fc.array(change, { minLength: 1, maxLength: 4 }).map((changes) => {
  const doc = structuredClone(VALID_JS);
  const release = at(doc, ['environments', 'staging', 'releases', '0']) as Record<string, unknown>;
  for (const c of changes) {
    if (c.kind === 'key') {
      const target = at(doc, c.at);
      if (target) own(target, c.key, { polluted: 'yes', prototype: { polluted: 'yes' } });
    } else if (c.kind === 'secretValue') {
      const sv = (release.secretValues ?? {}) as Record<string, unknown>;
      own(sv, c.path, { secret: 'app/db', key: 'password' });
      release.secretValues = sv;
    } else if (c.kind === 'values') release.values = [...((release.values as string[]) ?? []), c.file];
    else if (c.kind === 'chart') release.chart = c.path;
    else if (c.kind === 'repo') {
      doc.chartRepositories = { ...((doc.chartRepositories as object) ?? {}), remote: c.url };
      release.chart = { repository: 'remote', name: 'hello', version: '1.0.0' };
    } else release.health = { workloads: false, http: [{ url: c.url }] };
  }
  return stringify(doc);
});

const prototypeSnapshot = () => Object.getOwnPropertyNames(Object.prototype).sort().join(',');

async function checkConfig(text: string, count: (k: string) => void): Promise<string[]> {
  const v: string[] = [];
  const before = prototypeSnapshot();
  const polluted = () => {
    const now = prototypeSnapshot();
    const probe = {} as Record<string, unknown>;
    return now !== before || POLLUTION.some((k) => probe[k] !== undefined);
  };
  const ours = (e: unknown, what: string) => {
    if (!(e instanceof HelmgateError))
      v.push(`${what} threw ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
  };
  try {
    let config: ReturnType<typeof parseDeployConfig>;
    try {
      config = parseDeployConfig(text);
    } catch (e) {
      if (!(e instanceof DeployConfigError)) ours(e, 'parseDeployConfig');
      count('refused by the schema');
      return v;
    }
    if (polluted()) v.push('parseDeployConfig polluted Object.prototype');

    // URLs: nothing internal passes the outbound check
    const guard = outboundGuard({}, { resolve });
    const urls = [
      ...Object.values(config.chartRepositories),
      ...Object.values(config.environments).flatMap((env) =>
        env.releases.flatMap((r) => r.health.http.map((h) => h.url)),
      ),
    ];
    for (const u of urls) {
      try {
        const { addresses } = await guard.check(u);
        const internal = addresses.filter((a) => addressProblem(a.address) !== undefined);
        if (internal.length)
          v.push(`outbound check let ${u} through to ${internal.map((a) => a.address).join(', ')}`);
        count('url allowed');
      } catch (e) {
        ours(e, `outbound check of ${u}`);
        count('url refused');
      }
    }

    for (const environment of Object.keys(config.environments)) {
      try {
        const plan = await planEnvironment({
          config,
          environment,
          sha: 'f'.repeat(40),
          source: directorySourceReader(TREE),
        });
        if (JSON.stringify(plan).includes(SENTINEL))
          v.push('a plan holds content from outside the repository');
        for (const r of plan.releases) {
          secretValuesDocument(r.secretValues.map((s) => ({ path: s.path, value: 'value-1234' })));
          mergeValues(r.mergedValues, r.mergedValues);
        }
        count('planned');
      } catch (e) {
        ours(e, `planning ${environment}`);
        count('refused when planning');
      }
      if (polluted()) v.push(`planning ${environment} polluted Object.prototype`);
    }
    return v;
  } finally {
    if (polluted()) {
      v.push('Object.prototype was polluted');
      for (const k of Object.getOwnPropertyNames(Object.prototype))
        if (!before.split(',').includes(k)) delete (Object.prototype as Record<string, unknown>)[k];
      for (const k of POLLUTION) delete (Object.prototype as Record<string, unknown>)[k];
    }
  }
}

export async function hostileConfigProperties(opts: PropertyOptions): Promise<PropertyReport[]> {
  const t = tally();
  const report = await checkProperty(
    'hostile deploy.yaml: prototype keys, values paths, links out and internal URLs → never a pollution, never an escape',
    hostileConfig,
    (text) => checkConfig(text, (k) => t.add(k)),
    opts,
  );
  return [t.into(report)];
}
