import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import AdmZip from 'adm-zip';
import { loadConfig } from '../../../lib/config/env';
import { parseDeployConfig } from '../../../lib/deploy/deploy-config';
import {
  ensureHelmBinary,
  HELM_LAYER_ZIP,
  HELM_RELEASE,
  HELM_ZIP_ENTRY,
} from '../../../lib/helm/helm-binary';
import { buildHandlers, HANDLERS } from '../../../scripts/build';
import { remoteCharts } from '../../../scripts/prepull-charts';

// No Docker daemon here, so the Dockerfile is read as data and every path in it is checked against what
// the build really produces: the handler bundle, the helm binary and its digest, the chart cache.
const root = path.resolve(__dirname, '../../..');

interface Instruction {
  stage: number;
  op: string;
  args: string;
}

/** Dockerfile instructions (continuations joined, comments dropped), numbered by stage. */
function parseDockerfile(text: string): Instruction[] {
  const logical: string[] = [];
  let current = '';
  for (const raw of text.split('\n')) {
    if (/^\s*#/.test(raw)) continue;
    const line = raw.trimEnd();
    if (line.endsWith('\\')) {
      current += `${line.slice(0, -1)} `;
      continue;
    }
    current += line;
    if (current.trim() !== '') logical.push(current.trim().replace(/\s+/g, ' '));
    current = '';
  }
  let stage = -1;
  return logical.map((l) => {
    const [op = '', ...rest] = l.split(' ');
    if (op.toUpperCase() === 'FROM') stage += 1;
    return { stage, op: op.toUpperCase(), args: rest.join(' ') };
  });
}

const dockerfile = parseDockerfile(readFileSync(path.join(root, 'Dockerfile'), 'utf8'));
const stages = dockerfile.filter((i) => i.op === 'FROM');
const finalStage = stages.length - 1;
const inStage = (stage: number, op: string) => dockerfile.filter((i) => i.stage === stage && i.op === op);
/** `ARG NAME=default` (global or in a stage) → default */
function argDefault(name: string): string {
  const arg = dockerfile.find((i) => i.op === 'ARG' && i.args.startsWith(`${name}=`));
  if (!arg) throw new Error(`no ARG ${name} with a default`);
  return arg.args.slice(name.length + 1);
}
/** `COPY [--from=x] src… dest` → {from, sources, dest} */
function copies(stage: number) {
  return inStage(stage, 'COPY').map((c) => {
    const words = c.args.split(' ');
    const from = words.find((w) => w.startsWith('--from='))?.slice('--from='.length);
    const paths = words.filter((w) => !w.startsWith('--'));
    return { from, sources: paths.slice(0, -1), dest: paths.at(-1) as string };
  });
}
/** ENV in the final stage, `ENV A=1 B=2` form. */
function finalEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of inStage(finalStage, 'ENV'))
    for (const pair of e.args.split(' ')) {
      const eq = pair.indexOf('=');
      env[pair.slice(0, eq)] = pair.slice(eq + 1);
    }
  return env;
}
const stripSlash = (p: string) => p.replace(/\/+$/, '');
/** `${NAME}` as the Dockerfile writes a variable */
const v = (name: string) => `\${${name}}`;

describe('the runner image', () => {
  it('builds on the AWS Lambda Node.js 22 base image, from a Node 22 build stage', () => {
    expect(stages.map((s) => s.args)).toEqual([`${v('NODE_IMAGE')} AS build`, v('LAMBDA_BASE_IMAGE')]);
    expect(argDefault('LAMBDA_BASE_IMAGE')).toMatch(
      /^public\.ecr\.aws\/lambda\/nodejs:22@sha256:[0-9a-f]{64}$/,
    );
    expect(argDefault('NODE_IMAGE')).toMatch(/^node:22[\w.-]*@sha256:[0-9a-f]{64}$/);
  });

  it('runs index.handler from the bundle `npm run build` writes for the deploy runner', async () => {
    expect(inStage(finalStage, 'CMD').map((c) => c.args)).toEqual(['["index.handler"]']);
    const workdir = inStage(0, 'WORKDIR')[0]?.args as string;
    const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    expect(pkg.scripts.build).toBe('tsx scripts/build.ts');
    expect(inStage(0, 'RUN').some((r) => r.args.startsWith('npm run build'))).toBe(true);

    const bundleCopy = copies(finalStage).find((c) => c.dest === `${v('LAMBDA_TASK_ROOT')}/index.js`);
    expect(bundleCopy?.from).toBe('build');
    const source = path.posix.relative(workdir, bundleCopy?.sources[0] as string);

    expect(HANDLERS).toContain('deploy-runner');
    const out = await mkdtemp(path.join(tmpdir(), 'helmgate-build-'));
    try {
      const built = (await buildHandlers(path.join(out, 'dist'))).find((b) => b.name === 'deploy-runner');
      expect(built).toBeDefined();
      expect(
        path
          .relative(out, built?.file as string)
          .split(path.sep)
          .join('/'),
      ).toBe(source);
      // what Lambda calls: module "index" (the file's name in LAMBDA_TASK_ROOT), export "handler"
      const exported = execFileSync(
        process.execPath,
        ['-e', 'process.stdout.write(typeof require(process.argv[1]).handler)', built?.file as string],
        { env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } },
      ).toString();
      expect(exported).toBe('function');
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  }, 120_000);

  it('copies the helm it extracted with the project code to the path HELMGATE_HELM_BIN names', async () => {
    const extract = inStage(0, 'RUN').find((r) => r.args.includes('ensureHelmBinary('));
    const dir = /ensureHelmBinary\('([^']+)'\)/.exec(extract?.args ?? '')?.[1] as string;
    const helmCopy = copies(finalStage).find((c) => c.sources[0] === `${dir}/helm`);
    expect(helmCopy?.from).toBe('build');
    const env = finalEnv();
    expect(env.HELMGATE_HELM_BIN).toBe(helmCopy?.dest);
    // the runner's config reads exactly these variables
    const config = loadConfig({ ...env, HELMGATE_REPOSITORIES: 'example-org/deployments' });
    expect(config.HELMGATE_HELM_BIN).toBe(helmCopy?.dest);
    expect(config.HELMGATE_CHART_CACHE).toBe(env.HELMGATE_CHART_CACHE);
    // ensureHelmBinary(dir) writes dir/helm, the path the COPY takes it from
    const tmp = await mkdtemp(path.join(tmpdir(), 'helmgate-helm-'));
    try {
      expect(ensureHelmBinary(tmp)).toBe(path.join(tmp, 'helm'));
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  });

  it("verifies helm against the release record: the npm binary offline here, helm's published tarball in the build", () => {
    const entry = new AdmZip(HELM_LAYER_ZIP).getEntry(HELM_ZIP_ENTRY);
    const digest = createHash('sha256')
      .update(entry?.getData() ?? Buffer.alloc(0))
      .digest('hex');
    // the binary the npm package ships is the one the record names as the release's linux-amd64/helm
    expect(HELM_RELEASE.binarySha256).toBe(digest);
    expect(HELM_RELEASE.tarballUrl).toBe(
      `https://get.helm.sh/helm-${HELM_RELEASE.version}-linux-amd64.tar.gz`,
    );
    expect(HELM_RELEASE.tarballSha256).toMatch(/^[0-9a-f]{64}$/);
    // the image build extracts it, then checks it against the published tarball before anything else
    const extract = inStage(0, 'RUN').find((r) => r.args.includes('ensureHelmBinary('));
    expect(extract?.args).toMatch(
      /ensureHelmBinary\('\/out\/bin'\)" && npx tsx scripts\/verify-helm-release\.ts --binary \/out\/bin\/helm && /,
    );
    // and the record is in the build context
    expect(copies(0).some((c) => c.sources.includes('lib'))).toBe(true);
    // the digest the tests' own helm has (global setup extracts the same entry)
    expect(
      createHash('sha256')
        .update(readFileSync(process.env.HELMGATE_HELM_BIN as string))
        .digest('hex'),
    ).toBe(digest);
  });

  it('installs the build dependencies without running their install scripts', () => {
    const installs = inStage(0, 'RUN').filter((r) => /\bnpm (ci|install)\b/.test(r.args));
    expect(installs.map((r) => r.args)).toEqual([expect.stringMatching(/^npm ci --ignore-scripts\b/)]);
  });

  it('pre-pulls the charts of deploy.yaml into the directory HELMGATE_CHART_CACHE names', () => {
    const prepull = inStage(0, 'RUN').find((r) => r.args.includes('scripts/prepull-charts.ts'));
    const flag = (name: string) => new RegExp(`--${name} (\\S+)`).exec(prepull?.args ?? '')?.[1];
    expect(flag('helm')).toBe('/out/bin/helm');
    expect(flag('config')).toBe('deploy.yaml');
    const cacheCopy = copies(finalStage).find((c) => stripSlash(c.sources[0] as string) === flag('out'));
    expect(cacheCopy?.from).toBe('build');
    expect(stripSlash(finalEnv().HELMGATE_CHART_CACHE as string)).toBe(stripSlash(cacheCopy?.dest as string));
    // deploy.yaml is in the build stage and is a config the script can read
    expect(copies(0).some((c) => c.sources.includes('deploy.yaml'))).toBe(true);
    const config = parseDeployConfig(readFileSync(path.join(root, 'deploy.yaml'), 'utf8'));
    for (const chart of remoteCharts(config)) expect(chart.version).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('ships only the bundle, helm and the chart cache, and runs as a non-root user', () => {
    expect(copies(finalStage).map((c) => c.from)).toEqual(['build', 'build', 'build']);
    expect(dockerfile.some((i) => i.stage === finalStage && /node_modules/.test(i.args))).toBe(false);
    expect(inStage(finalStage, 'RUN')).toEqual([]);
    const user = inStage(finalStage, 'USER').at(-1)?.args ?? 'root';
    expect(user.split(':')[0]).not.toMatch(/^(root|0)$/);
  });
});

describe('.dockerignore', () => {
  const patterns = readFileSync(path.join(root, '.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  /** Docker's rule for top-level names: the last matching pattern wins; `!` re-includes. */
  function included(name: string): boolean {
    let inc = true;
    for (const p of patterns) {
      const negated = p.startsWith('!');
      const glob = stripSlash(negated ? p.slice(1) : p);
      const re = new RegExp(`^${glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*')}$`);
      if (re.test(name)) inc = negated;
    }
    return inc;
  }

  it('lets in everything the build stage copies, and they exist', () => {
    const sources = copies(0).flatMap((c) => c.sources);
    expect(sources.length).toBeGreaterThan(0);
    for (const s of sources) {
      expect([s, included(s)]).toEqual([s, true]);
      expect([s, existsSync(path.join(root, s))]).toEqual([s, true]);
    }
  });

  it('keeps out node_modules, local secrets, git history and stale builds', () => {
    for (const name of ['node_modules', '.helmgate', '.git', 'dist', '.serverless', 'test', '.env'])
      expect([name, included(name)]).toEqual([name, false]);
  });
});
