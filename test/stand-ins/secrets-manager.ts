import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A loopback AWS Secrets Manager for `GetSecretValue` (JSON 1.1 protocol: `POST /`,
 * `X-Amz-Target: secretsmanager.GetSecretValue`), answering as the service does, including
 * `ResourceNotFoundException` (400) for an unknown id. Point the SDK client's `endpoint` at `url`
 * (HELMGATE_SECRETS_ENDPOINT). `reads` records the ids asked for. Writes: `CreateSecret`
 * (`ResourceExistsException` when the name exists) and `PutSecretValue` (a new current version;
 * `ResourceNotFoundException` when it does not); `writes` records the operation and name of each.
 */
export class SecretsManagerStandIn {
  readonly secrets = new Map<string, string>();
  readonly reads: string[] = [];
  /** successful writes, in order: operation and secret name (never the value) */
  readonly writes: Array<{ op: 'CreateSecret' | 'PutSecretValue'; name: string }> = [];
  /** the access key id of each read (from the SigV4 Authorization header), in order */
  readonly readers: string[] = [];
  /** IAM, roughly: may the caller with this access key id read this secret? undefined = anyone */
  allow: ((accessKeyId: string, secretId: string) => boolean) | undefined;
  private server: Server | undefined;
  port = 0;

  constructor(initial: Record<string, string> = {}) {
    for (const [k, v] of Object.entries(initial)) this.secrets.set(k, v);
  }

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
        const reply = (status: number, doc: unknown) => {
          res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1' });
          res.end(JSON.stringify(doc));
        };
        const target = String(req.headers['x-amz-target'] ?? '');
        if (target === 'secretsmanager.CreateSecret' || target === 'secretsmanager.PutSecretValue') {
          let doc: { Name?: unknown; SecretId?: unknown; SecretString?: unknown };
          try {
            doc = JSON.parse(body) as typeof doc;
          } catch {
            return reply(400, { __type: 'SerializationException', message: 'bad JSON' });
          }
          const create = target === 'secretsmanager.CreateSecret';
          const name = String((create ? doc.Name : doc.SecretId) ?? '');
          if (!name || typeof doc.SecretString !== 'string')
            return reply(400, {
              __type: 'InvalidParameterException',
              message: 'name and SecretString are required',
            });
          if (create && this.secrets.has(name))
            return reply(400, {
              __type: 'ResourceExistsException',
              message: `The operation failed because the secret ${name} already exists.`,
            });
          if (!create && !this.secrets.has(name))
            return reply(400, {
              __type: 'ResourceNotFoundException',
              message: "Secrets Manager can't find the specified secret.",
            });
          this.secrets.set(name, doc.SecretString);
          this.writes.push({ op: create ? 'CreateSecret' : 'PutSecretValue', name });
          return reply(200, {
            ARN: `arn:aws:secretsmanager:eu-west-1:123456789012:secret:${name}-AbCdEf`,
            Name: name,
            VersionId: `v-${this.writes.length}`,
            ...(create ? {} : { VersionStages: ['AWSCURRENT'] }),
          });
        }
        if (target !== 'secretsmanager.GetSecretValue')
          return reply(400, {
            __type: 'UnknownOperationException',
            message: `${target} is not supported here`,
          });
        let id = '';
        try {
          id = String((JSON.parse(body) as { SecretId?: unknown }).SecretId ?? '');
        } catch {
          return reply(400, { __type: 'SerializationException', message: 'bad JSON' });
        }
        this.reads.push(id);
        const accessKeyId = /Credential=([^/]+)\//.exec(String(req.headers.authorization ?? ''))?.[1] ?? '';
        this.readers.push(accessKeyId);
        if (this.allow && !this.allow(accessKeyId, id))
          return reply(400, {
            __type: 'AccessDeniedException',
            message: `User: ${accessKeyId} is not authorized to perform: secretsmanager:GetSecretValue on resource: ${id}`,
          });
        const value = this.secrets.get(id);
        if (value === undefined)
          return reply(400, {
            __type: 'ResourceNotFoundException',
            message: "Secrets Manager can't find the specified secret.",
          });
        return reply(200, {
          ARN: `arn:aws:secretsmanager:eu-west-1:123456789012:secret:${id}-AbCdEf`,
          Name: id,
          SecretString: value,
          VersionId: '01234567-89ab-cdef-0123-456789abcdef',
          CreatedDate: 1767225600,
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
