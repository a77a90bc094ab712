import fc from 'fast-check';

/**
 * One property run, as the tests and `bench/bad-input.ts` report it. The same property definitions
 * serve both: the tests run a few hundred cases and stop (and shrink) at the first failure; the bench
 * runs thousands and counts every failing case.
 */
export interface PropertyReport {
  name: string;
  /** cases generated and checked */
  runs: number;
  /** cases that broke the property (at most 1 in `first` mode) */
  failures: number;
  /** the first few failures, each with its input and what went wrong */
  examples: string[];
  ms: number;
  /** how the cases were answered (status codes), to show the input reached past the first check */
  outcomes?: Record<string, number>;
}

export interface PropertyOptions {
  numRuns: number;
  /** `first`: stop and shrink at the first failure (tests); `count`: check every case (bench) */
  mode?: 'first' | 'count';
  seed?: number;
}

/**
 * The check returns the violations it found in one case (empty: the case holds). A throw from the
 * check is a violation too: the code under test crashed.
 */
export type CaseCheck<T> = (input: T) => Promise<string[]>;

const MAX_EXAMPLES = 3;

function describeInput(input: unknown): string {
  const s = fc.stringify(input);
  return s.length > 600 ? `${s.slice(0, 600)}… (${s.length} chars)` : s;
}

async function violationsOf<T>(check: CaseCheck<T>, input: T): Promise<string[]> {
  try {
    return await check(input);
  } catch (e) {
    return [`threw ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`];
  }
}

export async function checkProperty<T>(
  name: string,
  arb: fc.Arbitrary<T>,
  check: CaseCheck<T>,
  opts: PropertyOptions,
): Promise<PropertyReport> {
  const started = performance.now();
  const params = { numRuns: opts.numRuns, ...(opts.seed !== undefined ? { seed: opts.seed } : {}) };
  if ((opts.mode ?? 'first') === 'count') {
    let runs = 0;
    let failures = 0;
    const examples: string[] = [];
    await fc.check(
      fc.asyncProperty(arb, async (input) => {
        runs++;
        const v = await violationsOf(check, input);
        if (v.length > 0) {
          failures++;
          if (examples.length < MAX_EXAMPLES) examples.push(`${v.join('; ')} ← ${describeInput(input)}`);
        }
        return true;
      }),
      params,
    );
    return { name, runs, failures, examples, ms: performance.now() - started };
  }
  let runs = 0;
  let shrinking = false;
  const details = await fc.check(
    fc.asyncProperty(arb, async (input) => {
      if (!shrinking) runs++;
      const v = await violationsOf(check, input);
      if (v.length > 0) {
        shrinking = true;
        throw new Error(v.join('; '));
      }
    }),
    params,
  );
  const examples = details.failed
    ? [
        `${details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance)} ← ${describeInput(details.counterexample?.[0])} (seed ${details.seed}, path ${details.counterexamplePath})`,
      ]
    : [];
  return {
    name,
    runs,
    failures: details.failed ? 1 : 0,
    examples,
    ms: performance.now() - started,
  };
}

/** The line the tests print, so `npm test` shows how many cases each property tried. */
export function summaryLine(r: PropertyReport): string {
  return `property "${r.name}": ${r.runs} cases tried, ${r.failures} failing, ${r.ms.toFixed(0)} ms${r.outcomes ? ` (${outcomesText(r.outcomes)})` : ''}`;
}

export function outcomesText(o: Record<string, number>): string {
  return Object.entries(o)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}: ${v}`)
    .join(', ');
}

/** Counts outcomes (status codes) while a property runs; attach with `.into(report)`. */
export function tally() {
  const counts: Record<string, number> = {};
  return {
    add(key: string | number) {
      counts[key] = (counts[key] ?? 0) + 1;
    },
    into<R extends PropertyReport>(r: R): R {
      r.outcomes = { ...counts };
      for (const k of Object.keys(counts)) delete counts[k];
      return r;
    },
  };
}

/** Every form a leaked secret could take in a response or a log line. */
export function secretForms(secret: string): string[] {
  const b = Buffer.from(secret, 'utf8');
  return [
    secret,
    b.toString('base64'),
    b.toString('base64url'),
    b.toString('hex'),
    JSON.stringify(secret).slice(1, -1),
    encodeURIComponent(secret),
  ].filter((f, i, all) => all.indexOf(f) === i);
}

export function leaks(haystack: string, secret: string): string[] {
  return secretForms(secret).filter((f) => haystack.includes(f));
}

/** Arbitrary header names: the ones the handlers read, well-known ones, and junk. */
export const headerName = fc.oneof(
  fc.constantFrom(
    'content-type',
    'Content-Type',
    'x-github-event',
    'X-GitHub-Event',
    'x-github-delivery',
    'x-hub-signature-256',
    'X-Hub-Signature-256',
    'x-hub-signature',
    'x-slack-signature',
    'x-slack-request-timestamp',
    'cookie',
    'content-length',
    'user-agent',
  ),
  fc.string({ minLength: 1, maxLength: 20 }),
);

/** Header values: printable junk, unicode, and long values. */
export const headerValue = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 200 }),
);

/** Arbitrary bodies: raw bytes, text, JSON text, and JSON shapes. */
export const bodyBytes: fc.Arbitrary<Buffer> = fc.oneof(
  fc.uint8Array({ maxLength: 512 }).map((a) => Buffer.from(a)),
  fc.string({ unit: 'binary', maxLength: 256 }).map((s) => Buffer.from(s, 'utf8')),
  fc.json({ maxDepth: 4 }).map((s) => Buffer.from(s, 'utf8')),
  fc.constant(Buffer.alloc(0)),
);

const STORE_WRITES = new Set([
  'recordDelivery',
  'createDeployment',
  'transition',
  'update',
  'appendAudit',
  'acquireLock',
  'renewLock',
  'releaseLock',
  'putItem',
  'updateItem',
  'deleteItem',
]);

/**
 * Wraps a store (the real DynamoDB one, or the memory one) so every write call is counted: "a forged
 * request writes nothing" is then checked on the port itself, whatever the write would have been.
 */
export function countingWrites<S extends object>(
  store: S,
): { store: S; writes: () => number; calls: string[] } {
  const calls: string[] = [];
  const proxy = new Proxy(store, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        if (typeof prop === 'string' && STORE_WRITES.has(prop)) calls.push(prop);
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { store: proxy, writes: () => calls.length, calls };
}
