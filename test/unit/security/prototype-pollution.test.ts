import { DeployConfigError, parseDeployConfig } from '../../../lib/deploy/deploy-config';
import { coalesceValues, mergeValues, parsePath, setPath } from '../../../lib/deploy/values-merge';
import { allowlistedEnv, createProcessRunner } from '../../../lib/exec/command-runner';
import { secretValuesDocument } from '../../../lib/helm/helm-runner';
import { Redactor } from '../../../lib/log/redact';
import { SecretResolver } from '../../../lib/secrets/secrets-provider';

/**
 * Issue 12: a key chosen by a pusher (`__proto__`, `constructor`, `prototype`) must never reach an
 * object's prototype chain, and nothing on Object.prototype may reach a child process's environment.
 */

const VAR = 'HELM_KUBEAPISERVER';
const proto = Object.prototype as Record<string, unknown>;

afterEach(() => {
  delete proto[VAR];
  delete proto.polluted;
});

const config = (secretValues: string, extra = '') => `apiVersion: helmgate/v1
environments:
  staging:
    approval: none
    cluster: { secret: test/cluster }
    releases:
      - name: web
        namespace: web
        chart: ./charts/web
        secretValues:
          ${secretValues}: { secret: app/db, key: password }
${extra}`;

describe('deploy.yaml refuses prototype keys', () => {
  test.each([
    '__proto__.HELM_KUBEAPISERVER',
    'constructor.prototype.HELM_KUBEAPISERVER',
    'a.__proto__.b',
    'x[0].prototype',
  ])('a secretValues path %s is refused with the path named', (p) => {
    let err: unknown;
    try {
      parseDeployConfig(config(`"${p}"`));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DeployConfigError);
    expect((err as Error).message).toMatch(/__proto__|constructor|prototype/);
    expect(proto[VAR]).toBeUndefined();
  });

  test.each([
    ['an environment named constructor', 'constructor'],
    ['an environment named prototype', 'prototype'],
  ])('%s is refused', (_what, name) => {
    const text = config('db.password').replace('  staging:', `  ${name}:`);
    expect(() => parseDeployConfig(text)).toThrow(/not allowed as a key/);
  });

  test('a chart repository or Kubernetes Secret key named __proto__ is refused', () => {
    const repo = `${config('db.password')}chartRepositories:\n  __proto__: https://charts.example.org\n`;
    expect(() => parseDeployConfig(repo)).toThrow(/chartRepositories.*__proto__.*not allowed as a key/s);
    const data = config('db.password').replace(
      '    releases:',
      `    kubernetesSecrets:\n      - name: s\n        namespace: web\n        data:\n          __proto__: { secret: app/db }\n    releases:`,
    );
    expect(() => parseDeployConfig(data)).toThrow(/not allowed as a key/);
  });

  test('a secret reference key named constructor is refused', () => {
    expect(() =>
      parseDeployConfig(config('db.password').replace('key: password', 'key: constructor')),
    ).toThrow(/constructor/);
  });
});

describe('values paths', () => {
  test.each(['__proto__', 'constructor', 'prototype'])('parsePath refuses the segment %s', (seg) => {
    expect(() => parsePath(`a.${seg}.b`)).toThrow(/not allowed/);
    expect(() => parsePath(`${seg}`)).toThrow(/not allowed/);
  });

  test('setPath refuses a prototype segment given as an array and pollutes nothing', () => {
    expect(() => setPath({}, ['__proto__', VAR], 'https://evil.example')).toThrow(/not allowed/);
    expect(() => setPath({}, ['constructor', 'prototype', VAR], 'x')).toThrow(/not allowed/);
    expect(proto[VAR]).toBeUndefined();
  });

  test('the attack: a secretValues key __proto__.HELM_KUBEAPISERVER never reaches Object.prototype', () => {
    expect(() =>
      secretValuesDocument([{ path: `__proto__.${VAR}`, value: 'https://evil.example' }]),
    ).toThrow();
    expect(proto[VAR]).toBeUndefined();
    expect(({} as Record<string, unknown>)[VAR]).toBeUndefined();
  });

  test('values built by setPath have no prototype to reach', () => {
    const doc = setPath({}, 'a.b', 'x');
    expect(Object.getPrototypeOf(doc.a)).toBeNull();
  });
});

describe('values files: a __proto__ key from YAML is data, never a prototype', () => {
  test('mergeValues and coalesceValues keep it as an own key and leave prototypes alone', () => {
    const layer = JSON.parse('{"__proto__": {"polluted": "yes"}, "a": {"__proto__": {"polluted": "yes"}}}');
    const merged = mergeValues({ a: { keep: 1 } }, layer);
    expect(Object.hasOwn(merged, '__proto__')).toBe(true);
    expect(Object.hasOwn(merged.a as object, '__proto__')).toBe(true);
    expect((merged as Record<string, unknown>).polluted).toBeUndefined();
    expect((merged.a as Record<string, unknown>).polluted).toBeUndefined();
    const computed = coalesceValues({ a: { d: 1 } }, merged);
    expect(Object.hasOwn(computed, '__proto__')).toBe(true);
    expect((computed as Record<string, unknown>).polluted).toBeUndefined();
    expect((computed.a as Record<string, unknown>).d).toBe(1);
    expect(proto.polluted).toBeUndefined();
  });
});

describe('secret references', () => {
  test('a JSON key reference reads own fields only', async () => {
    const resolver = new SecretResolver(
      { getSecretString: async () => JSON.stringify({ password: 'hunter22' }) },
      new Redactor(),
    );
    expect(await resolver.tryResolve({ secret: 's', key: 'constructor' })).toBeUndefined();
    expect(await resolver.tryResolve({ secret: 's', key: 'toString' })).toBeUndefined();
    expect(await resolver.tryResolve({ secret: 's', key: 'password' })).toBe('hunter22');
  });
});

describe('child process environments', () => {
  test('allowlistedEnv builds a null-prototype object', () => {
    expect(Object.getPrototypeOf(allowlistedEnv({ PATH: '/bin' }))).toBeNull();
  });

  test('a polluted Object.prototype does not reach the child (helm would read HELM_KUBEAPISERVER)', async () => {
    const runner = createProcessRunner();
    proto[VAR] = 'https://evil.example';
    let out: string;
    try {
      // a plain object too: the runner copies own keys only
      const r = await runner.run(
        process.execPath,
        ['-e', `process.stdout.write(String(process.env.${VAR}))`],
        { env: { PATH: process.env.PATH ?? '/usr/bin' } },
      );
      out = r.stdout;
    } finally {
      delete proto[VAR];
    }
    expect(out).toBe('undefined');
  });
});
