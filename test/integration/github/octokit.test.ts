import { fixedClock } from '../../../lib/clock';
import { createGithubClient } from '../../../lib/github/octokit';
import { createLogger, memorySink } from '../../../lib/log/logger';
import { Redactor } from '../../../lib/log/redact';
import { GithubApiStandIn } from '../../stand-ins/github-api';

const REPO = 'Codertocat/Hello-World';
const SHA = '6113728f27ae82c7b1a177c8d03f9e96e0adf246';
const SECONDARY = 'You have exceeded a secondary rate limit. Please wait a few minutes before you try again.';

describe('createGithubClient (retry and throttling plugins, loopback GitHub)', () => {
  let github: GithubApiStandIn;
  let logs: string[];
  let client: ReturnType<typeof createGithubClient>;

  beforeEach(async () => {
    github = await new GithubApiStandIn({ token: 'ghs_t' }).start();
    github.setFile(REPO, SHA, 'deploy.yaml', 'environments: {}\n');
    const sink = memorySink();
    logs = sink.lines;
    const logger = createLogger({
      redactor: new Redactor(),
      clock: fixedClock('2026-11-24T12:00:00Z'),
      write: sink.write,
    });
    // 1 ms per second of back-off: the waits are real but take no time
    client = createGithubClient({ baseUrl: github.url, auth: 'ghs_t', logger, retryAfterBaseMs: 1 });
  });

  afterEach(() => github.close());

  const readDeployYaml = () =>
    client.request('GET /repos/{owner}/{repo}/contents/{path}', {
      owner: 'Codertocat',
      repo: 'Hello-World',
      path: 'deploy.yaml',
      ref: SHA,
    });
  const contentsCalls = () => github.calls.filter((c) => c.path.endsWith('/contents/deploy.yaml')).length;

  it('retries a 5xx and returns the answer of the retry', async () => {
    github.failNext('contents', 502, 'Server Error');
    const res = await readDeployYaml();
    expect(res.status).toBe(200);
    expect(String(res.data)).toBe('environments: {}\n');
    expect(contentsCalls()).toBe(2);
  });

  it('gives up after two retries of a persistent 5xx and throws the status', async () => {
    github.failNext('contents', 503, 'Unavailable', 5);
    await expect(readDeployYaml()).rejects.toMatchObject({ status: 503 });
    expect(contentsCalls()).toBe(3);
  });

  it('does not retry a 4xx that retrying cannot cure', async () => {
    github.failNext('contents', 422, 'Unprocessable');
    await expect(readDeployYaml()).rejects.toMatchObject({ status: 422 });
    expect(contentsCalls()).toBe(1);
  });

  it('waits out a secondary rate limit for the retry-after GitHub sends, then retries the write', async () => {
    github.failNext('create_deployment', 403, SECONDARY, 1, { 'retry-after': '2' });
    const res = await client.request('POST /repos/{owner}/{repo}/deployments', {
      owner: 'Codertocat',
      repo: 'Hello-World',
      ref: SHA,
      environment: 'staging',
    });
    expect(res.status).toBe(201);
    expect(github.calls.filter((c) => c.method === 'POST')).toHaveLength(2);
    expect(github.deployments).toHaveLength(1);
    const warned = logs.map((l) => JSON.parse(l)).filter((l) => l.msg === 'github rate limit');
    expect(warned).toEqual([
      expect.objectContaining({ kind: 'secondary', retryAfterSeconds: 2, willRetry: true, level: 'warn' }),
    ]);
  });

  it('does not wait for a rate limit longer than it accepts, and says so', async () => {
    github.failNext('create_deployment', 403, SECONDARY, 1, { 'retry-after': '3600' });
    await expect(
      client.request('POST /repos/{owner}/{repo}/deployments', {
        owner: 'Codertocat',
        repo: 'Hello-World',
        ref: SHA,
        environment: 'staging',
      }),
    ).rejects.toMatchObject({ status: 403 });
    expect(github.calls.filter((c) => c.method === 'POST')).toHaveLength(1);
    expect(logs.map((l) => JSON.parse(l))).toEqual([
      expect.objectContaining({ msg: 'github rate limit', retryAfterSeconds: 3600, willRetry: false }),
    ]);
  });

  // The plugin's default spaces writes 1 s apart (the third would arrive after 2 s); the test's own
  // time limit of 1.5 s is that bound, loopback requests take milliseconds.
  it('sends three writes at once, without spacing them a second apart', async () => {
    const allArrived = github.hold('create_deployment', 3);
    const posted = Promise.all(
      ['a', 'b', 'c'].map((environment) =>
        client.request('POST /repos/{owner}/{repo}/deployments', {
          owner: 'Codertocat',
          repo: 'Hello-World',
          ref: SHA,
          environment,
        }),
      ),
    );
    // the stand-in answers none until all three have arrived: a client that serialised writes would time out
    await allArrived;
    expect((await posted).map((r) => r.status)).toEqual([201, 201, 201]);
  }, 1_500);
});
