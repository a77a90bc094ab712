import { installationTargetOf, requestPath } from '../../../lib/github/app-auth';

describe('which installation a GitHub request needs', () => {
  it('reads the repository or organization from the path the request will reach', () => {
    expect(installationTargetOf('/repos/acme/web/contents/deploy.yaml')).toEqual({
      kind: 'repository',
      owner: 'acme',
      repo: 'web',
    });
    expect(installationTargetOf('/orgs/acme/teams/ops/memberships/alice')).toEqual({
      kind: 'org',
      org: 'acme',
    });
    // the App's own look-ups are signed with its JWT, not with an installation token
    expect(installationTargetOf('/repos/acme/web/installation')).toBeUndefined();
    expect(installationTargetOf('/orgs/acme/installation')).toBeUndefined();
    expect(installationTargetOf('/app/installations/1/access_tokens')).toBeUndefined();
    expect(installationTargetOf(undefined)).toBeUndefined();
  });

  it('resolves dot segments as fetch does, and refuses a URL that leaves the API base', () => {
    const api = 'https://api.github.com';
    expect(requestPath(`${api}/repos/acme/web/contents/../../../beta/site/tarball/x`, api)).toBe(
      '/repos/beta/site/tarball/x',
    );
    expect(requestPath(`${api}/repos/acme/web/contents/%2e%2e/%2e%2e/%2e%2e/beta/site/x`, api)).toBe(
      '/repos/beta/site/x',
    );
    const ghes = 'https://ghe.example/api/v3';
    expect(requestPath('https://ghe.example/api/v3/repos/acme/web/git/ref/heads/main', ghes)).toBe(
      '/repos/acme/web/git/ref/heads/main',
    );
    expect(requestPath('https://ghe.example/api/v3/../../repos/acme/web', ghes)).toBeUndefined();
    expect(requestPath('https://evil.example/repos/acme/web', api)).toBeUndefined();
  });
});
