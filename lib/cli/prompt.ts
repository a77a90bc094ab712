import type { Prompter } from '../bootstrap/bootstrap';
import { HelmgateError } from '../errors';

/** The terminal's input as the prompter needs it (process.stdin is one). */
export interface TtyInput {
  isTTY?: boolean;
  setRawMode?(mode: boolean): unknown;
  on(event: 'data', fn: (chunk: Buffer | string) => void): unknown;
  removeListener(event: 'data', fn: (chunk: Buffer | string) => void): unknown;
  resume(): unknown;
  pause(): unknown;
  setEncoding?(enc: BufferEncoding): unknown;
}

/**
 * Questions on the terminal: the question goes to `write` (stderr), the answer is read from `input` in
 * raw mode, so a hidden answer is never echoed (not even as asterisks: its length stays private).
 * Ctrl-C and Ctrl-D abort; backspace edits. Nothing read is ever written back.
 */
export function ttyPrompter(input: TtyInput, write: (s: string) => void): Prompter {
  // what was typed (or pasted) past the end of one answer belongs to the next question
  let ahead = '';
  return {
    ask(question, { hidden }) {
      write(question);
      return new Promise<string>((resolve, reject) => {
        let answer = '';
        let finished = false;
        const raw = typeof input.setRawMode === 'function';
        if (raw) input.setRawMode?.(true);
        input.setEncoding?.('utf8');
        const done = (err?: Error) => {
          finished = true;
          input.removeListener('data', onData);
          if (raw) input.setRawMode?.(false);
          input.pause();
          write('\n');
          if (err) reject(err);
          else resolve(answer);
        };
        const consume = (text: string) => {
          const chars = [...text];
          for (let i = 0; i < chars.length; i++) {
            const ch = chars[i] as string;
            if (ch === '\r' || ch === '\n') {
              // a CRLF pair ends one answer, not two
              const rest = chars.slice(i + 1).join('');
              ahead = ch === '\r' && rest.startsWith('\n') ? rest.slice(1) : rest;
              return done();
            }
            if (ch === '\u0003' || ch === '\u0004') {
              ahead = '';
              return done(
                new HelmgateError('bad_request', 'interrupted at a prompt: nothing more was stored'),
              );
            }
            if (ch === '\u007f' || ch === '\b') {
              if (answer.length > 0) {
                answer = answer.slice(0, -1);
                if (!hidden && raw) write('\b \b');
              }
              continue;
            }
            if (ch < ' ') continue;
            answer += ch;
            if (!hidden && raw) write(ch);
          }
        };
        const onData = (chunk: Buffer | string) => consume(String(chunk));
        const early = ahead;
        ahead = '';
        consume(early);
        if (finished) return;
        input.on('data', onData);
        input.resume();
      });
    },
  };
}
