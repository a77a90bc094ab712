import type { Octokit } from '@octokit/core';
import type { ApproversConfig } from '../approval/approval-port';
import { HelmgateError } from '../errors';

/**
 * Which of `teams` (`org/slug`) the GitHub user belongs to now. Votes ask this when they are cast,
 * so leaving a team takes effect at once, not when the login expires.
 */
export type TeamMembership = (login: string, teams: readonly string[]) => Promise<string[]>;

/** Every team any environment's approvers name (lower-case): the only ones worth asking about. */
export function approverTeams(approvers: ApproversConfig): string[] {
  const all = new Set<string>();
  for (const env of Object.values(approvers)) for (const t of env.githubTeams) all.add(t.toLowerCase());
  return [...all].sort();
}

/**
 * Asks GitHub with helmgate's own token (`GET /orgs/{org}/teams/{slug}/memberships/{username}`; a
 * GitHub App needs the organization permission "Members: read", a token `read:org`). 404 = not a
 * member; `pending` invitations do not count; anything else GitHub answers is `unavailable`, so a
 * vote is refused with a retry rather than decided on stale or missing data.
 */
export function githubTeamMembership(octokit: Pick<Octokit, 'request'>): TeamMembership {
  return async (login, teams) => {
    const member: string[] = [];
    for (const team of teams) {
      const [org, slug] = team.split('/');
      if (!org || !slug) continue;
      try {
        const res = await octokit.request('GET /orgs/{org}/teams/{team_slug}/memberships/{username}', {
          org,
          team_slug: slug,
          username: login,
        });
        if ((res.data as { state?: string }).state === 'active') member.push(team.toLowerCase());
      } catch (e) {
        if ((e as { status?: number }).status === 404) continue;
        throw new HelmgateError('unavailable', 'could not check GitHub team membership; try again', {
          cause: e,
        });
      }
    }
    return member;
  };
}

/** No way to ask GitHub (no token configured): team membership counts for nothing, logins still do. */
export const noTeamMembership: TeamMembership = async () => [];
