import { type CommandResult, type CommandRunner, ExecError, tailLines } from './command-runner';

/**
 * Port: git, through the command-runner seam (argv arrays, no shell, an allow-listed environment).
 * Resolves with whatever git did (a non-zero exit is not an error here: the caller decides, the way
 * `CommandRunner` does); rejects with `ExecError` only when git could not be started.
 */
export interface Git {
  /** `git -C <repoDir> <args…>` */
  run(repoDir: string, args: readonly string[], opts?: { timeoutMs?: number }): Promise<CommandResult>;
  /** The same, resolving with trimmed stdout; a non-zero exit rejects with `ExecError` (stderr tail, never argv). */
  output(repoDir: string, args: readonly string[]): Promise<string>;
}

/**
 * Git over a command runner. The child gets PATH and HOME from `baseEnv` (the composition root passes
 * the process environment) and never prompts for credentials; no other variable passes, so a
 * `GIT_DIR` or `GIT_CONFIG_*` in the operator's shell cannot redirect what is read.
 */
export function gitOver(
  runner: CommandRunner,
  baseEnv: Readonly<Record<string, string | undefined>>,
  opts: { timeoutMs?: number } = {},
): Git {
  const env = {
    PATH: baseEnv.PATH || '/usr/bin:/bin',
    HOME: baseEnv.HOME || '/tmp',
    GIT_TERMINAL_PROMPT: '0',
  };
  const run: Git['run'] = (repoDir, args, o = {}) => {
    const timeoutMs = o.timeoutMs ?? opts.timeoutMs;
    return runner.run('git', ['-C', repoDir, ...args], {
      env,
      ...(timeoutMs !== undefined ? { timeoutMs } : {}),
    });
  };
  return {
    run,
    async output(repoDir, args) {
      const r = await run(repoDir, args);
      if (r.code !== 0)
        throw new ExecError({
          command: `git ${args[0] ?? ''}`.trim(),
          exitCode: r.code,
          stderrTail: tailLines(r.stderr),
          durationMs: r.durationMs,
          ...(r.timedOut ? { timedOut: true } : {}),
        });
      return r.stdout.trim();
    },
  };
}
