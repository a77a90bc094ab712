import { randomUUID } from 'node:crypto';
import { sign } from '@octokit/webhooks-methods';
import type { Git } from '../exec/git';

export interface LocalCommit {
  sha: string;
  branch: string;
  message: string;
  author: string;
}

/** The commit `rev` of a checkout (`npm run push`, tests): sha, branch, message, author. */
export async function headCommit(g: Git, repoDir: string, rev = 'HEAD'): Promise<LocalCommit> {
  const git = (...args: string[]) => g.output(repoDir, args);
  const sha = await git('rev-parse', `${rev}^{commit}`);
  let branch = 'main';
  try {
    branch = await git('symbolic-ref', '--short', 'HEAD');
  } catch {
    // detached HEAD: pretend main
  }
  return {
    sha,
    branch,
    message: await git('log', '-1', '--format=%B', sha),
    author: await git('log', '-1', '--format=%an', sha),
  };
}

/** A push event shaped like GitHub's (the fields helmgate reads, plus the usual ones). */
export function pushPayload(
  repository: string,
  commit: LocalCommit,
  opts: { before?: string; defaultBranch?: string } = {},
) {
  const [owner, name] = repository.split('/');
  return {
    ref: `refs/heads/${commit.branch}`,
    before: opts.before ?? '0'.repeat(40),
    after: commit.sha,
    created: false,
    deleted: false,
    forced: false,
    compare: `https://github.com/${repository}/compare/${commit.sha.slice(0, 12)}`,
    commits: [{ id: commit.sha, message: commit.message, author: { name: commit.author } }],
    head_commit: {
      id: commit.sha,
      message: commit.message,
      url: `https://github.com/${repository}/commit/${commit.sha}`,
      author: { name: commit.author },
    },
    repository: {
      name,
      full_name: repository,
      owner: { login: owner, name: owner },
      default_branch: opts.defaultBranch ?? commit.branch,
      html_url: `https://github.com/${repository}`,
    },
    pusher: { name: commit.author },
    sender: { login: commit.author.replace(/\s+/g, '-').toLowerCase() },
  };
}

export interface SignedRequest {
  headers: Record<string, string>;
  body: string;
}

export async function signedWebhook(
  secret: string,
  event: string,
  payload: unknown,
  deliveryId = randomUUID(),
): Promise<SignedRequest> {
  const body = JSON.stringify(payload);
  return {
    body,
    headers: {
      'content-type': 'application/json',
      'x-github-event': event,
      'x-github-delivery': deliveryId,
      'x-hub-signature-256': await sign(secret, body),
      'user-agent': 'GitHub-Hookshot/helmgate-local',
    },
  };
}
