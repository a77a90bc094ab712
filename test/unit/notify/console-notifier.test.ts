import { fixedClock } from '../../../lib/clock';
import type { Deployment } from '../../../lib/deploy/deployment';
import { createLogger, memorySink } from '../../../lib/log/logger';
import { Redactor } from '../../../lib/log/redact';
import { ConsoleNotifier } from '../../../lib/notify/notifier';

const deployment = {
  id: 'abc1234-production-1',
  environment: 'production',
  sha: 'abc1234'.padEnd(40, '0'),
} as Deployment;
const notice = {
  deployment,
  approvalUrl: 'https://api.example/approvals/abc1234-production-1?token=SECRET-TOKEN-VALUE',
  expiresAt: '2026-01-02T00:00:00Z',
  summary: ['web: values changed'],
};

function logged(notifier: (l: ReturnType<typeof createLogger>) => ConsoleNotifier) {
  const sink = memorySink();
  const logger = createLogger({
    redactor: new Redactor(),
    clock: fixedClock('2026-01-01T00:00:00Z'),
    write: sink.write,
  });
  return { n: notifier(logger), lines: sink.lines };
}

test('locally the approval link is printed whole: the console is the only channel', async () => {
  const { n, lines } = logged((l) => new ConsoleNotifier(l));
  await n.approvalRequested(notice);
  expect(lines.join('\n')).toContain('token=SECRET-TOKEN-VALUE');
});

test('in AWS the logs keep the link without its single-use token', async () => {
  const { n, lines } = logged((l) => new ConsoleNotifier(l, { withTokens: false }));
  await n.approvalRequested(notice);
  const out = lines.join('\n');
  expect(out).not.toContain('SECRET-TOKEN-VALUE');
  expect(out).toContain('/approvals/abc1234-production-1?token=…');
});
