import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const ROOT = path.resolve(__dirname, '../..');
const SCRIPT = path.join(ROOT, 'scripts', 'check-architecture.mjs');

/** Runs the lint step's architecture check on a project directory; resolves with exit code and stderr. */
async function check(cwd: string, dirs: string[]): Promise<{ code: number; stderr: string }> {
  try {
    await run(process.execPath, [SCRIPT, '--cwd', cwd, ...dirs], { timeout: 60_000 });
    return { code: 0, stderr: '' };
  } catch (e) {
    const err = e as { code?: number; stderr?: string };
    return { code: typeof err.code === 'number' ? err.code : -1, stderr: err.stderr ?? '' };
  }
}

/** A copy of the project's lib/ and handlers/ (and a test/ and bench/ file) to break on purpose. */
function copyOfProject(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'helmgate-arch-'));
  cpSync(path.join(ROOT, 'lib'), path.join(dir, 'lib'), { recursive: true });
  cpSync(path.join(ROOT, 'handlers'), path.join(dir, 'handlers'), { recursive: true });
  cpSync(path.join(ROOT, 'tsconfig.json'), path.join(dir, 'tsconfig.json'));
  symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
  mkdirSync(path.join(dir, 'test'));
  mkdirSync(path.join(dir, 'bench'));
  writeFileSync(path.join(dir, 'bench', 'tool.ts'), 'export const n = 1;\n');
  writeFileSync(path.join(dir, 'test', 'ok.ts'), 'export const m = 2;\n');
  return dir;
}

describe('the architecture rules of npm run lint', () => {
  let dir: string;
  beforeAll(() => {
    dir = copyOfProject();
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('pass on the project as it is', async () => {
    const result = await check(dir, ['lib', 'handlers', 'test', 'bench']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
  });

  it('fail when lib imports a handler, and name the rule and the import', async () => {
    writeFileSync(
      path.join(dir, 'lib', 'sneaky.ts'),
      "import { makeApprovalHandler } from '../handlers/approval';\nexport const h = makeApprovalHandler;\n",
    );
    try {
      const result = await check(dir, ['lib', 'handlers']);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain('lib-not-handlers: lib/sneaky.ts -> handlers/approval.ts');
    } finally {
      rmSync(path.join(dir, 'lib', 'sneaky.ts'));
    }
  });

  it('fail on a cycle, the pure core reaching the store, a spawn, process.env, the system clock, a client outside the root and a test importing bench code', async () => {
    const files: Record<string, string> = {
      'lib/a.ts': "import { b } from './b';\nexport const a = () => b;\n",
      'lib/b.ts': "import { a } from './a';\nexport const b = () => a;\n",
      'lib/deploy/leaky.ts':
        "import { DynamoDbDeploymentStore } from '../store/dynamodb-deployment-store';\nexport const s = DynamoDbDeploymentStore;\n",
      'lib/spawner.ts': "import { spawn } from 'node:child_process';\nexport const s = spawn;\n",
      'lib/env-reader.ts': 'export const region = process.env.AWS_REGION;\n',
      'lib/clock-reader.ts': 'export const t = () => Date.now() + Math.random();\n',
      'lib/yaml-reader.ts':
        "import { parse } from 'yaml';\nexport const y = (t: string) => parse(t);\nexport const z = (d: { toJS(): unknown }) => d.toJS();\n",
      'lib/client-maker.ts':
        "import { DynamoDBClient } from '@aws-sdk/client-dynamodb';\nexport const c = new DynamoDBClient({});\n",
      'test/uses-bench.ts': "import { n } from '../bench/tool';\nexport const x = n;\n",
    };
    for (const [f, text] of Object.entries(files)) writeFileSync(path.join(dir, f), text);
    try {
      const { code, stderr } = await check(dir, ['lib', 'handlers', 'test', 'bench']);
      expect(code).toBe(1);
      expect(stderr).toMatch(/^no-circular: lib\/a\.ts -> lib\/b\.ts/m);
      expect(stderr).toMatch(
        /^pure-core-acts-on-nothing: lib\/deploy\/leaky\.ts -> lib\/store\/dynamodb-deployment-store\.ts/m,
      );
      expect(stderr).toMatch(
        /^processes-only-through-the-command-runner: lib\/spawner\.ts -> child_process/m,
      );
      expect(stderr).toMatch(/^env-only-in-config: lib\/env-reader\.ts:1 /m);
      expect(stderr).toMatch(/^time-and-chance-injected: lib\/clock-reader\.ts:1 /m);
      expect(stderr).toMatch(/^yaml-to-data-in-one-place: lib\/yaml-reader\.ts:1 /m);
      expect(stderr).toMatch(/^yaml-to-data-in-one-place: lib\/yaml-reader\.ts:3 /m);
      expect(stderr).toMatch(/^aws-sdk-only-in-root-and-adapters: lib\/client-maker\.ts -> /m);
      expect(stderr).toMatch(/^aws-client-only-in-compose: lib\/client-maker\.ts constructs DynamoDBClient/m);
      expect(stderr).toMatch(/^test-not-bench: test\/uses-bench\.ts -> bench\/tool\.ts/m);
    } finally {
      for (const f of Object.keys(files)) rmSync(path.join(dir, f));
    }
  });

  it('fail when Octokit is built outside createGithubClient, or the pure core imports it (an ESM-only package)', async () => {
    const bare = path.join(dir, 'lib', 'bare-octokit.ts');
    const core = path.join(dir, 'lib', 'deploy', 'calls-github.ts');
    writeFileSync(
      bare,
      "import { Octokit } from '@octokit/core';\nexport const o = new Octokit({ baseUrl: 'https://api.github.com' });\n",
    );
    writeFileSync(core, "import { Octokit } from '@octokit/core';\nexport const O = Octokit;\n");
    try {
      const result = await check(dir, ['lib', 'handlers']);
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(
        /^pure-core-acts-on-nothing: lib\/deploy\/calls-github\.ts -> .*node_modules\/@octokit\/core\//m,
      );
      expect(result.stderr).toMatch(
        /^octokit-only-through-the-factory: lib\/bare-octokit\.ts builds an Octokit/m,
      );
    } finally {
      rmSync(bare);
      rmSync(core);
    }
  });
});
