import type { ApproversConfig, EnvironmentApprovers, Voter } from './approval-port';

/**
 * Who a voter is for counting votes. Every vote resolves to a GitHub login (issue 11): the web login
 * itself, or a Slack id / CLI principal mapped through `slackToGithub` / `cliToGithub`. One person has
 * one key, `github:<login>`, whichever way they vote, so `required: N` counts distinct logins.
 */
export interface VoterIdentity {
  /** votes map key: `github:<login>`; `slack:<id>` / `cli:<id>` only for unmapped voters (refused) */
  key: string;
  /** lower-cased GitHub login; absent for an unmapped Slack or CLI voter, who may not vote */
  login?: string;
  /** for the audit and the page */
  label: string;
}

export type Authorization =
  | { ok: true; identity: VoterIdentity & { login: string }; config: EnvironmentApprovers }
  | { ok: false; reason: string };

const lower = (s: string) => s.toLowerCase();

export function identify(voter: Voter, cfg: EnvironmentApprovers | undefined): VoterIdentity {
  if (voter.kind === 'github') {
    const login = lower(voter.id);
    return { key: `github:${login}`, login, label: login };
  }
  const mapped = voter.kind === 'slack' ? cfg?.slackToGithub[voter.id] : cfg?.cliToGithub[voter.id];
  const via = voter.kind === 'slack' ? `Slack ${voter.id}` : `${voter.id} (cli)`;
  if (mapped) {
    const login = lower(mapped);
    const label =
      voter.kind === 'slack'
        ? `${login} (${via})`
        : lower(voter.id) === login
          ? `${login} (cli)`
          : `${login} (cli ${voter.id})`;
    return { key: `github:${login}`, login, label };
  }
  return {
    key: `${voter.kind}:${voter.id}`,
    label: voter.kind === 'slack' && voter.displayName ? `${via} (${voter.displayName})` : via,
  };
}

/**
 * May this voter approve or reject `environment`? Only as a GitHub login: a Slack id or CLI principal
 * that `slackToGithub` / `cliToGithub` does not map to one is refused, whatever list it is on. The
 * login is allowed when listed in `github`, when the web voter is in one of `githubTeams`, or when the
 * Slack id / CLI principal it was mapped from is listed in `slack` / `cli`. Logins and team slugs
 * compare case-insensitively, as GitHub does. A CLI principal that merely looks like a login is not
 * that login.
 */
export function authorize(voter: Voter, environment: string, approvers: ApproversConfig): Authorization {
  // own properties only: an environment named by a commit ("toString", "constructor") finds nothing
  const cfg = Object.hasOwn(approvers, environment) ? approvers[environment] : undefined;
  if (!cfg)
    return { ok: false, reason: `nobody may approve ${environment}: no approvers are configured for it` };
  const identity = identify(voter, cfg);
  const login = identity.login;
  if (login === undefined)
    return {
      ok: false,
      reason: `${identity.label} is not mapped to a GitHub login (${voter.kind === 'slack' ? 'slackToGithub' : 'cliToGithub'}): every vote must be one person's GitHub login`,
    };
  const logins = new Set(cfg.github.map(lower));
  const teams = new Set(cfg.githubTeams.map(lower));
  let allowed = logins.has(login);
  if (voter.kind === 'github' && (voter.teams ?? []).some((t) => teams.has(lower(t)))) allowed = true;
  if (voter.kind === 'slack' && cfg.slack.includes(voter.id)) allowed = true;
  if (voter.kind === 'cli' && cfg.cli.includes(voter.id)) allowed = true;
  if (!allowed) return { ok: false, reason: `${identity.label} is not allowed to approve ${environment}` };
  return { ok: true, identity: { ...identity, login }, config: cfg };
}

/**
 * The four-eyes rule: a refusal reason, or undefined when this approval is fine. `involved` are the
 * GitHub logins who had a hand in what is deployed — the pusher, whoever merged (the push's sender),
 * and the authors and committers of its commits where GitHub resolved them to a login.
 */
export function selfApprovalRefusal(
  identity: VoterIdentity,
  cfg: EnvironmentApprovers,
  involved: readonly string[],
  environment: string,
): string | undefined {
  if (cfg.allowSelfApproval) return undefined;
  if (identity.login === undefined)
    return `${identity.label} is not mapped to a GitHub login, so helmgate cannot tell whether they wrote or pushed this change`;
  if (involved.some((l) => lower(l) === identity.login))
    return `${identity.login} pushed, merged or wrote this change; ${environment} needs someone else's approval (four eyes)`;
  return undefined;
}

/** Everyone the four-eyes rule keeps from approving a deployment: its pusher and `involved`. */
export function involvedIn(d: { pusher?: string; involved?: readonly string[] }): string[] {
  return [...new Set([...(d.pusher ? [d.pusher] : []), ...(d.involved ?? [])].map(lower))];
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
