import type { Deployment } from '../../../lib/deploy/deployment';
import {
  type CommitState,
  escapeMrkdwn,
  renderApprovalRequested,
  renderCommitMessage,
  renderFailureDetails,
  renderManifestsPreviewed,
  type SlackBlock,
} from '../../../lib/slack/messages';

const SHA = '6113728f27ae82c7b1a177c8d03f9e96e0adf246';

function dep(over: Partial<Deployment> & Pick<Deployment, 'id' | 'environment' | 'status'>): Deployment {
  return {
    repository: 'Codertocat/Hello-World',
    sha: SHA,
    ref: 'refs/heads/main',
    approval: 'required',
    createdAt: '2026-11-24T12:00:00.000Z',
    updatedAt: '2026-11-24T12:00:00.000Z',
    pusher: 'Codertocat',
    commitMessage: 'Bump jupyterhub to 4.4.0\n\nlong body',
    commitUrl: `https://github.com/Codertocat/Hello-World/commit/${SHA}`,
    ...over,
  };
}

const staging = (status: Deployment['status'], over: Partial<Deployment> = {}) =>
  dep({ id: 'st', environment: 'staging', status, approval: 'none', ...over });

function state(deployments: Deployment[], over: Partial<CommitState> = {}): CommitState {
  return {
    repository: 'Codertocat/Hello-World',
    sha: SHA,
    commitUrl: `https://github.com/Codertocat/Hello-World/commit/${SHA}`,
    commitMessage: 'Bump jupyterhub to 4.4.0\n\nlong body',
    author: 'Codertocat',
    deployments,
    ...over,
  };
}

const buttons = (blocks: SlackBlock[]) =>
  blocks.flatMap((b) => (b.type === 'actions' ? b.elements.map((e) => e.action_id) : []));
const texts = (blocks: SlackBlock[]) =>
  blocks
    .map((b) =>
      b.type === 'section'
        ? b.text.text
        : b.type === 'context'
          ? b.elements.map((e) => e.text).join(' ')
          : '',
    )
    .join('\n');

describe('renderCommitMessage', () => {
  it('shows the repository, the short SHA linking to the commit, the first line of the message and the author', () => {
    const msg = renderCommitMessage(state([staging('queued')]));
    const t = texts(msg.blocks);
    expect(t).toContain('*Codertocat/Hello-World*');
    expect(t).toContain(`<https://github.com/Codertocat/Hello-World/commit/${SHA}|6113728>`);
    expect(t).toContain('Bump jupyterhub to 4.4.0');
    expect(t).not.toContain('long body');
    expect(t).toContain('pushed by Codertocat');
    expect(msg.text).toContain('6113728');
  });

  it.each([
    ['queued', 'queued'],
    ['running', 'deploying'],
    ['succeeded', 'deployed'],
    ['failed', 'failed'],
  ] as const)('shows staging %s without buttons', (status, words) => {
    const msg = renderCommitMessage(state([staging(status)]));
    expect(texts(msg.blocks)).toContain(`*staging* ${words}`);
    expect(buttons(msg.blocks)).toEqual([]);
  });

  it('counts releases by outcome', () => {
    const releases = [
      { name: 'hub', namespace: 'jh', status: 'succeeded', attempts: 1 },
      { name: 'grafana', namespace: 'mon', status: 'succeeded', reason: 'unchanged', attempts: 1 },
      { name: 'prometheus', namespace: 'mon', status: 'failed', attempts: 3 },
      {
        name: 'custom',
        namespace: 'x',
        status: 'skipped',
        reason: 'dependency prometheus failed',
        attempts: 0,
      },
    ] as Deployment['releases'];
    const t = texts(
      renderCommitMessage(state([staging('failed', { releases: releases ?? [], reason: 'helm failed' })]))
        .blocks,
    );
    expect(t).toContain('4 releases: 1 deployed, 1 unchanged, 1 failed, 1 skipped');
    expect(t).toContain('failed: helm failed');
  });

  it('gives an environment awaiting approval Approve (with a confirm dialog) and Reject buttons', () => {
    const msg = renderCommitMessage(
      state([staging('succeeded'), dep({ id: 'pub', environment: 'public', status: 'awaiting_approval' })]),
    );
    expect(buttons(msg.blocks)).toEqual(['approve:pub', 'reject:pub']);
    const actions = msg.blocks.find((b) => b.type === 'actions');
    const approve = actions?.type === 'actions' ? actions.elements[0] : undefined;
    expect(approve?.style).toBe('primary');
    expect(approve?.value).toBe('approve:pub');
    expect(approve?.confirm?.confirm.text).toBe('Approve');
    expect(texts(msg.blocks)).toContain('*public* awaiting approval');
  });

  it('says "waiting for staging" and shows no buttons until the approval is open', () => {
    const pub = dep({ id: 'pub', environment: 'public', status: 'awaiting_approval' });
    for (const status of ['queued', 'running'] as const) {
      const msg = renderCommitMessage(state([staging(status), pub]));
      expect(buttons(msg.blocks)).toEqual([]);
      expect(texts(msg.blocks)).toContain('*public* waiting for staging');
    }
    // the notifier knows from the audit whether the offer was made: that decides
    const notYet = renderCommitMessage(state([staging('succeeded'), pub], { openApprovals: [] }));
    expect(buttons(notYet.blocks)).toEqual([]);
    expect(texts(notYet.blocks)).toContain('*public* waiting for the earlier stage');
    const open = renderCommitMessage(state([staging('running'), pub], { openApprovals: ['pub'] }));
    expect(buttons(open.blocks)).toEqual(['approve:pub', 'reject:pub']);
    expect(texts(open.blocks)).toContain('*public* awaiting approval');
  });

  it('links each environment to its deployment page when helmgate knows its own URL', () => {
    const msg = renderCommitMessage(
      state([staging('succeeded'), dep({ id: 'p|b>', environment: 'public', status: 'failed' })]),
      { publicUrl: 'https://helmgate.example.org/' },
    );
    const t = texts(msg.blocks);
    expect(t).toContain('*<https://helmgate.example.org/deployments/st|staging>* deployed');
    expect(t).toContain('<https://helmgate.example.org/deployments/p%7Cb%3E|public>');
    expect(t).not.toContain('/approvals/');
    const details = renderFailureDetails(dep({ id: 'pub', environment: 'public', status: 'failed' }), {
      publicUrl: 'https://helmgate.example.org',
    });
    expect(JSON.stringify(details)).toContain(
      'https://helmgate.example.org/deployments/pub|timeline and error output',
    );
  });

  it('offers "Approve all" only when more than one environment waits, keyed by the sha', () => {
    const two = renderCommitMessage(
      state([
        dep({ id: 'pub', environment: 'public', status: 'awaiting_approval' }),
        dep({ id: 'vae', environment: 'vae', status: 'awaiting_approval' }),
      ]),
    );
    expect(buttons(two.blocks)).toEqual([
      'approve:pub',
      'reject:pub',
      'approve:vae',
      'reject:vae',
      `approve_all:${SHA}`,
    ]);
  });

  it.each(['superseded', 'expired', 'rejected', 'queued', 'running', 'succeeded', 'failed'] as const)(
    'takes the buttons away once production is %s',
    (status) => {
      const msg = renderCommitMessage(state([dep({ id: 'pub', environment: 'public', status })]));
      expect(buttons(msg.blocks)).toEqual([]);
    },
  );

  it('says who approved and who rejected, mentioning Slack users', () => {
    const msg = renderCommitMessage(
      state(
        [
          dep({ id: 'pub', environment: 'public', status: 'queued' }),
          dep({ id: 'vae', environment: 'vae', status: 'rejected' }),
        ],
        {
          votes: {
            pub: { approvedBy: ['slack:U0ALICE1', 'github:bob'], rejectedBy: [] },
            vae: { approvedBy: [], rejectedBy: ['U0CAROL1'] },
          },
        },
      ),
    );
    const t = texts(msg.blocks);
    expect(t).toContain('*public* queued (approved by <@U0ALICE1>, bob)');
    expect(t).toContain('*vae* rejected by <@U0CAROL1>');
  });

  it('shows only the newest deployment of an environment at this commit', () => {
    const msg = renderCommitMessage(
      state([
        dep({
          id: 'old',
          environment: 'public',
          status: 'superseded',
          createdAt: '2026-11-24T12:00:00.000Z',
        }),
        dep({
          id: 'new',
          environment: 'public',
          status: 'awaiting_approval',
          createdAt: '2026-11-24T12:05:00.000Z',
        }),
      ]),
    );
    expect(buttons(msg.blocks)).toEqual(['approve:new', 'reject:new']);
    expect(texts(msg.blocks)).not.toContain('superseded');
  });

  it("escapes Slack's control characters in everything that comes from a push", () => {
    const msg = renderCommitMessage(
      state([staging('failed', { reason: '<!channel> & <https://evil|click>' })], {
        commitMessage: 'fix <!here> & <@U123> > done',
        author: '<b>mallory</b>',
      }),
    );
    const t = texts(msg.blocks);
    expect(t).toContain('fix &lt;!here&gt; &amp; &lt;@U123&gt; &gt; done');
    expect(t).toContain('&lt;b&gt;mallory&lt;/b&gt;');
    expect(t).toContain('&lt;!channel&gt; &amp; &lt;https://evil|click&gt;');
    expect(t).not.toContain('<!here>');
    expect(t).not.toContain('<!channel>');
  });

  it('is pure: the same state renders the same message', () => {
    const s = state([
      staging('running'),
      dep({ id: 'pub', environment: 'public', status: 'awaiting_approval' }),
    ]);
    expect(JSON.stringify(renderCommitMessage(s))).toBe(
      JSON.stringify(renderCommitMessage(structuredClone(s))),
    );
  });
});

describe('renderFailureDetails', () => {
  it('lists failed releases with their error tail in a code block, truncated from the start', () => {
    const tail = `${'x'.repeat(5000)}\nError: UPGRADE FAILED: <nil> & more`;
    const d = staging('failed', {
      reason: '1 release failed',
      releases: [
        {
          name: 'hub',
          namespace: 'jh',
          status: 'failed',
          reason: 'transient: etcd leader changed',
          attempts: 3,
          errorTail: tail,
        },
        { name: 'grafana', namespace: 'mon', status: 'succeeded', attempts: 1 },
      ],
    });
    const msg = renderFailureDetails(d);
    const t = texts(msg?.blocks ?? []);
    expect(t).toContain('*staging* failed at `6113728`: 1 release failed');
    expect(t).toContain('*hub* (jh) — transient: etcd leader changed, 3 attempts');
    expect(t).toContain('```…');
    expect(t).toContain('Error: UPGRADE FAILED: &lt;nil&gt; &amp; more```');
    expect(t).not.toContain('grafana');
    for (const b of msg?.blocks ?? [])
      if (b.type === 'section') expect(b.text.text.length).toBeLessThanOrEqual(3000);
  });

  it('cannot be broken out of its code block by backticks in the output', () => {
    const d = staging('failed', {
      releases: [
        { name: 'hub', namespace: 'jh', status: 'failed', attempts: 1, errorTail: 'a```<!channel>' },
      ],
    });
    const t = texts(renderFailureDetails(d)?.blocks ?? []);
    expect(t.match(/```/g)).toHaveLength(2);
    expect(t).not.toContain('<!channel>');
  });

  it('says nothing for a deployment that did not fail', () => {
    expect(renderFailureDetails(staging('succeeded'))).toBeUndefined();
  });
});

describe('renderManifestsPreviewed', () => {
  it('summarises the rendered objects per release in the thread, escaped, with the approval page linked', () => {
    const msg = renderManifestsPreviewed({
      deployment: dep({ id: 'pub', environment: 'public', status: 'awaiting_approval' }),
      approvalUrl: 'https://api.example.org/deployments/pub',
      summary: ['hub: objects 2 changed (ConfigMap/hub-config, Deployment/<hub>)'],
    });
    const t = texts(msg.blocks);
    expect(t).toContain('Rendered objects for *public* at `6113728`');
    expect(t).toContain('<https://api.example.org/deployments/pub|full diff on the approval page>');
    expect(t).toContain('• hub: objects 2 changed (ConfigMap/hub-config, Deployment/&lt;hub&gt;)');
  });
});

describe('renderApprovalRequested', () => {
  it('links the approval page and lists the summary', () => {
    const msg = renderApprovalRequested({
      deployment: dep({ id: 'pub', environment: 'public', status: 'awaiting_approval' }),
      approvalUrl: 'https://api.example.org/approvals/pub?token=abc|def',
      expiresAt: '2026-11-25T12:00:00.000Z',
      summary: ['jupyterhub 4.3.0 → 4.4.0', 'grafana: <values> changed'],
    });
    const t = texts(msg.blocks);
    expect(t).toContain(
      '<https://api.example.org/approvals/pub?token=abc%7Cdef|review the changes and approve>',
    );
    expect(t).toContain('• jupyterhub 4.3.0 → 4.4.0');
    expect(t).toContain('grafana: &lt;values&gt; changed');
    expect(t).toContain('<!date^1795608000^');
  });
});

describe('escapeMrkdwn', () => {
  it('escapes exactly &, < and >', () => {
    expect(escapeMrkdwn('a & b < c > d *e* _f_')).toBe('a &amp; b &lt; c &gt; d *e* _f_');
  });
});
