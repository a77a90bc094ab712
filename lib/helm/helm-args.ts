/**
 * Pure argv builders for the helm 4 CLI. Every builder validates what it puts in a position helm could
 * read as a flag (names, paths, URLs, versions), so a value from a deploy config can never smuggle in an
 * option. Secret values never appear here: they go on stdin as a values document (`-f -`).
 */
import { HelmgateError } from '../errors';

/** Where helm finds the cluster. `kubeconfig` paths are written 0600 by the caller. */
export type HelmConnection =
  | { kind: 'kubeconfig'; path: string; context?: string }
  /** A kubeconfig-less API server URL: the loopback stand-in in tests, a local proxy in development. */
  | { kind: 'apiserver'; url: string };

/** A chart on disk (a directory, or a `.tgz` from `pull`) or pinned in a repository (https:// or oci://). */
export type HelmChartSource =
  | { kind: 'local'; path: string }
  | { kind: 'repo'; repoUrl: string; name: string; version: string };

/** What `upgrade --install` and `template` share. */
export interface HelmReleaseArgsInput {
  release: string;
  namespace: string;
  chart: HelmChartSource;
  /** Values files, in order (the right-most wins); absolute paths. */
  valuesFiles: readonly string[];
  /** When true, `-f -` comes last: the secret values document on stdin wins over every file. */
  secretValuesOnStdin: boolean;
}

export interface UpgradeInstallArgsInput extends HelmReleaseArgsInput {
  timeoutSeconds: number;
  /** `--wait` (helm 4: the watcher strategy). Off by default: health checks run after helm. */
  wait?: boolean;
  /**
   * `--rollback-on-failure` (helm 3's `--atomic`). Default false, and helmgate never sets it: helm would
   * roll back (and so replace the failing pods) before the runner could read why they failed; the runner
   * undoes a failed upgrade itself, after its diagnosis (issue 13, lib/helm/release-deployer.ts).
   */
  rollbackOnFailure?: boolean;
  /** default true */
  createNamespace?: boolean;
  /** default 10 */
  historyMax?: number;
  /** Flags appended to this command only (tests: `--disable-openapi-validation`). */
  extraFlags?: readonly string[];
}

export interface TemplateArgsInput extends HelmReleaseArgsInput {
  outputDir?: string;
}

export const DEFAULT_HISTORY_MAX = 10;

const RELEASE_NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const CHART_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const VERSION = /^[0-9A-Za-z][0-9A-Za-z.+_-]*$/;
const FLAG = /^--[a-z][a-z0-9-]*(=[^\s]*)?$/;

export function upgradeInstallArgs(input: UpgradeInstallArgsInput): string[] {
  const args = ['upgrade', '--install', releaseName(input.release), ...chartArgs(input.chart)];
  args.push('--namespace', namespace(input.namespace));
  if (input.createNamespace ?? true) args.push('--create-namespace');
  args.push(...valuesArgs(input));
  args.push('--history-max', String(nonNegativeInt(input.historyMax ?? DEFAULT_HISTORY_MAX, 'history max')));
  args.push('--timeout', timeout(input.timeoutSeconds));
  if (input.rollbackOnFailure) args.push('--rollback-on-failure');
  if (input.wait) args.push('--wait');
  args.push(...extraFlags(input.extraFlags));
  return args;
}

/** `helm template`: client-side rendering, no cluster connection. */
export function templateArgs(input: TemplateArgsInput): string[] {
  const args = ['template', releaseName(input.release), ...chartArgs(input.chart)];
  args.push('--namespace', namespace(input.namespace));
  args.push(...valuesArgs(input));
  if (input.outputDir !== undefined) args.push('--output-dir', pathArg(input.outputDir, 'output directory'));
  return args;
}

export function statusArgs(release: string, ns: string): string[] {
  return ['status', releaseName(release), '--namespace', namespace(ns), '-o', 'json'];
}

/** `helm get manifest`: the manifest the release's current revision was installed with. */
export function getManifestArgs(release: string, ns: string, revision?: number): string[] {
  const args = ['get', 'manifest', releaseName(release), '--namespace', namespace(ns)];
  if (revision !== undefined) args.push('--revision', String(positiveInt(revision, 'revision')));
  return args;
}

export function historyArgs(release: string, ns: string, max?: number): string[] {
  const args = ['history', releaseName(release), '--namespace', namespace(ns), '-o', 'json'];
  if (max !== undefined) args.push('--max', String(positiveInt(max, 'history max')));
  return args;
}

export function rollbackArgs(
  release: string,
  ns: string,
  revision: number,
  opts: { timeoutSeconds: number; wait?: boolean; historyMax?: number },
): string[] {
  const args = [
    'rollback',
    releaseName(release),
    String(positiveInt(revision, 'revision')),
    '--namespace',
    namespace(ns),
  ];
  args.push('--history-max', String(nonNegativeInt(opts.historyMax ?? DEFAULT_HISTORY_MAX, 'history max')));
  args.push('--timeout', timeout(opts.timeoutSeconds));
  if (opts.wait) args.push('--wait');
  return args;
}

export function uninstallArgs(
  release: string,
  ns: string,
  opts: { timeoutSeconds: number; wait?: boolean },
): string[] {
  const args = [
    'uninstall',
    releaseName(release),
    '--namespace',
    namespace(ns),
    '--timeout',
    timeout(opts.timeoutSeconds),
  ];
  if (opts.wait) args.push('--wait');
  return args;
}

/** `helm pull` of a pinned chart into `destination` (as `<name>-<version>.tgz`). */
export function pullArgs(input: {
  repoUrl: string;
  name: string;
  version: string;
  destination: string;
}): string[] {
  return [
    'pull',
    ...chartArgs({ kind: 'repo', ...input }),
    '--destination',
    pathArg(input.destination, 'destination'),
  ];
}

/** `helm list` of one namespace, or of all of them (helm 4 lists every state by default and has no `--all`). */
export function listArgs(ns?: string): string[] {
  return [
    'list',
    ...(ns === undefined ? ['--all-namespaces'] : ['--namespace', namespace(ns)]),
    '-o',
    'json',
  ];
}

/** Global flags that point helm at the cluster; appended to every command that talks to it. */
export function connectionArgs(connection: HelmConnection): string[] {
  if (connection.kind === 'kubeconfig') {
    const args = ['--kubeconfig', pathArg(connection.path, 'kubeconfig')];
    if (connection.context !== undefined)
      args.push('--kube-context', plainArg(connection.context, 'kube context'));
    return args;
  }
  return ['--kube-apiserver', url(connection.url, ['http:', 'https:'], 'API server')];
}

/** `--repo URL NAME --version V` for https repositories; `oci://…/NAME --version V` for OCI ones. */
function chartArgs(chart: HelmChartSource): string[] {
  if (chart.kind === 'local') return [pathArg(chart.path, 'chart path')];
  const version = check(chart.version, VERSION, 'chart version');
  const name = check(chart.name, CHART_NAME, 'chart name');
  const repo = url(chart.repoUrl, ['https:', 'http:', 'oci:'], 'chart repository');
  if (repo.startsWith('oci:')) return [`${repo.replace(/\/+$/, '')}/${name}`, '--version', version];
  return [name, '--repo', repo, '--version', version];
}

function valuesArgs(input: HelmReleaseArgsInput): string[] {
  const args: string[] = [];
  for (const f of input.valuesFiles) args.push('-f', pathArg(f, 'values file'));
  if (input.secretValuesOnStdin) args.push('-f', '-');
  return args;
}

function extraFlags(flags: readonly string[] | undefined): string[] {
  return (flags ?? []).map((f) => check(f, FLAG, 'extra flag'));
}

function timeout(seconds: number): string {
  return `${positiveInt(seconds, 'timeout')}s`;
}

function releaseName(name: string): string {
  if (name.length > 53) throw invalid('release name', name);
  return check(name, RELEASE_NAME, 'release name');
}

function namespace(ns: string): string {
  if (ns.length > 63) throw invalid('namespace', ns);
  return check(ns, DNS_LABEL, 'namespace');
}

function pathArg(p: string, what: string): string {
  if (p.length === 0 || p.startsWith('-') || p.includes('\0')) throw invalid(what, p);
  return p;
}

function plainArg(s: string, what: string): string {
  if (s.length === 0 || s.startsWith('-') || /[\s\0]/.test(s)) throw invalid(what, s);
  return s;
}

function url(u: string, protocols: readonly string[], what: string): string {
  // the message leaves the URL out: a URL can carry credentials, which must not reach an error message
  const refuse = () => new HelmgateError('bad_request', `invalid ${what} URL for helm`);
  let parsed: URL;
  try {
    parsed = new URL(u);
  } catch {
    throw refuse();
  }
  // credentials in a URL would land in argv (and in `ps`): refuse them
  if (!protocols.includes(parsed.protocol) || parsed.username !== '' || parsed.password !== '')
    throw refuse();
  return u;
}

function positiveInt(n: number, what: string): number {
  if (!Number.isInteger(n) || n <= 0) throw invalid(what, String(n));
  return n;
}

function nonNegativeInt(n: number, what: string): number {
  if (!Number.isInteger(n) || n < 0) throw invalid(what, String(n));
  return n;
}

function check(s: string, re: RegExp, what: string): string {
  if (!re.test(s)) throw invalid(what, s);
  return s;
}

function invalid(what: string, value: string): HelmgateError {
  // the values checked here are names, paths and URLs from the deploy config — never secrets
  return new HelmgateError('bad_request', `invalid ${what} for helm: ${JSON.stringify(value.slice(0, 200))}`);
}
