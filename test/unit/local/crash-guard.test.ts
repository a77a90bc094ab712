import { spawnSync } from 'node:child_process';
import path from 'node:path';

const GUARD = path.join(__dirname, '../../../lib/local/crash-guard.ts');

function runChild(installGuard: boolean) {
  const script = `
    const { keepAliveOnUnhandledRejection } = require(${JSON.stringify(GUARD)});
    if (${installGuard}) keepAliveOnUnhandledRejection(process, (l) => process.stderr.write(l + '\\n'));
    Promise.reject(Object.assign(new URIError('URI malformed: secret-ish detail'), { code: 'x_code' }));
    setTimeout(() => { process.stdout.write('still up'); }, 200);
  `;
  return spawnSync(process.execPath, ['--import', 'tsx', '-e', script], {
    encoding: 'utf8',
    timeout: 20_000,
  });
}

describe('the local server keeps running after an unhandled rejection', () => {
  it('logs it (name and code, not the message) and stays up', () => {
    const r = runChild(true);
    expect(r.stdout).toBe('still up');
    expect(r.status).toBe(0);
    expect(r.stderr).toContain('"msg":"unhandled rejection (the process stays up)"');
    expect(r.stderr).toContain('"err":"URIError"');
    expect(r.stderr).not.toContain('secret-ish');
  });

  it('without the guard Node exits (so the guard is what keeps it up)', () => {
    const r = runChild(false);
    expect(r.stdout).toBe('');
    expect(r.status).not.toBe(0);
  });
});
