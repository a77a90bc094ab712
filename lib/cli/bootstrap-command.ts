import {
  type BootstrapItem,
  type BootstrapReport,
  bootstrap,
  type CreateGithubApp,
  type Prompter,
} from '../bootstrap/bootstrap';
import type { BootstrapOptions, BootstrapWiring } from '../compose/bootstrap';
import { stageSecretIds } from '../compose/bootstrap';
import { describeError } from '../errors';
import { mergeLegacyApprovers, parseLegacyApprovers, parsePolicy, policyDigest } from '../policy/policy';
import type { Random } from '../random';
import { type Output, table } from './output';
import { checkSecrets, type SecretsCheckResult, secretsCheckText } from './plan-command';

export interface BootstrapCommandDeps {
  wiring: BootstrapWiring;
  /** undefined: non-interactive (--yes, or stdin is not a terminal) */
  prompter: Prompter | undefined;
  createGithubApp: CreateGithubApp;
  random: Random;
  /** `--rotate`: secret names to give a new random value */
  rotate: readonly string[];
  /** the CLI's environment (HELMGATE_APPROVERS before the stage is deployed) */
  env: Readonly<Record<string, string | undefined>>;
}

const STATUS_WORD: Record<BootstrapItem['status'], string> = {
  ok: 'ok',
  created: 'created',
  fixed: 'fixed',
  rotated: 'rotated',
  missing: 'MISSING',
  invalid: 'INVALID',
  pending: 'pending',
  optional: 'optional',
  note: 'note',
};

/**
 * `bootstrap --stage <s>`: the stage's secrets, policy, GitHub App and webhook (lib/bootstrap), then the
 * pre-flight of the deploy config's secrets; prints what it did and what is still missing. Exit 0 when
 * nothing required is missing, 1 otherwise.
 */
export async function bootstrapCommand(
  opts: BootstrapOptions,
  o: Output,
  deps: BootstrapCommandDeps,
): Promise<number> {
  const { wiring } = deps;
  o.redact = (s) => wiring.redactor.redact(s);
  const remember = (v: string) => wiring.redactor.registerSecret(v);
  const deployed = await wiring.deployedStage();
  const ids = stageSecretIds(deployed, deps.env);
  const approversParam = deployed.deployed ? deployed.env.HELMGATE_APPROVERS : deps.env.HELMGATE_APPROVERS;
  const legacy = (() => {
    try {
      return parseLegacyApprovers(approversParam);
    } catch {
      return undefined;
    }
  })();
  let deployedPolicyDigest: string | undefined;
  if (deployed.env.HELMGATE_POLICY?.trim().startsWith('{'))
    try {
      deployedPolicyDigest = policyDigest(
        mergeLegacyApprovers(parsePolicy(deployed.env.HELMGATE_POLICY), legacy ?? {}),
      );
    } catch {
      deployedPolicyDigest = undefined;
    }
  const publicUrl = opts.url ?? (deployed.deployed ? deployed.env.HELMGATE_PUBLIC_URL : undefined);
  // the App must be installed on every repository the stage accepts
  const csv = (v: string | undefined) =>
    (v ?? '')
      .split(',')
      .map((x) => x.trim())
      .filter((x) => /^[\w.-]+\/[\w.-]+$/.test(x));
  const repositories = deployed.deployed
    ? csv(deployed.env.HELMGATE_REPOSITORIES)
    : opts.repository
      ? csv(opts.repository)
      : csv(deps.env.HELMGATE_REPOSITORIES);

  const report = await bootstrap({
    stage: opts.stage,
    region: wiring.region,
    ids,
    publicUrl,
    deployed: deployed.deployed,
    policyFile: { name: displayPath(wiring.policyFile.path, wiring.repoDir), text: wiring.policyFile.text },
    ...(legacy ? { mergeApprovers: (p) => mergeLegacyApprovers(p, legacy) } : {}),
    ...(deployedPolicyDigest ? { deployedPolicyDigest } : {}),
    policyDigest,
    secrets: wiring.secrets,
    random: deps.random,
    prompter: deps.prompter,
    remember,
    rotate: deps.rotate,
    repositories,
    githubWebUrl: wiring.githubWebUrl,
    githubApp: (text) => wiring.githubApp(text, ids.githubApp),
    createGithubApp: deps.createGithubApp,
    say: (line) => o.note(line),
  });

  // the deployed repository's secrets: the runner's pre-flight on the checkout's deploy config
  let check: SecretsCheckResult | undefined;
  let checkError: string | undefined;
  if (wiring.policyFile.text !== undefined)
    try {
      check = await checkSecrets(wiring.checkTarget(deployed), undefined, 'HEAD');
    } catch (e) {
      checkError = describeError(e);
    }
  else checkError = 'needs the policy file';

  const stillMissing = [
    ...report.items.filter((i) => i.status === 'missing' || i.status === 'invalid' || i.status === 'pending'),
  ];
  // a cluster secret is both the stage's and the deploy config's: listed once
  const listed = new Set(stillMissing.map((i) => i.item.replace(/^secret /, '')));
  const deployMissing = check
    ? [...new Set(check.environments.flatMap((e) => e.missing))].filter(
        (m) => !listed.has(m.split('#')[0] as string),
      )
    : [];
  const ok = !report.incomplete && check?.ok === true;
  o.result(
    {
      stage: report.stage,
      region: wiring.region,
      publicUrl: report.publicUrl ?? null,
      ok,
      writes: report.writes,
      items: report.items,
      secretsCheck: check ?? { error: checkError },
    },
    () => renderText(o, report, wiring.region, check, checkError, stillMissing, deployMissing, ok),
  );
  return ok ? 0 : 1;
}

function displayPath(file: string, repoDir: string): string {
  return file.startsWith(`${repoDir}/`) ? file.slice(repoDir.length + 1) : file;
}

function renderText(
  o: Output,
  report: BootstrapReport,
  region: string,
  check: SecretsCheckResult | undefined,
  checkError: string | undefined,
  stillMissing: BootstrapItem[],
  deployMissing: string[],
  ok: boolean,
): string {
  const lines: string[] = [];
  lines.push(o.bold(`helmgate bootstrap: stage ${report.stage} in ${region}`));
  lines.push(
    table(
      ['status', 'what', 'detail'],
      report.items.map((i) => [STATUS_WORD[i.status], i.item, i.detail]),
      {
        indent: '  ',
        style: (c, s) => (c === 0 ? o.status(s) : s),
      },
    ),
  );
  lines.push('', o.bold("the deploy config's secrets (secrets check, HEAD):"));
  if (check) for (const l of secretsCheckText(check, o, false).split('\n')) lines.push(`  ${l}`);
  else lines.push(`  not checked: ${checkError}`);
  lines.push('');
  const changed = report.writes;
  if (ok && changed === 0) lines.push(`nothing to do: stage ${report.stage} has everything it needs`);
  else {
    lines.push(
      changed === 0
        ? 'nothing changed.'
        : `${changed} change${changed === 1 ? '' : 's'} made (${report.items
            .filter((i) => i.status === 'created' || i.status === 'fixed' || i.status === 'rotated')
            .map((i) => i.item)
            .join(', ')}).`,
    );
    if (stillMissing.length === 0 && deployMissing.length === 0 && check) lines.push('nothing is missing.');
    else {
      lines.push('still missing:');
      for (const i of stillMissing) lines.push(`  - ${i.item}${i.fix ? `: ${i.fix}` : ''}`);
      // one line per secret of the deploy config, with the keys it must hold
      const keys = new Map<string, string[]>();
      for (const m of deployMissing) {
        const [secret, key] = m.split('#') as [string, string | undefined];
        keys.set(secret, [...(keys.get(secret) ?? []), ...(key ? [key] : [])]);
      }
      for (const [secret, ks] of keys)
        lines.push(
          `  - ${secret} (deploy.yaml${ks.length ? `: JSON with ${ks.join(', ')}` : ''}): aws secretsmanager create-secret --name ${secret} --secret-string file://<file>`,
        );
      if (!check) lines.push(`  - secrets check: ${checkError}`);
    }
  }
  const optional = report.items.filter((i) => i.status === 'optional');
  if (optional.length > 0)
    lines.push(`optional, not set up: ${optional.map((i) => i.item.replace(/^secret /, '')).join(', ')}`);
  return lines.join('\n');
}
