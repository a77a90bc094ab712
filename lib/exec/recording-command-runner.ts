import type { CommandResult, CommandRunner, RunOptions } from './command-runner';

export interface RecordedCall {
  command: string;
  args: string[];
  /** stdin as text ('' when none was given) */
  stdin: string;
  env: Record<string, string>;
  cwd?: string;
  timeoutMs?: number;
}

export type Reply = Partial<Omit<CommandResult, 'durationMs'>> & { durationMs?: number };
type Responder = Reply | ((call: RecordedCall) => Reply);

interface Failure {
  remaining: number;
  subcommand?: string;
  stderr: string;
  code: number;
}

/**
 * A CommandRunner fake for unit tests (no process is started): records argv, stdin, env and cwd of
 * every call, answers per subcommand (`args[0]`), and can be told to fail the next N calls of a
 * subcommand with a given stderr — the shape helm failures have.
 */
export class RecordingCommandRunner implements CommandRunner {
  readonly calls: RecordedCall[] = [];
  private readonly replies = new Map<string, Responder>();
  private readonly failures: Failure[] = [];
  private fallback: Responder = { code: 0, stdout: '', stderr: '' };

  /** How calls whose `args[0]` is `subcommand` are answered (the latest setting wins). */
  reply(subcommand: string, responder: Responder): this {
    this.replies.set(subcommand, responder);
    return this;
  }

  /** How calls with no `reply` for their subcommand are answered (default: exit 0, no output). */
  replyOtherwise(responder: Responder): this {
    this.fallback = responder;
    return this;
  }

  /** The next `times` calls (of `subcommand`, when given) exit with `code` (default 1) and `stderr`. */
  failNext(opts: { times?: number; subcommand?: string; stderr: string; code?: number }): this {
    this.failures.push({
      remaining: opts.times ?? 1,
      stderr: opts.stderr,
      code: opts.code ?? 1,
      ...(opts.subcommand !== undefined ? { subcommand: opts.subcommand } : {}),
    });
    return this;
  }

  /** The recorded calls of one subcommand. */
  callsOf(subcommand: string): RecordedCall[] {
    return this.calls.filter((c) => c.args[0] === subcommand);
  }

  async run(command: string, args: readonly string[], opts: RunOptions): Promise<CommandResult> {
    const call: RecordedCall = {
      command,
      args: [...args],
      stdin: opts.stdin === undefined ? '' : opts.stdin.toString(),
      env: { ...opts.env },
      ...(opts.cwd !== undefined ? { cwd: opts.cwd } : {}),
      ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
    };
    this.calls.push(call);
    const sub = args[0] ?? '';
    const failure = this.failures.find(
      (f) => f.remaining > 0 && (f.subcommand === undefined || f.subcommand === sub),
    );
    if (failure) {
      failure.remaining--;
      return { code: failure.code, stdout: '', stderr: failure.stderr, durationMs: 1 };
    }
    const responder = this.replies.get(sub) ?? this.fallback;
    const reply = typeof responder === 'function' ? responder(call) : responder;
    return {
      code: reply.code === undefined ? 0 : reply.code,
      stdout: reply.stdout ?? '',
      stderr: reply.stderr ?? '',
      durationMs: reply.durationMs ?? 1,
      ...(reply.timedOut ? { timedOut: true } : {}),
    };
  }
}
