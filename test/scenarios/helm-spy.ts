import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** One helm process as the spy saw it: its start (epoch ms, wall clock) and argv. */
export interface SpiedHelmCall {
  startEpochMs: number;
  args: string[];
}

/**
 * A helm "binary" for the local stack (`runner.helmBin`) that records each call's start time and argv
 * to a log file, then `exec`s the real helm with the same stdin, stdout, stderr and environment. The
 * local runner builds its own process runner, so this is how a bench sees the helm calls of the
 * whole local stack without a seam in lib/compose/local-runner.ts. bash's `$EPOCHREALTIME` costs no
 * fork; the wrapper adds one bash start (a few ms) before helm itself starts.
 */
export function writeHelmSpy(
  dir: string,
  realHelm: string,
): { bin: string; log: string; calls(): SpiedHelmCall[] } {
  const bin = path.join(dir, 'helm-spy');
  const log = path.join(dir, 'helm-spy.log');
  writeFileSync(log, '', { mode: 0o600 });
  writeFileSync(
    bin,
    [
      '#!/bin/bash',
      `t=$EPOCHREALTIME`,
      // one line per call: the start time, then each argument ended by the unit separator
      `{ printf '%s\\t' "$t"; printf '%s\\x1f' "$@"; printf '\\n'; } >> ${JSON.stringify(log)}`,
      `exec ${JSON.stringify(realHelm)} "$@"`,
      '',
    ].join('\n'),
    { mode: 0o700 },
  );
  chmodSync(bin, 0o700);
  return {
    bin,
    log,
    calls() {
      if (!existsSync(log)) return [];
      return readFileSync(log, 'utf8')
        .split('\n')
        .filter((l) => l.includes('\t'))
        .map((l) => {
          const [t, rest = ''] = l.split('\t');
          return {
            startEpochMs: Number((t ?? '0').replace(',', '.')) * 1000,
            args: rest.split('\x1f').slice(0, -1),
          };
        });
    },
  };
}
