import { RecordingCommandRunner } from '../../../lib/exec/recording-command-runner';
import { testArgs } from '../../../lib/helm/helm-args';
import { createHelmRunner, parseTestSuites } from '../../../lib/helm/helm-runner';
import { Redactor } from '../../../lib/log/redact';

// `helm test` output as helm v4.1.4 prints it against the loopback stand-in (test/integration/runner/helm-test.test.ts)
const FAILED_OUT = `NAME: hub
LAST DEPLOYED: Thu Nov 26 03:42:59 2026
NAMESPACE: apps
STATUS: deployed
REVISION: 2
DESCRIPTION: Upgrade complete
TEST SUITE:     hub-test-connection
Last Started:   Thu Nov 26 03:42:59 2026
Last Completed: Thu Nov 26 03:42:59 2026
Phase:          Succeeded
TEST SUITE:     hub-test-smoke
Last Started:   Thu Nov 26 03:42:59 2026
Last Completed: Thu Nov 26 03:42:59 2026
Phase:          Failed
`;
const FAILED_ERR =
  'Error: resource Pod/apps/hub-test-smoke not ready. status: Failed, message: pod hub-test-smoke failed\n';

function setup() {
  const fake = new RecordingCommandRunner();
  const redactor = new Redactor();
  const helm = createHelmRunner({
    commandRunner: fake,
    helmBin: '/opt/helm/helm',
    homeDir: '/work/run-1/helm',
    redactor,
    connection: { kind: 'kubeconfig', path: '/work/run-1/kubeconfig' },
  });
  return { fake, redactor, helm };
}

describe('helm test', () => {
  test('argv: the release, its namespace and a per-hook timeout; never --logs (the runner reads log tails itself, bounded)', () => {
    expect(testArgs('hub', 'jh', { timeoutSeconds: 120 })).toEqual([
      'test',
      'hub',
      '--namespace',
      'jh',
      '--timeout',
      '120s',
    ]);
    expect(() => testArgs('--logs', 'jh', { timeoutSeconds: 1 })).toThrow();
    expect(() => testArgs('hub', '-n', { timeoutSeconds: 1 })).toThrow();
  });

  test('a failing test is an answer, not an error: which hook failed, helm’s stderr redacted', async () => {
    const { fake, redactor, helm } = setup();
    redactor.register('hub-test-smoke-secret');
    fake.reply('test', {
      code: 1,
      stdout: FAILED_OUT,
      stderr: `${FAILED_ERR}token hub-test-smoke-secret\n`,
    });
    const run = await helm.test?.('hub', 'apps', { timeoutSeconds: 30 });
    expect(run).toMatchObject({
      passed: false,
      hooks: [
        { name: 'hub-test-connection', phase: 'Succeeded' },
        { name: 'hub-test-smoke', phase: 'Failed' },
      ],
      timedOut: false,
      classification: { kind: 'permanent' },
    });
    expect(run?.stderrTail).toContain('resource Pod/apps/hub-test-smoke not ready');
    expect(run?.stderrTail).not.toContain('hub-test-smoke-secret');
    expect(fake.calls[0]?.args).toEqual([
      'test',
      'hub',
      '--namespace',
      'apps',
      '--timeout',
      '30s',
      '--kubeconfig',
      '/work/run-1/kubeconfig',
    ]);
    expect(fake.calls[0]?.timeoutMs).toBe(60_000);
  });

  test('a chart without test hooks passes with none', async () => {
    const { fake, helm } = setup();
    fake.reply('test', { code: 0, stdout: 'NAME: hub\nSTATUS: deployed\nTEST SUITE: None\n', stderr: '' });
    expect(await helm.test?.('hub', 'apps', { timeoutSeconds: 30 })).toMatchObject({
      passed: true,
      hooks: [],
      stderrTail: '',
    });
  });

  test('an unreachable cluster is classified transient', async () => {
    const { fake, helm } = setup();
    fake.reply('test', {
      code: 1,
      stdout: '',
      stderr:
        'Error: Kubernetes cluster unreachable: Get "https://k8s/version": dial tcp: connection refused\n',
    });
    const run = await helm.test?.('hub', 'apps', { timeoutSeconds: 30 });
    expect(run).toMatchObject({ passed: false, hooks: [], classification: { kind: 'transient' } });
  });
});

describe('parseTestSuites', () => {
  test('one hook per TEST SUITE block, in helm’s order; unknown phases are Unknown', () => {
    expect(parseTestSuites(FAILED_OUT.replace('Phase:          Failed', 'Phase:          Weird'))).toEqual({
      hooks: [
        { name: 'hub-test-connection', phase: 'Succeeded' },
        { name: 'hub-test-smoke', phase: 'Unknown' },
      ],
    });
  });

  test('a hook name that is not a Kubernetes name is not repeated (it reaches terminals and pages)', () => {
    const out = 'TEST SUITE:     \u001b]8;;https://evil\u0007x\nPhase:          Failed\n';
    expect(parseTestSuites(out).hooks).toEqual([{ name: '(an invalid name)', phase: 'Failed' }]);
  });

  test('bounded: at most 20 hooks kept, the rest counted', () => {
    const out = Array.from(
      { length: 25 },
      (_, i) => `TEST SUITE:     t-${i}\nPhase:          Succeeded\n`,
    ).join('');
    const parsed = parseTestSuites(out);
    expect(parsed.hooks).toHaveLength(20);
    expect(parsed.omittedHooks).toBe(5);
  });
});
