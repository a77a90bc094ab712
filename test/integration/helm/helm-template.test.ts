import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { systemClock } from '../../../lib/clock';
import { createProcessRunner } from '../../../lib/exec/command-runner';
import { createHelmRunner, HelmError } from '../../../lib/helm/helm-runner';
import { renderRelease } from '../../../lib/helm/release-deployer';
import { Redactor } from '../../../lib/log/redact';

// The real helm binary, with no cluster: rendering, secret values on stdin, and how its errors classify.
const helmBin = process.env.HELMGATE_HELM_BIN as string;
const CANARY = 'canary-Render-3d9b77e1';

let work: string;
let chart: string;

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'helmgate-helm-template-'));
  chart = path.join(work, 'chart');
  await mkdir(path.join(chart, 'templates'), { recursive: true });
  await writeFile(
    path.join(chart, 'Chart.yaml'),
    'apiVersion: v2\nname: demo\nversion: 0.1.0\nappVersion: "1.0"\n',
  );
  await writeFile(path.join(chart, 'values.yaml'), 'greeting: hello\nauth: {}\n');
  await writeFile(
    path.join(chart, 'templates', 'secret.yaml'),
    [
      'apiVersion: v1',
      'kind: ConfigMap',
      'metadata:',
      '  name: {{ .Release.Name }}',
      'data:',
      '  greeting: {{ .Values.greeting | quote }}',
      '  token: {{ required "auth.token is required" .Values.auth.token | quote }}',
      '  flag: {{ .Values.auth.flag | quote }}',
      '',
    ].join('\n'),
  );
  await writeFile(path.join(work, 'values.yaml'), 'greeting: bonjour\nauth:\n  token: from-file\n');
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

function helmFor(redactor = new Redactor()) {
  return createHelmRunner({
    commandRunner: createProcessRunner(),
    helmBin,
    homeDir: path.join(work, 'helm-home'),
    redactor,
    baseEnv: process.env,
  });
}

it('renders with values files in order and secret values from stdin winning, output redacted', async () => {
  const helm = helmFor();
  const manifest = await helm.template({
    release: 'demo',
    namespace: 'ns1',
    chart: { kind: 'local', path: chart },
    valuesFiles: [path.join(work, 'values.yaml')],
    secretValues: [
      { path: 'auth.token', value: CANARY },
      { path: 'auth.flag', value: 'yes' },
    ],
  });
  expect(manifest).toContain('greeting: "bonjour"');
  expect(manifest).toContain('token: "***"');
  expect(manifest).toContain('flag: "yes"'); // a YAML 1.1 bool word stays a string
  expect(manifest).not.toContain(CANARY);
});

it('renders into an output directory in render-only mode without writing the secret value', async () => {
  const outputDir = path.join(work, 'out');
  const r = await renderRelease(
    { helm: helmFor(), clock: systemClock },
    {
      release: 'demo',
      namespace: 'ns1',
      chart: { kind: 'local', path: chart },
      valuesFiles: [],
      secretValues: [{ path: 'auth.token', value: CANARY }],
      outputDir,
    },
  );
  expect(r.status).toBe('rendered');
  const file = await readFile(path.join(outputDir, 'manifest.yaml'), 'utf8');
  expect(file).toContain('kind: ConfigMap');
  expect(file).toContain('token: "***"');
  expect(file).not.toContain(CANARY);
});

it('fails a missing required value at once as a permanent template failure', async () => {
  const r = await renderRelease(
    { helm: helmFor(), clock: systemClock },
    {
      release: 'demo',
      namespace: 'ns1',
      chart: { kind: 'local', path: chart },
      valuesFiles: [],
      outputDir: path.join(work, 'out2'),
    },
  );
  expect(r).toMatchObject({
    status: 'failed',
    attempts: 1,
    classification: { kind: 'permanent', reason: 'chart template failed (required value or fail)' },
  });
  expect(r.reason).toContain('auth.token is required');
});

it('classifies an unreachable API server as transient', async () => {
  const helm = createHelmRunner({
    commandRunner: createProcessRunner(),
    helmBin,
    homeDir: path.join(work, 'helm-home'),
    redactor: new Redactor(),
    baseEnv: process.env,
    connection: { kind: 'apiserver', url: 'http://127.0.0.1:1' },
  });
  const err = await helm.status('demo', 'ns1').catch((e) => e);
  expect(err).toBeInstanceOf(HelmError);
  expect(err.classification).toEqual({ kind: 'transient', reason: 'connection refused' });
  expect(err.message).toMatch(/^helm status exited with code 1: Error: kubernetes cluster unreachable/);
});
