import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sha256Hex, sigv4RequestProblem, type TestCredentials } from './aws-sigv4';

/** One write the stand-in accepted (no value: the log may be printed by a failing test). */
export interface SecretsWrite {
  op: 'CreateSecret' | 'PutSecretValue';
  name: string;
}

/**
 * A loopback AWS Secrets Manager (JSON 1.1 protocol: `POST /`, `X-Amz-Target: secretsmanager.<Op>`):
 * `GetSecretValue`, `DescribeSecret`, `CreateSecret` and `PutSecretValue`, answering as the service
 * does, including `ResourceNotFoundException` (400) for an unknown id and `ResourceExistsException`
 * for a second create. Point the SDK client's `endpoint` at `url` (HELMGATE_SECRETS_ENDPOINT). `reads`
 * records the ids read, `writes` every accepted create and put. With `credentials`, every request's
 * Signature V4 is checked (aws-sigv4.ts) and a bad one is refused as AWS refuses it.
 */
export class SecretsManagerStandIn {
  readonly secrets = new Map<string, string>();
  /** secrets that exist with no value yet (CreateSecret without SecretString) */
  readonly valueless = new Set<string>();
  readonly descriptions = new Map<string, string>();
  readonly reads: string[] = [];
  readonly writes: SecretsWrite[] = [];
  /** why each refused signature was refused, in order */
  readonly signatureRefusals: string[] = [];
  /** the access key id of each read (from the SigV4 Authorization header), in order */
  readonly readers: string[] = [];
  /** IAM, roughly: may the caller with this access key id read this secret? undefined = anyone */
  allow: ((accessKeyId: string, secretId: string) => boolean) | undefined;
  private server: Server | undefined;
  private version = 0;
  port = 0;

  constructor(
    initial: Record<string, string> = {},
    private readonly opts: { credentials?: TestCredentials; region?: string } = {},
  ) {
    for (const [k, v] of Object.entries(initial)) this.secrets.set(k, v);
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  private arn(id: string): string {
    return `arn:aws:secretsmanager:${this.opts.region ?? 'eu-west-1'}:123456789012:secret:${id}-AbCdEf`;
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => {
        chunks.push(c);
      });
      req.on('end', () => {
        const raw = Buffer.concat(chunks);
        const body = raw.toString('utf8');
        const reply = (status: number, doc: unknown) => {
          res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1' });
          res.end(JSON.stringify(doc));
        };
        if (this.opts.credentials) {
          const problem = sigv4RequestProblem({
            method: req.method ?? 'POST',
            url: new URL(req.url ?? '/', 'http://local'),
            headers: req.headers,
            payloadHash: sha256Hex(raw),
            region: this.opts.region ?? 'eu-west-1',
            service: 'secretsmanager',
            credentials: this.opts.credentials,
          });
          if (problem) {
            this.signatureRefusals.push(problem);
            return reply(400, {
              __type: 'InvalidSignatureException',
              message: 'The request signature we calculated does not match the signature you provided.',
            });
          }
        }
        const target = String(req.headers['x-amz-target'] ?? '');
        const op = target.startsWith('secretsmanager.') ? target.slice('secretsmanager.'.length) : '';
        let doc: Record<string, unknown>;
        try {
          doc = JSON.parse(body) as Record<string, unknown>;
        } catch {
          return reply(400, { __type: 'SerializationException', message: 'bad JSON' });
        }
        const notFound = () =>
          reply(400, {
            __type: 'ResourceNotFoundException',
            message: "Secrets Manager can't find the specified secret.",
          });
        const exists = (id: string) => this.secrets.has(id) || this.valueless.has(id);
        switch (op) {
          case 'GetSecretValue': {
            const id = String(doc.SecretId ?? '');
            this.reads.push(id);
            const accessKeyId =
              /Credential=([^/]+)\//.exec(String(req.headers.authorization ?? ''))?.[1] ?? '';
            this.readers.push(accessKeyId);
            if (this.allow && !this.allow(accessKeyId, id))
              return reply(400, {
                __type: 'AccessDeniedException',
                message: `User: ${accessKeyId} is not authorized to perform: secretsmanager:GetSecretValue on resource: ${id}`,
              });
            const value = this.secrets.get(id);
            if (value === undefined)
              return this.valueless.has(id)
                ? reply(400, {
                    __type: 'ResourceNotFoundException',
                    message:
                      "Secrets Manager can't find the specified secret value for staging label: AWSCURRENT",
                  })
                : notFound();
            return reply(200, {
              ARN: this.arn(id),
              Name: id,
              SecretString: value,
              VersionId: '01234567-89ab-cdef-0123-456789abcdef',
              CreatedDate: 1767225600,
            });
          }
          case 'DescribeSecret': {
            const id = String(doc.SecretId ?? '');
            if (!exists(id)) return notFound();
            return reply(200, {
              ARN: this.arn(id),
              Name: id,
              ...(this.descriptions.has(id) ? { Description: this.descriptions.get(id) } : {}),
              VersionIdsToStages: this.secrets.has(id)
                ? { '01234567-89ab-cdef-0123-456789abcdef': ['AWSCURRENT'] }
                : {},
            });
          }
          case 'CreateSecret': {
            const id = String(doc.Name ?? '');
            if (!/^[\w/+=.@-]{1,512}$/.test(id))
              return reply(400, { __type: 'ValidationException', message: 'Invalid name' });
            if (exists(id))
              return reply(400, {
                __type: 'ResourceExistsException',
                message: `The operation failed because the secret ${id} already exists.`,
              });
            if (typeof doc.SecretString === 'string') this.secrets.set(id, doc.SecretString);
            else this.valueless.add(id);
            if (typeof doc.Description === 'string') this.descriptions.set(id, doc.Description);
            this.writes.push({ op: 'CreateSecret', name: id });
            return reply(200, { ARN: this.arn(id), Name: id, VersionId: this.nextVersion() });
          }
          case 'PutSecretValue': {
            const id = String(doc.SecretId ?? '');
            if (!exists(id)) return notFound();
            if (typeof doc.SecretString !== 'string')
              return reply(400, { __type: 'InvalidParameterException', message: 'SecretString is required' });
            this.secrets.set(id, doc.SecretString);
            this.valueless.delete(id);
            this.writes.push({ op: 'PutSecretValue', name: id });
            return reply(200, {
              ARN: this.arn(id),
              Name: id,
              VersionId: this.nextVersion(),
              VersionStages: ['AWSCURRENT'],
            });
          }
          default:
            return reply(400, {
              __type: 'UnknownOperationException',
              message: `${target} is not supported here`,
            });
        }
      });
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  private nextVersion(): string {
    this.version++;
    return `00000000-0000-4000-8000-${String(this.version).padStart(12, '0')}`;
  }

  async close(): Promise<void> {
    const s = this.server;
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}
