/**
 * The local stack is one long-lived process: a promise nobody awaited must not take it down (Node's
 * default for an unhandled rejection is to exit). It is logged, without its message (which may hold
 * anything), and the process goes on serving.
 */
export interface ProcessEvents {
  on(event: 'unhandledRejection', listener: (reason: unknown) => void): unknown;
}

export function keepAliveOnUnhandledRejection(proc: ProcessEvents, write: (line: string) => void): void {
  proc.on('unhandledRejection', (reason) => {
    const code = (reason as { code?: unknown } | null)?.code;
    write(
      JSON.stringify({
        level: 'error',
        msg: 'unhandled rejection (the process stays up)',
        err: reason instanceof Error ? reason.name : typeof reason,
        ...(typeof code === 'string' ? { code } : {}),
      }),
    );
  });
}
