import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fixedClock } from '../../../lib/clock';
import { RecordingCommandRunner } from '../../../lib/exec/recording-command-runner';
import { createHelmRunner } from '../../../lib/helm/helm-runner';
import {
  backoffDelay,
  type DeployReleaseInput,
  deployRelease,
  renderRelease,
  rollbackTarget,
  timeBudget,
  undoFailedUpgrade,
} from '../../../lib/helm/release-deployer';
import { Redactor } from '../../../lib/log/redact';

const CANARY = 'canary-Value-51e0a7d2';
const T0 = Date.parse('2025-06-01T10:00:00Z');

const statusJson = (status: string, version: number) =>
  JSON.stringify({ name: 'hub', version, info: { status }, chart: { metadata: { version: '1.0.0' } } });

function setup(opts: { attempts?: number } = {}) {
  const fake = new RecordingCommandRunner();
  fake.reply('status', { code: 1, stderr: 'Error: release: not found' });
  fake.reply('upgrade', { stdout: 'STATUS: deployed\nREVISION: 1\n' });
  const clock = fixedClock(new Date(T0));
  const sleeps: number[] = [];
  const helm = createHelmRunner({
    commandRunner: fake,
    helmBin: 'helm',
    homeDir: '/w/helm',
    redactor: new Redactor(),
    connection: { kind: 'apiserver', url: 'http://127.0.0.1:1' },
  });
  const deps = {
    helm,
    clock,
    sleep: async (ms: number) => {
      sleeps.push(ms);
      clock.advance(ms);
    },
    random: () => 0.5,
    retry: { attempts: opts.attempts ?? 4, baseMs: 1000, capMs: 8000 },
  };
  return { fake, clock, sleeps, deps };
}

const input = (over: Partial<DeployReleaseInput> = {}): DeployReleaseInput => ({
  release: 'hub',
  namespace: 'jh',
  chart: { kind: 'local', path: '/src/charts/hub' },
  valuesFiles: ['/src/values/hub.yaml'],
  secretValues: [{ path: 'hub.secret', value: CANARY }],
  timeoutSeconds: 300,
  deadline: T0 + 15 * 60_000,
  ...over,
});

describe('deployRelease retries', () => {
  it('retries a transient failure twice and succeeds on the third attempt, with jittered back-off', async () => {
    const { fake, sleeps, deps } = setup();
    fake.failNext({
      subcommand: 'upgrade',
      times: 2,
      stderr: 'Error: UPGRADE FAILED: etcdserver: leader changed',
    });
    fake.reply('upgrade', { stdout: 'REVISION: 5\n' });
    const r = await deployRelease(deps, input());
    expect(r).toMatchObject({ status: 'succeeded', revision: 5, attempts: 3 });
    expect(fake.callsOf('upgrade')).toHaveLength(3);
    expect(sleeps).toEqual([500, 1000]); // random 0.5 × min(cap, 1000·2^(n-1))
    expect(r.durationMs).toBe(1500);
  });

  it('does not retry a permanent failure', async () => {
    const { fake, sleeps, deps } = setup();
    fake.failNext({
      subcommand: 'upgrade',
      times: 5,
      stderr:
        'Error: INSTALLATION FAILED: template: hub/templates/cm.yaml:6:20: executing "hub/templates/cm.yaml" at <.Values.x.y>: nil pointer evaluating interface {}.y',
    });
    const r = await deployRelease(deps, input());
    expect(r).toMatchObject({
      status: 'failed',
      attempts: 1,
      classification: { kind: 'permanent', reason: 'chart template error' },
    });
    expect(r.reason).toContain('chart template error: helm upgrade exited with code 1');
    expect(r.errorTail).toContain('nil pointer evaluating');
    expect(fake.callsOf('upgrade')).toHaveLength(1);
    expect(sleeps).toEqual([]);
  });

  it('gives up after the configured attempts of transient failures', async () => {
    const { fake, deps } = setup({ attempts: 3 });
    fake.failNext({
      subcommand: 'upgrade',
      times: 10,
      stderr: 'Error: UPGRADE FAILED: dial tcp 10.0.0.1:443: i/o timeout',
    });
    const r = await deployRelease(deps, input());
    expect(r).toMatchObject({
      status: 'failed',
      attempts: 3,
      classification: { kind: 'transient', reason: 'i/o timeout' },
    });
  });

  it('recovers a stuck release (found pending after the failure) and then succeeds', async () => {
    const { fake, deps } = setup();
    let statusCalls = 0;
    fake.reply('status', () => {
      statusCalls++;
      return { stdout: statusCalls === 1 ? statusJson('deployed', 2) : statusJson('pending-upgrade', 3) };
    });
    fake.reply('history', {
      stdout: JSON.stringify([
        { revision: 1, status: 'superseded' },
        { revision: 2, status: 'deployed' },
        { revision: 3, status: 'pending-upgrade' },
      ]),
    });
    fake.failNext({
      subcommand: 'upgrade',
      stderr: 'Error: UPGRADE FAILED: another operation (install/upgrade/rollback) is in progress',
    });
    fake.reply('upgrade', { stdout: 'REVISION: 5\n' });
    const r = await deployRelease(deps, input());
    expect(r).toMatchObject({
      status: 'succeeded',
      revision: 5,
      attempts: 2,
      recovered: { from: 'pending-upgrade', toRevision: 2 },
    });
    expect(fake.calls.map((c) => c.args[0])).toEqual([
      'status',
      'upgrade',
      'status',
      'history',
      'rollback',
      'upgrade',
    ]);
    expect(fake.callsOf('rollback')[0]!.args.slice(0, 3)).toEqual(['rollback', 'hub', '2']);
  });

  it('retries a stuck failure when the release is not pending (someone else was briefly running)', async () => {
    const { fake, deps } = setup();
    fake.reply('status', { stdout: statusJson('deployed', 2) });
    fake.failNext({
      subcommand: 'upgrade',
      stderr: 'Error: UPGRADE FAILED: another operation (install/upgrade/rollback) is in progress',
    });
    const r = await deployRelease(deps, input());
    expect(r).toMatchObject({ status: 'succeeded', attempts: 2 });
    expect(r.recovered).toBeUndefined();
    expect(fake.callsOf('rollback')).toHaveLength(0);
  });
});

describe('deployRelease recovery of a release left pending by a killed run', () => {
  it('rolls a pending-upgrade back to the last deployed revision before upgrading', async () => {
    const { fake, deps } = setup();
    fake.reply('status', { stdout: statusJson('pending-upgrade', 4) });
    fake.reply('history', {
      stdout: JSON.stringify([
        { revision: 2, status: 'superseded' },
        { revision: 3, status: 'deployed' },
        { revision: 4, status: 'pending-upgrade' },
      ]),
    });
    fake.reply('upgrade', { stdout: 'REVISION: 6\n' });
    const r = await deployRelease(deps, input());
    expect(r).toMatchObject({
      status: 'succeeded',
      revision: 6,
      attempts: 1,
      recovered: { from: 'pending-upgrade', toRevision: 3 },
    });
    expect(fake.calls.map((c) => c.args[0])).toEqual(['status', 'history', 'rollback', 'upgrade']);
  });

  it('uninstalls a first install that never deployed', async () => {
    const { fake, deps } = setup();
    fake.reply('status', { stdout: statusJson('pending-install', 1) });
    fake.reply('history', { stdout: JSON.stringify([{ revision: 1, status: 'pending-install' }]) });
    const r = await deployRelease(deps, input());
    expect(r).toMatchObject({ status: 'succeeded', recovered: { from: 'pending-install' } });
    expect(r.recovered?.toRevision).toBeUndefined();
    expect(fake.calls.map((c) => c.args[0])).toEqual(['status', 'history', 'uninstall', 'upgrade']);
  });

  it('reports a recovery that fails permanently as such, without upgrading', async () => {
    const { fake, deps } = setup();
    fake.reply('status', { stdout: statusJson('pending-rollback', 3) });
    fake.reply('history', { stdout: JSON.stringify([{ revision: 2, status: 'deployed' }]) });
    fake.failNext({
      subcommand: 'rollback',
      stderr: 'Error: secrets is forbidden: User "x" cannot update resource "secrets"',
    });
    const r = await deployRelease(deps, input());
    expect(r.status).toBe('failed');
    expect(r.reason).toMatch(/^recovering the pending release failed: forbidden/);
    expect(fake.callsOf('upgrade')).toHaveLength(0);
  });

  it.each([
    [
      [
        { revision: 1, status: 'superseded' },
        { revision: 2, status: 'deployed' },
      ],
      3,
      2,
    ],
    [
      [
        { revision: 1, status: 'superseded' },
        { revision: 2, status: 'failed' },
      ],
      3,
      1,
    ],
    [[{ revision: 1, status: 'failed' }], 2, 1],
    [[{ revision: 1, status: 'pending-install' }], 1, undefined],
  ] as const)(
    'picks the rollback target from history %j at pending revision %d',
    (history, pending, expected) => {
      expect(rollbackTarget(history, pending)).toBe(expected);
    },
  );
});

describe('undoing a failed upgrade (issue 13: helm runs without --rollback-on-failure)', () => {
  const undoInput = { release: 'hub', namespace: 'jh', timeoutSeconds: 60, processTimeoutMs: 70_000 };

  it('tells what ran before the upgrade: the latest revision, null when not installed', async () => {
    const { fake, deps } = setup({ attempts: 1 });
    fake.reply('status', { stdout: statusJson('deployed', 3) });
    fake.failNext({ subcommand: 'upgrade', stderr: 'Error: resource Deployment/jh/hub not ready' });
    expect(await deployRelease(deps, input())).toMatchObject({ status: 'failed', before: 3 });
    const fresh = setup({ attempts: 1 });
    fresh.fake.failNext({ subcommand: 'upgrade', stderr: 'Error: resource Deployment/jh/hub not ready' });
    expect(await deployRelease(fresh.deps, input())).toMatchObject({ status: 'failed', before: null });
  });

  it('rolls the failed revision back to the last deployed one, without --wait', async () => {
    const { fake, deps } = setup();
    fake.reply('history', {
      stdout: JSON.stringify([
        { revision: 2, status: 'superseded' },
        { revision: 3, status: 'deployed' },
        { revision: 4, status: 'failed' },
      ]),
    });
    expect(await undoFailedUpgrade(deps, { ...undoInput, before: 3, beforeLastAttempt: 3 })).toEqual({
      outcome: 'rolled-back',
      to: 3,
    });
    const rollback = fake.calls.find((c) => c.args[0] === 'rollback');
    expect(rollback?.args.slice(0, 3)).toEqual(['rollback', 'hub', '3']);
    expect(rollback?.args).not.toContain('--wait');
    expect(rollback?.timeoutMs).toBe(70_000);
  });

  it('uninstalls a failed first install, and leaves a release alone when helm wrote no revision', async () => {
    const first = setup();
    first.fake.reply('history', { stdout: JSON.stringify([{ revision: 1, status: 'failed' }]) });
    expect(
      await undoFailedUpgrade(first.deps, { ...undoInput, before: null, beforeLastAttempt: null }),
    ).toEqual({
      outcome: 'uninstalled',
    });
    expect(first.fake.calls.map((c) => c.args[0])).toEqual(['history', 'uninstall']);

    const templateError = setup();
    templateError.fake.reply('history', { stdout: JSON.stringify([{ revision: 3, status: 'deployed' }]) });
    expect(
      await undoFailedUpgrade(templateError.deps, { ...undoInput, before: 3, beforeLastAttempt: 3 }),
    ).toEqual({
      outcome: 'unchanged',
    });
    const never = setup();
    never.fake.reply('history', { code: 1, stderr: 'Error: release: not found' });
    expect(
      await undoFailedUpgrade(never.deps, { ...undoInput, before: null, beforeLastAttempt: null }),
    ).toEqual({
      outcome: 'unchanged',
    });
    expect([...templateError.fake.calls, ...never.fake.calls].map((c) => c.args[0])).toEqual([
      'history',
      'history',
    ]);
  });

  it('leaves a release whose latest revision this upgrade did not write (another environment’s, same name and namespace)', async () => {
    const cases: Array<{ before: number | null; history: Array<{ revision: number; status: string }> }> = [
      // a successful revision written after ours failed: rolling "back" would undo it
      {
        before: 3,
        history: [
          { revision: 3, status: 'superseded' },
          { revision: 4, status: 'failed' },
          { revision: 5, status: 'deployed' },
        ],
      },
      // installed by someone else between our status read and our upgrade, which wrote nothing
      { before: null, history: [{ revision: 1, status: 'deployed' }] },
      // installed by someone else, then our upgrade failed on top: not a first install to uninstall
      {
        before: null,
        history: [
          { revision: 1, status: 'deployed' },
          { revision: 2, status: 'failed' },
        ],
      },
    ];
    for (const c of cases) {
      const { fake, deps } = setup();
      fake.reply('history', { stdout: JSON.stringify(c.history) });
      const undone = await undoFailedUpgrade(deps, {
        ...undoInput,
        before: c.before,
        beforeLastAttempt: c.before,
      });
      expect(undone).toMatchObject({
        outcome: 'left',
        reason: expect.stringMatching(/is not the one this upgrade wrote/),
      });
      expect(fake.calls.map((call) => call.args[0])).toEqual(['history']);
    }
  });

  it('a retry reads the release again, so the revision its last attempt wrote is the one undone', async () => {
    const { fake, deps } = setup({ attempts: 2 });
    // each upgrade writes the next revision, failed
    fake.reply('status', () =>
      fake.callsOf('upgrade').length === 0
        ? { stdout: statusJson('deployed', 3) }
        : { stdout: statusJson('failed', 3 + fake.callsOf('upgrade').length) },
    );
    fake.failNext({ subcommand: 'upgrade', stderr: 'Error: UPGRADE FAILED: etcdserver: leader changed' });
    fake.failNext({ subcommand: 'upgrade', stderr: 'Error: resource Deployment/jh/hub not ready' });
    const r = await deployRelease(deps, input());
    expect(r).toMatchObject({ status: 'failed', attempts: 2, before: 3, beforeLastAttempt: 4 });
    fake.reply('history', {
      stdout: JSON.stringify([
        { revision: 3, status: 'superseded' },
        { revision: 4, status: 'failed' },
        { revision: 5, status: 'failed' },
      ]),
    });
    expect(
      await undoFailedUpgrade(deps, {
        ...undoInput,
        before: r.before ?? null,
        beforeLastAttempt: r.beforeLastAttempt ?? null,
      }),
    ).toEqual({ outcome: 'rolled-back', to: 3 });
  });

  it('reports a rollback that fails instead of throwing', async () => {
    const { fake, deps } = setup();
    fake.reply('history', {
      stdout: JSON.stringify([
        { revision: 3, status: 'deployed' },
        { revision: 4, status: 'failed' },
      ]),
    });
    fake.failNext({ subcommand: 'rollback', stderr: 'Error: secrets is forbidden' });
    expect(await undoFailedUpgrade(deps, { ...undoInput, before: 3, beforeLastAttempt: 3 })).toMatchObject({
      outcome: 'failed',
      to: 3,
      reason: expect.stringContaining('forbidden'),
    });
  });
});

describe('deployRelease time budget', () => {
  it('clamps helm --timeout to the time left before the deadline minus the safety margin', async () => {
    const { fake, deps } = setup();
    await deployRelease(deps, input({ timeoutSeconds: 900, deadline: T0 + 100_000 }));
    const args = fake.callsOf('upgrade')[0]!.args;
    expect(args[args.indexOf('--timeout') + 1]).toBe('80s');
    expect(fake.callsOf('upgrade')[0]!.timeoutMs).toBe(90_000);
  });

  it('defers without running helm when too little time is left', async () => {
    const { fake, deps } = setup();
    const r = await deployRelease(deps, input({ deadline: T0 + 45_000 }));
    expect(r).toMatchObject({ status: 'deferred', attempts: 0 });
    expect(r.reason).toBe('not enough time left in this invocation (25s usable, 30s needed)');
    expect(fake.calls).toHaveLength(0);
  });

  it('defers instead of retrying when the back-off would eat the remaining time', async () => {
    const { fake, deps } = setup();
    deps.retry = { attempts: 4, baseMs: 60_000, capMs: 60_000 };
    fake.failNext({ subcommand: 'upgrade', stderr: 'Error: UPGRADE FAILED: etcdserver: leader changed' });
    const r = await deployRelease(deps, input({ deadline: T0 + 70_000 }));
    expect(r).toMatchObject({ status: 'deferred', attempts: 1, classification: { kind: 'transient' } });
    expect(r.reason).toMatch(/not enough time left.*last attempt failed: etcd leader changed/);
    expect(fake.callsOf('upgrade')).toHaveLength(1);
  });

  it('computes the budget as a pure function', () => {
    expect(timeBudget({ timeoutSeconds: 600, deadline: 1_000_000, now: 0 })).toEqual({
      kind: 'run',
      timeoutSeconds: 600,
      processTimeoutMs: 610_000,
    });
    expect(timeBudget({ timeoutSeconds: 600, deadline: 100_000, now: 0, safetyMarginMs: 10_000 })).toEqual({
      kind: 'run',
      timeoutSeconds: 90,
      processTimeoutMs: 95_000,
    });
    expect(timeBudget({ timeoutSeconds: 600, deadline: 100_000, now: 0, delayMs: 60_000 }).kind).toBe(
      'defer',
    );
  });

  it('draws the back-off from [0, min(cap, base·2^(n-1)))', () => {
    const p = { baseMs: 1000, capMs: 5000 };
    expect([1, 2, 3, 4, 5].map((n) => backoffDelay(n, p, () => 0.999))).toEqual([
      999, 1998, 3996, 4995, 4995,
    ]);
    expect(backoffDelay(3, p, () => 0)).toBe(0);
  });
});

describe('deployRelease secrets', () => {
  it('sends secret values on stdin only: never in argv or env of any helm call', async () => {
    const { fake, deps } = setup();
    fake.failNext({ subcommand: 'upgrade', stderr: 'Error: UPGRADE FAILED: unexpected EOF' });
    await deployRelease(deps, input());
    for (const call of fake.calls) {
      expect(JSON.stringify(call.args)).not.toContain(CANARY);
      expect(JSON.stringify(call.env)).not.toContain(CANARY);
    }
    const upgrades = fake.callsOf('upgrade');
    expect(upgrades).toHaveLength(2);
    for (const u of upgrades) expect(u.stdin).toContain(CANARY);
    expect(fake.callsOf('status')[0]!.stdin).toBe('');
  });
});

describe('renderRelease', () => {
  it('renders with helm template and writes the (redacted) stdout to manifest.yaml', async () => {
    const { fake, deps } = setup();
    // helm echoes the secret into the rendered Secret; the runner registered it with the redactor
    fake.reply('template', { stdout: `kind: Secret\ndata:\n  token: ${CANARY}\n` });
    const outputDir = mkdtempSync(path.join(os.tmpdir(), 'render-'));
    const r = await renderRelease(deps, {
      ...input({ secretValues: [{ path: 'auth.token', value: CANARY }] }),
      outputDir,
    });
    expect(r).toMatchObject({ status: 'rendered', attempts: 1, outputDir });
    expect(fake.calls[0]!.args[0]).toBe('template');
    expect(fake.calls[0]!.args).not.toContain('--output-dir');
    const written = readFileSync(path.join(outputDir, 'manifest.yaml'), 'utf8');
    expect(written).toContain('kind: Secret');
    expect(written).not.toContain(CANARY);
  });

  it('reports a template error as a failure', async () => {
    const { fake, deps } = setup();
    fake.failNext({
      subcommand: 'template',
      stderr: 'Error: parse error at (hub/templates/cm.yaml:4): unexpected EOF',
    });
    const r = await renderRelease(deps, { ...input(), outputDir: '/out/hub' });
    expect(r).toMatchObject({
      status: 'failed',
      classification: { kind: 'permanent', reason: 'chart template parse error' },
    });
  });
});
