#!/usr/bin/env node
// The architecture rules of .dependency-cruiser.cjs, checked with dependency-cruiser's JS API (its CLI
// refuses Node 20 in an engine check), plus three checks dependency-cruiser cannot express: AWS SDK clients
// are constructed in the composition root (lib/compose) only, Octokit only by createGithubClient
// (lib/github/octokit.ts, with the retry and throttling plugins), and nothing in lib reads process.env but
// config loading (lib/config/env.ts). Prints every violation; exits 1 if any.
// Usage: node scripts/check-architecture.mjs [--cwd <project dir>] [dir...]
//        (default: this project; lib handlers bench test scripts)
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Cruises `dirs` (relative to `cwd`) with `rules` and returns the violations as printable lines. */
export async function checkArchitecture({
  cwd = root,
  dirs,
  rulesFile = path.join(root, '.dependency-cruiser.cjs'),
} = {}) {
  const { cruise } = await import('dependency-cruiser');
  const config = createRequire(import.meta.url)(rulesFile);
  const previous = process.cwd();
  process.chdir(cwd);
  let result;
  try {
    result = await cruise(dirs ?? ['lib', 'handlers', 'bench', 'test', 'scripts'], {
      ...config.options,
      validate: true,
      ruleSet: { forbidden: config.forbidden },
    });
  } finally {
    process.chdir(previous);
  }
  const lines = [];
  for (const v of result.output.summary.violations) {
    const via = v.cycle ? ` (cycle: ${v.cycle.map((c) => c.name ?? c).join(' -> ')})` : '';
    const path_ = v.via ? ` (via ${v.via.map((c) => c.name ?? c).join(' -> ')})` : '';
    lines.push(`${v.rule.name}: ${v.from} -> ${v.to}${via}${path_}`);
  }
  for (const file of [...sourceFiles(path.join(cwd, 'lib')), ...sourceFiles(path.join(cwd, 'handlers'))]) {
    const rel = path.relative(cwd, file).split(path.sep).join('/');
    const text = readFileSync(file, 'utf8');
    if (rel !== 'lib/github/octokit.ts' && /\bnew\s+Octokit\b|\bOctokit\.plugin\s*\(/.test(text))
      lines.push(
        `octokit-only-through-the-factory: ${rel} builds an Octokit (use createGithubClient from lib/github/octokit.ts: retries and rate-limit waits)`,
      );
    if (rel.startsWith('lib/compose/')) continue;
    if (rel.startsWith('lib/') && rel !== 'lib/config/env.ts')
      for (const [i, line] of text.split('\n').entries())
        if (/\bprocess\.env\b/.test(line) && !/^\s*(\/\/|\*|\/\*)/.test(line))
          lines.push(
            `env-only-in-config: ${rel}:${i + 1} reads process.env (config loading is lib/config/env.ts; inject what you need)`,
          );
    if (rel.startsWith('lib/') && rel !== 'lib/clock.ts' && rel !== 'lib/random.ts')
      for (const [i, line] of text.split('\n').entries())
        if (
          /\bDate\.now\b|\bMath\.random\b|\bnew\s+Date\(\s*\)/.test(line) &&
          !/^\s*(\/\/|\*|\/\*)/.test(line)
        )
          lines.push(
            `time-and-chance-injected: ${rel}:${i + 1} reads the system clock or Math.random (use the injected Clock / Random, lib/clock.ts and lib/random.ts)`,
          );
    if (rel.startsWith('lib/') && rel !== 'lib/deploy/yaml-data.ts')
      for (const [i, line] of text.split('\n').entries())
        if (/\.toJS\(|import\s*\{[^}]*\bparse\b[^}]*\}\s*from\s*'yaml'/.test(line))
          lines.push(
            `yaml-to-data-in-one-place: ${rel}:${i + 1} turns YAML into data itself (use yamlData / parseYamlData from lib/deploy/yaml-data.ts: they refuse cyclic aliases)`,
          );
    for (const m of text.matchAll(/new\s+([A-Z]\w*Client)\s*\(/g))
      if (/^(DynamoDB|SecretsManager|Lambda|STS|CloudWatch\w*|S3|SQS|SNS)Client$/.test(m[1]))
        lines.push(
          `aws-client-only-in-compose: ${rel} constructs ${m[1]} (build clients in lib/compose and inject them)`,
        );
  }
  return lines;
}

function* sourceFiles(dir) {
  let entries;
  try {
    entries = readdirSync(dir);
  } catch {
    return;
  }
  for (const e of entries) {
    const p = path.join(dir, e);
    if (statSync(p).isDirectory()) yield* sourceFiles(p);
    else if (/\.(ts|mts|cts|js|mjs|cjs)$/.test(e)) yield p;
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  let cwd = root;
  if (args[0] === '--cwd') {
    cwd = path.resolve(args[1] ?? '.');
    args.splice(0, 2);
  }
  const lines = await checkArchitecture({ cwd, ...(args.length > 0 ? { dirs: args } : {}) });
  for (const l of lines) process.stderr.write(`${l}\n`);
  if (lines.length > 0) {
    process.stderr.write(`architecture: ${lines.length} violation(s) of .dependency-cruiser.cjs\n`);
    process.exit(1);
  }
  process.stdout.write('architecture: no violations\n');
}
