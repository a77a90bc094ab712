import { Command, CommanderError, InvalidArgumentError } from 'commander';
import packageJson from '../../package.json';
import { type CreateGithubApp, type Prompter, printSetupGithubCommand } from '../bootstrap/bootstrap';
import { type Clock, systemClock } from '../clock';
import { composeBootstrap } from '../compose/bootstrap';
import { resolveTarget } from '../compose/cli';
import { policyNamesTeams, setupEnvironment, systemBrowserOpener } from '../compose/setup';
import { processEnv } from '../config/env';
import { cryptoRandom, type Random } from '../random';
import { bootstrapCommand } from './bootstrap-command';
import {
  overrideCommand,
  redeployCommand,
  retryCommand,
  rollbackCommand,
  voteCommand,
  type WaitOptions,
} from './decide';
import { showCommand, statusCommand } from './inspect';
import { Output, wantsColor } from './output';
import { planCommand, secretsCheckCommand } from './plan-command';
import { ttyPrompter } from './prompt';
import { type SetupGithubOptions, setupGithubCommand } from './setup-command';
import { type CliTarget, CliUsageError, type TargetOptions } from './target';

/** Exit codes: 0 ok, 1 failed or refused, 2 usage. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

export interface CliIo {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  env: Readonly<Record<string, string | undefined>>;
  cwd: string;
  clock: Clock;
  sleep: (ms: number) => Promise<void>;
  /** stdout is a terminal: text output may be coloured */
  isTTY: boolean;
  /** stderr is a terminal: `--wait` may redraw its progress in place (default false when stderr is given) */
  stderrIsTTY: boolean;
  /** the width of the terminal stderr is (for redrawing progress) */
  stderrColumns: number;
  /**
   * asks the operator (bootstrap), without echo for secrets; undefined = nobody to ask. Default: the
   * terminal when stdin is one.
   */
  prompter: Prompter | undefined;
  /**
   * creates the GitHub App for `bootstrap` (default: on a terminal, after asking, `setup github`'s
   * App-manifest flow; otherwise it prints the `setup github` command to run)
   */
  createGithubApp?: CreateGithubApp;
  random: Random;
  /** opens a URL in the person's browser (`helmgate setup github`); tests script a browser */
  openBrowser?: (url: string) => Promise<void>;
}

interface GlobalOptions extends TargetOptions {
  json?: boolean;
  /** false with --no-color */
  color?: boolean;
}

function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

/**
 * Runs the operator CLI with `args` (without `node` and the script) and returns the exit code. Every
 * effect comes through `io`, so tests run it in-process against a local stack.
 */
export async function runCli(args: string[], partial: Partial<CliIo> = {}): Promise<number> {
  const io: CliIo = {
    stdout: (s) => process.stdout.write(s),
    stderr: (s) => process.stderr.write(s),
    env: processEnv(),
    cwd: process.cwd(),
    clock: systemClock,
    sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
    isTTY: process.stdout.isTTY === true,
    stderrIsTTY: partial.stderr ? false : process.stderr.isTTY === true,
    stderrColumns: process.stderr.columns || 80,
    prompter:
      process.stdin.isTTY === true ? ttyPrompter(process.stdin, (s) => process.stderr.write(s)) : undefined,
    random: cryptoRandom,
    ...partial,
  };
  let code: number = EXIT.ok;
  let output: Output | undefined;

  /** resolves the target, runs the command, closes the target; failures become exit 1 */
  const act =
    <A extends unknown[]>(fn: (t: CliTarget, o: Output, ...a: A) => Promise<number>) =>
    async (...a: A) => {
      const cmd = a[a.length - 1] as Command;
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const json = g.json === true;
      const color = wantsColor({ isTTY: io.isTTY, json, noColorFlag: g.color === false, env: io.env });
      const live = io.stderrIsTTY && !json && io.env.TERM !== 'dumb';
      const o = new Output(io.stdout, io.stderr, json, color, live, io.stderrColumns);
      output = o;
      const target = await resolveTarget(
        {
          ...(g.local ? { local: true } : {}),
          ...(g.aws ? { aws: true } : {}),
          ...(g.state ? { state: g.state } : {}),
          ...(g.repository ? { repository: g.repository } : {}),
          ...(g.as ? { as: g.as } : {}),
          ...(g.verbose ? { verbose: true } : {}),
        },
        { env: io.env, cwd: io.cwd, clock: io.clock, stderr: io.stderr },
      );
      o.redact = (s) => target.redactor.redact(s);
      try {
        code = await fn(target, o, ...a);
      } finally {
        target.close();
      }
    };

  const waitOpts = (opts: { wait?: boolean; timeout: number; interval: number }): WaitOptions => ({
    wait: opts.wait === true,
    timeoutMs: opts.timeout * 1000,
    intervalMs: opts.interval,
    sleep: io.sleep,
  });

  const program = new Command()
    .name('helmgate')
    .description('Operate helmgate: what runs and waits, plans, approvals, redeploys, rollbacks, secrets.')
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
    .showHelpAfterError('(add --help for usage)')
    .version(packageJson.version, '-V, --version', 'print the version of helmgate')
    .option('--json', 'print only JSON on stdout (for scripts)')
    .option('--no-color', 'no colour, even on a terminal (so does NO_COLOR)')
    .option('--local', 'use the running local stack (default when .helmgate/stack.json exists)')
    .option('--aws', 'use AWS from the environment (HELMGATE_TABLE, AWS_REGION, credentials)')
    .option('--state <file>', 'the local stack state file (default .helmgate/stack.json)')
    .option('--repository <owner/name>', 'the repository (default: the stack/env setting or origin remote)')
    .option('--as <principal>', 'who votes or asks (default HELMGATE_CLI_PRINCIPAL; locally the OS user)')
    .option('--verbose', 'log what the services do to stderr');

  program
    .command('status')
    .description('per repository and environment: what runs, what is running, what waits')
    .option('--limit <n>', 'how many recent deployments to look at', positiveInt, 200)
    .option('--environment <env>', 'only this environment')
    .action(
      act((t, o, opts: { limit: number; environment?: string }) =>
        statusCommand(t, o, {
          limit: opts.limit,
          ...(opts.environment ? { environment: opts.environment } : {}),
        }),
      ),
    );

  program
    .command('show')
    .description('one deployment: status, per-release results, approval and audit log')
    .argument('<deployment>', 'deployment id (or a unique prefix)')
    .action(act((t, o, id: string) => showCommand(t, o, id)));

  program
    .command('plan')
    .description('plan a commit of the local checkout and diff it against what the environment runs')
    .argument('<sha>', 'commit (SHA, branch, HEAD…)')
    .argument('[environment]', 'one environment (default: all)')
    .action(act((t, o, rev: string, env: string | undefined) => planCommand(t, o, rev, env)));

  for (const decision of ['approve', 'reject'] as const) {
    const c = program
      .command(decision)
      .description(`${decision} a deployment waiting for approval, as a CLI principal (audited via cli)`)
      .argument('<deployment>', 'deployment id (or a unique prefix)');
    if (decision === 'approve')
      c.option('--rollback', 'confirm approving a commit older than what the environment runs')
        .option('--wait', 'wait until the deployment finishes, showing progress on stderr')
        .option('--timeout <seconds>', 'how long --wait waits', positiveInt, 1800)
        .option('--interval <ms>', 'how often --wait polls', positiveInt, 1000);
    c.action(
      act(
        (
          t,
          o,
          id: string,
          opts: { rollback?: boolean; wait?: boolean; timeout?: number; interval?: number },
        ) =>
          voteCommand(t, o, {
            id,
            decision,
            rollback: opts.rollback === true,
            ...waitOpts({
              wait: opts.wait === true,
              timeout: opts.timeout ?? 1800,
              interval: opts.interval ?? 1000,
            }),
          }),
      ),
    );
  }

  program
    .command('redeploy')
    .description('deploy a commit to an environment again (through approval where it needs one)')
    .argument('<sha>', 'commit (SHA, branch, HEAD…)')
    .argument('<environment>')
    .option('--force', 'redeploy releases even when unchanged')
    .option('--wait', 'wait until the deployment finishes, showing progress on stderr')
    .option('--timeout <seconds>', 'how long --wait waits', positiveInt, 1800)
    .option('--interval <ms>', 'how often --wait polls', positiveInt, 1000)
    .action(
      act(
        (
          t,
          o,
          rev: string,
          environment: string,
          opts: { force?: boolean; wait?: boolean; timeout: number; interval: number },
        ) => redeployCommand(t, o, { rev, environment, force: opts.force === true, ...waitOpts(opts) }),
      ),
    );

  program
    .command('retry')
    .description(
      'run a failed deployment again: same commit and plan; its approval holds while valid for that plan',
    )
    .argument('<id>', 'deployment id (or a unique prefix)')
    .option('--wait', 'wait until the deployment finishes, showing progress on stderr')
    .option('--timeout <seconds>', 'how long --wait waits', positiveInt, 1800)
    .option('--interval <ms>', 'how often --wait polls', positiveInt, 1000)
    .action(
      act((t, o, id: string, opts: { wait?: boolean; timeout: number; interval: number }) =>
        retryCommand(t, o, { id, ...waitOpts(opts) }),
      ),
    );

  program
    .command('override')
    .description(
      'override the freeze an approved deployment waits in (each of the required approvers, with a reason)',
    )
    .argument('<id>', 'deployment id (or a unique prefix)')
    .requiredOption('--reason <text>', 'why it must start before the freeze ends (audited)')
    .action(
      act((t, o, id: string, opts: { reason: string }) => overrideCommand(t, o, { id, reason: opts.reason })),
    );

  program
    .command('rollback')
    .description('deploy the previous successful commit of an environment again, after approval')
    .argument('<environment>')
    .option('--force', 'redeploy releases even when unchanged')
    .option('--wait', 'wait until it is approved and finishes, showing progress on stderr')
    .option('--timeout <seconds>', 'how long --wait waits', positiveInt, 1800)
    .option('--interval <ms>', 'how often --wait polls', positiveInt, 1000)
    .action(
      act(
        (
          t,
          o,
          environment: string,
          opts: { force?: boolean; wait?: boolean; timeout: number; interval: number },
        ) => rollbackCommand(t, o, { environment, force: opts.force === true, ...waitOpts(opts) }),
      ),
    );

  program
    .command('secrets')
    .description('secret checks')
    .command('check')
    .description(
      'pre-flight: every secret the deploy config references exists and is non-empty (exit 1 if not)',
    )
    .argument('[environment]', 'one environment (default: all)')
    .option('--sha <rev>', 'the commit whose deploy config is checked', 'HEAD')
    .action(
      act((t, o, env: string | undefined, opts: { sha: string }) => secretsCheckCommand(t, o, env, opts.sha)),
    );

  program
    .command('setup')
    .description('register helmgate with outside services')
    .command('github')
    .description(
      "create the stage's GitHub App through GitHub's App-manifest flow (a browser page), store its credentials in Secrets Manager and print its install URL",
    )
    .requiredOption('--stage <stage>', 'the stage the App serves (its default name: helmgate-<stage>)')
    .option('--public-url <url>', "the stage's API URL (default HELMGATE_PUBLIC_URL)")
    .option('--org <org>', 'create the App in this GitHub organization (default: your account)')
    .option('--name <name>', 'the App name on GitHub, unique on GitHub, at most 34 characters')
    .option(
      '--team-approvers',
      'approvers are GitHub teams: the App may read organization members (default: when the policy names teams)',
    )
    .option(
      '--secret-id <name>',
      "the secret for the App's credentials (default HELMGATE_GITHUB_APP_SECRET_ID)",
    )
    .option(
      '--login-secret-id <name>',
      "the login secret for the App's client id and secret, created or updated (default HELMGATE_OAUTH_SECRET_ID)",
    )
    .option('--replace', 'the secret exists: create a new App and replace its credentials')
    .option('--no-open', 'print the page address instead of opening a browser')
    .option('--timeout <seconds>', 'how long to wait for GitHub', positiveInt, 900)
    .action(async (opts: Omit<SetupGithubOptions, 'timeoutSeconds'> & { timeout: number }, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const o = new Output(io.stdout, io.stderr, g.json === true);
      output = o;
      const env = setupEnvironment(io.env);
      code = await setupGithubCommand(
        o,
        {
          writer: env.writer,
          exists: async (id) => (await env.reader.getSecretString(id)) !== undefined,
          githubWebUrl: env.githubWebUrl,
          githubApiUrl: env.githubApiUrl,
          publicUrl: io.env.HELMGATE_PUBLIC_URL || undefined,
          defaultSecretId: env.githubAppSecretId,
          defaultLoginSecretId: env.oauthSecretId,
          openBrowser: io.openBrowser ?? systemBrowserOpener(),
          random: cryptoRandom,
          policyNamesTeams: () => policyNamesTeams(io.env, io.cwd),
        },
        { ...opts, timeoutSeconds: opts.timeout },
      );
    });

  program
    .command('bootstrap')
    .description(
      "check and create what a stage needs: helmgate's secrets, the policy, the GitHub App and its webhook; then the deploy config's secrets (exit 1 while something is missing)",
    )
    .requiredOption('--stage <stage>', 'the stage (osls --stage)')
    .option('--region <region>', "the stage's region (default AWS_REGION, else eu-west-1 as serverless.yml)")
    .option('--url <url>', "the stage's public API URL (default: what the deployed stack says)")
    .option('--policy <file>', 'the operator policy packaged with the stack', 'helmgate-policy.yaml')
    .option('-y, --yes', 'ask nothing (CI): generate what can be generated, list what needs a person')
    .option(
      '--rotate <secret>',
      'give a generated secret (webhook secret, signing key, API tokens) a new random value; repeatable',
      (v: string, all: string[] | undefined) => [...(all ?? []), v],
    )
    .action(
      async (
        opts: {
          stage: string;
          region?: string;
          url?: string;
          policy: string;
          yes?: boolean;
          rotate: string[];
        },
        cmd: Command,
      ) => {
        const g = cmd.optsWithGlobals<GlobalOptions>();
        const json = g.json === true;
        const color = wantsColor({ isTTY: io.isTTY, json, noColorFlag: g.color === false, env: io.env });
        const o = new Output(io.stdout, io.stderr, json, color, false, io.stderrColumns);
        output = o;
        if (!/^[a-zA-Z0-9-]+$/.test(opts.stage))
          throw new CliUsageError('--stage: letters, digits and dashes');
        if (opts.url !== undefined && !/^https?:\/\/[^\s]+$/.test(opts.url))
          throw new CliUsageError('--url: an http(s) URL');
        const bootstrapOpts = {
          stage: opts.stage,
          policyFile: opts.policy,
          ...(opts.region ? { region: opts.region } : {}),
          ...(opts.url ? { url: opts.url.replace(/\/+$/, '') } : {}),
          ...(g.repository ? { repository: g.repository } : {}),
        };
        const wiring = composeBootstrap(bootstrapOpts, {
          env: io.env,
          cwd: io.cwd,
          clock: io.clock,
          stderr: io.stderr,
        });
        const prompter = opts.yes ? undefined : io.prompter;
        try {
          code = await bootstrapCommand(bootstrapOpts, o, {
            wiring,
            prompter,
            createGithubApp:
              io.createGithubApp ??
              (prompter ? githubAppViaManifest(prompter, o, io) : printSetupGithubCommand),
            random: io.random,
            env: io.env,
            rotate: opts.rotate ?? [],
          });
        } finally {
          wiring.close();
        }
      },
    );

  try {
    await program.parseAsync(args, { from: 'user' });
    return code;
  } catch (e) {
    if (e instanceof CommanderError)
      return e.exitCode === 0 || e.code === 'commander.helpDisplayed' || e.code === 'commander.version'
        ? EXIT.ok
        : EXIT.usage;
    const o = output ?? new Output(io.stdout, io.stderr, args.includes('--json'));
    o.fail(e);
    return e instanceof CliUsageError ? EXIT.usage : EXIT.failed;
  }
}

/**
 * Bootstrap's App step on a terminal: asks, then runs `setup github`'s App-manifest flow (a browser
 * page, one click on GitHub) with the stage's URL; without a URL yet, or when declined, the command to
 * run later is printed instead.
 */
function githubAppViaManifest(prompter: Prompter, o: Output, io: CliIo): CreateGithubApp {
  return async (ctx) => {
    if (!ctx.publicUrl) return printSetupGithubCommand(ctx);
    const answer = await prompter.ask('No GitHub App yet: create it now, in your browser? [Y/n] ', {
      hidden: false,
    });
    if (/^n(o)?$/i.test(answer.trim())) return printSetupGithubCommand(ctx);
    const env = setupEnvironment({ ...io.env, AWS_REGION: ctx.region });
    const code = await setupGithubCommand(
      o,
      {
        writer: env.writer,
        exists: async (id) => (await env.reader.getSecretString(id)) !== undefined,
        githubWebUrl: env.githubWebUrl,
        githubApiUrl: env.githubApiUrl,
        publicUrl: ctx.publicUrl,
        defaultSecretId: ctx.appSecretId,
        defaultLoginSecretId: ctx.oauthSecretId,
        openBrowser: io.openBrowser ?? systemBrowserOpener(),
        random: io.random,
        policyNamesTeams: () => policyNamesTeams(io.env, io.cwd),
      },
      {
        stage: ctx.stage,
        publicUrl: ctx.publicUrl,
        secretId: ctx.appSecretId,
        loginSecretId: ctx.oauthSecretId,
        timeoutSeconds: 900,
      },
    );
    return { created: code === 0 };
  };
}

/** The process entry (bin/helmgate.cjs): exit with the CLI's code once stdout is flushed. */
export async function main(argv: string[] = process.argv.slice(2)): Promise<void> {
  process.exitCode = await runCli(argv);
}
