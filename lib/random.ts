import { randomBytes, randomUUID } from 'node:crypto';

/** Injected randomness, so ids and tokens are deterministic in tests that need it. */
export interface Random {
  id(): string;
  bytes(n: number): Buffer;
}

export const cryptoRandom: Random = {
  id: () => randomUUID(),
  bytes: (n) => randomBytes(n),
};
