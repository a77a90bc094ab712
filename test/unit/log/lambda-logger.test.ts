import type { Context } from 'aws-lambda';
import { createLambdaLogger, withLambdaContext } from '../../../lib/log/lambda-logger';
import { memorySink } from '../../../lib/log/logger';
import { Redactor } from '../../../lib/log/redact';

const SECRET = 'S3cr3t-Value-For-Lambda-Logs';
const TRACE = '1-5759e988-bd862e3fe1be46a994272793';

function lambdaContext(awsRequestId: string): Context {
  return {
    awsRequestId,
    functionName: 'helmgate-prod-githubWebhook',
    functionVersion: '$LATEST',
    invokedFunctionArn: 'arn:aws:lambda:eu-west-1:123456789012:function:helmgate-prod-githubWebhook',
    memoryLimitInMB: '512',
    logGroupName: '/aws/lambda/helmgate-prod-githubWebhook',
    logStreamName: 's',
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => 30_000,
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
}

describe('createLambdaLogger (Powertools Logger behind our Logger port)', () => {
  const saved = { ...process.env };
  beforeAll(() => {
    // what the Lambda runtime sets: on-demand start (cold start is reported), the X-Ray trace header
    process.env.AWS_LAMBDA_INITIALIZATION_TYPE = 'on-demand';
    process.env._X_AMZN_TRACE_ID = `Root=${TRACE};Parent=53995c3f42cd8ad8;Sampled=1`;
  });
  afterAll(() => {
    process.env = saved;
  });

  it('puts request id, cold start and trace id on every line of an invocation, and bindings on children', async () => {
    const sink = memorySink();
    const logger = createLambdaLogger({ redactor: new Redactor(), write: sink.write });
    const handler = withLambdaContext(async (event: { n: number }, _context: Context) => {
      logger.child({ deliveryId: `d-${event.n}` }).info('webhook accepted', { environments: 2 });
      logger.warn('second line');
    });
    await handler({ n: 1 }, lambdaContext('req-1'));
    await handler({ n: 2 }, lambdaContext('req-2'));
    const lines = sink.lines.map((l) => JSON.parse(l));
    expect(lines).toHaveLength(4);
    expect(lines[0]).toMatchObject({
      level: 'INFO',
      message: 'webhook accepted',
      service: 'helmgate',
      deliveryId: 'd-1',
      environments: 2,
      function_request_id: 'req-1',
      function_name: 'helmgate-prod-githubWebhook',
      cold_start: true,
      xray_trace_id: TRACE,
    });
    expect(lines[1]).toMatchObject({
      message: 'second line',
      function_request_id: 'req-1',
      cold_start: true,
    });
    expect(lines[2]).toMatchObject({ deliveryId: 'd-2', function_request_id: 'req-2', cold_start: false });
    expect(lines[3]).toMatchObject({ function_request_id: 'req-2', cold_start: false, xray_trace_id: TRACE });
    for (const l of lines) expect(typeof l.timestamp).toBe('string');
  });

  it('serializes an error with its code and its cause chain', () => {
    const sink = memorySink();
    const logger = createLambdaLogger({ redactor: new Redactor(), write: sink.write });
    const root = Object.assign(new Error('connection reset'), { code: 'ECONNRESET' });
    const err = Object.assign(new Error('source unavailable', { cause: root }), {
      code: 'source_unavailable',
    });
    logger.error('request failed', { err });
    const line = JSON.parse(sink.lines[0] ?? '{}');
    expect(line.err).toMatchObject({
      name: 'Error',
      message: 'source unavailable',
      code: 'source_unavailable',
      cause: { name: 'Error', message: 'connection reset', code: 'ECONNRESET' },
    });
    expect(typeof line.err.stack).toBe('string');
  });

  it('passes every line through our redactor: message, fields, bindings, errors, causes and encoded forms', () => {
    const redactor = new Redactor();
    const sink = memorySink();
    const logger = createLambdaLogger({ redactor, write: sink.write });
    redactor.register(SECRET);
    const b64 = Buffer.from(SECRET).toString('base64');
    logger.child({ token: SECRET }).error(`failed with ${SECRET}`, {
      value: SECRET,
      encoded: `data: ${b64}`,
      nested: { deeper: [SECRET] },
      err: new Error(`helm said ${SECRET}`, { cause: new Error(`because ${SECRET}`) }),
    });
    expect(sink.lines).toHaveLength(1);
    const line = sink.lines[0] ?? '';
    expect(line).not.toContain(SECRET);
    expect(line).not.toContain(b64.replace(/=+$/, ''));
    expect(line).not.toContain('S3cr3t');
    const rec = JSON.parse(line);
    expect(rec).toMatchObject({ message: 'failed with ***', token: '***', value: '***' });
    expect(rec.err.cause.message).toBe('because ***');
  });

  it('drops lines below its level and keeps a field named like a Powertools key', () => {
    const sink = memorySink();
    const logger = createLambdaLogger({ redactor: new Redactor(), write: sink.write, level: 'warn' });
    logger.info('not shown');
    logger.warn('shown', { message: 'from the caller', level: 3 });
    expect(sink.lines.map((l) => JSON.parse(l))).toEqual([
      expect.objectContaining({
        message: 'shown',
        level: 'WARN',
        field_message: 'from the caller',
        field_level: 3,
      }),
    ]);
  });
});
