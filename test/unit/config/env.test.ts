import { ConfigError, loadConfig } from '../../../lib/config/env';

describe('loadConfig', () => {
  it('parses a minimal environment with defaults', () => {
    const c = loadConfig({ HELMGATE_REPOSITORIES: 'idr/deployment, idr/other' });
    expect(c.HELMGATE_REPOSITORIES).toEqual(['idr/deployment', 'idr/other']);
    expect(c.HELMGATE_BRANCHES).toEqual([]);
    expect(c.HELMGATE_MAX_BODY_BYTES).toBe(5 * 1024 * 1024);
    expect(c.HELMGATE_DEPLOY_CONFIG).toBe('deploy.yaml');
  });

  it('names the missing variable', () => {
    expect(() => loadConfig({})).toThrow(ConfigError);
    expect(() => loadConfig({})).toThrow(/HELMGATE_REPOSITORIES/);
  });

  it('names a bad variable without echoing its value', () => {
    let message = '';
    try {
      loadConfig({ HELMGATE_REPOSITORIES: 'a/b', HELMGATE_MAX_BODY_BYTES: 'lots-of-bytes-xyz' });
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(/HELMGATE_MAX_BODY_BYTES/);
    expect(message).not.toContain('lots-of-bytes-xyz');
  });

  it('rejects a repository that is not owner/name', () => {
    expect(() => loadConfig({ HELMGATE_REPOSITORIES: 'just-a-name' })).toThrow(/HELMGATE_REPOSITORIES/);
  });
});
