import { generateKeyPairSync } from 'node:crypto';
import { githubTeamMembership } from '../../../lib/auth/team-membership';
import { fixedClock } from '../../../lib/clock';
import { parseGithubAppSecret } from '../../../lib/github/app-auth';
import { createGithubAppClient, type createGithubClient } from '../../../lib/github/octokit';
import { GithubApiStandIn, type StandInInstallation } from '../../stand-ins/github-api';

// One GitHub App (issue 15 item 1): a JWT signed with the App's private key finds the installation of
// each repository and is exchanged for an installation token scoped to that repository, reused, and
// replaced before it expires — against the loopback GitHub, which checks the JWT with the App's public
// key, refuses expired tokens, and lets a token reach only its installation's (and scope's) repositories.
const keys = () => generateKeyPairSync('rsa', { modulusLength: 2048 });
const { privateKey, publicKey } = keys();
const pem = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
const APP_ID = 123456;
const SHA = 'a'.repeat(40);

describe('GitHub App authentication against the stand-in', () => {
  let gh: GithubApiStandIn;
  const clock = fixedClock('2026-11-26T02:00:00Z');
  const start = async (installations: StandInInstallation[], pinned?: number) => {
    gh = await new GithubApiStandIn({
      app: {
        now: () => clock.now().getTime(),
        id: APP_ID,
        ...(pinned !== undefined ? { installationId: pinned } : {}),
        installations,
        publicKey: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      },
    }).start();
    for (const r of ['acme/web', 'acme/api', 'beta/site', 'gamma/other']) gh.setHead(r, 'main', SHA);
  };
  beforeEach(() => clock.set('2026-11-26T02:00:00Z'));
  afterEach(async () => {
    await gh.close();
  });

  const secret = (extra: Record<string, unknown> = {}, key = pem) =>
    parseGithubAppSecret(
      JSON.stringify({ appId: String(APP_ID), privateKey: key.replace(/\n/g, '\\n'), ...extra }),
    );
  const client = (extra: Record<string, unknown> = {}, key = pem) =>
    createGithubAppClient({ baseUrl: gh.url, retries: 0, clock, app: secret(extra, key) });
  const exchanges = (id?: number) =>
    gh.calls.filter(
      (c) =>
        /^\/app\/installations\/\d+\/access_tokens$/.test(c.path) &&
        (id === undefined || c.path.includes(`/${id}/`)),
    );
  const lookups = () => gh.calls.filter((c) => c.path.endsWith('/installation'));
  const readRef = (octokit: ReturnType<typeof createGithubClient>, repository = 'acme/web') => {
    const [owner, repo] = repository.split('/') as [string, string];
    return octokit.request('GET /repos/{owner}/{repo}/git/ref/{ref}', { owner, repo, ref: 'heads/main' });
  };
  const tokenOf = (repository: string) =>
    gh.calls.filter((c) => c.path.startsWith(`/repos/${repository}/git/`)).at(-1)?.authorization;
  const ACME = { id: 11, account: 'acme', repositories: 'all' as const };
  const BETA = { id: 22, account: 'beta', repositories: ['beta/site'] };

  it('looks up the installation with the App JWT, exchanges it once for a token scoped to the repository, and reuses it', async () => {
    await start([ACME]);
    const { octokit } = client();
    expect((await readRef(octokit)).data.object.sha).toBe(SHA);
    expect((await readRef(octokit)).status).toBe(200);
    expect(lookups().map((c) => c.path)).toEqual(['/repos/acme/web/installation']);
    expect(lookups()[0]?.authorization).toMatch(/^bearer [\w-]+\.[\w-]+\.[\w-]+$/);
    expect(exchanges(11)).toHaveLength(1);
    expect(exchanges(11)[0]?.authorization).toMatch(/^bearer [\w-]+\.[\w-]+\.[\w-]+$/);
    expect(exchanges(11)[0]?.body).toMatchObject({ repositories: ['web'] });
    const apiCalls = gh.calls.filter((c) => c.path.startsWith('/repos/acme/web/git/'));
    expect(apiCalls).toHaveLength(2);
    for (const c of apiCalls) expect(c.authorization).toMatch(/^token ghs_\w+$/);
    expect(gh.appRefusals).toEqual([]);
  });

  it('two repositories on two installations get two different tokens, each only good for its repository', async () => {
    await start([ACME, BETA]);
    const { octokit } = client();
    await readRef(octokit, 'acme/web');
    await readRef(octokit, 'beta/site');
    expect(exchanges(11)).toHaveLength(1);
    expect(exchanges(22)).toHaveLength(1);
    const web = tokenOf('acme/web');
    const site = tokenOf('beta/site');
    expect(web).toMatch(/^token ghs_/);
    expect(site).toMatch(/^token ghs_/);
    expect(web).not.toBe(site);
    // the stand-in enforces the scope: acme/web's token does not open beta/site, nor acme/api
    for (const other of ['beta/site', 'acme/api']) {
      const res = await fetch(`${gh.url}/repos/${other}/git/ref/heads/main`, {
        headers: { authorization: web ?? '' },
      });
      expect(res.status).toBe(404);
    }
    // a second repository of the same installation gets its own narrowed token
    await readRef(octokit, 'acme/api');
    expect(exchanges(11)).toHaveLength(2);
    expect(tokenOf('acme/api')).not.toBe(web);
  });

  it('a repository the App is not installed on is refused with a clear error and gets no token', async () => {
    await start([ACME, BETA]);
    const { octokit } = client();
    await expect(readRef(octokit, 'gamma/other')).rejects.toMatchObject({
      code: 'forbidden',
      message: expect.stringContaining('not installed on gamma/other'),
    });
    expect(exchanges()).toHaveLength(0);
    expect(gh.calls.filter((c) => c.path.startsWith('/repos/gamma/other/git/'))).toHaveLength(0);
  });

  it('an older secret that pins an installation refuses repositories served by another one', async () => {
    await start([ACME, BETA]);
    const { octokit } = client({ installationId: 11 });
    expect((await readRef(octokit, 'acme/web')).status).toBe(200);
    await expect(readRef(octokit, 'beta/site')).rejects.toThrow(
      /served by GitHub App installation 22.*pins installation 11/,
    );
    expect(exchanges(22)).toHaveLength(0);
  });

  it('signs a new installation token five minutes before the old one expires', async () => {
    await start([ACME]);
    const { octokit } = client();
    await readRef(octokit);
    const first = [...gh.installationTokens.keys()];
    expect(first).toHaveLength(1);
    clock.advance(54 * 60_000);
    await readRef(octokit);
    expect(exchanges()).toHaveLength(1); // still six minutes to go: reused
    clock.advance(2 * 60_000);
    expect((await readRef(octokit)).status).toBe(200);
    expect(exchanges()).toHaveLength(2);
    expect(tokenOf('acme/web')).not.toBe(`token ${first[0]}`);
    // and the stand-in does refuse the first token once it has expired
    clock.advance(5 * 60_000);
    const res = await fetch(`${gh.url}/repos/acme/web/git/ref/heads/main`, {
      headers: { authorization: `token ${first[0]}` },
    });
    expect(res.status).toBe(401);
    expect(gh.appRefusals).toEqual(['installation token expired']);
  });

  it('remembers a repository’s installation for ten minutes, then asks GitHub again', async () => {
    await start([ACME]);
    const { octokit } = client();
    await readRef(octokit);
    clock.advance(9 * 60_000);
    await readRef(octokit);
    expect(lookups()).toHaveLength(1);
    clock.advance(2 * 60_000);
    await readRef(octokit);
    expect(lookups()).toHaveLength(2);
  });

  it('a webhook’s installation id is only a hint: GitHub’s answer decides, and a different hint makes it ask again', async () => {
    await start([ACME, BETA]);
    const { installations } = client();
    if (!installations) throw new Error('expected an App client');
    expect(await installations.verify('acme/web', 11)).toBe(11);
    expect(lookups()).toHaveLength(1);
    expect(await installations.verify('acme/web', 11)).toBe(11);
    expect(lookups()).toHaveLength(1);
    // a body naming beta's installation for acme/web does not get beta's credentials
    expect(await installations.verify('acme/web', 22)).toBe(11);
    expect(lookups()).toHaveLength(2);
    await expect(installations.verify('gamma/other', 11)).rejects.toMatchObject({ code: 'forbidden' });
  });

  it('team membership asks with a token of the organization’s installation, narrowed to members: read', async () => {
    await start([ACME, BETA]);
    gh.teamMembers.set('acme/ops', new Set(['alice']));
    const { octokit } = client();
    const member = githubTeamMembership(octokit);
    expect(await member('alice', ['acme/ops'])).toEqual(['acme/ops']);
    expect(await member('bob', ['acme/ops'])).toEqual([]);
    expect(lookups().map((c) => c.path)).toEqual(['/orgs/acme/installation']);
    expect(exchanges(11)[0]?.body).toMatchObject({ permissions: { members: 'read' } });
    await expect(member('alice', ['gamma/ops'])).rejects.toMatchObject({ code: 'unavailable' });
  });

  // auth-app keys its token cache (and its module-wide map of exchanges in flight) by installation id,
  // repository names and permissions joined with `|`, empty parts dropped: a token for the repository
  // `members` and the organization's `members: read` token were both `<installation>|members`.
  it('a repository named `members` gets its own token after the organization’s members token was cached', async () => {
    await start([ACME]);
    gh.setHead('acme/members', 'main', SHA);
    gh.teamMembers.set('acme/ops', new Set(['alice']));
    const { octokit } = client();
    expect(await githubTeamMembership(octokit)('alice', ['acme/ops'])).toEqual(['acme/ops']);
    expect((await readRef(octokit, 'acme/members')).data.object.sha).toBe(SHA);
    expect(exchanges(11).map((c) => c.body)).toEqual([
      expect.objectContaining({ permissions: expect.objectContaining({ members: 'read' }) }),
      expect.objectContaining({ repositories: ['members'] }),
    ]);
    // and the other way round: the repository's token does not serve the team check
    expect(await githubTeamMembership(octokit)('alice', ['acme/ops'])).toEqual(['acme/ops']);
    expect(exchanges(11)).toHaveLength(2);
    expect(gh.appRefusals).toEqual([]);
  });

  it('a repository named `members` and the organization’s members token asked for at once get one token each', async () => {
    await start([ACME]);
    gh.setHead('acme/members', 'main', SHA);
    gh.teamMembers.set('acme/ops', new Set(['alice']));
    const { octokit } = client();
    const [teams, ref] = await Promise.all([
      githubTeamMembership(octokit)('alice', ['acme/ops']),
      readRef(octokit, 'acme/members'),
    ]);
    expect(teams).toEqual(['acme/ops']);
    expect(ref.data.object.sha).toBe(SHA);
    expect(exchanges(11)).toHaveLength(2);
    expect(gh.appRefusals).toEqual([]);
  });

  it('an App JWT signed with another key gets no installation token', async () => {
    await start([ACME]);
    const other = keys().privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
    await expect(readRef(client({}, other).octokit)).rejects.toMatchObject({
      code: 'invalid_config',
      message: expect.stringContaining('refused the App JWT'),
    });
    expect(gh.appRefusals).toContain('signature does not match the App key');
    expect(gh.installationTokens.size).toBe(0);
  });

  it('the App secret is checked field by field, and its errors carry no value', () => {
    expect(() => parseGithubAppSecret('{"appId": 1, "installationId": 2}')).toThrow(/privateKey/);
    expect(() => parseGithubAppSecret('not json {secret}')).toThrow(/not JSON/);
    expect(() =>
      parseGithubAppSecret(JSON.stringify({ appId: 1, privateKey: 'RSA PRIVATE KEY', clientSecret: '' })),
    ).toThrow(/clientSecret/);
    let message = '';
    try {
      parseGithubAppSecret(JSON.stringify({ appId: 'x', privateKey: 'SECRETVALUE', installationId: 2 }));
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(/appId/);
    expect(message).not.toContain('SECRETVALUE');
  });
});
