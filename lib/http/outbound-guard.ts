import { lookup as dnsLookup } from 'node:dns/promises';
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import ipaddr from 'ipaddr.js';
import { HelmgateError } from '../errors';

/**
 * Where requests made on behalf of a commit may go (issue 12): chart repository fetches and `health.http`
 * checks. URLs come from the pushed deploy.yaml, so without this a pusher could make the runner call the
 * instance metadata service (169.254.169.254) or hosts inside the VPC and learn the answer.
 *
 * Every address the host resolves to must be public unicast, or inside a range the operator's policy
 * names (`cidrs`); when the policy names `hosts`, the host must be one of them too. The policy comes from
 * outside the commit (the operator's configuration, lib/policy); tests name their loopback stand-ins.
 */
export interface OutboundPolicy {
  /**
   * Hosts that may be reached: exact names, or `*.example.org` for any name below it. Undefined: any
   * host whose addresses pass the address check.
   */
  hosts?: readonly string[];
  /**
   * Address ranges allowed besides public unicast, in CIDR form (`127.0.0.1/32`, `10.0.0.0/8`, `fd00::/8`).
   * Nothing link-local, loopback, private or otherwise special is reached unless named here.
   */
  cidrs?: readonly string[];
}

export class OutboundRefusedError extends HelmgateError {
  override name = 'OutboundRefusedError';
  constructor(message: string) {
    super('forbidden', message);
  }
}

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

export type Resolver = (host: string) => Promise<ResolvedAddress[]>;

export interface OutboundGuard {
  /**
   * Checks the URL's host: resolves it and checks every address. Returns the checked addresses (connect
   * to one of these, not to a fresh resolution: DNS could answer differently the second time).
   */
  check(url: string, signal?: AbortSignal): Promise<{ host: string; addresses: ResolvedAddress[] }>;
  /**
   * A `fetch` for health checks: GET only, connected to a checked address (no DNS rebinding), redirects
   * never followed (the 3xx is the answer), the body discarded.
   */
  fetch: typeof fetch;
}

const defaultResolver: Resolver = async (host) =>
  (await dnsLookup(host, { all: true, verbatim: true })).map((a) => ({
    address: a.address,
    family: a.family === 6 ? 6 : 4,
  }));

type Range = [ipaddr.IPv4 | ipaddr.IPv6, number];

function parseCidrs(cidrs: readonly string[]): Range[] {
  return cidrs.map((c) => {
    try {
      return c.includes('/')
        ? ipaddr.parseCIDR(c)
        : ([ipaddr.parse(c), ipaddr.parse(c).kind() === 'ipv4' ? 32 : 128] as Range);
    } catch {
      throw new HelmgateError('invalid_config', `outbound policy: "${c}" is not an address range (CIDR)`);
    }
  });
}

/** undefined when the address may be reached, else the name of its special range. */
export function addressProblem(address: string, allowed: readonly Range[] = []): string | undefined {
  let ip: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    ip = ipaddr.parse(address);
  } catch {
    return 'not an IP address';
  }
  if (ip.kind() === 'ipv6' && (ip as ipaddr.IPv6).isIPv4MappedAddress())
    ip = (ip as ipaddr.IPv6).toIPv4Address();
  for (const [range, bits] of allowed)
    if (ip.kind() === range.kind() && ip.match(range, bits)) return undefined;
  const r = ip.range();
  return r === 'unicast' ? undefined : r;
}

function hostAllowed(host: string, hosts: readonly string[]): boolean {
  return hosts.some((h) => {
    const pattern = h.toLowerCase().replace(/\.$/, '');
    return pattern.startsWith('*.')
      ? host.endsWith(pattern.slice(1)) && host.length > pattern.length - 1
      : host === pattern;
  });
}

/** The URL's host as a lower-case name or a bare IP (brackets of an IPv6 literal removed). */
function hostOf(url: URL): string {
  return url.hostname
    .toLowerCase()
    .replace(/^\[(.*)\]$/, '$1')
    .replace(/\.$/, '');
}

function abortable<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

/**
 * One guard for every environment, or one per environment (the operator's policy names chart
 * repositories and health-check hosts per environment).
 */
export type OutboundFor = OutboundGuard | ((environment: string) => OutboundGuard);

export function guardFor(o: OutboundFor | undefined, environment: string): OutboundGuard {
  if (o === undefined) return outboundGuard();
  return typeof o === 'function' ? o(environment) : o;
}

export function outboundGuard(policy: OutboundPolicy = {}, deps: { resolve?: Resolver } = {}): OutboundGuard {
  const allowed = parseCidrs(policy.cidrs ?? []);
  const resolve = deps.resolve ?? defaultResolver;

  const check: OutboundGuard['check'] = async (raw, signal) => {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw new OutboundRefusedError('refused: not a URL');
    }
    const host = hostOf(url);
    if (host === '') throw new OutboundRefusedError(`refused: ${url.protocol}// has no host`);
    if (policy.hosts && !hostAllowed(host, policy.hosts))
      throw new OutboundRefusedError(`refused: host ${host} is not among the allowed hosts`);
    let addresses: ResolvedAddress[];
    if (ipaddr.isValid(host))
      addresses = [{ address: host, family: ipaddr.parse(host).kind() === 'ipv6' ? 6 : 4 }];
    else {
      try {
        addresses = await abortable(resolve(host), signal);
      } catch (e) {
        if (signal?.aborted) throw e;
        throw new OutboundRefusedError(
          `refused: host ${host} does not resolve (${(e as { code?: string }).code ?? 'lookup failed'})`,
        );
      }
    }
    if (addresses.length === 0) throw new OutboundRefusedError(`refused: host ${host} has no address`);
    for (const a of addresses) {
      const problem = addressProblem(a.address, allowed);
      if (problem)
        throw new OutboundRefusedError(
          `refused: ${host === a.address ? a.address : `${host} (${a.address})`} is a ${problem} address, not allowed by the outbound policy`,
        );
    }
    return { host, addresses };
  };

  const guardedFetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = new URL(typeof input === 'string' || input instanceof URL ? input : input.url);
    const signal = init?.signal ?? undefined;
    const failed = (cause: unknown) => Object.assign(new TypeError('fetch failed'), { cause });
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      throw failed(new OutboundRefusedError(`refused: ${url.protocol} is not http(s)`));
    let pinned: ResolvedAddress;
    try {
      const { addresses } = await check(url.href, signal);
      pinned = addresses[0] as ResolvedAddress;
    } catch (e) {
      if (signal?.aborted) throw e;
      throw failed(e);
    }
    // the connection goes to the address just checked, whatever DNS would answer now
    const lookup: LookupFunction = (_host, opts, cb) => {
      if ((opts as { all?: boolean }).all) (cb as (e: null, a: ResolvedAddress[]) => void)(null, [pinned]);
      else cb(null, pinned.address, pinned.family);
    };
    return new Promise<Response>((resolveResponse, reject) => {
      const mod = url.protocol === 'https:' ? https : http;
      const req = mod.request(
        url,
        {
          method: 'GET',
          lookup,
          headers: { 'user-agent': 'helmgate-health-check' },
          ...(signal ? { signal } : {}),
        },
        (res) => {
          res.resume();
          const status = res.statusCode ?? 0;
          resolveResponse(
            status >= 200 && status <= 599
              ? new Response(null, { status })
              : ({ status, body: null, ok: false, headers: new Headers() } as unknown as Response),
          );
        },
      );
      req.on('error', (e) => reject(signal?.aborted ? e : failed(e)));
      req.end();
    });
  };

  return { check, fetch: guardedFetch as typeof fetch };
}
