import { existsSync, readFileSync } from 'node:fs';
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
  environment?: { name: string } | string;
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

/** A job with its `extends` templates merged in (the job's own keys win, as in GitLab). */
function resolved(name: string): Job {
  const job = ci[name] as Job;
  const parents = job.extends === undefined ? [] : [job.extends].flat();
  return Object.assign({}, ...parents.map((p) => resolved(p)), job) as Job;
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

it('has jobs, each in a stage that exists, in the order lint → typecheck → test → package → image → deploy', () => {
  expect(ci.stages).toEqual([
    'lint',
    'typecheck',
    'test',
    'package',
    'image',
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

it('builds the runner image and deploys it by the digest that was pushed', () => {
  const digestFile = /--digest-file "\$CI_PROJECT_DIR\/([\w.-]+)"/.exec(
    commands('runner-image').join('\n'),
  )?.[1];
  expect(digestFile).toBeDefined();
  for (const name of ['deploy-staging', 'deploy-production']) {
    const deploy = commands(name).find((l) => l.startsWith('npx osls deploy'));
    expect(deploy).toContain(`--param="runnerImageUri=$ECR_REPOSITORY@$(cat ${digestFile})"`);
    expect(resolved(name).needs).toEqual(expect.arrayContaining(['runner-image']));
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
