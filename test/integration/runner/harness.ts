import { cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { systemClock } from '../../../lib/clock';
import type { Deployment } from '../../../lib/deploy/deployment';
import { RecordingDispatcher } from '../../../lib/dispatch/dispatcher';
import { type CommandRunner, createProcessRunner } from '../../../lib/exec/command-runner';
import { LocalGitSource } from '../../../lib/github/local-git-source';
import { createLogger, memorySink } from '../../../lib/log/logger';
import { Redactor } from '../../../lib/log/redact';
import type { Notifier } from '../../../lib/notify/notifier';
import type { Policy } from '../../../lib/policy/policy';
import { helmClusterConnector } from '../../../lib/runner/helm-cluster';
import { clusterAccessFromSecret } from '../../../lib/runner/kube-access';
import { type RunnerDeps, runDeployment } from '../../../lib/runner/runner';
import { FileSecretsProvider } from '../../../lib/secrets/file-provider';
import { SecretResolver } from '../../../lib/secrets/secrets-provider';
import type { TestDynamo } from '../../helpers/dynalite';
import { testGit } from '../../helpers/git';
import { makeGitRepo } from '../../helpers/git-repo';
import { policyOfTree } from '../../helpers/policy';
import type { KubeApiStandIn } from '../../stand-ins/kube-api';

export const CANARY = 'canary-runner-7d1e0c94b2f3a6';
export const REPOSITORY = 'idr/deployment';
const FIXTURE_CHARTS = path.resolve(__dirname, '../../fixtures/charts');

/** One helm process as the timing runner saw it. */
export interface HelmCall {
  args: string[];
  stdin: string;
  start: number;
  end: number;
  code: number | null;
}

/** The real process runner, recording argv, stdin and timing of every helm call. */
export function timingRunner(calls: HelmCall[]): CommandRunner {
  const inner = createProcessRunner();
  return {
    async run(command, args, opts) {
      const start = performance.now();
      const r = await inner.run(command, args, opts);
      calls.push({
        args: [...args],
        stdin: String(opts.stdin ?? ''),
        start,
        end: performance.now(),
        code: r.code,
      });
      return r;
    },
  };
}

export class RecordingNotifier implements Notifier {
  readonly changes: Deployment[] = [];
  async deploymentChanged(d: Deployment): Promise<void> {
    this.changes.push(structuredClone(d));
  }
}

/** A repository with the fixture charts and the given deploy.yaml / values. */
export function runnerRepo(files: Record<string, string>) {
  const repo = makeGitRepo(files);
  mkdirSync(path.join(repo.dir, 'charts'), { recursive: true });
  for (const c of ['web', 'db', 'app', 'broken'])
    cpSync(path.join(FIXTURE_CHARTS, c), path.join(repo.dir, 'charts', c), { recursive: true });
  repo.commit({}, 'fixture charts');
  return repo;
}

export interface Harness {
  deps: RunnerDeps;
  logs: string[];
  calls: HelmCall[];
  notifier: RecordingNotifier;
  dispatcher: RecordingDispatcher;
  redactor: Redactor;
  /** a queued deployment of `environment` at `sha`, as the intake records it */
  queue(sha: string, environment?: string, over?: Partial<Deployment>): Promise<Deployment>;
  run(
    id: string,
    over?: Partial<RunnerDeps>,
    job?: { continuation?: number },
  ): ReturnType<typeof runDeployment>;
  /** changes one secret in the secrets file (the next run reads it) */
  setSecret(id: string, value: string): void;
}

let seq = 0;

export function makeHarness(opts: {
  db: TestDynamo;
  kube: KubeApiStandIn;
  repoDir: string;
  secrets?: Record<string, unknown>;
  retry?: { attempts?: number; baseMs?: number; capMs?: number };
  rollbackOnFailure?: boolean;
  /** the operator policy; default: what the working tree's deploy.yaml implies when the harness is made */
  policy?: Policy;
}): Harness {
  const work = mkdtempSync(path.join(path.resolve(__dirname, '../../../.tmp'), 'runner-'));
  const secretsFile = path.join(work, 'secrets.json');
  writeFileSync(
    secretsFile,
    JSON.stringify({
      'test/cluster': JSON.stringify({ kubeconfig: opts.kube.kubeconfig() }),
      'app/db': JSON.stringify({ password: CANARY }),
      'helmgate/digest-key': 'runner-harness-digest-key-0123456789',
      ...opts.secrets,
    }),
    { mode: 0o600 },
  );
  const sink = memorySink();
  const redactor = new Redactor();
  const logger = createLogger({ redactor, clock: systemClock, write: sink.write, level: 'debug' });
  const calls: HelmCall[] = [];
  const notifier = new RecordingNotifier();
  const dispatcher = new RecordingDispatcher();
  const provider = new FileSecretsProvider(secretsFile);
  const deps: RunnerDeps = {
    store: opts.db.store,
    source: new LocalGitSource(opts.repoDir, testGit),
    dispatcher,
    notifier,
    clock: systemClock,
    logger,
    redactor,
    secrets: () => new SecretResolver(provider, redactor),
    policy: opts.policy ?? policyOfTree(opts.repoDir),
    cluster: helmClusterConnector({
      helmBin: process.env.HELMGATE_HELM_BIN as string,
      commandRunner: timingRunner(calls),
      redactor,
      clock: systemClock,
      logger,
      access: clusterAccessFromSecret({ logger, upgradeFlags: ['--disable-openapi-validation'] }),
      retry: { attempts: 3, baseMs: 20, capMs: 100, ...opts.retry },
      ...(opts.rollbackOnFailure !== undefined ? { rollbackOnFailure: opts.rollbackOnFailure } : {}),
      baseEnv: process.env,
    }),
    workRoot: work,
    deployConfigPath: 'deploy.yaml',
    remainingTimeMs: () => 15 * 60_000,
    invocationId: `test-${process.pid}`,
    safetyMarginMs: 30_000,
    concurrency: 4,
  };
  return {
    deps,
    logs: sink.lines,
    calls,
    notifier,
    dispatcher,
    redactor,
    async queue(sha, environment = 'staging', over = {}) {
      const now = new Date().toISOString();
      const d: Deployment = {
        id: `${sha.slice(0, 7)}-${environment}-${++seq}-${process.hrtime.bigint()}`,
        repository: REPOSITORY,
        environment,
        sha,
        ref: 'refs/heads/main',
        status: 'queued',
        approval: 'none',
        createdAt: now,
        updatedAt: now,
        ...over,
      };
      await opts.db.store.createDeployment(d);
      return d;
    },
    setSecret(id, value) {
      const doc = JSON.parse(readFileSync(secretsFile, 'utf8')) as Record<string, unknown>;
      doc[id] = value;
      writeFileSync(secretsFile, JSON.stringify(doc), { mode: 0o600 });
    },
    run(id, over = {}, job = {}) {
      return runDeployment({ ...deps, ...over }, { deploymentId: id, ...job });
    },
  };
}

/** helm's `upgrade` calls for one release, in order. */
export function upgradesOf(calls: HelmCall[], release: string): HelmCall[] {
  return calls.filter((c) => c.args[0] === 'upgrade' && c.args[2] === release);
}
