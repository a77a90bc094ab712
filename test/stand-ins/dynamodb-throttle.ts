import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDbDeploymentStore } from '../../lib/store/dynamodb-deployment-store';
import { startDynalite, type TestDynamo } from '../helpers/dynalite';

/**
 * A loopback proxy in front of a DynamoDB endpoint (dynalite) that throttles: the next `n` requests
 * of a given `X-Amz-Target` (e.g. `DynamoDB_20120810.UpdateItem`) are answered as DynamoDB answers
 * a table over its provisioned capacity — HTTP 400, `application/x-amz-json-1.0`,
 * `{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",…}` — and
 * everything else is forwarded unchanged. The AWS SDK treats that error as throttling and retries
 * it itself, with back-off, so a short burst heals inside the SDK and a long one reaches our code.
 */
export class DynamoThrottleStandIn {
  /** requests seen per target, throttled or not */
  readonly seen = new Map<string, number>();
  /** requests answered with the throttling error, per target */
  readonly throttled = new Map<string, number>();
  private readonly pending = new Map<string, number>();
  private readonly sockets = new Set<Socket>();
  private server: Server | undefined;
  port = 0;

  constructor(private readonly upstream: string) {}

  static async start(upstream: string): Promise<DynamoThrottleStandIn> {
    return new DynamoThrottleStandIn(upstream).start();
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** The next `n` requests with this target are throttled (adds to what is still pending). */
  throttle(operation: string, n: number): void {
    const target = operation.includes('.') ? operation : `DynamoDB_20120810.${operation}`;
    this.pending.set(target, (this.pending.get(target) ?? 0) + n);
  }

  /** Throttles still to be answered, per target. */
  remaining(operation: string): number {
    const target = operation.includes('.') ? operation : `DynamoDB_20120810.${operation}`;
    return this.pending.get(target) ?? 0;
  }

  clear(): void {
    this.pending.clear();
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch(() => {
        if (!res.headersSent) res.writeHead(502);
        res.end();
      });
    });
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  async close(): Promise<void> {
    const s = this.server;
    if (!s) return;
    for (const sock of this.sockets) sock.destroy();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const target = String(req.headers['x-amz-target'] ?? '');
    this.seen.set(target, (this.seen.get(target) ?? 0) + 1);
    const left = this.pending.get(target) ?? 0;
    if (left > 0) {
      this.pending.set(target, left - 1);
      this.throttled.set(target, (this.throttled.get(target) ?? 0) + 1);
      const payload = JSON.stringify({
        __type: 'com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException',
        message:
          'The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API.',
      });
      res.writeHead(400, {
        'content-type': 'application/x-amz-json-1.0',
        'content-length': Buffer.byteLength(payload),
        'x-amzn-requestid': `throttle-${Date.now()}`,
      });
      res.end(payload);
      return;
    }
    const up = new URL(this.upstream);
    await new Promise<void>((resolve, reject) => {
      const fwd = request(
        {
          host: up.hostname,
          port: up.port,
          method: req.method,
          path: req.url,
          headers: { ...req.headers, host: up.host, 'content-length': body.length },
        },
        (upRes) => {
          res.writeHead(upRes.statusCode ?? 502, upRes.headers);
          upRes.pipe(res);
          upRes.on('end', resolve);
          upRes.on('error', reject);
        },
      );
      fwd.on('error', reject);
      fwd.end(body);
    });
  }
}

/**
 * dynalite with the helmgate table, reached through the throttling proxy: `store` and `client` speak
 * to the proxy, `throttle` decides what it refuses.
 */
export async function startThrottledDynamo(): Promise<TestDynamo & { throttle: DynamoThrottleStandIn }> {
  const inner = await startDynalite();
  const throttle = await DynamoThrottleStandIn.start(inner.endpoint);
  const client = new DynamoDBClient({
    endpoint: throttle.url,
    region: 'local',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
  return {
    endpoint: throttle.url,
    client,
    table: inner.table,
    store: new DynamoDbDeploymentStore(client, inner.table),
    throttle,
    close: async () => {
      client.destroy();
      await throttle.close();
      await inner.close();
    },
  };
}
