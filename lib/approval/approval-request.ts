import type { ManifestDiff } from '../deploy/manifest-diff';
import type { ReleaseChange } from '../deploy/plan-diff';
import type { Decision, Via } from './approval-port';

export type ApprovalRequestStatus = 'pending' | 'approved' | 'rejected' | 'expired' | 'void';

export interface VoteRecord {
  /** `github:alice`, `slack:U0123`, `cli:arn:…` */
  actor: string;
  via: Via;
  decision: Decision;
  at: string;
  displayName?: string;
}

/** One approval request per deployment: what was shown, to whom the link went (its hash), the votes. */
export interface ApprovalRequest {
  deploymentId: string;
  repository: string;
  sha: string;
  environment: string;
  /** the environment that had to succeed first for this sha */
  after?: string;
  planDigest: string;
  changes: ReleaseChange[];
  /** the rendered objects' diff against what runs, rendered for `planDigest` (absent: not rendered) */
  manifests?: ManifestDiff;
  /**
   * When the rendered diff was asked of a preview job running with the environment's own credentials
   * (lib/runner/preview-job.ts); present until that job records `manifests` (issue 13, item 1).
   */
  manifestsPending?: string;
  summary: string[];
  createdAt: string;
  expiresAt: string;
  expiresAtMs: number;
  /** legacy (before issue 11): the hash of the link's token; links carry no token any more */
  tokenHash?: string;
  status: ApprovalRequestStatus;
  votes: Record<string, VoteRecord>;
  voteCount: number;
  decidedAt?: string;
  decidedBy?: string;
  /** legacy (before issue 11) */
  tokenUsedAt?: string;
  reason?: string;
  remindedAt?: string;
  rollback?: boolean;
}

/** One approve vote, written as ONE conditional update (see DeploymentStore.recordApprovalVote). */
export interface ApprovalVoteWrite {
  voterKey: string;
  vote: VoteRecord;
  /** the vote count read before: nobody else may have voted since */
  expectedCount: number;
  /** this vote decides: the request becomes approved */
  final: boolean;
  now: Date;
  planDigest: string;
  rollback: boolean;
}

/** A rejection, which decides at once. */
export interface RejectionWrite {
  voterKey: string;
  vote: VoteRecord;
  now: Date;
}
