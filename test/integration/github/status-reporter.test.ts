import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { c as createTar } from 'tar';
import { fixedClock } from '../../../lib/clock';
import type { Deployment } from '../../../lib/deploy/deployment';
import { GithubRepoSource } from '../../../lib/github/github-source';
import { createGithubClient } from '../../../lib/github/octokit';
import { GithubDeploymentsReporter, githubStatusOf } from '../../../lib/github/status-reporter';
import { createLogger, memorySink } from '../../../lib/log/logger';
import { Redactor } from '../../../lib/log/redact';
import { startDynalite, type TestDynamo } from '../../helpers/dynalite';
import { GithubApiStandIn } from '../../stand-ins/github-api';

const SHA = '6113728f27ae82c7b1a177c8d03f9e96e0adf246';
const REPO = 'Codertocat/Hello-World';
const PUBLIC_URL = 'https://helmgate.example.org';
const TOKEN = 'ghs_test_token_0001';

describe('GithubDeploymentsReporter (real Octokit, loopback GitHub, dynalite)', () => {
  let dynamo: TestDynamo;
  let github: GithubApiStandIn;
  let clock: ReturnType<typeof fixedClock>;
  let logs: string[];
  let makeReporter: () => GithubDeploymentsReporter;

  beforeEach(async () => {
    dynamo = await startDynalite();
    github = await new GithubApiStandIn({ token: TOKEN }).start();
    clock = fixedClock('2026-11-24T12:00:00Z');
    const sink = memorySink();
    logs = sink.lines;
    const logger = createLogger({ redactor: new Redactor(), clock, write: sink.write });
    makeReporter = () =>
      new GithubDeploymentsReporter({
        octokit: createGithubClient({ auth: TOKEN, baseUrl: github.url, logger, retryAfterBaseMs: 1 }),
        store: dynamo.store,
        publicUrl: PUBLIC_URL,
        clock,
        logger,
        claimWaitMs: 2_000,
      });
  });

  afterEach(async () => {
    await github.close();
    await dynamo.close();
  });

  function base(
    id: string,
    environment: string,
    approval: Deployment['approval'],
    status: Deployment['status'],
  ): Deployment {
    const at = clock.now().toISOString();
    return {
      id,
      repository: REPO,
      environment,
      sha: SHA,
      ref: 'refs/heads/main',
      status,
      approval,
      createdAt: at,
      updatedAt: at,
    };
  }

  async function move(
    r: GithubDeploymentsReporter,
    id: string,
    from: Deployment['status'][],
    to: Deployment['status'],
    patch: Partial<Deployment> = {},
  ) {
    clock.advance(1000);
    const d = await dynamo.store.transition(id, from, to, patch, clock.now());
    await r.deploymentChanged(d);
    return d;
  }

  it('creates one GitHub deployment for staging and posts queued, in_progress, success in order', async () => {
    const r = makeReporter();
    const st = base('st', 'staging', 'none', 'queued');
    await dynamo.store.createDeployment(st);
    await r.deploymentChanged(st);
    await move(r, 'st', ['queued'], 'running');
    await move(r, 'st', ['running'], 'succeeded');

    const creates = github.calls.filter(
      (c) => c.method === 'POST' && c.path === `/repos/${REPO}/deployments`,
    );
    expect(creates).toHaveLength(1);
    expect(creates[0]?.authorization).toBe(`token ${TOKEN}`);
    expect(creates[0]?.body).toEqual({
      ref: SHA,
      environment: 'staging',
      task: 'deploy',
      auto_merge: false,
      required_contexts: [],
      transient_environment: false,
      production_environment: false,
      description: 'helmgate st',
      payload: { helmgateDeploymentId: 'st' },
    });
    expect(github.statesOf('staging')).toEqual(['queued', 'in_progress', 'success']);
    const ghId = String(github.deployments[0]?.id);
    expect((await dynamo.store.getDeployment('st'))?.externalRefs).toEqual({ githubDeploymentId: ghId });
    for (const s of github.deployments[0]?.statuses ?? [])
      expect(s.log_url).toBe(`${PUBLIC_URL}/deployments/st`);
  });

  it('marks production as a production environment and links the deployment page (where approvers vote) while it waits', async () => {
    const r = makeReporter();
    const pub = base('pub', 'public', 'required', 'awaiting_approval');
    await dynamo.store.createDeployment(pub);
    await r.deploymentChanged(pub);
    expect(github.deployments[0]?.production_environment).toBe(true);
    expect(github.deployments[0]?.statuses).toEqual([
      expect.objectContaining({
        state: 'queued',
        description: 'Waiting for approval',
        log_url: `${PUBLIC_URL}/deployments/pub`,
        environment_url: `${PUBLIC_URL}/deployments/pub`,
      }),
    ]);
  });

  it('marks a superseded deployment inactive, on the same GitHub deployment', async () => {
    const r = makeReporter();
    const pub = base('pub', 'public', 'required', 'awaiting_approval');
    await dynamo.store.createDeployment(pub);
    await r.deploymentChanged(pub);
    await move(r, 'pub', ['awaiting_approval'], 'superseded', { supersededBy: 'newer' });
    expect(github.deployments).toHaveLength(1);
    expect(github.statesOf('public')).toEqual(['queued', 'inactive']);
    expect(github.deployments[0]?.statuses[1]?.description).toBe('Superseded by a newer push');
  });

  it('reports a failure with a description GitHub accepts (at most 140 characters)', async () => {
    const r = makeReporter();
    const st = base('st', 'staging', 'none', 'running');
    await dynamo.store.createDeployment(st);
    await r.deploymentChanged(st);
    await move(r, 'st', ['running'], 'failed', { reason: `helm failed: ${'x'.repeat(400)}` });
    const last = github.deployments[0]?.statuses.at(-1);
    expect(last?.state).toBe('failure');
    expect(last?.description?.length).toBeLessThanOrEqual(140);
  });

  it('does not create a GitHub deployment for one first seen already superseded', async () => {
    const r = makeReporter();
    const pub = base('pub', 'public', 'required', 'superseded');
    await dynamo.store.createDeployment(pub);
    await r.deploymentChanged(pub);
    expect(github.calls).toEqual([]);
  });

  it('creates the GitHub deployment once when two Lambdas see the deployment at once', async () => {
    const st = base('st', 'staging', 'none', 'queued');
    await dynamo.store.createDeployment(st);
    await Promise.all([makeReporter().deploymentChanged(st), makeReporter().deploymentChanged(st)]);
    expect(github.deployments).toHaveLength(1);
    expect(github.statesOf('staging')).toEqual(['queued', 'queued']);
  });

  it('logs and swallows GitHub errors that outlast the retries, and creates the deployment on the next transition', async () => {
    const r = makeReporter();
    const st = base('st', 'staging', 'none', 'queued');
    await dynamo.store.createDeployment(st);
    github.failNext('create_deployment', 500, 'boom', 3); // the first try and both retries
    await expect(r.deploymentChanged(st)).resolves.toBeUndefined();
    expect(logs.join('\n')).toContain('github deployment status failed');
    await move(r, 'st', ['queued'], 'running');
    expect(github.deployments).toHaveLength(1);
    expect(github.statesOf('staging')).toEqual(['in_progress']);
  });
});

describe('githubStatusOf', () => {
  const d = (status: Deployment['status']): Deployment => ({
    id: 'x',
    repository: REPO,
    environment: 'public',
    sha: SHA,
    ref: 'refs/heads/main',
    status,
    approval: 'required',
    createdAt: '',
    updatedAt: '',
  });
  it.each([
    ['awaiting_approval', 'queued'],
    ['queued', 'queued'],
    ['running', 'in_progress'],
    ['succeeded', 'success'],
    ['failed', 'failure'],
    ['superseded', 'inactive'],
    ['rejected', 'inactive'],
    ['expired', 'inactive'],
    ['rendered', 'inactive'],
  ] as const)('maps %s to %s', (status, state) => {
    expect(githubStatusOf(d(status), PUBLIC_URL).state).toBe(state);
  });

  it('a success says whether helm test passed, where releases ran it (issue 13 item 8)', () => {
    expect(githubStatusOf(d('succeeded'), PUBLIC_URL).description).toBe('Deployed');
    const tested: Deployment = {
      ...d('succeeded'),
      releases: [
        {
          name: 'hub',
          namespace: 'jh',
          status: 'succeeded',
          attempts: 1,
          tests: {
            outcome: 'passed',
            hooks: [{ name: 'hub-test', phase: 'Succeeded' }],
            at: '',
            durationMs: 1,
          },
        },
      ],
    };
    expect(githubStatusOf(tested, PUBLIC_URL).description).toBe('Deployed; helm test passed (1 release)');
  });
});

describe('GithubApiStandIn serves contents and tarballs to GithubRepoSource', () => {
  it('answers a raw contents request at a ref, and 404 for a missing file', async () => {
    const github = await new GithubApiStandIn().start();
    try {
      github.setFile(REPO, SHA, 'deploy.yaml', 'environments: {}\n');
      const source = new GithubRepoSource(createGithubClient({ baseUrl: github.url, retryAfterBaseMs: 1 }));
      expect(await source.readFile(REPO, SHA, 'deploy.yaml')).toBe('environments: {}\n');
      expect(await source.readFile(REPO, SHA, 'missing.yaml')).toBeUndefined();
      expect(github.calls[0]?.query).toEqual({ ref: SHA });
    } finally {
      await github.close();
    }
  });

  it('serves a tarball at a ref that extracts to the tree', async () => {
    const github = await new GithubApiStandIn().start();
    try {
      const work = mkdtempSync(path.join(tmpdir(), 'gh-tar-'));
      mkdirSync(path.join(work, 'Hello-World-6113728', 'charts'), { recursive: true });
      writeFileSync(path.join(work, 'Hello-World-6113728', 'deploy.yaml'), 'x: 1\n');
      const chunks: Buffer[] = [];
      for await (const c of createTar({ gzip: true, cwd: work, portable: true }, ['Hello-World-6113728']))
        chunks.push(Buffer.from(c as Buffer));
      github.setTarball(REPO, SHA, Buffer.concat(chunks));
      const dest = path.join(work, 'out');
      await new GithubRepoSource(
        createGithubClient({ baseUrl: github.url, retryAfterBaseMs: 1 }),
      ).extractTree(REPO, SHA, dest);
      expect(readFileSync(path.join(dest, 'deploy.yaml'), 'utf8')).toBe('x: 1\n');
      expect(github.calls.map((c) => c.path)).toEqual([`/repos/${REPO}/tarball/${SHA}`]);
    } finally {
      await github.close();
    }
  });
});
