import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sha256Hex, sigv4RequestProblem, type TestCredentials } from './aws-sigv4';

/**
 * A loopback AWS Lambda API with one operation, GetFunctionConfiguration
 * (`GET /2015-03-31/functions/<name>/configuration`, REST-JSON), for the functions you give it with
 * their environment variables; an unknown function is a 404 `ResourceNotFoundException` as Lambda
 * answers. With `credentials`, the request's Signature V4 is checked (aws-sigv4.ts).
 */
export class LambdaApiStandIn {
  readonly functions = new Map<string, Record<string, string>>();
  readonly requests: Array<{ path: string; problem: string | undefined }> = [];
  private server: Server | undefined;
  port = 0;

  constructor(private readonly opts: { region?: string; credentials?: TestCredentials } = {}) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const url = new URL(req.url ?? '/', 'http://local');
        const problem = this.opts.credentials
          ? sigv4RequestProblem({
              method: req.method ?? 'GET',
              url,
              headers: req.headers,
              payloadHash: sha256Hex(Buffer.concat(chunks)),
              region: this.opts.region ?? 'eu-west-1',
              service: 'lambda',
              credentials: this.opts.credentials,
            })
          : undefined;
        this.requests.push({ path: url.pathname, problem });
        const send = (status: number, body: unknown, type?: string) => {
          res.writeHead(status, {
            'content-type': 'application/json',
            ...(type ? { 'x-amzn-errortype': type } : {}),
          });
          res.end(JSON.stringify(body));
        };
        if (problem)
          return send(
            403,
            { message: 'The request signature we calculated does not match the signature you provided.' },
            'InvalidSignatureException',
          );
        const m = /^\/2015-03-31\/functions\/([^/]+)\/configuration$/.exec(url.pathname);
        if (req.method !== 'GET' || !m)
          return send(404, { message: 'unknown operation' }, 'UnknownOperationException');
        const name = decodeURIComponent(m[1] as string);
        const env = this.functions.get(name);
        if (!env)
          return send(
            404,
            {
              Type: 'User',
              Message: `Function not found: arn:aws:lambda:${this.opts.region ?? 'eu-west-1'}:123456789012:function:${name}`,
            },
            'ResourceNotFoundException',
          );
        return send(200, {
          FunctionName: name,
          FunctionArn: `arn:aws:lambda:${this.opts.region ?? 'eu-west-1'}:123456789012:function:${name}`,
          Runtime: 'nodejs22.x',
          Environment: { Variables: env },
          State: 'Active',
        });
      });
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  async close(): Promise<void> {
    const s = this.server;
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}
