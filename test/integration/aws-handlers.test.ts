import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { startDynalite, type TestDynamo } from '../helpers/dynalite';
import { httpEvent } from '../helpers/events';
import { policyOf } from '../helpers/policy';
import { SecretsManagerStandIn } from '../stand-ins/secrets-manager';
import { blockActions, form } from '../unit/slack/payloads';

/**
 * The handlers' AWS exports as Lambda runs them: configuration from the environment, secrets from a
 * Secrets Manager stand-in, the table on dynalite. What is checked is the wiring the unit tests of
 * the factories cannot see.
 */
const SIGNING_SECRET = 'slack-signing-secret-aws-handlers';
let db: TestDynamo;
let sm: SecretsManagerStandIn;
const saved = { ...process.env };

beforeAll(async () => {
  db = await startDynalite();
  sm = await new SecretsManagerStandIn({ 'helmgate/approval-signing-key': 'k'.repeat(64) }).start();
  Object.assign(process.env, {
    HELMGATE_REPOSITORIES: 'org/charts',
    HELMGATE_TABLE: db.table,
    HELMGATE_DYNAMODB_ENDPOINT: db.endpoint,
    HELMGATE_SECRETS_ENDPOINT: sm.url,
    HELMGATE_RUNNER_FUNCTION: 'helmgate-test-deployRunner',
    HELMGATE_PUBLIC_URL: 'https://helmgate.example.org',
    HELMGATE_SLACK_TEAM_IDS: 'T0ALLOWED',
    HELMGATE_POLICY: JSON.stringify(
      policyOf(readFileSync(path.join(__dirname, '../fixtures/intake/deploy.yaml'), 'utf8')),
    ),
    HELMGATE_LOG_LEVEL: 'error',
    AWS_LAMBDA_FUNCTION_NAME: 'helmgate-test-slackInteractions',
    AWS_REGION: 'eu-west-1',
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
  });
});

afterAll(async () => {
  process.env = saved;
  await sm.close();
  await db.close();
});

function slackRequest(teamId: string) {
  const body = form(
    blockActions(['approve:dep-1'], {
      team: { id: teamId },
      user: { id: 'U0ALICE1', team_id: teamId },
    }),
  );
  const ts = String(Math.floor(Date.now() / 1000));
  const sig = `v0=${createHmac('sha256', SIGNING_SECRET).update(`v0:${ts}:`).update(body).digest('hex')}`;
  return httpEvent({
    path: '/slack/interactions',
    body,
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      'x-slack-request-timestamp': ts,
      'x-slack-signature': sig,
    },
  });
}

describe('AWS exports of the HTTP handlers', () => {
  it('POST /slack/interactions without the Slack secret: 503 saying so, with HSTS', async () => {
    const { handler } = await import('../../handlers/slack-interactions');
    const res = await handler(slackRequest('T0ALLOWED'), {} as never);
    expect(res?.statusCode).toBe(503);
    expect(JSON.parse(res?.body ?? '{}')).toMatchObject({
      error: 'not_configured',
      message: expect.stringContaining('Slack is not configured'),
    });
    expect(res?.headers?.['strict-transport-security']).toBe('max-age=31536000');
  });

  it('refuses a button press from a workspace outside HELMGATE_SLACK_TEAM_IDS with 403', async () => {
    sm.secrets.set(
      'helmgate/slack',
      JSON.stringify({ botToken: 'xoxb-test', signingSecret: SIGNING_SECRET, channel: 'C0DEPLOYS' }),
    );
    const { handler } = await import('../../handlers/slack-interactions');
    const res = await handler(slackRequest('T0ELSEWHERE'), {} as never);
    expect(res?.statusCode).toBe(403);
    expect(res?.body).toContain('workspace is not allowed');
  });

  it('GET /approvals/{id} with a malformed id: 400 before any lookup, with HSTS', async () => {
    const { handler } = await import('../../handlers/approval');
    const res = await handler(
      {
        ...httpEvent({ method: 'GET', path: '/approvals/%E0%A4%A' }),
        pathParameters: { id: '%E0%A4%A' },
      },
      {} as never,
    );
    expect(res.statusCode).toBe(400);
    expect(res.headers?.['strict-transport-security']).toBe('max-age=31536000');
  });

  it('GET /auth/github/login without the OAuth secret: an HTML 503 naming the secret', async () => {
    const { handler } = await import('../../handlers/auth');
    const res = await handler(httpEvent({ method: 'GET', path: '/auth/github/login' }), {} as never);
    expect(res.statusCode).toBe(503);
    expect(String(res.headers?.['content-type'])).toMatch(/^text\/html/);
    expect(res.body).toContain('helmgate/github-oauth');
    expect(res.headers?.['strict-transport-security']).toBe('max-age=31536000');
  });

  it('answers with HSTS even when the configuration is invalid (and says nothing inside)', async () => {
    const repos = process.env.HELMGATE_REPOSITORIES;
    delete process.env.HELMGATE_REPOSITORIES;
    try {
      const handlers = [
        (await import('../../handlers/deployments')).handler,
        (await import('../../handlers/dashboard')).handler,
      ];
      for (const handler of handlers) {
        const res = await handler(httpEvent({ method: 'GET', path: '/deployments' }), {} as never);
        expect(res.statusCode).toBe(500);
        expect(res.body).not.toContain('HELMGATE_REPOSITORIES');
        expect(res.headers?.['strict-transport-security']).toBe('max-age=31536000');
      }
    } finally {
      process.env.HELMGATE_REPOSITORIES = repos;
    }
  });
});
