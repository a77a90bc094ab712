import * as z from 'zod';

/** A commit's author or committer as GitHub reports it; `username` is set when GitHub knows the account. */
const CommitPerson = z
  .object({ name: z.string().nullish(), email: z.string().nullish(), username: z.string().nullish() })
  .nullish();

const PushCommit = z.object({
  id: z.string(),
  author: CommitPerson,
  committer: CommitPerson,
});

/** The fields of GitHub's `push` event helmgate relies on; everything else is ignored. */
export const PushEvent = z.object({
  ref: z.string(),
  before: z.string().optional(),
  after: z.string().regex(/^[0-9a-f]{40}$/, 'expected a commit SHA'),
  created: z.boolean().optional(),
  deleted: z.boolean().default(false),
  forced: z.boolean().optional(),
  compare: z.string().optional(),
  repository: z.object({
    full_name: z.string(),
    default_branch: z.string().optional(),
    html_url: z.string().optional(),
  }),
  head_commit: z
    .object({
      id: z.string(),
      message: z.string().default(''),
      url: z.string().optional(),
      author: CommitPerson,
      committer: CommitPerson,
    })
    .nullable()
    .optional(),
  /** the commits this push adds (GitHub lists up to 2048) */
  commits: z.array(PushCommit).max(5000).default([]),
  pusher: z.object({ name: z.string().optional() }).partial().optional(),
  /** set when a GitHub App delivered the push: a hint only (lib/github/app-auth.ts InstallationDirectory) */
  installation: z.object({ id: z.number().int().positive() }).optional(),
  sender: z.object({ login: z.string().optional() }).partial().optional(),
});
export type PushEvent = z.infer<typeof PushEvent>;

const LOGIN = /^[A-Za-z0-9](?:[A-Za-z0-9-]|\[bot\]){0,45}$/;

/**
 * Everyone with a hand in a push, as lower-case GitHub logins: who pushed (`pusher.name`), who sent it
 * (`sender.login`: whoever merged, when a merge moved the branch), and the authors and committers of
 * its commits where GitHub resolved them to an account (`username`). Authors GitHub could not match
 * to an account (only a name and e-mail) cannot be named here.
 */
export function involvedLogins(event: PushEvent): string[] {
  const out = new Set<string>();
  const add = (login: string | null | undefined) => {
    if (login && LOGIN.test(login)) out.add(login.toLowerCase());
  };
  add(event.pusher?.name);
  add(event.sender?.login);
  for (const c of [...event.commits, ...(event.head_commit ? [event.head_commit] : [])]) {
    add(c.author?.username);
    add(c.committer?.username);
  }
  return [...out].sort();
}

export type PushDecision = { kind: 'deploy'; branch: string } | { kind: 'ignore'; reason: string };

/** Pure: does this push deploy? Tags, deletions and branches other than the deploy branches do not. */
export function decidePush(event: PushEvent, branches: readonly string[]): PushDecision {
  if (event.ref.startsWith('refs/tags/'))
    return { kind: 'ignore', reason: `tag push ${event.ref} does not deploy` };
  if (!event.ref.startsWith('refs/heads/'))
    return { kind: 'ignore', reason: `ref ${event.ref} is not a branch` };
  const branch = event.ref.slice('refs/heads/'.length);
  if (event.deleted || /^0{40}$/.test(event.after))
    return { kind: 'ignore', reason: `branch ${branch} was deleted` };
  const allowed =
    branches.length > 0 ? branches : event.repository.default_branch ? [event.repository.default_branch] : [];
  if (!allowed.includes(branch))
    return {
      kind: 'ignore',
      reason: `branch ${branch} is not a deploy branch (${allowed.join(', ') || 'none known'})`,
    };
  return { kind: 'deploy', branch };
}
