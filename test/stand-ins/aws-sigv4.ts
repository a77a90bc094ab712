import { createHash, createHmac } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * Signature V4 checked the way AWS checks it, written out independently of the SDK's signer (the code
 * under test uses @smithy/signature-v4; this file shares nothing with it), for the loopback stand-ins:
 * the EKS token a Kubernetes stand-in receives, and the signed DescribeCluster call.
 */

export interface TestCredentials {
  accessKeyId: string;
  secretAccessKey: string;
}

const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');
const hmac = (key: Buffer | string, s: string) => createHmac('sha256', key).update(s, 'utf8').digest();
/** RFC 3986: what SigV4 canonicalisation encodes */
const rfc3986 = (s: string) =>
  encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

function signature(opts: {
  secretAccessKey: string;
  method: string;
  path: string;
  query: Array<[string, string]>;
  headers: Record<string, string>;
  signedHeaders: string[];
  payloadHash: string;
  amzDate: string;
  scope: string;
}): string {
  const canonicalQuery = opts.query
    .map(([k, v]) => [rfc3986(k), rfc3986(v)] as const)
    .sort(([a, av], [b, bv]) => (a < b ? -1 : a > b ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const canonicalHeaders = opts.signedHeaders
    .map((h) => `${h}:${(opts.headers[h] ?? '').trim().replace(/\s+/g, ' ')}\n`)
    .join('');
  const canonicalRequest = [
    opts.method,
    opts.path
      .split('/')
      .map((seg) => rfc3986(decodeURIComponent(seg)))
      .join('/'),
    canonicalQuery,
    canonicalHeaders,
    opts.signedHeaders.join(';'),
    opts.payloadHash,
  ].join('\n');
  const stringToSign = ['AWS4-HMAC-SHA256', opts.amzDate, opts.scope, sha256(canonicalRequest)].join('\n');
  const [date, region, service] = opts.scope.split('/') as [string, string, string];
  const key = hmac(hmac(hmac(hmac(`AWS4${opts.secretAccessKey}`, date), region), service), 'aws4_request');
  return createHmac('sha256', key).update(stringToSign, 'utf8').digest('hex');
}

const parseAmzDate = (d: string) =>
  /^\d{8}T\d{6}Z$/.test(d)
    ? Date.parse(
        `${d.slice(0, 4)}-${d.slice(4, 6)}-${d.slice(6, 8)}T${d.slice(9, 11)}:${d.slice(11, 13)}:${d.slice(13, 15)}Z`,
      )
    : Number.NaN;

/**
 * Verifies an EKS bearer token as EKS would (aws-iam-authenticator): the prefix, base64url of an STS
 * GetCallerIdentity URL on the region's STS host, presigned (AWS4-HMAC-SHA256) by `credentials` with
 * `host` and `x-k8s-aws-id` = `cluster` signed, at most 15 minutes old. Returns why it is refused, or
 * undefined when it is good.
 */
export function eksTokenProblem(
  token: string,
  expected: { cluster: string; region: string; credentials: TestCredentials; now: Date },
): string | undefined {
  const prefix = 'k8s-aws-v1.';
  if (!token.startsWith(prefix)) return 'no k8s-aws-v1. prefix';
  const body = token.slice(prefix.length);
  if (!/^[A-Za-z0-9_-]+$/.test(body)) return 'not base64url without padding';
  let url: URL;
  try {
    url = new URL(Buffer.from(body, 'base64url').toString('utf8'));
  } catch {
    return 'not a URL';
  }
  if (
    url.protocol !== 'https:' ||
    url.host !== `sts.${expected.region}.amazonaws.com` ||
    url.pathname !== '/'
  )
    return `not the region's STS endpoint: ${url.origin}${url.pathname}`;
  const q = url.searchParams;
  if (q.get('Action') !== 'GetCallerIdentity' || q.get('Version') !== '2011-06-15')
    return 'not GetCallerIdentity';
  if (q.get('X-Amz-Algorithm') !== 'AWS4-HMAC-SHA256') return 'bad algorithm';
  const credential = q.get('X-Amz-Credential') ?? '';
  const [akid, ...scopeParts] = credential.split('/');
  const scope = scopeParts.join('/');
  if (akid !== expected.credentials.accessKeyId) return 'signed with other credentials';
  const amzDate = q.get('X-Amz-Date') ?? '';
  if (scope !== `${amzDate.slice(0, 8)}/${expected.region}/sts/aws4_request`) return `bad scope ${scope}`;
  const signedHeaders = (q.get('X-Amz-SignedHeaders') ?? '').split(';');
  if (!signedHeaders.includes('host') || !signedHeaders.includes('x-k8s-aws-id'))
    return 'host and x-k8s-aws-id not both signed';
  const expires = Number(q.get('X-Amz-Expires'));
  if (!Number.isInteger(expires) || expires < 1 || expires > 900) return 'bad X-Amz-Expires';
  const signedAt = parseAmzDate(amzDate);
  const age = expected.now.getTime() - signedAt;
  if (!Number.isFinite(age) || age > 15 * 60_000 || age < -5 * 60_000) return 'expired (or from the future)';
  const given = q.get('X-Amz-Signature') ?? '';
  const query = [...q.entries()].filter(([k]) => k !== 'X-Amz-Signature');
  const wanted = signature({
    secretAccessKey: expected.credentials.secretAccessKey,
    method: 'GET',
    path: '/',
    query,
    headers: { host: url.host, 'x-k8s-aws-id': expected.cluster },
    signedHeaders,
    payloadHash: sha256(''),
    amzDate,
    scope,
  });
  return given === wanted ? undefined : 'signature does not match (other cluster, key or content)';
}

/**
 * A loopback EKS API with one operation, DescribeCluster (GET /clusters/<name>), which checks the
 * request's Signature V4 Authorization header with the test credentials.
 */
export class EksApiStandIn {
  readonly requests: Array<{ path: string; problem: string | undefined }> = [];
  private server: Server | undefined;
  port = 0;
  constructor(
    private readonly opts: {
      region: string;
      credentials: TestCredentials;
      clusters: Record<string, { endpoint: string; certificateAuthorityData: string; status?: string }>;
    },
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://local');
      const problem = this.authProblem(req.method ?? 'GET', url, req.headers as Record<string, string>);
      this.requests.push({ path: url.pathname, problem });
      const send = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      if (problem) return send(403, { message: `signature: ${problem}` });
      const m = /^\/clusters\/([^/]+)$/.exec(url.pathname);
      const cluster = m ? this.opts.clusters[decodeURIComponent(m[1] as string)] : undefined;
      if (req.method !== 'GET' || !m) return send(404, { message: 'not found' });
      if (!cluster) return send(404, { message: 'No cluster found' });
      return send(200, {
        cluster: {
          name: decodeURIComponent(m[1] as string),
          endpoint: cluster.endpoint,
          certificateAuthority: { data: cluster.certificateAuthorityData },
          status: cluster.status ?? 'ACTIVE',
        },
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

  private authProblem(method: string, url: URL, headers: Record<string, string>): string | undefined {
    return sigv4RequestProblem({
      method,
      url,
      headers,
      payloadHash: headers['x-amz-content-sha256'] ?? sha256(''),
      region: this.opts.region,
      service: 'eks',
      credentials: this.opts.credentials,
    });
  }
}

/**
 * Checks a request's Signature V4 `Authorization` header as AWS does: these credentials, the scope of
 * this region and service on the request's date, and the signature over method, path, query, the
 * signed headers and the payload's hash. Returns why it is refused, or undefined when it is good.
 */
export function sigv4RequestProblem(req: {
  method: string;
  url: URL;
  headers: Record<string, string | string[] | undefined>;
  /** hex SHA-256 of the body (sha256Hex(body) for JSON protocols; the header's value when sent) */
  payloadHash: string;
  region: string;
  service: string;
  credentials: TestCredentials;
}): string | undefined {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers))
    if (v !== undefined) headers[k.toLowerCase()] = Array.isArray(v) ? v.join(',') : v;
  const auth =
    /^AWS4-HMAC-SHA256 Credential=([^,]+), ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/.exec(
      headers.authorization ?? '',
    );
  if (!auth) return 'no SigV4 Authorization header';
  const [akid, ...scopeParts] = (auth[1] as string).split('/');
  if (akid !== req.credentials.accessKeyId) return 'other credentials';
  const scope = scopeParts.join('/');
  const amzDate = headers['x-amz-date'] ?? '';
  if (scope !== `${amzDate.slice(0, 8)}/${req.region}/${req.service}/aws4_request`)
    return `bad scope ${scope}`;
  const signedHeaders = (auth[2] as string).split(';');
  if (!signedHeaders.includes('host')) return 'host not signed';
  const wanted = signature({
    secretAccessKey: req.credentials.secretAccessKey,
    method: req.method,
    path: req.url.pathname,
    query: [...req.url.searchParams.entries()],
    headers,
    signedHeaders,
    payloadHash: req.payloadHash,
    amzDate,
    scope,
  });
  return wanted === auth[3] ? undefined : 'signature does not match';
}

/** hex SHA-256, as SigV4 hashes payloads */
export function sha256Hex(s: string | Buffer): string {
  return createHash('sha256').update(s).digest('hex');
}
