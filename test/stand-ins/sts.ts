import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A loopback AWS STS (the query protocol: form-encoded POST, XML reply) for `GetCallerIdentity`, so
 * the operator CLI's principal comes from "the credentials" in tests, and `AssumeRole`, so the deploy
 * runner's per-environment credentials come from "the role". Point the SDK at it with
 * `AWS_ENDPOINT_URL_STS` or a client `endpoint`. `arn` is who the credentials belong to.
 */
export class StsStandIn {
  arn = 'arn:aws:iam::123456789012:user/operator';
  readonly actions: string[] = [];
  /** every AssumeRole: the role ARN, the session name and the access key id handed out */
  readonly assumed: Array<{ roleArn: string; sessionName: string; accessKeyId: string }> = [];
  /** roles that may be assumed; undefined = any */
  assumableRoles: string[] | undefined;

  /** The access key id handed out for a role: tests tell the roles apart by it. */
  static accessKeyFor(roleArn: string): string {
    let h = 0;
    for (const c of roleArn) h = (h * 31 + c.charCodeAt(0)) >>> 0;
    return `ASIA${h.toString(16).toUpperCase().padStart(16, '0')}`;
  }
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
        const form = new URLSearchParams(body);
        const action = form.get('Action') ?? '';
        this.actions.push(action);
        if (action === 'AssumeRole') {
          const roleArn = form.get('RoleArn') ?? '';
          const sessionName = form.get('RoleSessionName') ?? '';
          if (this.assumableRoles && !this.assumableRoles.includes(roleArn)) {
            res.writeHead(403, { 'content-type': 'text/xml' });
            res.end(
              `<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>not authorized to perform sts:AssumeRole on ${roleArn}</Message></Error><RequestId>1</RequestId></ErrorResponse>`,
            );
            return;
          }
          const accessKeyId = StsStandIn.accessKeyFor(roleArn);
          this.assumed.push({ roleArn, sessionName, accessKeyId });
          const expiration = new Date(Date.now() + 3600_000).toISOString();
          res.writeHead(200, { 'content-type': 'text/xml' });
          res.end(
            `<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult><AssumedRoleUser><Arn>${roleArn.replace(':iam::', ':sts::').replace(':role/', ':assumed-role/')}/${sessionName}</Arn><AssumedRoleId>AROAEXAMPLE:${sessionName}</AssumedRoleId></AssumedRoleUser><Credentials><AccessKeyId>${accessKeyId}</AccessKeyId><SecretAccessKey>stand-in-secret-${accessKeyId}</SecretAccessKey><SessionToken>stand-in-token</SessionToken><Expiration>${expiration}</Expiration></Credentials></AssumeRoleResult><ResponseMetadata><RequestId>01234567-89ab-cdef-0123-456789abcdef</RequestId></ResponseMetadata></AssumeRoleResponse>`,
          );
          return;
        }
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
