import {
  allowlistedEnv,
  commandLabel,
  createProcessRunner,
  ExecError,
  tailLines,
} from '../../../lib/exec/command-runner';
import { RecordingCommandRunner } from '../../../lib/exec/recording-command-runner';

const node = process.execPath;
const env = allowlistedEnv(process.env);

describe('allowlistedEnv', () => {
  it('passes PATH, HOME, TMPDIR and LANG from the source and nothing else of it', () => {
    const out = allowlistedEnv({
      PATH: '/usr/bin',
      HOME: '/home/x',
      TMPDIR: '/tmp/x',
      LANG: 'C.UTF-8',
      AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI',
      AWS_SESSION_TOKEN: 'tok',
      GITHUB_TOKEN: 'ghp_x',
      SLACK_BOT_TOKEN: 'xoxb',
      HELM_DRIVER: 'memory',
      KUBECONFIG: '/home/x/.kube/config',
    });
    expect(out).toEqual({ PATH: '/usr/bin', HOME: '/home/x', TMPDIR: '/tmp/x', LANG: 'C.UTF-8' });
  });

  it('adds explicit HELM_* and KUBECONFIG variables', () => {
    const out = allowlistedEnv(
      { PATH: '/bin' },
      { HELM_CACHE_HOME: '/w/cache', KUBECONFIG: '/w/kubeconfig' },
    );
    expect(out).toEqual({ PATH: '/bin', HELM_CACHE_HOME: '/w/cache', KUBECONFIG: '/w/kubeconfig' });
  });

  it('refuses an explicit variable outside the allowlist instead of passing it', () => {
    expect(() => allowlistedEnv({}, { AWS_ACCESS_KEY_ID: 'AKIA' })).toThrow(
      /AWS_ACCESS_KEY_ID is not allowed/,
    );
  });
});

describe('createProcessRunner', () => {
  const runner = createProcessRunner({ killGraceMs: 200 });

  it('passes arguments verbatim without a shell', async () => {
    const r = await runner.run(
      node,
      ['-e', 'console.log(JSON.stringify(process.argv.slice(1)))', '$(echo hi)', 'a b;c'],
      { env },
    );
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual(['$(echo hi)', 'a b;c']);
  });

  it('writes stdin and gives the child only the environment it was handed', async () => {
    const r = await runner.run(
      node,
      [
        '-e',
        'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.stringify({s,k:Object.keys(process.env).sort()})))',
      ],
      { env: { PATH: process.env.PATH ?? '', HELM_DATA_HOME: '/x' }, stdin: 'secret: v\n' },
    );
    const out = JSON.parse(r.stdout);
    expect(out.s).toBe('secret: v\n');
    expect(out.k).toEqual(['HELM_DATA_HOME', 'PATH']);
  });

  it('reports a non-zero exit with stdout and stderr instead of throwing', async () => {
    const r = await runner.run(
      node,
      ['-e', 'process.stdout.write("o");process.stderr.write("boom");process.exit(3)'],
      { env },
    );
    expect(r).toMatchObject({ code: 3, stdout: 'o', stderr: 'boom' });
    expect(r.durationMs).toBeGreaterThanOrEqual(0);
  });

  it('kills a child that outlives its timeout and says so', async () => {
    const r = await runner.run(node, ['-e', 'setTimeout(()=>{}, 60000)'], { env, timeoutMs: 100 });
    expect(r.code).toBeNull();
    expect(r.timedOut).toBe(true);
  });

  it('never starts a program whose deadline is already spent (not even looking it up)', async () => {
    // a started program would fail to spawn here (ExecError); an unstarted one just timed out
    const r = await runner.run('/nonexistent/helmgate-test-program', [], { env, timeoutMs: 0 });
    expect(r).toMatchObject({ code: null, timedOut: true, stdout: '' });
  });

  it('stops a child when the signal aborts', async () => {
    const ac = new AbortController();
    const p = runner.run(node, ['-e', 'setTimeout(()=>{}, 60000)'], { env, signal: ac.signal });
    ac.abort(); // run() has spawned the child by the time it returns: this stops a running process
    const r = await p;
    expect(r.code).toBeNull();
    expect(r.stderr).not.toBe('aborted before start');
  });

  it('rejects with an ExecError naming only the program when it cannot start', async () => {
    const err = await runner
      .run('/nonexistent/helm', ['upgrade', 'rel', '--password-ish', 'value'], { env })
      .catch((e) => e);
    expect(err).toBeInstanceOf(ExecError);
    expect(err.message).toBe('helm upgrade could not start: ENOENT');
    expect(err.message).not.toContain('value');
  });
});

describe('ExecError', () => {
  it('prints the subcommand, the exit code and the last stderr line only', () => {
    const e = new ExecError({
      code: 'helm_failed',
      command: 'helm upgrade',
      exitCode: 1,
      stderrTail: 'warn x\nError: UPGRADE FAILED: boom\n',
    });
    expect(e.message).toBe('helm upgrade exited with code 1: Error: UPGRADE FAILED: boom');
    expect(e.code).toBe('helm_failed');
    expect(e.name).toBe('ExecError');
  });

  it('prefers the last "Error:" line over a trailing hint', () => {
    const e = new ExecError({
      command: 'helm template',
      exitCode: 1,
      stderrTail:
        'Error: execution error at (c/templates/cm.yaml:6:12): token is required\n\nUse --debug flag to render out invalid YAML\n',
    });
    expect(e.message).toBe(
      'helm template exited with code 1: Error: execution error at (c/templates/cm.yaml:6:12): token is required',
    );
  });

  it('joins the indented lines that continue a helm 4 template error', () => {
    const e = new ExecError({
      command: 'helm template',
      exitCode: 1,
      stderrTail:
        'Error: c/templates/a.yaml:2:40\n  executing "c/templates/a.yaml" at <.Values.auth.token>:\n    nil pointer evaluating interface {}.token\n\nUse --debug flag to render out invalid YAML',
    });
    expect(e.message).toBe(
      'helm template exited with code 1: Error: c/templates/a.yaml:2:40 executing "c/templates/a.yaml" at <.Values.auth.token>: nil pointer evaluating interface {}.token',
    );
  });

  it('labels the command with its base name and subcommand', () => {
    expect(commandLabel('/opt/bin/helm', ['upgrade', '--install', 'x'])).toBe('helm upgrade');
    expect(commandLabel('/opt/bin/helm', ['--kubeconfig', '/k'])).toBe('helm');
  });

  it('keeps the last lines of a long stderr', () => {
    const text = Array.from({ length: 30 }, (_, i) => `line ${i}`).join('\n');
    expect(tailLines(text, 2)).toBe('line 28\nline 29');
  });
});

describe('RecordingCommandRunner', () => {
  it('records calls and fails the next N calls of a subcommand with the given stderr', async () => {
    const fake = new RecordingCommandRunner().reply('status', { stdout: '{}' });
    fake.failNext({ subcommand: 'upgrade', times: 2, stderr: 'Error: etcdserver: leader changed' });
    const r1 = await fake.run('helm', ['upgrade', 'a'], { env: { PATH: '/bin' }, stdin: 'x: 1' });
    const r2 = await fake.run('helm', ['status', 'a'], { env: {} });
    const r3 = await fake.run('helm', ['upgrade', 'a'], { env: {} });
    const r4 = await fake.run('helm', ['upgrade', 'a'], { env: {} });
    expect([r1.code, r2.code, r3.code, r4.code]).toEqual([1, 0, 1, 0]);
    expect(r1.stderr).toContain('leader changed');
    expect(r2.stdout).toBe('{}');
    expect(fake.calls[0]).toMatchObject({
      command: 'helm',
      args: ['upgrade', 'a'],
      stdin: 'x: 1',
      env: { PATH: '/bin' },
    });
    expect(fake.callsOf('upgrade')).toHaveLength(3);
  });
});
