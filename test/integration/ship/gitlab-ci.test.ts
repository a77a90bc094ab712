import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';

// .gitlab-ci.yml cannot run here; it is checked as data against the project it builds.
const root = path.resolve(__dirname, '../../..');
const ci = parse(readFileSync(path.join(root, '.gitlab-ci.yml'), 'utf8')) as Record<string, unknown>;
const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as {
  scripts: Record<string, string>;
};

type Job = {
  stage?: string;
  extends?: string | string[];
  script?: unknown;
  before_script?: unknown;
  after_script?: unknown;
  rules?: Array<{ if?: string; when?: string }>;
  when?: string;
  needs?: string[];
  environment?: { name: string; action?: string } | string;
  allow_failure?: boolean;
  image?: string | { name: string };
};

const KEYWORDS = new Set([
  'stages',
  'default',
  'variables',
  'workflow',
  'include',
  'image',
  'services',
  'cache',
  'before_script',
  'after_script',
]);

/** GitLab's `extends` merge: hashes deeply, everything else (arrays too) replaced by the later one. */
function merge(a: unknown, b: unknown): unknown {
  const isHash = (x: unknown): x is Record<string, unknown> =>
    typeof x === 'object' && x !== null && !Array.isArray(x);
  if (!isHash(a) || !isHash(b)) return b;
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = k in out ? merge(out[k], v) : v;
  return out;
}
/** A job with its `extends` templates merged in (the job's own keys win, as in GitLab). */
function resolved(name: string): Job {
  const job = ci[name] as Job;
  const parents = job.extends === undefined ? [] : [job.extends].flat();
  const { extends: _extends, ...own } = job;
  return [...parents.map((p) => resolved(p)), own].reduce<unknown>((acc, j) => merge(acc, j), {}) as Job;
}
const jobNames = Object.keys(ci).filter((k) => !KEYWORDS.has(k) && !k.startsWith('.'));
const defaults = (ci.default ?? {}) as Job;
const lines = (x: unknown): string[] => (x === undefined ? [] : [x].flat(2).map(String));
/** Every shell line that runs for a job (default before_script unless the job overrides it). */
function commands(name: string): string[] {
  const job = resolved(name);
  return [
    ...lines(job.before_script ?? defaults.before_script),
    ...lines(job.script),
    ...lines(job.after_script ?? defaults.after_script),
  ];
}
const allCommands = () => jobNames.flatMap(commands);

/** Why a shell line could print a secret, or undefined. */
function leakRisk(line: string): string | undefined {
  if (/\bset\s+-[a-wyz]*x/.test(line) || /\bset\s+-o\s+xtrace/.test(line)) return 'shell tracing';
  if (/\b(echo|printf)\b[^|;&]*\$/.test(line)) return 'prints a variable';
  if (/(^|[;&|]\s*)(env|printenv|export\s+-p|set)\s*($|[;&|>])/.test(line)) return 'dumps the environment';
  if (/\bosls\b.*--(debug|verbose)/.test(line) || /\bSLS_DEBUG\b/.test(line)) return 'verbose deploy output';
  return undefined;
}

it('has jobs, each in a stage that exists, in the order lint → typecheck → test → image → package → deploy', () => {
  expect(ci.stages).toEqual([
    'lint',
    'typecheck',
    'test',
    'image',
    'package',
    'deploy-staging',
    'deploy-production',
  ]);
  expect(jobNames.length).toBeGreaterThanOrEqual(7);
  for (const name of jobNames)
    expect([name, ci.stages]).toEqual([name, expect.arrayContaining([resolved(name).stage])]);
});

it('runs only npm scripts the project has, and binaries that are installed', () => {
  const runs = allCommands().flatMap((l) => [
    ...l.matchAll(/(?:^|[\s;&|(])npm\s+(?:run(?:-script)?\s+)?([\w:-]+)/g),
  ]);
  expect(runs.length).toBeGreaterThan(0);
  for (const [match, script] of runs) {
    if (['ci', 'install', 'exec'].includes(script as string)) continue;
    expect([match, Object.keys(pkg.scripts)]).toEqual([match, expect.arrayContaining([script])]);
  }
  for (const [match, bin] of allCommands().flatMap((l) => [
    ...l.matchAll(/(?:^|[\s;&|(])npx\s+([\w@/.-]+)/g),
  ]))
    expect([match, existsSync(path.join(root, 'node_modules/.bin', bin as string))]).toEqual([match, true]);
});

it('lints, type-checks, tests and packages offline with the same stage the package test uses', () => {
  expect(commands('lint')).toContain('npm run lint');
  expect(commands('typecheck')).toContain('npm run typecheck');
  expect(commands('test').some((l) => /\bjest\b.*--ci/.test(l))).toBe(true);
  expect(commands('package').some((l) => /^npx osls package --stage ci\b/.test(l))).toBe(true);
  for (const name of jobNames) {
    const image = resolved(name).image ?? defaults.image;
    const ref = typeof image === 'string' ? image : image?.name;
    if (commands(name).some((l) => l.startsWith('npm ') || l.startsWith('npx ')))
      expect([name, ref]).toEqual([name, expect.stringMatching(/^node:22\b/)]);
  }
  expect(lines(defaults.before_script)).toEqual([expect.stringMatching(/^npm ci --cache \.npm\b/)]);
  expect(defaults).toMatchObject({ cache: { key: { files: ['package-lock.json'] }, paths: ['.npm/'] } });
});

it('installs without dependency install scripts where only building and deploying happen', () => {
  for (const name of ['package', 'deploy-staging', 'deploy-production']) {
    const install = commands(name).filter((l) => /^npm (ci|install)\b/.test(l));
    expect([name, install]).toEqual([name, [expect.stringMatching(/^npm ci --ignore-scripts\b/)]]);
  }
});

it('checks in the lint job that every image is pinned by digest', () => {
  expect(commands('lint')).toContain('npx tsx scripts/check-pinned-images.ts');
  expect(existsSync(path.join(root, 'scripts/check-pinned-images.ts'))).toBe(true);
});

it('builds the runner image with buildah (not the archived kaniko) and pushes it by digest', () => {
  const text = readFileSync(path.join(root, '.gitlab-ci.yml'), 'utf8');
  expect(text).not.toMatch(/kaniko\/executor|\/kaniko\//);
  const image = commands('runner-image');
  expect(image.some((l) => /^buildah build --platform linux\/amd64\b/.test(l))).toBe(true);
  expect(image).toContain('buildah push --digestfile runner-image.digest "$ECR_REPOSITORY:$CI_COMMIT_SHA"');
  // rootless in the job's container: no privileged runner
  expect((resolved('runner-image') as Job & { variables?: Record<string, string> }).variables).toMatchObject({
    STORAGE_DRIVER: 'vfs',
    BUILDAH_ISOLATION: 'chroot',
  });
});

it('packages each environment with the pushed digest, and its deploy job deploys that very package', () => {
  for (const env of ['staging', 'production']) {
    const pack = resolved(`package-${env}`) as Job & { artifacts?: { paths?: string[] } };
    expect(pack.environment).toMatchObject({ name: env, action: 'prepare' });
    expect(pack.needs).toEqual(['runner-image']);
    const packaging = commands(`package-${env}`).find((l) => l.startsWith('npx osls package'));
    expect(packaging).toContain('--package ".serverless-$CI_ENVIRONMENT_NAME"');
    expect(packaging).toContain('--param="runnerImageUri=$ECR_REPOSITORY@$(cat runner-image.digest)"');
    expect(pack.artifacts?.paths).toEqual(
      expect.arrayContaining(['.serverless-$CI_ENVIRONMENT_NAME/', 'runner-image.digest']),
    );
    const deploy = resolved(`deploy-${env}`);
    expect(deploy.needs).toEqual(expect.arrayContaining([`package-${env}`]));
    expect(deploy.needs).not.toContain(`package-${env === 'staging' ? 'production' : 'staging'}`);
    const deploying = commands(`deploy-${env}`).find((l) => l.startsWith('npx osls deploy'));
    expect(deploying).toContain('--package ".serverless-$CI_ENVIRONMENT_NAME"');
    expect(deploying).toContain('--param="runnerImageUri=$ECR_REPOSITORY@$(cat runner-image.digest)"');
  }
});

it('reaches AWS with GitLab OIDC id_tokens and a role, never static keys', () => {
  const text = readFileSync(path.join(root, '.gitlab-ci.yml'), 'utf8');
  expect(text).not.toMatch(/AWS_ACCESS_KEY_ID|AWS_SECRET_ACCESS_KEY|AWS_SESSION_TOKEN/);
  for (const name of ['runner-image', 'deploy-staging', 'deploy-production']) {
    const job = resolved(name) as Job & {
      id_tokens?: Record<string, { aud?: string }>;
      variables?: Record<string, string>;
    };
    expect([name, job.id_tokens]).toEqual([name, { AWS_ID_TOKEN: { aud: 'sts.amazonaws.com' } }]);
    expect(job.variables).toMatchObject({
      AWS_ROLE_ARN: '$HELMGATE_DEPLOY_ROLE_ARN',
      AWS_WEB_IDENTITY_TOKEN_FILE: expect.stringMatching(/^\$CI_BUILDS_DIR\//),
    });
    // the token file is written before anything talks to AWS
    const cmds = commands(name);
    const oidc = cmds.findIndex((l) => l.startsWith('node scripts/ci-aws-oidc.mjs'));
    const aws = cmds.findIndex((l) => /^(npx osls deploy|buildah push)/.test(l));
    expect([name, oidc >= 0, oidc < aws]).toEqual([name, true, true]);
  }
  // the offline package job has no AWS identity at all
  expect((resolved('package') as Job & { id_tokens?: unknown }).id_tokens).toBeUndefined();
});

it('scripts/ci-aws-oidc.mjs writes the token and the ECR auth file 0600 and prints nothing', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'helmgate-oidc-'));
  try {
    const jwt = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJwcm9qZWN0X3BhdGg6eCJ9.c2lnbmF0dXJl';
    const run = (extra: Record<string, string>, args: string[] = []) =>
      spawnSync(process.execPath, [path.join(root, 'scripts/ci-aws-oidc.mjs'), ...args], {
        env: {
          PATH: process.env.PATH,
          AWS_ID_TOKEN: jwt,
          AWS_ROLE_ARN: 'arn:aws:iam::123456789012:role/helmgate-deploy',
          AWS_WEB_IDENTITY_TOKEN_FILE: path.join(dir, 'aws/token'),
          ECR_REPOSITORY: '123456789012.dkr.ecr.eu-west-1.amazonaws.com/helmgate-runner',
          REGISTRY_AUTH_FILE: path.join(dir, 'containers/auth.json'),
          ...extra,
        },
        encoding: 'utf8',
      });
    const ok = run({}, ['--ecr']);
    expect([ok.status, ok.stdout, ok.stderr]).toEqual([0, '', '']);
    expect(readFileSync(path.join(dir, 'aws/token'), 'utf8')).toBe(jwt);
    expect(statSync(path.join(dir, 'aws/token')).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(path.join(dir, 'containers/auth.json'), 'utf8'))).toEqual({
      credHelpers: { '123456789012.dkr.ecr.eu-west-1.amazonaws.com': 'ecr-login' },
    });
    const missing = run({ AWS_ID_TOKEN: '' });
    expect(missing.status).toBe(1);
    const notJwt = run({ AWS_ID_TOKEN: 'static-secret-value' });
    expect(notJwt.status).toBe(1);
    expect(notJwt.stderr).not.toContain('static-secret-value');
    const badRegistry = run({ ECR_REPOSITORY: 'evil.example.com/x' }, ['--ecr']);
    expect(badRegistry.status).toBe(1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

it('deploys staging automatically on the default branch and production only by hand, after staging', () => {
  const staging = resolved('deploy-staging');
  expect(staging.rules).toEqual([{ if: '$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH' }]);
  expect(staging.when).toBeUndefined();
  expect(staging.environment).toMatchObject({ name: 'staging' });

  const production = resolved('deploy-production');
  expect(production.rules?.length).toBeGreaterThan(0);
  for (const rule of production.rules ?? []) {
    expect(rule.when).toBe('manual');
    expect(rule.if).toContain('$CI_COMMIT_REF_PROTECTED == "true"');
  }
  expect(production.allow_failure).toBe(false);
  expect(production.environment).toMatchObject({ name: 'production' });
  expect(production.needs).toEqual(expect.arrayContaining(['deploy-staging']));
});

it('never prints a variable, traces the shell or dumps the environment', () => {
  expect(allCommands().filter((l) => leakRisk(l) !== undefined)).toEqual([]);
});

it('the leak check catches what it is meant to catch', () => {
  expect(leakRisk('echo $AWS_SECRET_ACCESS_KEY')).toBe('prints a variable');
  expect(leakRisk('printf "%s" "$HELMGATE_APPROVERS" > f')).toBe('prints a variable');
  expect(leakRisk('set -ex')).toBe('shell tracing');
  expect(leakRisk('env')).toBe('dumps the environment');
  expect(leakRisk('npm ci && printenv | sort')).toBe('dumps the environment');
  expect(leakRisk('npx osls deploy --stage x --verbose')).toBe('verbose deploy output');
  expect(leakRisk(`echo '{"credsStore":"ecr-login"}' > /kaniko/.docker/config.json`)).toBeUndefined();
  expect(leakRisk('npm run lint')).toBeUndefined();
});
