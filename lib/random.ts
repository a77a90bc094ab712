import { randomBytes, randomUUID } from 'node:crypto';

/** Injected randomness, so ids and tokens are deterministic in tests that need it. */
export interface Random {
  id(): string;
  bytes(n: number): Buffer;
  /** a number in [0, 1): back-off jitter */
  fraction(): number;
}

export const cryptoRandom: Random = {
  id: () => randomUUID(),
  bytes: (n) => randomBytes(n),
  fraction: () => randomBytes(4).readUInt32BE(0) / 2 ** 32,
};
