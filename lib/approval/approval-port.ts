import * as z from 'zod';

/**
 * Who may approve which environment. This comes from helmgate's own configuration (the stage
 * parameter HELMGATE_APPROVERS), never from the repository being deployed: otherwise a commit
 * could add its own author as an approver.
 */
export const EnvironmentApprovers = z
  .object({
    github: z.array(z.string().min(1)).default([]),
    /** `org/team-slug` */
    githubTeams: z.array(z.string().regex(/^[\w.-]+\/[\w.-]+$/)).default([]),
    /** Slack user ids */
    slack: z.array(z.string().regex(/^[UW][A-Z0-9]+$/)).default([]),
    /** operator CLI principals: IAM ARNs in AWS (from STS), OS user names on a local stack */
    cli: z.array(z.string().min(1)).default([]),
    /** distinct GitHub logins needed */
    required: z.number().int().min(1).default(1),
    /**
     * May someone who pushed, wrote, committed or merged the commits approve them? Default: no —
     * four eyes wherever approval is required.
     */
    allowSelfApproval: z.boolean().default(false),
    /**
     * Slack user id -> GitHub login. Every vote is a GitHub login: a Slack user votes only when mapped
     * here, so one person has one vote whichever way they vote.
     */
    slackToGithub: z.record(z.string(), z.string().min(1)).default({}),
    /** CLI principal (IAM ARN, local OS user) -> GitHub login: a CLI principal votes only when mapped */
    cliToGithub: z.record(z.string(), z.string().min(1)).default({}),
  })
  .strict();
export type EnvironmentApprovers = z.infer<typeof EnvironmentApprovers>;
/**
 * Parsed onto a null-prototype object: environments are named by commits, and a lookup such as
 * `approvers[environment]` must not find Object.prototype's members for "toString" or "constructor".
 */
export const ApproversConfig = z
  .record(z.string(), EnvironmentApprovers)
  .transform((r): Record<string, EnvironmentApprovers> => Object.assign(Object.create(null), r));
export type ApproversConfig = z.infer<typeof ApproversConfig>;

export type Via = 'web' | 'slack' | 'cli';
export type Decision = 'approve' | 'reject';

export interface Voter {
  /** 'github' logins (web, or mapped from Slack), 'slack' user ids, 'cli' IAM principal */
  kind: 'github' | 'slack' | 'cli';
  id: string;
  /** GitHub teams (`org/slug`) the person belongs to, from their OAuth login */
  teams?: string[];
  displayName?: string;
}

export interface VoteInput {
  deploymentId: string;
  voter: Voter;
  via: Via;
  decision: Decision;
  /**
   * The plan digest the voter was shown (the approval page's hidden field): an approval is refused
   * when the request is bound to another plan by now. Slack and the CLI vote on the current plan.
   */
  planDigest?: string;
  /** explicit choice to deploy a commit older than what production runs */
  rollback?: boolean;
}

export type VoteOutcome =
  | { kind: 'approved'; deploymentId: string; dispatched: boolean }
  | { kind: 'recorded'; deploymentId: string; votes: number; required: number }
  | { kind: 'rejected'; deploymentId: string }
  | { kind: 'duplicate'; deploymentId: string };

/** Port the HTTP, Slack and CLI adapters call. Errors are HelmgateErrors: forbidden, expired, superseded, conflict... */
export interface ApprovalPort {
  vote(input: VoteInput): Promise<VoteOutcome>;
}
