import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type BuiltHandler, buildHandlers } from '../../../scripts/build';

/**
 * The composition root keeps the deploy runner's part (helm, kube) in lib/compose/aws-runner.ts, so a
 * cold start of an HTTP handler does not load the Kubernetes client it never uses.
 */
describe('Lambda bundles (npm run build)', () => {
  let out: string;
  let built: BuiltHandler[];
  beforeAll(async () => {
    out = await mkdtemp(path.join(tmpdir(), 'helmgate-bundles-'));
    built = await buildHandlers(path.join(out, 'dist'));
  }, 120_000);
  afterAll(async () => {
    await rm(out, { recursive: true, force: true });
  });

  it('only the deploy runner carries helm orchestration and the Kubernetes client', () => {
    const heavy = /node_modules\/@kubernetes\/client-node\/|lib\/runner\/(helm-cluster|kube-access)\.ts$/;
    const runner = built.find((b) => b.name === 'deploy-runner');
    expect(runner?.inputs.some((i) => heavy.test(i))).toBe(true);
    const http = built.filter((b) => b.name !== 'deploy-runner');
    expect(http.map((b) => b.name).sort()).toEqual(
      [
        'approval',
        'auth',
        'dashboard',
        'deployments',
        'github-webhook',
        'slack-interactions',
        'sweeper',
      ].sort(),
    );
    for (const b of http)
      expect({ handler: b.name, heavy: b.inputs.filter((i) => heavy.test(i)) }).toEqual({
        handler: b.name,
        heavy: [],
      });
  });

  it('no handler bundles test or bench code', () => {
    for (const b of built)
      expect({ handler: b.name, foreign: b.inputs.filter((i) => /(^|\/)(test|bench)\//.test(i)) }).toEqual({
        handler: b.name,
        foreign: [],
      });
  });
});
