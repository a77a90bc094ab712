/**
 * Classifies a helm failure from its stderr (case-insensitive), so the deployer retries only what a retry
 * can fix (DESIGN.md, "Transient vs permanent Helm failures"):
 * - `transient`: the API server or the network hiccupped; the same command can succeed a moment later.
 * - `stuck`: "another operation (install/upgrade/rollback) is in progress" — the release is locked in a
 *   pending-* state; retry only after the stuck-release check (a killed run leaves exactly this).
 * - `permanent`: everything else — template, parse, schema and validation errors, `required`/`fail`,
 *   charts that cannot be found, forbidden, bad credentials. Retrying these only wastes the time budget.
 *
 * Order matters: a Go template parse error can end in "unexpected EOF", and an unreachable cluster with a
 * bad certificate is not going to become reachable, so the specific permanent causes are checked before
 * the transient patterns.
 */
export type FailureKind = 'transient' | 'permanent' | 'stuck';

export interface FailureClassification {
  kind: FailureKind;
  /** A short phrase naming the cause (never a copy of stderr). */
  reason: string;
}

type Rule = { re: RegExp; reason: string };

const STUCK: Rule[] = [
  {
    re: /another operation \(install\/upgrade\/rollback\) is in progress/i,
    reason: 'another operation is in progress',
  },
];

/** Causes that look like network trouble in part but will not go away on their own. */
const PERMANENT_FIRST: Rule[] = [
  {
    re: /values don't meet the specifications of the schema/i,
    reason: 'values do not match the chart schema',
  },
  { re: /execution error at \(/i, reason: 'chart template failed (required value or fail)' },
  { re: /\bparse error at \(|\bparse error in\b/i, reason: 'chart template parse error' },
  { re: /yaml parse error|error converting yaml to json|yaml: line \d+:/i, reason: 'YAML parse error' },
  // helm 3: `template: c/templates/x.yaml:6:20: executing …`; helm 4: `Error: c/templates/x.yaml:6:20` then
  // `  executing "…" at <.Values.a.b>:` and `    nil pointer evaluating …` on their own lines
  {
    re: /\btemplate: [^\s:]+:\d+(:\d+)?: |^error: \S+:\d+:\d+\s*$|executing "[^"]*" at <|nil pointer evaluating/im,
    reason: 'chart template error',
  },
  {
    re: /error validating data|validationerror\(|unable to build kubernetes objects/i,
    reason: 'manifest validation error',
  },
  { re: /field is immutable/i, reason: 'immutable field changed' },
  {
    re: /x509:|certificate signed by unknown authority|certificate has expired/i,
    reason: 'TLS certificate error',
  },
  { re: /\bunauthorized\b|provide credentials/i, reason: 'unauthorized' },
  { re: /\bis forbidden\b|\bforbidden:/i, reason: 'forbidden' },
  {
    re: /failed to download|no chart version found|chart "[^"]*"( version "[^"]*")? not found|not found in .* repository|no such file or directory|path .* not found/i,
    reason: 'chart not found',
  },
  { re: /\bis invalid\b/i, reason: 'object rejected as invalid' },
];

const TRANSIENT: Rule[] = [
  { re: /etcdserver: leader changed/i, reason: 'etcd leader changed' },
  { re: /etcdserver: request timed out/i, reason: 'etcd request timed out' },
  {
    re: /the server is currently unable to handle the request|server unable to handle the request/i,
    reason: 'API server unable to handle the request',
  },
  { re: /connection reset by peer|connection reset/i, reason: 'connection reset' },
  { re: /connection refused/i, reason: 'connection refused' },
  { re: /tls handshake timeout/i, reason: 'TLS handshake timeout' },
  { re: /i\/o timeout/i, reason: 'i/o timeout' },
  { re: /unexpected eof/i, reason: 'unexpected EOF' },
  { re: /kubernetes cluster unreachable/i, reason: 'Kubernetes cluster unreachable' },
  { re: /the object has been modified/i, reason: 'the object has been modified (conflict)' },
  // an API 429 without Retry-After (with it, client-go retries by itself)
  { re: /too many requests/i, reason: 'API server rate limited (429)' },
  // API 504
  { re: /unable to return a response in the time allotted/i, reason: 'API server timeout (504)' },
  // a connection dropped mid-request: Go reports it as `Patch "https://…": EOF` at the end of a line
  { re: /": EOF\s*$/m, reason: 'connection closed (EOF)' },
];

const PERMANENT_LATE: Rule[] = [
  { re: /context deadline exceeded|timed out waiting for the condition/i, reason: 'helm timed out' },
  { re: /release: not found/i, reason: 'release not found' },
  { re: /has no deployed releases/i, reason: 'release has no deployed revision' },
];

export function classifyHelmFailure(stderr: string): FailureClassification {
  const match = (rules: Rule[]) => rules.find((r) => r.re.test(stderr));
  const stuck = match(STUCK);
  if (stuck) return { kind: 'stuck', reason: stuck.reason };
  const early = match(PERMANENT_FIRST);
  if (early) return { kind: 'permanent', reason: early.reason };
  const transient = match(TRANSIENT);
  if (transient) return { kind: 'transient', reason: transient.reason };
  const late = match(PERMANENT_LATE);
  return { kind: 'permanent', reason: late ? late.reason : 'helm failed' };
}
