import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import path from 'node:path';
import type { ManifestDiff, ReleaseManifestDiff } from '../../../lib/deploy/manifest-diff';
import { previewManifests } from '../../../lib/runner/manifest-preview';
import { planAt } from '../../../lib/runner/runner';
import { startDynalite, type TestDynamo } from '../../helpers/dynalite';
import { KubeApiStandIn } from '../../stand-ins/kube-api';
import { CANARY, type Harness, makeHarness, REPOSITORY, runnerRepo } from './harness';

/**
 * The rendered-manifest diff shown before approval (issue 13, item 1), with the real helm against the
 * Kubernetes API stand-in: `helm get manifest` of what runs against `helm template` of the next commit.
 */

const DEPLOY_YAML = `apiVersion: helmgate/v1
environments:
  staging:
    approval: none
    cluster: { secret: test/cluster }
    releases:
      - name: web
        namespace: web
        chart: ./charts/web
      - name: app
        namespace: apps
        chart: ./charts/app
        secretValues:
          database.host: { secret: app/db, key: password }
`;

// the chart label most charts carry (z2jh does): a chart version bump shows on every object
const HELPERS_WITH_CHART_LABEL = `{{- define "web.labels" -}}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}
{{- define "web.selector" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}
`;

const APP_SECRET = `apiVersion: v1
kind: Secret
metadata:
  name: {{ .Release.Name }}-db
type: Opaque
stringData:
  host: {{ .Values.database.host | quote }}
data:
  port: {{ .Values.port | default "5432" | b64enc }}
`;

let db: TestDynamo;
let kube: KubeApiStandIn;
let repo: ReturnType<typeof runnerRepo>;
let h: Harness;

beforeAll(async () => {
  db = await startDynalite();
  kube = await KubeApiStandIn.start();
  repo = runnerRepo({ 'deploy.yaml': DEPLOY_YAML });
  repo.commit(
    {
      'charts/web/templates/_helpers.tpl': HELPERS_WITH_CHART_LABEL,
      'charts/app/templates/secret.yaml': APP_SECRET,
    },
    'chart label, app secret',
  );
  h = makeHarness({ db, kube, repoDir: repo.dir });
  const first = await h.queue(repo.head());
  await h.run(first.id);
  expect((await db.store.getDeployment(first.id))?.status).toBe('succeeded');
});

afterAll(async () => {
  await kube.close();
  await db.close();
});

async function preview(sha: string): Promise<ManifestDiff> {
  const dir = mkdtempSync(path.join(h.deps.workRoot, 'tree-'));
  await h.deps.source.extractTree(REPOSITORY, sha, dir);
  const plan = await planAt(
    dir,
    'deploy.yaml',
    { repository: REPOSITORY, environment: 'staging', sha },
    h.deps,
  );
  const d = await previewManifests(h.deps, plan, {
    sourceDir: dir,
    deployment: { id: 'preview-test', environment: 'staging', repository: REPOSITORY },
  });
  if (!d) throw new Error('no preview with a cluster configured');
  return d;
}

const release = (d: ManifestDiff, name: string) =>
  d.releases.find((r) => r.release === name) as ReleaseManifestDiff;
const object = (r: ReleaseManifestDiff, kind: string, name: string) =>
  r.objects.find((o) => o.ref.kind === kind && o.ref.name === name);

test('the same commit renders no object change', async () => {
  const d = await preview(repo.head());
  expect(d.unavailable).toBeUndefined();
  for (const r of d.releases) {
    expect(r.error).toBeUndefined();
    expect(r.objects).toEqual([]);
  }
  expect(release(d, 'web').unchanged).toBe(3);
});

test('a chart version bump and a template change show as per-object diffs, in install order', async () => {
  const sha = repo.commit(
    {
      'charts/web/Chart.yaml': 'apiVersion: v2\nname: web\nversion: 0.2.0\nappVersion: "1.0.0"\n',
      'charts/web/templates/configmap.yaml': `apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-config
  labels:
    {{- include "web.labels" . | nindent 4 }}
data:
  greeting: {{ .Values.greeting | quote }}
  farewell: "bye"
`,
      'charts/web/templates/extra.yaml':
        'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-extra\ndata:\n  x: "1"\n',
    },
    'web 0.2.0: farewell, extra',
  );
  const d = await preview(sha);
  const web = release(d, 'web');
  expect(web.objects.map((o) => `${o.change} ${o.ref.kind}/${o.ref.name}`)).toEqual([
    'changed ConfigMap/web-config',
    'added ConfigMap/web-extra',
    'changed Service/web',
    'changed Deployment/web',
  ]);
  const cm = object(web, 'ConfigMap', 'web-config')?.diff ?? '';
  expect(cm).toContain('-    helm.sh/chart: web-0.1.0');
  expect(cm).toContain('+    helm.sh/chart: web-0.2.0');
  expect(cm).toContain('+  farewell: bye');
  // the Deployment's config checksum moved with the ConfigMap
  expect(object(web, 'Deployment', 'web')?.diff).toMatch(/\+\s+checksum\/config: [0-9a-f]{64}/);
  expect(release(d, 'app').objects).toEqual([]);
});

test("a Secret's data is never shown, only which keys changed; a secret value elsewhere stays hidden", async () => {
  h.setSecret('app/db', JSON.stringify({ password: `${CANARY}-rotated` }));
  const sha = repo.commit(
    {
      'deploy.yaml': DEPLOY_YAML.replace(
        '        chart: ./charts/app\n',
        '        chart: ./charts/app\n        values: [values/app.yaml]\n',
      ),
      'values/app.yaml': 'image: registry.example/app:2.1\nport: "6543"\n',
    },
    'app 2.1 on another port',
  );
  const d = await preview(sha);
  const app = release(d, 'app');
  expect(app.objects.map((o) => `${o.change} ${o.ref.kind}/${o.ref.name}`)).toEqual([
    'changed Secret/app-db',
    'changed Deployment/app',
  ]);
  const secret = object(app, 'Secret', 'app-db');
  // host holds the rotated secret value, port a plain one: both are named as changed, neither is shown
  // (Secret values are compared before redaction, as keyed digests)
  expect(secret?.secretKeys).toEqual({ added: [], removed: [], changed: ['host', 'port'] });
  expect(secret?.diff).toContain('-  port: (hidden)\n');
  expect(secret?.diff).toContain('+  port: (hidden, changed)\n');
  const deployment = object(app, 'Deployment', 'app')?.diff ?? '';
  expect(deployment).toContain('+          image: registry.example/app:2.1');
  const text = JSON.stringify(d);
  expect(text).not.toContain(CANARY);
  expect(text).not.toContain(Buffer.from(CANARY).toString('base64').slice(0, 16));
  for (const port of ['5432', '6543']) expect(text).not.toContain(Buffer.from(port).toString('base64'));
  expect(text).not.toContain('6543');
});

test('a release not installed yet is a first install: every object added', async () => {
  const sha = repo.commit(
    {
      'deploy.yaml': `${DEPLOY_YAML}      - name: web3\n        namespace: web\n        chart: ./charts/web\n`,
    },
    'web3',
  );
  const d = await preview(sha);
  const web3 = release(d, 'web3');
  expect(web3.firstInstall).toBe(true);
  expect(web3.objects.map((o) => o.change)).toEqual(['added', 'added', 'added', 'added']);
});

test('a template that transforms a secret value cannot carry it onto the approval page (rendered with placeholders)', async () => {
  h.setSecret('app/db', JSON.stringify({ password: `${CANARY}-rotated` }));
  const sha = repo.commit(
    {
      'charts/app/templates/leak.yaml': `apiVersion: v1
kind: ConfigMap
metadata:
  name: leak
data:
  upper: {{ .Values.database.host | upper | quote }}
  twice: {{ .Values.database.host | b64enc | b64enc | quote }}
  hashed: {{ .Values.database.host | sha256sum | quote }}
`,
    },
    'a chart that transforms a secret into a ConfigMap',
  );
  const d = await preview(sha);
  const app = release(d, 'app');
  expect(app.error).toBeUndefined();
  const leak = object(app, 'ConfigMap', 'leak');
  expect(leak?.change).toBe('added');
  // what the approvers see is the placeholder, transformed
  expect(leak?.diff).toContain('(SECRET APP/DB#PASSWORD)');
  const secret = `${CANARY}-rotated`;
  const text = JSON.stringify(d);
  for (const form of [
    secret,
    secret.toUpperCase(),
    createHash('sha256').update(secret).digest('hex'),
    Buffer.from(Buffer.from(secret).toString('base64')).toString('base64').slice(0, 16),
  ])
    expect(text).not.toContain(form);
  // the Secret fed by the same value is still compared on its real (digested) data: host changed
  expect(object(app, 'Secret', 'app-db')?.secretKeys?.changed).toContain('host');
});
