import { createHash, createHmac } from 'node:crypto';
import { SignatureV4 } from '@smithy/signature-v4';
import { z } from 'zod';
import type { Clock } from '../clock';
import { HelmgateError } from '../errors';

/**
 * EKS through IAM (issue 15 item 2): the cluster's endpoint and CA from EKS `DescribeCluster`, and the
 * standard EKS bearer token — what `aws eks get-token` and aws-iam-authenticator produce — signed with
 * the environment role's credentials. No long-lived cluster credential is stored anywhere.
 *
 * The token is `k8s-aws-v1.` + base64url (no padding) of a presigned STS `GetCallerIdentity` URL whose
 * signed headers include `x-k8s-aws-id: <cluster name>` (so a token for one cluster is refused by
 * another). EKS accepts it for 15 minutes after signing; we presign with 60 s (as the CLI does) and sign
 * a new one after 10 minutes.
 */

export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export const EKS_TOKEN_PREFIX = 'k8s-aws-v1.';
/** a token is signed anew this long after the last one (EKS accepts one for 15 minutes) */
export const EKS_TOKEN_REFRESH_MS = 10 * 60_000;

type SourceData = string | ArrayBuffer | ArrayBufferView;
const bytes = (d: SourceData): Buffer =>
  typeof d === 'string'
    ? Buffer.from(d, 'utf8')
    : ArrayBuffer.isView(d)
      ? Buffer.from(d.buffer, d.byteOffset, d.byteLength)
      : Buffer.from(d);

/** SHA-256 / HMAC-SHA-256 from node:crypto in the shape SignatureV4 asks for. */
class NodeSha256 {
  private h: ReturnType<typeof createHash> | ReturnType<typeof createHmac>;
  constructor(private readonly secret?: SourceData) {
    this.h = this.fresh();
  }
  private fresh() {
    return this.secret === undefined ? createHash('sha256') : createHmac('sha256', bytes(this.secret));
  }
  update(data: SourceData): void {
    this.h.update(bytes(data));
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.h.digest());
  }
  reset(): void {
    this.h = this.fresh();
  }
}

const signer = (service: string, region: string, credentials: () => Promise<AwsCredentials>) =>
  new SignatureV4({ service, region, credentials, sha256: NodeSha256, uriEscapePath: true });

function endpointOf(url: string): { protocol: string; hostname: string; port?: number; base: string } {
  const u = new URL(url);
  return {
    protocol: u.protocol,
    hostname: u.hostname,
    ...(u.port ? { port: Number(u.port) } : {}),
    base: u.pathname.replace(/\/+$/, ''),
  };
}
const hostHeader = (e: { hostname: string; port?: number }) =>
  e.port ? `${e.hostname}:${e.port}` : e.hostname;
const CLUSTER_NAME = /^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$/;
const REGION = /^[a-z]{2}(-[a-z]+)+-\d$/;

export interface EksCluster {
  name: string;
  region: string;
}

function checkCluster(c: EksCluster): void {
  if (!CLUSTER_NAME.test(c.name))
    throw new HelmgateError('invalid_config', `eks: bad cluster name ${JSON.stringify(c.name)}`);
  if (!REGION.test(c.region))
    throw new HelmgateError('invalid_config', `eks: bad region ${JSON.stringify(c.region)}`);
}

/** The EKS bearer token for `cluster`, signed at `now` with `credentials`. */
export async function eksToken(opts: {
  cluster: EksCluster;
  credentials: () => Promise<AwsCredentials>;
  now: Date;
  /** STS's endpoint (tests: a loopback one); default the regional `https://sts.<region>.amazonaws.com` */
  stsEndpoint?: string;
}): Promise<string> {
  checkCluster(opts.cluster);
  const e = endpointOf(opts.stsEndpoint ?? `https://sts.${opts.cluster.region}.amazonaws.com`);
  const signed = await signer('sts', opts.cluster.region, opts.credentials).presign(
    {
      method: 'GET',
      protocol: e.protocol,
      hostname: e.hostname,
      ...(e.port ? { port: e.port } : {}),
      path: `${e.base}/`,
      query: { Action: 'GetCallerIdentity', Version: '2011-06-15' },
      headers: { host: hostHeader(e), 'x-k8s-aws-id': opts.cluster.name },
    },
    { expiresIn: 60, signingDate: opts.now },
  );
  const query = new URLSearchParams();
  for (const [k, v] of Object.entries(signed.query ?? {}))
    for (const one of Array.isArray(v) ? v : [v]) if (typeof one === 'string') query.append(k, one);
  const url = `${e.protocol}//${hostHeader(e)}${e.base}/?${query.toString()}`;
  return EKS_TOKEN_PREFIX + Buffer.from(url, 'utf8').toString('base64url');
}

const DescribeClusterResponse = z.object({
  cluster: z.object({
    endpoint: z.string().url(),
    certificateAuthority: z.object({ data: z.string().regex(/^[A-Za-z0-9+/=\s]+$/) }),
    status: z.string().optional(),
  }),
});

/** EKS DescribeCluster (signed GET /clusters/<name>): the API server's URL and its CA (base64 PEM). */
export async function describeEksCluster(opts: {
  cluster: EksCluster;
  credentials: () => Promise<AwsCredentials>;
  now: Date;
  fetch?: typeof fetch;
  /** EKS's endpoint (tests: a loopback one); default `https://eks.<region>.amazonaws.com` */
  eksEndpoint?: string;
}): Promise<{ endpoint: string; certificateAuthorityData: string }> {
  checkCluster(opts.cluster);
  const e = endpointOf(opts.eksEndpoint ?? `https://eks.${opts.cluster.region}.amazonaws.com`);
  const path = `${e.base}/clusters/${encodeURIComponent(opts.cluster.name)}`;
  const signed = await signer('eks', opts.cluster.region, opts.credentials).sign(
    {
      method: 'GET',
      protocol: e.protocol,
      hostname: e.hostname,
      ...(e.port ? { port: e.port } : {}),
      path,
      query: {},
      headers: { host: hostHeader(e), accept: 'application/json' },
    },
    { signingDate: opts.now },
  );
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(signed.headers)) if (k !== 'host') headers[k] = v;
  const where = `eks cluster ${opts.cluster.name} (${opts.cluster.region})`;
  let res: Response;
  try {
    res = await (opts.fetch ?? fetch)(`${e.protocol}//${hostHeader(e)}${path}`, {
      method: 'GET',
      headers,
      signal: AbortSignal.timeout(15_000),
    });
  } catch (err) {
    throw new HelmgateError('internal', `${where}: DescribeCluster failed: ${(err as Error).name}`, {
      cause: err,
    });
  }
  if (!res.ok) {
    const code =
      res.status === 403 || res.status === 401
        ? 'forbidden'
        : res.status === 404
          ? 'invalid_config'
          : 'internal';
    throw new HelmgateError(code, `${where}: DescribeCluster answered ${res.status}`);
  }
  const parsed = DescribeClusterResponse.safeParse(await res.json().catch(() => undefined));
  if (!parsed.success)
    throw new HelmgateError('internal', `${where}: DescribeCluster returned no endpoint and CA`);
  const c = parsed.data.cluster;
  if (c.status && c.status !== 'ACTIVE' && c.status !== 'UPDATING')
    throw new HelmgateError('internal', `${where}: cluster is ${c.status}`);
  return { endpoint: c.endpoint, certificateAuthorityData: c.certificateAuthority.data.replace(/\s+/g, '') };
}

/**
 * A token that is signed anew before EKS would refuse it. `current()` is synchronous (client-node reads
 * the token on every request): it returns the held token and, once it is older than
 * EKS_TOKEN_REFRESH_MS, starts signing the next in the background (EKS still accepts the held one for
 * five more minutes); `fresh()` waits for a current one. `onToken` sees every new token (the redactor,
 * helm's kubeconfig file).
 */
export interface EksTokenSource {
  current(): string;
  fresh(): Promise<string>;
}

export async function eksTokenSource(opts: {
  sign: (now: Date) => Promise<string>;
  clock: Clock;
  onToken?: (token: string) => Promise<void> | void;
  onError?: (err: unknown) => void;
  refreshAfterMs?: number;
}): Promise<EksTokenSource> {
  const after = opts.refreshAfterMs ?? EKS_TOKEN_REFRESH_MS;
  const sign = async () => {
    const at = opts.clock.now();
    return { token: await opts.sign(at), at: at.getTime() };
  };
  // held is replaced before onToken runs, so onToken (helm's file) sees the new token as current
  let held = await sign();
  await opts.onToken?.(held.token);
  let pending: Promise<void> | undefined;
  const stale = () => opts.clock.now().getTime() - held.at >= after;
  const refresh = (): Promise<void> => {
    pending ??= sign()
      .then(async (next) => {
        held = next;
        await opts.onToken?.(next.token);
      })
      .finally(() => {
        pending = undefined;
      });
    return pending;
  };
  return {
    current() {
      if (stale()) refresh().catch((err) => opts.onError?.(err));
      return held.token;
    },
    async fresh() {
      if (stale()) await refresh();
      return held.token;
    },
  };
}
