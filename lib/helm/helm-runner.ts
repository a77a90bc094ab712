import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { stringify } from 'yaml';
import { emptyValues, setPath, type Values } from '../deploy/values-merge';
import { HelmgateError } from '../errors';
import {
  allowlistedEnv,
  type CommandRunner,
  commandLabel,
  ExecError,
  tailLines,
} from '../exec/command-runner';
import type { Redactor } from '../log/redact';
import { classifyHelmFailure, type FailureClassification } from './failure-classifier';
import {
  connectionArgs,
  getManifestArgs,
  type HelmChartSource,
  type HelmConnection,
  historyArgs,
  listArgs,
  pullArgs,
  rollbackArgs,
  statusArgs,
  templateArgs,
  uninstallArgs,
  upgradeInstallArgs,
} from './helm-args';
import { parseRedactedManifest, redactLiveObject } from './manifest-objects';

/** A secret value for a helm values path (`--set` syntax: `a.b`, `a\.b`, `list[0].x`). */
export interface SecretValue {
  path: string;
  value: string;
}

export interface HelmReleaseInput {
  release: string;
  namespace: string;
  chart: HelmChartSource;
  /** absolute paths, in order */
  valuesFiles: readonly string[];
  /** Sent to helm as a YAML values document on stdin (`-f -`, after every file), never in argv or a file. */
  secretValues?: readonly SecretValue[];
}

export interface UpgradeInstallInput extends HelmReleaseInput {
  timeoutSeconds: number;
  wait?: boolean;
  /** Kill helm after this long (a backstop for a hung process; helm's own `--timeout` bounds its waits). */
  processTimeoutMs?: number;
  signal?: AbortSignal;
}

export interface TemplateInput extends HelmReleaseInput {
  /** Write the manifests under this directory instead of returning them. */
  outputDir?: string;
}

/** Helm's release states (helm.sh/helm/v4 pkg/release/common/status.go). */
export type HelmReleaseState =
  | 'unknown'
  | 'deployed'
  | 'uninstalled'
  | 'superseded'
  | 'failed'
  | 'uninstalling'
  | 'pending-install'
  | 'pending-upgrade'
  | 'pending-rollback';

export const PENDING_STATES: readonly HelmReleaseState[] = [
  'pending-install',
  'pending-upgrade',
  'pending-rollback',
];

export interface HelmReleaseStatus {
  status: HelmReleaseState;
  revision: number;
  chartVersion?: string;
  appVersion?: string;
}

export interface HelmHistoryEntry {
  revision: number;
  status: HelmReleaseState;
  /** "name-version" as helm prints it */
  chart?: string;
  appVersion?: string;
  description?: string;
}

export interface HelmListEntry {
  name: string;
  namespace: string;
  revision: number;
  status: HelmReleaseState;
  chart?: string;
  appVersion?: string;
}

export interface MaintenanceOptions {
  timeoutSeconds: number;
  wait?: boolean;
  processTimeoutMs?: number;
  signal?: AbortSignal;
}

/**
 * Port: helm, one command per method. Every stdout/stderr it returns or puts in an error is redacted.
 * Failures throw `HelmError` (an `ExecError` with a classification of its stderr).
 */
export interface HelmRunner {
  upgradeInstall(input: UpgradeInstallInput): Promise<{ revision: number; output: string }>;
  /** Rendered manifests (redacted), or helm's list of written files when `outputDir` is given. */
  template(input: TemplateInput): Promise<string>;
  /** undefined when helm has no such release */
  status(release: string, namespace: string): Promise<HelmReleaseStatus | undefined>;
  /**
   * The objects of the release's current manifest (`helm get manifest`), parsed then redacted (see
   * manifest-objects.ts); undefined when helm has no such release.
   */
  getManifestObjects?(release: string, namespace: string, revision?: number): Promise<unknown[] | undefined>;
  /**
   * Objects read from the cluster, redacted exactly as getManifestObjects redacts (same digest key), so
   * they compare with a manifest field by field (drift).
   */
  redactLiveObjects?(objects: readonly unknown[]): unknown[];
  /** A manifest helm recorded (read from its release record), parsed then redacted as getManifestObjects. */
  parseManifestObjects?(raw: string): unknown[];
  /** The objects `helm template` renders, parsed then redacted (see manifest-objects.ts). */
  templateObjects?(input: HelmReleaseInput): Promise<unknown[]>;
  /** Oldest first; empty when helm has no such release. */
  history(release: string, namespace: string, max?: number): Promise<HelmHistoryEntry[]>;
  rollback(release: string, namespace: string, revision: number, opts: MaintenanceOptions): Promise<void>;
  uninstall(release: string, namespace: string, opts: MaintenanceOptions): Promise<void>;
  /** Downloads a pinned chart; returns the path of the `.tgz`. */
  pull(input: { repoUrl: string; name: string; version: string; destination: string }): Promise<string>;
  /** `pull`, plus the manifest digest helm reports for an OCI chart (`Digest: sha256:…`). */
  pullChart(input: {
    repoUrl: string;
    name: string;
    version: string;
    destination: string;
  }): Promise<{ file: string; reportedDigest?: string }>;
  list(namespace?: string): Promise<HelmListEntry[]>;
}

/** A helm command that failed, with its stderr tail (redacted) classified. */
export class HelmError extends ExecError {
  override name = 'HelmError';
  readonly classification: FailureClassification;
  constructor(opts: ConstructorParameters<typeof ExecError>[0] & { classification: FailureClassification }) {
    super({ ...opts, code: 'helm_failed' });
    this.classification = opts.classification;
  }
}

export function isHelmError(e: unknown): e is HelmError {
  return e instanceof HelmError;
}

export interface HelmRunnerOptions {
  commandRunner: CommandRunner;
  /** `ensureHelmBinary(...)` */
  helmBin: string;
  /**
   * A private directory (0700) of this invocation: helm's cache, config and data homes live under it, so
   * nothing of the operator's helm setup (repositories, plugins, registry logins) leaks in.
   */
  homeDir: string;
  /** Absent: render-only — commands that need the cluster throw. */
  connection?: HelmConnection;
  redactor: Redactor;
  /** Where PATH, HOME, TMPDIR and LANG come from (the handler passes process.env); nothing else passes. */
  baseEnv?: Readonly<Record<string, string | undefined>>;
  /** Flags for `upgrade` only; tests pass `--disable-openapi-validation` for the loopback API stand-in. */
  upgradeFlags?: readonly string[];
  /** Process timeout for quick commands (status, history, list, template, pull). Default 120 s. */
  quickTimeoutMs?: number;
}

/** Extra time helm's process gets beyond its own `--timeout` before we kill it. */
const PROCESS_GRACE_MS = 30_000;

export function createHelmRunner(opts: HelmRunnerOptions): HelmRunner {
  const redact = (s: string) => opts.redactor.redact(s);
  // keys the digests of Secret values in parsed manifests: they compare within this runner only
  const manifestKey = randomBytes(32);
  const quickTimeoutMs = opts.quickTimeoutMs ?? 120_000;
  const env = allowlistedEnv(opts.baseEnv ?? {}, {
    HELM_CACHE_HOME: path.join(opts.homeDir, 'cache'),
    HELM_CONFIG_HOME: path.join(opts.homeDir, 'config'),
    HELM_DATA_HOME: path.join(opts.homeDir, 'data'),
    // An explicit, possibly absent, kubeconfig: never the operator's ~/.kube/config, whose credentials
    // would otherwise be sent to whatever --kube-apiserver names.
    KUBECONFIG:
      opts.connection?.kind === 'kubeconfig'
        ? opts.connection.path
        : path.join(opts.homeDir, 'no-kubeconfig'),
  });

  const connection = (): string[] => {
    if (!opts.connection)
      throw new HelmgateError('internal', 'helm has no cluster connection (render-only mode)');
    return connectionArgs(opts.connection);
  };

  const exec = async (
    args: string[],
    extra: { stdin?: string; timeoutMs?: number; signal?: AbortSignal; notFoundOk?: boolean } = {},
  ): Promise<{ stdout: string; notFound: boolean }> => {
    const result = await opts.commandRunner.run(opts.helmBin, args, {
      env,
      timeoutMs: extra.timeoutMs ?? quickTimeoutMs,
      ...(extra.stdin !== undefined ? { stdin: extra.stdin } : {}),
      ...(extra.signal !== undefined ? { signal: extra.signal } : {}),
    });
    if (result.code === 0) return { stdout: result.stdout, notFound: false };
    if (extra.notFoundOk && /release: not found/i.test(result.stderr)) return { stdout: '', notFound: true };
    const stderrTail = redact(tailLines(result.stderr));
    throw new HelmError({
      command: commandLabel(opts.helmBin, args),
      exitCode: result.code,
      stderrTail,
      timedOut: result.timedOut ?? false,
      durationMs: result.durationMs,
      classification: result.timedOut
        ? { kind: 'permanent', reason: 'helm process timed out' }
        : classifyHelmFailure(redact(result.stderr)),
    });
  };

  const secretStdin = (secrets: readonly SecretValue[] | undefined): string | undefined => {
    if (!secrets || secrets.length === 0) return undefined;
    // the caller registered them when it fetched them; registering again is idempotent and keeps this
    // runner safe on its own
    for (const s of secrets) opts.redactor.register(s.value);
    return secretValuesDocument(secrets);
  };

  /** `helm template` (no cluster access), secret values on stdin; the raw stdout, not yet redacted. */
  const renderTemplate = async (input: HelmReleaseInput, outputDir?: string): Promise<string> => {
    const stdin = secretStdin(input.secretValues);
    const args = templateArgs({
      release: input.release,
      namespace: input.namespace,
      chart: input.chart,
      valuesFiles: input.valuesFiles,
      secretValuesOnStdin: stdin !== undefined,
      ...(outputDir !== undefined ? { outputDir } : {}),
    });
    const { stdout } = await exec(args, stdin !== undefined ? { stdin } : {});
    return stdout;
  };

  const runner: HelmRunner = {
    async upgradeInstall(input) {
      const stdin = secretStdin(input.secretValues);
      const args = [
        ...upgradeInstallArgs({
          release: input.release,
          namespace: input.namespace,
          chart: input.chart,
          valuesFiles: input.valuesFiles,
          secretValuesOnStdin: stdin !== undefined,
          timeoutSeconds: input.timeoutSeconds,
          wait: input.wait ?? false,
          ...(opts.upgradeFlags ? { extraFlags: opts.upgradeFlags } : {}),
        }),
        ...connection(),
      ];
      const { stdout } = await exec(args, {
        timeoutMs: input.processTimeoutMs ?? input.timeoutSeconds * 1000 + PROCESS_GRACE_MS,
        ...(stdin !== undefined ? { stdin } : {}),
        ...(input.signal ? { signal: input.signal } : {}),
      });
      const output = redact(stdout);
      let revision = parseRevision(output);
      if (revision === undefined) {
        const st = await runner.status(input.release, input.namespace);
        if (!st)
          throw new HelmgateError(
            'helm_failed',
            `helm upgrade succeeded but release ${input.release} has no status`,
          );
        revision = st.revision;
      }
      return { revision, output };
    },

    async template(input) {
      return redact(await renderTemplate(input, input.outputDir));
    },

    async status(release, namespace) {
      const { stdout, notFound } = await exec([...statusArgs(release, namespace), ...connection()], {
        notFoundOk: true,
      });
      if (notFound) return undefined;
      return parseStatusJson(stdout);
    },

    async getManifestObjects(release, namespace, revision) {
      const args = [...getManifestArgs(release, namespace, revision), ...connection()];
      const { stdout, notFound } = await exec(args, {
        notFoundOk: true,
      });
      return notFound ? undefined : parseRedactedManifest(stdout, redact, manifestKey);
    },

    parseManifestObjects(raw) {
      return parseRedactedManifest(raw, redact, manifestKey);
    },

    redactLiveObjects(objects) {
      return objects.map((o) => redactLiveObject(o, redact, manifestKey));
    },

    async templateObjects(input) {
      return parseRedactedManifest(await renderTemplate(input), redact, manifestKey);
    },

    async history(release, namespace, max) {
      const { stdout, notFound } = await exec([...historyArgs(release, namespace, max), ...connection()], {
        notFoundOk: true,
      });
      if (notFound) return [];
      return parseHistoryJson(stdout);
    },

    async rollback(release, namespace, revision, o) {
      const args = [
        ...rollbackArgs(release, namespace, revision, {
          timeoutSeconds: o.timeoutSeconds,
          wait: o.wait ?? false,
        }),
        ...connection(),
      ];
      await exec(args, {
        timeoutMs: o.processTimeoutMs ?? o.timeoutSeconds * 1000 + PROCESS_GRACE_MS,
        ...(o.signal ? { signal: o.signal } : {}),
      });
    },

    async uninstall(release, namespace, o) {
      const args = [
        ...uninstallArgs(release, namespace, { timeoutSeconds: o.timeoutSeconds, wait: o.wait ?? false }),
        ...connection(),
      ];
      await exec(args, {
        timeoutMs: o.processTimeoutMs ?? o.timeoutSeconds * 1000 + PROCESS_GRACE_MS,
        ...(o.signal ? { signal: o.signal } : {}),
      });
    },

    async pull(input) {
      return (await runner.pullChart(input)).file;
    },

    async pullChart(input) {
      const { stdout } = await exec(pullArgs(input));
      const reported = /^Digest:\s*(sha256:[0-9a-f]{64})\s*$/im.exec(stdout)?.[1]?.toLowerCase();
      return {
        file: path.join(input.destination, `${input.name}-${input.version}.tgz`),
        ...(reported ? { reportedDigest: reported } : {}),
      };
    },

    async list(namespace) {
      const { stdout } = await exec([...listArgs(namespace), ...connection()]);
      return parseListJson(stdout);
    },
  };
  return runner;
}

/**
 * The YAML values document helm reads from stdin: `{ path: value }` pairs set with helm's `--set` path
 * rules (dots, `\.` escapes, `[i]` indexes). Every string is double-quoted and YAML 1.1 is used, because
 * helm's YAML reader is YAML 1.1: a plain `yes`, `on` or `0123` would reach the chart as a bool or number.
 */
export function secretValuesDocument(secrets: readonly SecretValue[]): string {
  const doc: Values = emptyValues();
  for (const s of secrets) setPath(doc, s.path, s.value);
  return stringify(doc, {
    version: '1.1',
    defaultStringType: 'QUOTE_DOUBLE',
    defaultKeyType: 'QUOTE_DOUBLE',
    lineWidth: 0,
  });
}

const STATES: readonly HelmReleaseState[] = [
  'unknown',
  'deployed',
  'uninstalled',
  'superseded',
  'failed',
  'uninstalling',
  'pending-install',
  'pending-upgrade',
  'pending-rollback',
];

function state(s: unknown): HelmReleaseState {
  return typeof s === 'string' && (STATES as readonly string[]).includes(s)
    ? (s as HelmReleaseState)
    : 'unknown';
}

function parseRevision(output: string): number | undefined {
  const m = /^REVISION:\s*(\d+)\s*$/m.exec(output);
  return m ? Number(m[1]) : undefined;
}

function parseJson(stdout: string, what: string): unknown {
  try {
    return JSON.parse(stdout);
  } catch (e) {
    // never quote stdout: `helm status -o json` carries the release's values
    throw new HelmgateError('helm_failed', `helm ${what} printed something that is not JSON`, { cause: e });
  }
}

/** Reads only the fields we need: the rest of `helm status -o json` holds values and manifests (secrets). */
export function parseStatusJson(stdout: string): HelmReleaseStatus {
  const r = parseJson(stdout, 'status') as {
    version?: unknown;
    info?: { status?: unknown };
    chart?: { metadata?: { version?: unknown; appVersion?: unknown } };
  };
  const revision = typeof r?.version === 'number' ? r.version : 0;
  const meta = r?.chart?.metadata;
  return {
    status: state(r?.info?.status),
    revision,
    ...(typeof meta?.version === 'string' ? { chartVersion: meta.version } : {}),
    ...(typeof meta?.appVersion === 'string' && meta.appVersion !== ''
      ? { appVersion: meta.appVersion }
      : {}),
  };
}

export function parseHistoryJson(stdout: string): HelmHistoryEntry[] {
  const rows = parseJson(stdout, 'history');
  if (!Array.isArray(rows)) return [];
  return rows
    .map((row: Record<string, unknown>) => ({
      revision: Number(row.revision),
      status: state(row.status),
      ...(typeof row.chart === 'string' ? { chart: row.chart } : {}),
      ...(typeof row.app_version === 'string' && row.app_version !== ''
        ? { appVersion: row.app_version }
        : {}),
      ...(typeof row.description === 'string' ? { description: row.description } : {}),
    }))
    .filter((e) => Number.isInteger(e.revision))
    .sort((a, b) => a.revision - b.revision);
}

export function parseListJson(stdout: string): HelmListEntry[] {
  const rows = parseJson(stdout, 'list');
  if (!Array.isArray(rows)) return [];
  return rows.map((row: Record<string, unknown>) => ({
    name: String(row.name),
    namespace: String(row.namespace),
    revision: Number(row.revision),
    status: state(row.status),
    ...(typeof row.chart === 'string' ? { chart: row.chart } : {}),
    ...(typeof row.app_version === 'string' && row.app_version !== '' ? { appVersion: row.app_version } : {}),
  }));
}
