import { generateKeyPairSync } from 'node:crypto';
import { fixedClock } from '../../../lib/clock';
import { parseGithubAppSecret } from '../../../lib/github/app-auth';
import { createGithubClient } from '../../../lib/github/octokit';
import { GithubApiStandIn } from '../../stand-ins/github-api';

// One GitHub App (issue 15 item 1): a JWT signed with the App's private key, exchanged for an
// installation token, reused, and replaced before it expires — against the loopback GitHub, which checks
// the JWT with the App's public key and refuses expired installation tokens.
const keys = () => generateKeyPairSync('rsa', { modulusLength: 2048 });
const { privateKey, publicKey } = keys();
const pem = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
const APP = { id: 123456, installationId: 4242 };

describe('GitHub App authentication against the stand-in', () => {
  let gh: GithubApiStandIn;
  const clock = fixedClock('2026-11-26T02:00:00Z');
  beforeEach(async () => {
    clock.set('2026-11-26T02:00:00Z');
    gh = await new GithubApiStandIn({
      app: {
        now: () => clock.now().getTime(),
        id: APP.id,
        installationId: APP.installationId,
        publicKey: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      },
    }).start();
    gh.setHead('o/r', 'main', 'a'.repeat(40));
  });
  afterEach(async () => {
    await gh.close();
  });

  const client = (key = pem) =>
    createGithubClient({
      baseUrl: gh.url,
      retries: 0,
      clock,
      app: parseGithubAppSecret(
        JSON.stringify({
          appId: String(APP.id),
          privateKey: key.replace(/\n/g, '\\n'),
          installationId: APP.installationId,
        }),
      ),
    });
  const exchanges = () =>
    gh.calls.filter((c) => c.path === `/app/installations/${APP.installationId}/access_tokens`);
  const readRef = (octokit: ReturnType<typeof client>) =>
    octokit.request('GET /repos/{owner}/{repo}/git/ref/{ref}', { owner: 'o', repo: 'r', ref: 'heads/main' });

  it('exchanges an App JWT for an installation token once, and calls the API with it', async () => {
    const octokit = client();
    expect((await readRef(octokit)).data.object.sha).toBe('a'.repeat(40));
    expect((await readRef(octokit)).status).toBe(200);
    expect(exchanges()).toHaveLength(1);
    expect(exchanges()[0]?.authorization).toMatch(/^bearer [\w-]+\.[\w-]+\.[\w-]+$/);
    const apiCalls = gh.calls.filter((c) => c.path.startsWith('/repos/'));
    expect(apiCalls).toHaveLength(2);
    for (const c of apiCalls) expect(c.authorization).toMatch(/^token ghs_\w+$/);
    expect(gh.appRefusals).toEqual([]);
  });

  it('signs a new installation token five minutes before the old one expires', async () => {
    const octokit = client();
    await readRef(octokit);
    const first = [...gh.installationTokens.keys()];
    expect(first).toHaveLength(1);
    clock.advance(54 * 60_000);
    await readRef(octokit);
    expect(exchanges()).toHaveLength(1); // still six minutes to go: reused
    clock.advance(2 * 60_000);
    expect((await readRef(octokit)).status).toBe(200);
    expect(exchanges()).toHaveLength(2);
    const last = gh.calls.filter((c) => c.path.startsWith('/repos/')).at(-1);
    expect(last?.authorization).not.toBe(`token ${first[0]}`);
    // and the stand-in does refuse the first token once it has expired
    clock.advance(5 * 60_000);
    const res = await fetch(`${gh.url}/repos/o/r/git/ref/heads/main`, {
      headers: { authorization: `token ${first[0]}` },
    });
    expect(res.status).toBe(401);
    expect(gh.appRefusals).toEqual(['installation token expired']);
  });

  it('an App JWT signed with another key gets no installation token', async () => {
    const other = keys().privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
    await expect(readRef(client(other))).rejects.toMatchObject({ status: 401 });
    expect(gh.appRefusals).toContain('signature does not match the App key');
    expect(gh.installationTokens.size).toBe(0);
  });

  it('the App secret is checked field by field, and its errors carry no value', () => {
    expect(() => parseGithubAppSecret('{"appId": 1, "installationId": 2}')).toThrow(/privateKey/);
    expect(() => parseGithubAppSecret('not json {secret}')).toThrow(/not JSON/);
    try {
      parseGithubAppSecret(JSON.stringify({ appId: 'x', privateKey: 'SECRETVALUE', installationId: 2 }));
    } catch (e) {
      expect((e as Error).message).not.toContain('SECRETVALUE');
    }
  });
});
