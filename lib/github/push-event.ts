import * as z from 'zod';

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
      author: z.object({ name: z.string().optional(), username: z.string().optional() }).partial().optional(),
    })
    .nullable()
    .optional(),
  pusher: z.object({ name: z.string().optional() }).partial().optional(),
  sender: z.object({ login: z.string().optional() }).partial().optional(),
});
export type PushEvent = z.infer<typeof PushEvent>;

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
