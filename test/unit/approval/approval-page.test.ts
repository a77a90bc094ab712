import {
  escapeHtml,
  PAGE_HEADERS,
  renderApprovalPage,
  renderLoginPage,
} from '../../../lib/approval/approval-page';
import type { ApprovalRequest } from '../../../lib/approval/approval-request';
import type { Deployment } from '../../../lib/deploy/deployment';

const deployment: Deployment = {
  id: 'abc1234-production-x',
  repository: 'org/charts',
  environment: 'production',
  sha: 'a'.repeat(40),
  ref: 'refs/heads/main',
  status: 'awaiting_approval',
  approval: 'required',
  pusher: '<b>eve</b>',
  involved: ['<i>ann</i>', 'bob'],
  commitMessage: 'fix</pre><script>alert("x")</script><img src=x onerror=alert(1)>',
  commitUrl: 'javascript:alert(1)',
  createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-01-01T00:00:00.000Z',
};

const request: ApprovalRequest = {
  deploymentId: deployment.id,
  repository: 'org/charts',
  sha: deployment.sha,
  environment: 'production',
  after: 'staging',
  planDigest: 'f'.repeat(64),
  changes: [
    {
      name: 'jupyterhub',
      change: 'changed',
      chart: { from: 'jupyterhub/jupyterhub@4.3.0', to: 'jupyterhub/jupyterhub@4.4.0' },
      valuesDiff: '--- a\n+++ b\n@@ -1 +1 @@\n-image: "<old>"\n+image: "<script>new</script>"\n',
      secretKeysChanged: ['hub.config.GitHubOAuthenticator.client_secret'],
    },
    { name: 'grafana', change: 'unchanged', secretKeysChanged: [] },
  ],
  summary: [],
  createdAt: '2026-01-01T00:00:00.000Z',
  expiresAt: '2026-01-02T00:00:00.000Z',
  expiresAtMs: Date.parse('2026-01-02T00:00:00.000Z'),
  tokenHash: '0'.repeat(64),
  status: 'pending',
  votes: {},
  voteCount: 0,
};

const open = {
  kind: 'open' as const,
  login: 'alice',
  csrf: 'csrf"><script>',
  planDigest: 'plan"><b>',
  rollbackNeeded: true,
  votes: 0,
  required: 1,
  alreadyVoted: false,
};

describe('approval page', () => {
  test('a hostile commit message, pusher, link and values diff are escaped; the page has no script at all', () => {
    const html = renderApprovalPage({
      state: open,
      deployment,
      request,
      audit: [
        {
          deploymentId: deployment.id,
          at: 't',
          actor: '<i>x</i>',
          via: 'web',
          action: 'approve',
          outcome: 'refused',
        },
      ],
    });
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toMatch(/<img/i);
    expect(html).not.toContain('javascript:');
    expect(html).toContain('fix&lt;/pre&gt;&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;');
    expect(html).toContain('&lt;b&gt;eve&lt;/b&gt;');
    // who had a hand in it (the four-eyes rule keeps them from approving), escaped too
    expect(html).toContain('<dd id="involved">&lt;i&gt;ann&lt;/i&gt;, bob');
    expect(html).toContain('value="csrf&quot;&gt;&lt;script&gt;"');
    expect(html).toContain('name="plan" value="plan&quot;&gt;&lt;b&gt;"');
    expect(html).toContain('&lt;i&gt;x&lt;/i&gt;');
  });

  test('shows what changes: chart versions, the values diff, changed secret keys by name, unchanged releases skipped', () => {
    const html = renderApprovalPage({ state: open, deployment, request, audit: [] });
    expect(html).toContain('jupyterhub/jupyterhub@4.3.0 → jupyterhub/jupyterhub@4.4.0');
    expect(html).toContain('<span class="add">+image: &quot;&lt;script&gt;new&lt;/script&gt;&quot;</span>');
    expect(html).toContain('<code>hub.config.GitHubOAuthenticator.client_secret</code>');
    expect(html).toContain('Skipped as unchanged: <code>grafana</code>');
    expect(html).toContain('id="approve"');
    expect(html).toContain('id="reject"');
    expect(html).toContain('id="rollback"');
    expect(html).toContain('method="post" action="/approvals/abc1234-production-x/approve"');
  });

  test('says whether the rendered diff is pending, never made, or was not ready before the decision', () => {
    const asked = '2026-01-01T00:00:05.000Z';
    const pending = renderApprovalPage({
      state: open,
      deployment,
      request: { ...request, manifestsPending: asked },
      audit: [],
    });
    expect(pending).toContain('id="manifests-pending">Rendered diff pending');
    expect(pending).toContain(asked);
    expect(renderApprovalPage({ state: open, deployment, request, audit: [] })).toContain(
      'id="manifests-none"',
    );
    const decided = renderApprovalPage({
      state: open,
      deployment,
      request: { ...request, status: 'approved', manifestsPending: asked },
      audit: [],
    });
    expect(decided).toContain('decided before it was ready');
    expect(decided).not.toContain('Rendered diff pending');
  });

  test('says which operator policy applied: its digest and its one line', () => {
    const html = renderApprovalPage({
      state: open,
      deployment: {
        ...deployment,
        policy: { digest: 'c'.repeat(64), summary: 'approval required (1 of 2 approver(s)) <after> staging' },
      },
      request,
      audit: [],
    });
    expect(html).toContain(
      '<dd id="policy"><code>cccccccccccc</code> approval required (1 of 2 approver(s)) &lt;after&gt; staging</dd>',
    );
    expect(renderApprovalPage({ state: open, deployment, request, audit: [] })).not.toContain('id="policy"');
  });

  test('not logged in: a login link and nothing of the deployment', () => {
    const html = renderLoginPage({ loginUrl: '/auth/github/login?return=%2Fapprovals%2Fx' });
    expect(html).toContain('id="login" href="/auth/github/login?return=%2Fapprovals%2Fx"');
    expect(html).not.toContain('id="approve"');
    expect(html).not.toContain('What will change');
    expect(html).not.toContain(deployment.repository);
  });

  test('superseded, expired and decided states say so', () => {
    const sup = renderApprovalPage({
      state: { kind: 'superseded', by: 'b'.repeat(40) },
      deployment,
      request,
      audit: [],
    });
    expect(sup).toContain(`Superseded by ${'b'.repeat(40)}`);
    const exp = renderApprovalPage({
      state: { kind: 'expired', expiresAt: request.expiresAt },
      deployment,
      request,
      audit: [],
    });
    expect(exp).toContain('expired at 2026-01-02T00:00:00.000Z');
    const dec = renderApprovalPage({
      state: { kind: 'decided', status: 'rejected', by: 'bob' },
      deployment,
      request,
      audit: [],
    });
    expect(dec).toContain('Already rejected by bob');
    expect(dec).not.toContain('id="approve"');
  });

  test('the CSP forbids scripts, inline styles, framing and foreign form targets', () => {
    expect(PAGE_HEADERS['content-security-policy']).toBe(
      "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    expect(escapeHtml(`<>&"'`)).toBe('&lt;&gt;&amp;&quot;&#39;');
  });
});
