import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Context } from 'aws-lambda';
import { startDynalite, type TestDynamo } from '../helpers/dynalite';
import { httpEvent } from '../helpers/events';
import { SecretsManagerStandIn } from '../stand-ins/secrets-manager';

/**
 * The webhook's real Lambda entry (`handlers/github-webhook.handler`, built from the environment as in
 * AWS, against dynalite and the Secrets Manager stand-in): its log lines on stdout carry the request
 * id, cold start and trace id of the invocation (redaction of those lines: test/unit/log/lambda-logger.test.ts).
 */
const WEBHOOK_SECRET = 'whsec-lambda-logging-0123456789';
const TRACE = '1-6743a1b2-0a1b2c3d4e5f60718293a4b5';

function context(awsRequestId: string): Context {
  return {
    awsRequestId,
    functionName: 'helmgate-ci-githubWebhook',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:helmgate-ci-githubWebhook',
    memoryLimitInMB: '512',
    logGroupName: '/aws/lambda/helmgate-ci-githubWebhook',
    logStreamName: 's',
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => 30_000,
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
}

describe('Lambda logging at the real webhook entry', () => {
  const saved = { ...process.env };
  let dynamo: TestDynamo;
  let sm: SecretsManagerStandIn;
  const stdout: string[] = [];

  beforeAll(async () => {
    dynamo = await startDynalite();
    sm = await new SecretsManagerStandIn({ 'helmgate/github-webhook': WEBHOOK_SECRET }).start();
    Object.assign(process.env, {
      AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
      _X_AMZN_TRACE_ID: `Root=${TRACE};Parent=53995c3f42cd8ad8;Sampled=1`,
      AWS_REGION: 'eu-west-1',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      HELMGATE_REPOSITORIES: 'Codertocat/Hello-World',
      HELMGATE_RUNNER_FUNCTION: 'helmgate-ci-deployRunner',
      HELMGATE_DYNAMODB_ENDPOINT: dynamo.endpoint,
      HELMGATE_SECRETS_ENDPOINT: sm.url,
      HELMGATE_TABLE: dynamo.table,
      // as the stack sets it on every function (scripts/serverless-policy.cjs): the packaged policy
      HELMGATE_POLICY: path.resolve(__dirname, '../../helmgate-policy.yaml'),
    });
    jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      stdout.push(String(chunk));
      return true;
    });
  });

  afterAll(async () => {
    jest.restoreAllMocks();
    process.env = saved;
    await sm.close();
    await dynamo.close();
  });

  it('marks every line with its invocation, cold start on the first only', async () => {
    const { handler } = await import('../../handlers/github-webhook');
    for (const [id, delivery] of [
      ['req-1', 'delivery-1'],
      ['req-2', 'delivery-2'],
    ] as const) {
      const res = await handler(
        httpEvent({
          headers: {
            'x-github-delivery': delivery,
            'x-github-event': 'push',
            // a forged signature: refused, and the refusal logged
            'x-hub-signature-256': `sha256=${'0'.repeat(64)}`,
            'content-type': 'application/json',
          },
          body: '{}',
        }),
        context(id),
      );
      expect(res.statusCode).toBe(401);
    }
    const lines = stdout
      .join('')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));
    const rejected = lines.filter((l) => l.message === 'webhook signature rejected');
    expect(rejected).toEqual([
      expect.objectContaining({
        level: 'WARN',
        service: 'helmgate',
        deliveryId: 'delivery-1',
        function_request_id: 'req-1',
        cold_start: true,
        xray_trace_id: TRACE,
      }),
      expect.objectContaining({ deliveryId: 'delivery-2', function_request_id: 'req-2', cold_start: false }),
    ]);
    for (const l of lines) expect(l.function_request_id).toMatch(/^req-[12]$/);
  });
});

test('every Lambda entry point in serverless.yml, and the runner image, tells the logger its invocation', () => {
  const root = path.resolve(__dirname, '../..');
  const yml = readFileSync(path.join(root, 'serverless.yml'), 'utf8');
  const entries = [...yml.matchAll(/^\s+handler: (handlers\/[\w-]+)\.handler$/gm)].map((m) => `${m[1]}.ts`);
  entries.push('handlers/deploy-runner.ts'); // the container image's CMD index.handler (Dockerfile)
  expect(entries.length).toBeGreaterThanOrEqual(7);
  for (const file of entries) {
    const text = readFileSync(path.join(root, file), 'utf8');
    expect({ file, wrapped: /withLambdaContext\(|enterInvocation\(context\)/.test(text) }).toEqual({
      file,
      wrapped: true,
    });
  }
});
