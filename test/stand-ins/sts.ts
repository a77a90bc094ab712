import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A loopback AWS STS for `GetCallerIdentity` (the query protocol: form-encoded POST, XML reply), so
 * the operator CLI's principal comes from "the credentials" in tests. Point the SDK at it with
 * `AWS_ENDPOINT_URL_STS`. `arn` is who the credentials belong to.
 */
export class StsStandIn {
  arn = 'arn:aws:iam::123456789012:user/operator';
  readonly actions: string[] = [];
  private server: Server | undefined;
  port = 0;

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => {
        body += c.toString();
      });
      req.on('end', () => {
        const action = new URLSearchParams(body).get('Action') ?? '';
        this.actions.push(action);
        if (action !== 'GetCallerIdentity') {
          res.writeHead(400, { 'content-type': 'text/xml' });
          res.end(
            `<ErrorResponse><Error><Type>Sender</Type><Code>InvalidAction</Code><Message>${action} is not supported here</Message></Error><RequestId>1</RequestId></ErrorResponse>`,
          );
          return;
        }
        const account = /arn:aws:[^:]+::(\d+):/.exec(this.arn)?.[1] ?? '123456789012';
        res.writeHead(200, { 'content-type': 'text/xml' });
        res.end(
          `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult><Arn>${this.arn}</Arn><UserId>AIDAEXAMPLE</UserId><Account>${account}</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>01234567-89ab-cdef-0123-456789abcdef</RequestId></ResponseMetadata></GetCallerIdentityResponse>`,
        );
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
