import { decidePush, involvedLogins, PushEvent } from '../../../lib/github/push-event';
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

describe('involvedLogins: who had a hand in a push', () => {
  it('names the pusher, the sender and the authors and committers GitHub resolved to an account', () => {
    const e = PushEvent.parse({
      ...githubExample('push', (x) => x.ref === 'refs/heads/master'),
      pusher: { name: 'merge-bot', email: 'bot@example.org' },
      sender: { login: 'Maintainer' },
      commits: [
        { id: 'a', author: { name: 'Ann', username: 'ann-author' }, committer: { username: 'web-flow' } },
        { id: 'b', author: { name: 'No Account', email: 'x@example.org' }, committer: null },
        { id: 'c', author: { username: 'Carl' }, committer: { username: 'carl' } },
      ],
      head_commit: { id: 'c', message: 'm', author: { username: 'Carl' }, committer: { username: null } },
    });
    expect(involvedLogins(e)).toEqual(['ann-author', 'carl', 'maintainer', 'merge-bot', 'web-flow']);
  });

  it("parses GitHub's own examples, including a committer without an account (username null)", () => {
    for (const pick of [0, 1]) {
      const raw = githubExample('push', (x) => x.ref === 'refs/heads/master');
      if (pick === 1) raw.commits[0].committer.username = null;
      expect(involvedLogins(PushEvent.parse(raw))).toEqual(['codertocat']);
    }
  });

  it('drops names that are not GitHub logins (spaces, slashes), never guessing', () => {
    const e = PushEvent.parse({
      ...githubExample('push', (x) => x.ref === 'refs/heads/master'),
      pusher: { name: 'Test Pusher' },
      sender: { login: '../evil' },
      commits: [],
      head_commit: null,
    });
    expect(involvedLogins(e)).toEqual([]);
  });
});
