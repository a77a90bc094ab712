import type { ApproversConfig, EnvironmentApprovers, Voter } from './approval-port';

/** Who a voter is for counting votes: one person has one key whether they vote on the web or in Slack. */
export interface VoterIdentity {
  /** votes map key: `github:<login>` (also for Slack users mapped to a login), `slack:<id>`, `cli:<id>` */
  key: string;
  /** lower-cased GitHub login when known (web, or Slack mapped through slackToGithub) */
  login?: string;
  /** for the audit and the page */
  label: string;
}

export type Authorization =
  | { ok: true; identity: VoterIdentity; config: EnvironmentApprovers }
  | { ok: false; reason: string };

const lower = (s: string) => s.toLowerCase();

export function identify(voter: Voter, cfg: EnvironmentApprovers | undefined): VoterIdentity {
  if (voter.kind === 'github') {
    const login = lower(voter.id);
    return { key: `github:${login}`, login, label: login };
  }
  if (voter.kind === 'slack') {
    const mapped = cfg?.slackToGithub[voter.id];
    return mapped
      ? {
          key: `github:${lower(mapped)}`,
          login: lower(mapped),
          label: `${lower(mapped)} (Slack ${voter.id})`,
        }
      : {
          key: `slack:${voter.id}`,
          label: `Slack ${voter.id}${voter.displayName ? ` (${voter.displayName})` : ''}`,
        };
  }
  return { key: `cli:${voter.id}`, login: lower(voter.id), label: `${voter.id} (cli)` };
}

/**
 * May this voter approve or reject `environment`? GitHub logins and `org/team` memberships (from the
 * voter's OAuth login), Slack ids, or Slack ids mapped to an allowed login. Logins and team slugs
 * compare case-insensitively, as GitHub does. A CLI voter is allowed by its principal in the `cli`
 * list (its IAM ARN from STS in AWS), or as the GitHub login of the same name.
 */
export function authorize(voter: Voter, environment: string, approvers: ApproversConfig): Authorization {
  const cfg = approvers[environment];
  if (!cfg)
    return { ok: false, reason: `nobody may approve ${environment}: no approvers are configured for it` };
  const identity = identify(voter, cfg);
  const logins = new Set(cfg.github.map(lower));
  const teams = new Set(cfg.githubTeams.map(lower));
  let allowed = false;
  if (identity.login !== undefined && logins.has(identity.login)) allowed = true;
  if (voter.kind === 'github' && (voter.teams ?? []).some((t) => teams.has(lower(t)))) allowed = true;
  if (voter.kind === 'slack' && cfg.slack.includes(voter.id)) allowed = true;
  if (voter.kind === 'cli' && cfg.cli.includes(voter.id)) allowed = true;
  if (!allowed) return { ok: false, reason: `${identity.label} is not allowed to approve ${environment}` };
  return { ok: true, identity, config: cfg };
}

/** The pusher rule: a refusal reason, or undefined when this approval is fine. */
export function selfApprovalRefusal(
  identity: VoterIdentity,
  cfg: EnvironmentApprovers,
  pusher: string | undefined,
  environment: string,
): string | undefined {
  if (cfg.allowSelfApproval || pusher === undefined) return undefined;
  if (identity.login === undefined)
    return 'your Slack account is not mapped to a GitHub login, so helmgate cannot tell whether you pushed this commit; approve through the web link';
  if (identity.login === lower(pusher))
    return `you pushed this commit; ${environment} needs someone else's approval`;
  return undefined;
}

/** Is this GitHub login (or one of its teams) an approver of any environment? Approvers may read everything. */
export function isApproverAnywhere(
  login: string,
  teams: readonly string[],
  approvers: ApproversConfig,
): boolean {
  const l = lower(login);
  const t = new Set(teams.map(lower));
  return Object.values(approvers).some(
    (cfg) => cfg.github.some((g) => lower(g) === l) || cfg.githubTeams.some((g) => t.has(lower(g))),
  );
}
