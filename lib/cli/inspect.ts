import type { ApprovalRequest } from '../approval/approval-request';
import type { Deployment } from '../deploy/deployment';
import { formatDiagnosis } from '../deploy/diagnosis';
import { HelmgateError } from '../errors';
import type { AuditEntry } from '../store/deployment-store';
import { duration, type Output, relative, short, table } from './output';
import type { CliTarget } from './target';

/** The fields the CLI marks on deployments it creates (see the report: proposed for Deployment). */
/** Deployments carry `trigger`, `requestedBy` and `rollbackOf` (lib/deploy/deployment.ts). */
export type CliDeployment = Deployment;

export interface DeploymentSummary {
  id: string;
  repository: string;
  environment: string;
  sha: string;
  status: Deployment['status'];
  createdAt: string;
  updatedAt: string;
  startedAt?: string;
  finishedAt?: string;
  reason?: string;
  trigger?: string;
}

export function summarize(d: CliDeployment): DeploymentSummary {
  return {
    id: d.id,
    repository: d.repository,
    environment: d.environment,
    sha: d.sha,
    status: d.status,
    createdAt: d.createdAt,
    updatedAt: d.updatedAt,
    ...(d.startedAt ? { startedAt: d.startedAt } : {}),
    ...(d.finishedAt ? { finishedAt: d.finishedAt } : {}),
    ...(d.reason ? { reason: d.reason } : {}),
    ...(d.trigger ? { trigger: d.trigger } : {}),
  };
}

/** A deployment by id, or by a prefix that names exactly one of the recent ones. */
export async function findDeployment(t: CliTarget, idOrPrefix: string): Promise<CliDeployment> {
  const exact = await t.store.getDeployment(idOrPrefix);
  if (exact) return exact;
  const matches = (await t.store.listDeployments({ limit: 500 })).filter((d) => d.id.startsWith(idOrPrefix));
  if (matches.length === 1) return matches[0] as CliDeployment;
  if (matches.length > 1)
    throw new HelmgateError(
      'bad_request',
      `${idOrPrefix} is ambiguous: ${matches
        .slice(0, 5)
        .map((d) => d.id)
        .join(', ')}${matches.length > 5 ? ', …' : ''}`,
    );
  throw new HelmgateError('not_found', `no deployment ${idOrPrefix}`);
}

const SUCCESS = new Set<Deployment['status']>(['succeeded', 'rendered']);
const WAITING = new Set<Deployment['status']>(['queued', 'awaiting_approval']);

export interface WaitingSummary extends DeploymentSummary {
  approval?: { status: string; expiresAt: string; votes: number; required: number };
}

export interface EnvironmentStatus {
  repository: string;
  environment: string;
  /** what runs now: the newest succeeded (or, render-only, rendered) deployment */
  current: DeploymentSummary | null;
  running: DeploymentSummary[];
  /** queued, approved and awaiting approval, oldest first */
  waiting: WaitingSummary[];
  /** the newest finished deployment when it is not `current` (a failure, a rejection…) */
  latest: DeploymentSummary | null;
}

export async function statusCommand(
  t: CliTarget,
  o: Output,
  opts: { limit: number; environment?: string },
): Promise<number> {
  const recent = (await t.store.listDeployments({ limit: opts.limit })) as CliDeployment[];
  const groups = new Map<string, CliDeployment[]>();
  for (const d of recent) {
    if (opts.environment && d.environment !== opts.environment) continue;
    const k = `${d.repository}\0${d.environment}`;
    groups.set(k, [...(groups.get(k) ?? []), d]);
  }
  const approvals = t.readApprovals();
  const environments: EnvironmentStatus[] = [];
  for (const list of groups.values()) {
    const first = list[0] as CliDeployment;
    const current = list.find((d) => SUCCESS.has(d.status));
    const waiting: WaitingSummary[] = [];
    for (const d of list.filter((x) => WAITING.has(x.status)).reverse()) {
      const req: ApprovalRequest | undefined =
        d.status === 'awaiting_approval' ? await approvals.getRequest(d.id) : undefined;
      waiting.push({
        ...summarize(d),
        ...(req
          ? {
              approval: {
                status: req.status,
                expiresAt: req.expiresAt,
                votes: req.voteCount,
                required: approvals.requiredFor(d),
              },
            }
          : {}),
      });
    }
    const latestDone = list.find((d) => !WAITING.has(d.status) && d.status !== 'running');
    environments.push({
      repository: first.repository,
      environment: first.environment,
      current: current ? summarize(current) : null,
      running: list.filter((d) => d.status === 'running').map(summarize),
      waiting,
      latest: latestDone && latestDone.id !== current?.id ? summarize(latestDone) : null,
    });
  }
  environments.sort(
    (a, b) => a.repository.localeCompare(b.repository) || a.environment.localeCompare(b.environment),
  );
  const now = t.clock.now();
  o.result({ target: t.mode, environments }, () => {
    if (environments.length === 0) return `no deployments yet (${t.description})`;
    // one row per thing to know, the id first: what runs, what is running, what waits, what happened last
    const repositories = [...new Set(environments.map((e) => e.repository))];
    const many = repositories.length > 1;
    const rows: string[][] = [];
    const row = (id: string, e: EnvironmentStatus, state: string, cells: string[]) =>
      rows.push(
        many ? [id, e.repository, e.environment, state, ...cells] : [id, e.environment, state, ...cells],
      );
    const oneLine = (s: string | undefined) => (s ?? '').replace(/\s*\n\s*/g, ' ');
    for (const e of environments) {
      if (e.current)
        row(e.current.id, e, 'runs', [
          short(e.current.sha),
          e.current.status,
          relative(e.current.finishedAt ?? e.current.updatedAt, now),
          '',
        ]);
      else row('-', e, 'runs', ['-', '-', '', 'nothing deployed by helmgate yet']);
      for (const r of e.running)
        row(r.id, e, 'running', [
          short(r.sha),
          r.status,
          `since ${relative(r.startedAt ?? r.updatedAt, now)}`,
          '',
        ]);
      for (const w of e.waiting) {
        const detail = w.approval
          ? `${w.approval.votes}/${w.approval.required} votes, expires ${relative(w.approval.expiresAt, now)}`
          : w.status === 'awaiting_approval'
            ? 'not offered yet'
            : '';
        row(w.id, e, 'waits', [
          short(w.sha),
          w.status === 'awaiting_approval' ? 'awaiting approval' : w.status,
          relative(w.createdAt, now),
          detail,
        ]);
      }
      if (e.latest)
        row(e.latest.id, e, 'last', [
          short(e.latest.sha),
          e.latest.status,
          relative(e.latest.finishedAt ?? e.latest.updatedAt, now),
          oneLine(e.latest.reason),
        ]);
    }
    const header = [
      'ID',
      ...(many ? ['REPOSITORY'] : []),
      'ENVIRONMENT',
      'STATE',
      'COMMIT',
      'STATUS',
      'WHEN',
      'DETAIL',
    ];
    const statusColumn = header.indexOf('STATUS');
    const idColumn = 0;
    const body = table(header, rows, {
      head: (h) => o.dim(h),
      style: (c, text) =>
        c === statusColumn ? o.status(text) : c === idColumn && text !== '-' ? o.bold(text) : text,
    });
    return many ? body : `${o.bold(repositories[0] ?? '')}\n${body}`;
  });
  return 0;
}

/** The approval request as scripts may see it: everything but the token's hash. */
function publicRequest(r: ApprovalRequest): Omit<ApprovalRequest, 'tokenHash'> {
  const { tokenHash: _h, ...rest } = r;
  return rest;
}

function auditLine(a: AuditEntry): string {
  return `  ${a.at}  ${a.actor} via ${a.via}: ${a.action} → ${a.outcome}${a.detail ? ` (${a.detail})` : ''}`;
}

export async function showCommand(t: CliTarget, o: Output, idOrPrefix: string): Promise<number> {
  const found = await findDeployment(t, idOrPrefix);
  const view = await t.readApprovals().view(found.id);
  if (!view) throw new HelmgateError('not_found', `no deployment ${idOrPrefix}`);
  const d = view.deployment as CliDeployment;
  const now = t.clock.now();
  // a deployment waiting in a freeze: the override votes given so far (issue 13, item 6)
  const freezeVotes =
    d.status === 'queued' && d.frozenUntil && !d.freezeOverride
      ? Object.values((await t.store.getFreezeOverrideVotes(d.id, d.frozenUntil))?.votes ?? {}).sort((a, b) =>
          a.at.localeCompare(b.at),
        )
      : [];
  o.result(
    {
      deployment: d,
      ...(freezeVotes.length ? { freezeOverrideVotes: freezeVotes } : {}),
      approval: view.request ? { ...publicRequest(view.request), required: view.required } : null,
      audit: view.audit,
      ...(view.newerRunning ? { newerRunning: summarize(view.newerRunning) } : {}),
    },
    () => {
      const lines = [
        `deployment ${o.bold(d.id)}`,
        `  repository   ${d.repository}`,
        `  environment  ${d.environment} (approval: ${d.approval})`,
        `  commit       ${d.sha}${d.ref && d.ref !== d.sha ? ` (${d.ref})` : ''}${d.pusher ? ` by ${d.pusher}` : ''}`,
      ];
      if (d.commitMessage) lines.push(`  message      ${d.commitMessage.split('\n')[0]}`);
      if (d.trigger)
        lines.push(
          `  trigger      ${d.trigger}${d.requestedBy ? ` by ${d.requestedBy}` : ''}${d.rollbackOf ? ` (rolls back ${d.rollbackOf})` : ''}${d.force ? ', forced' : ''}`,
        );
      lines.push(`  status       ${o.status(d.status)}${d.reason ? `: ${d.reason}` : ''}`);
      lines.push(`  created      ${d.createdAt} (${relative(d.createdAt, now)})`);
      if (d.startedAt) lines.push(`  started      ${d.startedAt}`);
      if (d.finishedAt) lines.push(`  finished     ${d.finishedAt}`);
      if (d.planDigest) lines.push(`  plan         ${short(d.planDigest)}`);
      if (d.retryOf) lines.push(`  retry of     ${d.retryOf}`);
      if (d.frozenUntil && d.status === 'queued' && !d.freezeOverride) {
        lines.push(
          `  frozen       until ${d.frozenUntil} (${relative(d.frozenUntil, now)}); ${freezeVotes.length} of ${view.required} overrides (helmgate override ${d.id} --reason "…")`,
        );
        for (const v of freezeVotes)
          lines.push(`    override by ${v.label} via ${v.via} at ${v.at}: ${v.reason}`);
      }
      if (d.freezeOverride) {
        const f = d.freezeOverride;
        lines.push(
          `freeze override: the freeze until ${f.until} was overridden at ${f.completedAt} (${f.votes.length} of ${f.required}):`,
        );
        for (const v of f.votes) lines.push(`  ${v.label} via ${v.via} at ${v.at}: ${v.reason}`);
      }
      if (view.newerRunning)
        lines.push(
          `  note         ${d.environment} runs ${short(view.newerRunning.sha)}, which this commit does not lead to: approving is a rollback (--rollback)`,
        );
      const r = view.request;
      if (r) {
        lines.push(
          `approval: ${r.status}, ${r.voteCount} of ${view.required} votes, expires ${r.expiresAt} (${relative(r.expiresAt, now)})${r.decidedBy ? `, decided by ${r.decidedBy}` : ''}`,
        );
        for (const s of r.summary) lines.push(`  ${s}`);
      }
      const releases = d.releases ?? [];
      lines.push(releases.length ? 'releases:' : 'releases: none recorded yet');
      if (releases.length)
        lines.push(
          table(
            ['RELEASE', 'NAMESPACE', 'STATUS', 'REVISION', 'ATTEMPTS', 'DURATION', 'CHART', 'REASON'],
            releases.map((rel) => [
              rel.name,
              rel.namespace,
              rel.status,
              rel.revision !== undefined ? String(rel.revision) : '-',
              String(rel.attempts),
              duration(rel.durationMs),
              rel.chart ?? '',
              (rel.reason ?? '').replace(/\s*\n\s*/g, ' '),
            ]),
            {
              indent: '  ',
              head: (h) => o.dim(h),
              style: (c, text) => (c === 2 ? o.status(text) : c === 0 ? o.bold(text) : text),
            },
          ),
        );
      // what helm said, where it failed: the reason to open `show` at all
      for (const rel of releases.filter((x) => x.errorTail)) {
        lines.push(`${o.red(`${rel.name}: the last lines helm printed`)}`);
        for (const l of (rel.errorTail ?? '').trimEnd().split('\n')) lines.push(`  │ ${l}`.trimEnd());
      }
      // what the cluster showed when it failed, collected before any rollback (issue 13)
      for (const rel of releases) {
        if (!rel.diagnosis) continue;
        lines.push(`${o.red(`${rel.name}: what the cluster showed when it failed`)}`);
        for (const l of formatDiagnosis(rel.diagnosis).split('\n')) lines.push(`  │ ${l}`.trimEnd());
      }
      lines.push(view.audit.length ? 'audit:' : 'audit: empty');
      for (const a of view.audit) lines.push(auditLine(a));
      return lines.join('\n');
    },
  );
  return 0;
}
