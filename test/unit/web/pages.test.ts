import type { ApprovalRequest } from '../../../lib/approval/approval-request';
import type { Deployment } from '../../../lib/deploy/deployment';
import { doraFigures } from '../../../lib/metrics/dora';
import type { EnvironmentCard, WaitingItem } from '../../../lib/web/dashboard-data';
import { matchesQuery } from '../../../lib/web/dashboard-data';
import { renderDeploymentPage, timelineOf } from '../../../lib/web/deployment-page';
import { renderHistory } from '../../../lib/web/history';
import { ago, humanDuration } from '../../../lib/web/html';
import { pageHeaders, renderLayout, STYLESHEET } from '../../../lib/web/layout';
import { renderMetricsPage } from '../../../lib/web/metrics-page';
import { type PageContext, renderOverview } from '../../../lib/web/overview';
import { axisMax, barChart, lineChart } from '../../../lib/web/svg-chart';

const NOW = new Date('2026-03-15T12:00:00.000Z');
const EVIL = '<img src=x onerror=alert(1)>"\'&';

function dep(over: Partial<Deployment> = {}): Deployment {
  return {
    id: 'd1',
    repository: 'org/charts',
    environment: 'production',
    sha: 'a'.repeat(40),
    ref: 'refs/heads/main',
    status: 'succeeded',
    approval: 'required',
    pusher: EVIL,
    commitMessage: `${EVIL}\nbody`,
    commitUrl: 'javascript:alert(1)',
    createdAt: '2026-03-15T10:00:00.000Z',
    updatedAt: '2026-03-15T10:05:00.000Z',
    startedAt: '2026-03-15T10:01:00.000Z',
    finishedAt: '2026-03-15T10:05:00.000Z',
    releases: [
      { name: EVIL, namespace: 'ns', status: 'succeeded', attempts: 1, chart: EVIL, durationMs: 1500 },
    ],
    ...over,
  };
}

const request: ApprovalRequest = {
  deploymentId: 'w1',
  repository: 'org/charts',
  sha: 'b'.repeat(40),
  environment: 'production',
  after: 'staging',
  planDigest: 'f'.repeat(64),
  changes: [{ name: 'hub', change: 'changed', valuesDiff: `-a: 1\n+a: ${EVIL}\n`, secretKeysChanged: [] }],
  summary: [`hub: ${EVIL}`],
  createdAt: '2026-03-15T11:00:00.000Z',
  expiresAt: '2026-03-16T11:00:00.000Z',
  expiresAtMs: Date.parse('2026-03-16T11:00:00.000Z'),
  tokenHash: 'x',
  status: 'pending',
  votes: {},
  voteCount: 0,
};

function waiting(over: Partial<WaitingItem> = {}): WaitingItem {
  return {
    deployment: dep({
      id: 'w1',
      status: 'awaiting_approval',
      sha: 'b'.repeat(40),
      startedAt: undefined,
    } as never),
    open: true,
    request,
    right: { ok: true },
    rollbackNeeded: false,
    required: 1,
    alreadyVoted: false,
    ...over,
  };
}

const ctx: PageContext = {
  login: 'dora',
  now: NOW,
  githubWebUrl: 'https://github.com',
  nonce: 'bm9uY2U=',
  csrfFor: (id) => `csrf-for-${id}`,
};

function card(over: Partial<EnvironmentCard> = {}): EnvironmentCard {
  return {
    repository: 'org/charts',
    environment: 'production',
    approval: 'required',
    current: dep(),
    approvedBy: ['github:dora'],
    active: [],
    waiting: [],
    restored: false,
    ...over,
  };
}

/** Every tag name in the page: an injected `<img` or `<script` would show up here. */
function tags(html: string): Set<string> {
  return new Set([...html.matchAll(/<([a-z][a-z0-9]*)/gi)].map((m) => (m[1] as string).toLowerCase()));
}

describe('dashboard pages', () => {
  it('escape every pushed string, and never link a javascript: commit URL', () => {
    const pages = [
      renderOverview(
        [card({ waiting: [waiting()], lastFailure: dep({ status: 'failed', reason: EVIL }) })],
        ctx,
      ),
      renderHistory(
        { deployments: [dep()], environments: ['production'], repositories: ['org/charts'] },
        { limit: 25, person: EVIL },
        ctx,
      ),
      renderDeploymentPage(
        { deployment: dep({ status: 'failed', reason: EVIL }), audit: [], request, waiting: waiting() },
        ctx,
      ),
    ];
    for (const html of pages) {
      expect(tags(html).has('img')).toBe(false);
      expect(html).toContain('&lt;img src=x onerror=alert(1)&gt;&quot;&#39;&amp;');
      expect(html).not.toContain('javascript:');
      // the one script is ours, with the response's nonce
      expect([...html.matchAll(/<script/g)].length).toBeLessThanOrEqual(1);
      if (html.includes('<script')) expect(html).toContain('<script nonce="bm9uY2U=">');
    }
  });

  it('offer Approve and Reject to an allowed approver, bound to the plan the page shows', () => {
    const html = renderOverview([card({ waiting: [waiting()] })], ctx);
    expect(html).toContain('action="/approvals/w1/approve"');
    expect(html).toContain('action="/approvals/w1/reject"');
    expect(html).toContain('name="csrf" value="csrf-for-w1"');
    expect(html).toContain(`name="plan" value="${'f'.repeat(64)}"`);
    expect(html).toContain('name="return" value="/"');
    expect(html).not.toContain('name="token"');
  });

  it('tell someone who may not approve why, without buttons', () => {
    const html = renderOverview(
      [
        card({
          waiting: [waiting({ right: { ok: false, reason: 'eve is not allowed to approve production' } })],
        }),
      ],
      { ...ctx, login: 'eve' },
    );
    expect(html).not.toContain('data-vote="approve"');
    expect(html).toContain('eve is not allowed to approve production');
  });

  it('say "waiting for staging" and offer no vote before the approval is open', () => {
    const html = renderOverview([card({ waiting: [waiting({ open: false, waitsFor: 'staging' })] })], ctx);
    expect(html).toContain('Waiting for staging to pass before the approval opens.');
    expect(html).not.toContain('data-vote=');
  });

  it('ask for the rollback confirmation when the environment runs a newer commit', () => {
    const html = renderOverview(
      [card({ waiting: [waiting({ rollbackNeeded: true, newerRunningSha: 'c'.repeat(40) })] })],
      ctx,
    );
    expect(html).toContain('name="rollback" value="1"');
    expect(html).toContain('runs ccccccc');
  });

  it('mark what runs now as live, so the page refreshes it, and only then', () => {
    const running = dep({
      id: 'r1',
      status: 'running',
      releases: [
        { name: 'a', namespace: 'n', status: 'succeeded', attempts: 1 },
        { name: 'b', namespace: 'n', status: 'running', attempts: 1 },
      ],
    });
    const live = renderOverview([card({ active: [running] })], ctx);
    expect(live).toContain('data-refresh="5"');
    expect(live).toContain('<progress max="2" value="1"');
    expect(renderOverview([card()], ctx)).not.toContain('data-refresh="');
  });

  it('build the timeline from the deployment and its audit, in time order', () => {
    const d = dep();
    const events = timelineOf(d, [
      {
        deploymentId: 'd1',
        at: '2026-03-15T10:00:30.000Z',
        actor: 'system',
        via: 'system',
        action: 'offer',
        outcome: 'offered',
      },
      {
        deploymentId: 'd1',
        at: '2026-03-15T10:00:50.000Z',
        actor: 'eve',
        via: 'web',
        action: 'approve',
        outcome: 'refused: forbidden',
      },
      {
        deploymentId: 'd1',
        at: '2026-03-15T10:00:55.000Z',
        actor: 'dora',
        via: 'slack',
        action: 'approve',
        outcome: 'approved',
      },
    ]);
    expect(events.map((e) => `${e.what} ${e.tone}`)).toEqual([
      'push recorded (approval required) neutral',
      'offer: offered wait',
      'approve: refused: forbidden bad',
      'approve: approved ok',
      'run started neutral',
      'succeeded ok',
    ]);
  });

  it('link the compare view from what ran before to this commit', () => {
    const html = renderDeploymentPage(
      {
        deployment: dep({ commitUrl: undefined } as never),
        audit: [],
        previousSuccess: dep({ sha: 'c'.repeat(40) }),
      },
      ctx,
    );
    expect(html).toContain(
      `href="https://github.com/org/charts/compare/${'c'.repeat(40)}...${'a'.repeat(40)}"`,
    );
    expect(html).toContain(`href="https://github.com/org/charts/commit/${'a'.repeat(40)}"`);
  });

  it('page the history with a cursor that keeps the filters', () => {
    const html = renderHistory(
      {
        deployments: [dep()],
        nextCursor: '2026-03-15T10:00:00.000Z#d1',
        environments: ['production'],
        repositories: ['org/charts'],
      },
      { limit: 25, environment: 'production', status: 'failed' },
      ctx,
    );
    expect(html).toContain(
      'href="/deployments?environment=production&amp;status=failed&amp;cursor=2026-03-15T10%3A00%3A00.000Z%23d1"',
    );
    expect(html).toContain('<option value="failed" selected>');
  });

  it('filter the history by environment, status, commit prefix and person', () => {
    const d = dep({ pusher: 'Ana', requestedBy: 'ops-bot' });
    expect(
      matchesQuery(d, { environment: 'production', status: 'succeeded', commit: 'AAAA', person: 'ana' }),
    ).toBe(true);
    expect(matchesQuery(d, { person: 'ops' })).toBe(true);
    expect(matchesQuery(d, { environment: 'staging' })).toBe(false);
    expect(matchesQuery(d, { commit: 'ab' })).toBe(false);
    expect(matchesQuery(d, { person: 'bob' })).toBe(false);
  });

  it('draw the metrics as SVG with the same numbers in tables, for each environment', () => {
    const report = doraFigures(
      [dep(), dep({ id: 'd2', status: 'failed', finishedAt: '2026-03-14T10:00:00.000Z' })],
      {
        now: NOW,
        days: 7,
      },
    );
    const html = renderMetricsPage(report, { login: 'dora', period: 7 });
    expect(html).toContain('<svg class="chart" id="chart-production-deploys"');
    expect(html).toContain('role="img"');
    expect(html).toContain('id="chart-production-deploys-table"');
    expect(html).toContain('<strong aria-current="page">7 days</strong>');
    expect(html).toMatch(
      /data-figure="change-failure-rate"><span class="muted">Change failure rate<\/span><span class="value">50 %/,
    );
    expect(tags(html).has('script')).toBe(false);
  });
});

describe('charts', () => {
  it('pick axis maxima with whole counts and round durations', () => {
    expect(axisMax(1, 'count')).toBe(4);
    expect(axisMax(9, 'count')).toBe(12);
    expect(axisMax(3 * 60_000, 'duration')).toBe(4 * 60_000);
    expect(axisMax(25 * 60_000, 'duration')).toBe(40 * 60_000);
    expect(axisMax(7, 'number')).toBe(10);
  });

  it('stack bars per label and break lines where data is missing', () => {
    const bars = barChart({
      id: 'b',
      title: 'deploys',
      labels: ['a', 'b'],
      series: [
        { label: 'ok', cls: 'c3', values: [2, 0] },
        { label: 'failed', cls: 'c2', values: [1, 1] },
      ],
      format: String,
      scale: 'count',
    });
    expect([...bars.matchAll(/<rect /g)]).toHaveLength(3);
    const line = lineChart({
      id: 'l',
      title: 'lead',
      labels: ['a', 'b', 'c', 'd'],
      series: [{ label: 'lead', cls: 'c1', values: [1, undefined, 2, 3] }],
      format: String,
    });
    const d = /<path class="line c1" d="([^"]+)"/.exec(line)?.[1] ?? '';
    expect(d.match(/M/g)).toHaveLength(2);
    expect([...line.matchAll(/<circle /g)]).toHaveLength(3);
  });
});

describe('layout', () => {
  it('has a strict CSP: our stylesheet, scripts only with the nonce, no framing', () => {
    const csp = pageHeaders('abc')['content-security-policy'];
    expect(csp).toBe(
      "default-src 'none'; style-src 'self'; img-src 'self'; script-src 'nonce-abc'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    expect(pageHeaders()['content-security-policy']).not.toContain('script-src');
  });

  it('has no inline style attribute and supports dark mode, keyboard focus and small screens', () => {
    const html = renderLayout({
      title: 't',
      body: '<p>x</p>',
      nav: [{ href: '/', label: 'Overview' }],
      current: '/',
    });
    expect(html).not.toMatch(/ style=/);
    expect(html).toContain('<a class="skip" href="#main">');
    expect(html).toContain('aria-current="page"');
    expect(STYLESHEET).toContain('prefers-color-scheme:dark');
    expect(STYLESHEET).toContain(':focus-visible');
    expect(STYLESHEET).toContain('@media (max-width:40rem)');
  });

  it('says durations and times for people', () => {
    expect(humanDuration(850)).toBe('850 ms');
    expect(humanDuration(252_000)).toBe('4 min 12 s');
    expect(humanDuration(3 * 3600_000 + 60_000)).toBe('3 h 1 min');
    expect(ago('2026-03-15T11:57:00.000Z', NOW)).toBe('3 min ago');
    expect(ago('2026-03-16T12:00:00.000Z', NOW)).toBe('in 24 h');
  });
});
