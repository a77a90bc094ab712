import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  addressProblem,
  guardFor,
  outboundGuard,
  type ResolvedAddress,
} from '../../../lib/http/outbound-guard';

/** Issue 12 item 4: the outbound guard in isolation. */

const v4 = (address: string): ResolvedAddress => ({ address, family: 4 });
const resolveTo =
  (...answers: ResolvedAddress[][]) =>
  async () =>
    answers.length > 1 ? (answers.shift() as ResolvedAddress[]) : (answers[0] as ResolvedAddress[]);

describe('addresses', () => {
  test.each([
    ['169.254.169.254', 'linkLocal'],
    ['fe80::1', 'linkLocal'],
    ['::ffff:169.254.169.254', 'linkLocal'],
    ['127.0.0.1', 'loopback'],
    ['::1', 'loopback'],
    ['10.0.0.5', 'private'],
    ['172.16.3.4', 'private'],
    ['192.168.1.1', 'private'],
    ['100.64.0.1', 'carrierGradeNat'],
    ['fd00::1', 'uniqueLocal'],
    ['0.0.0.0', 'unspecified'],
    ['64:ff9b::a9fe:a9fe', 'rfc6052'],
  ])('%s is refused (%s)', (address, range) => {
    expect(addressProblem(address)).toBe(range);
  });

  test.each(['93.184.216.34', '2606:2800:220:1:248:1893:25c8:1946'])('%s (public unicast) passes', (a) => {
    expect(addressProblem(a)).toBeUndefined();
  });
});

describe('check', () => {
  test.each([
    'http://169.254.169.254/latest/meta-data/',
    'http://[fe80::1]/',
    'http://[::ffff:a9fe:a9fe]/',
    'http://0x7f.1/',
    'http://2130706433/',
    'oci://127.0.0.1:5000/charts',
  ])('refuses %s', async (url) => {
    await expect(outboundGuard({}, { resolve: resolveTo([v4('93.184.216.34')]) }).check(url)).rejects.toThrow(
      /refused: .* address, not allowed/,
    );
  });

  test('a name is refused when any of its addresses is internal', async () => {
    const guard = outboundGuard({}, { resolve: resolveTo([v4('93.184.216.34'), v4('169.254.169.254')]) });
    await expect(guard.check('https://charts.example.org/')).rejects.toThrow(
      'refused: charts.example.org (169.254.169.254) is a linkLocal address, not allowed by the outbound policy',
    );
  });

  test('a public name passes; an explicit range lets a loopback stand-in through', async () => {
    expect(
      (await outboundGuard({}, { resolve: resolveTo([v4('93.184.216.34')]) }).check('https://x.example.org/'))
        .addresses,
    ).toEqual([v4('93.184.216.34')]);
    await expect(
      outboundGuard({ cidrs: ['127.0.0.0/8'] }).check('http://127.0.0.1:9/'),
    ).resolves.toBeDefined();
    // an allowed range does not open the others
    await expect(outboundGuard({ cidrs: ['127.0.0.0/8'] }).check('http://169.254.169.254/')).rejects.toThrow(
      /linkLocal/,
    );
  });

  test('a host list restricts names, with *.suffix patterns', async () => {
    const guard = outboundGuard(
      { hosts: ['charts.example.org', '*.apps.example.org'] },
      { resolve: resolveTo([v4('93.184.216.34')]) },
    );
    await expect(guard.check('https://charts.example.org/x')).resolves.toBeDefined();
    await expect(guard.check('https://hub.apps.example.org/health')).resolves.toBeDefined();
    await expect(guard.check('https://apps.example.org.evil.example/')).rejects.toThrow(
      /not among the allowed hosts/,
    );
    await expect(guard.check('https://other.example.org/')).rejects.toThrow(/not among the allowed hosts/);
  });

  test('a name that does not resolve is refused with why', async () => {
    const guard = outboundGuard(
      {},
      {
        resolve: async () => {
          throw Object.assign(new Error('nope'), { code: 'ENOTFOUND' });
        },
      },
    );
    await expect(guard.check('https://nowhere.invalid/')).rejects.toThrow(/does not resolve \(ENOTFOUND\)/);
  });
});

describe('fetch (health checks)', () => {
  let server: Server;
  let port: number;
  const hits: string[] = [];
  beforeAll(async () => {
    server = createServer((req, res) => {
      hits.push(`${req.headers.host} ${req.url}`);
      if (req.url === '/redirect') res.writeHead(302, { location: 'http://169.254.169.254/latest/' }).end();
      else res.writeHead(204).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise((r) => server.close(r)));

  test('connects to the address it checked, even when DNS answers differently the second time (rebinding)', async () => {
    let lookups = 0;
    const guard = outboundGuard(
      { cidrs: ['127.0.0.1/32'] },
      {
        resolve: async () => {
          lookups++;
          return lookups === 1 ? [v4('127.0.0.1')] : [v4('169.254.169.254')];
        },
      },
    );
    const res = await guard.fetch(`http://rebind.example.test:${port}/ok`);
    expect(res.status).toBe(204);
    expect(lookups).toBe(1);
    expect(hits.at(-1)).toBe(`rebind.example.test:${port} /ok`);
  });

  test('a redirect is the answer, never followed', async () => {
    const guard = outboundGuard({ cidrs: ['127.0.0.1/32'] });
    const before = hits.length;
    const res = await guard.fetch(`http://127.0.0.1:${port}/redirect`);
    expect(res.status).toBe(302);
    expect(hits.length - before).toBe(1);
  });

  test('a refused URL fails like fetch does, with the refusal as its cause, and sends nothing', async () => {
    const before = hits.length;
    const err = await outboundGuard()
      .fetch(`http://127.0.0.1:${port}/x`)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TypeError);
    expect(String((err as { cause?: Error }).cause?.message)).toMatch(/loopback/);
    expect(hits.length).toBe(before);
  });
});

test('a policy per environment: each environment gets its own guard', async () => {
  const staging = outboundGuard({ cidrs: ['127.0.0.1/32'] });
  const production = outboundGuard();
  const pick = (env: string) => (env === 'staging' ? staging : production);
  await expect(guardFor(pick, 'staging').check('http://127.0.0.1:9/')).resolves.toBeDefined();
  await expect(guardFor(pick, 'production').check('http://127.0.0.1:9/')).rejects.toThrow(/loopback/);
  await expect(guardFor(undefined, 'any').check('http://127.0.0.1:9/')).rejects.toThrow(/loopback/);
});
