import { decidePush, PushEvent } from '../../../lib/github/push-event';
import { githubExample } from '../../helpers/events';

describe('decidePush on real GitHub push payloads', () => {
  it('deploys a push to the default branch', () => {
    const e = PushEvent.parse(githubExample('push', (x) => x.ref === 'refs/heads/master'));
    expect(decidePush(e, [])).toEqual({ kind: 'deploy', branch: 'master' });
  });

  it('ignores a tag push, saying so', () => {
    const e = PushEvent.parse(
      githubExample('push', (x) => x.ref === 'refs/tags/simple-tag' && x.deleted === false),
    );
    const d = decidePush(e, []);
    expect(d).toEqual({ kind: 'ignore', reason: expect.stringContaining('tag push refs/tags/simple-tag') });
  });

  it('ignores a branch deletion', () => {
    const e = PushEvent.parse({
      ...githubExample('push', (x) => x.ref === 'refs/heads/master'),
      deleted: true,
      after: '0'.repeat(40),
    });
    expect(decidePush(e, [])).toEqual({ kind: 'ignore', reason: 'branch master was deleted' });
  });

  it('ignores a branch that is not the default one', () => {
    const e = PushEvent.parse({
      ...githubExample('push', (x) => x.ref === 'refs/heads/master'),
      ref: 'refs/heads/feature',
    });
    expect(decidePush(e, [])).toMatchObject({
      kind: 'ignore',
      reason: expect.stringContaining('not a deploy branch (master)'),
    });
  });

  it('uses configured branches instead of the default branch when given', () => {
    const e = PushEvent.parse({
      ...githubExample('push', (x) => x.ref === 'refs/heads/master'),
      ref: 'refs/heads/release',
    });
    expect(decidePush(e, ['release'])).toEqual({ kind: 'deploy', branch: 'release' });
    const m = PushEvent.parse(githubExample('push', (x) => x.ref === 'refs/heads/master'));
    expect(decidePush(m, ['release']).kind).toBe('ignore');
  });

  it('rejects a payload whose after is not a SHA', () => {
    expect(PushEvent.safeParse({ ...githubExample('push'), after: 'HEAD' }).success).toBe(false);
  });
});
