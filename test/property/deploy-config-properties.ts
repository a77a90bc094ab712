import { readFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { parseDocument, stringify } from 'yaml';
import { DeployConfigError, parseDeployConfig } from '../../lib/deploy/deploy-config';
import { checkProperty, type PropertyOptions, type PropertyReport } from './harness';

const VALID = readFileSync(path.join(__dirname, '../fixtures/intake/deploy.yaml'), 'utf8');
const VALID_JS = parseDocument(VALID).toJS() as Record<string, unknown>;

/** A parse slower than this counts as a hang (the parser is synchronous: it cannot be interrupted). */
export const HANG_MS = 2000;

/** Characters YAML gives meaning to, and enough letters to form keys. */
const yamlChar = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...': -[]{}&*!|>\'"%@`#,?\n\n\t~=<.'.split('')) },
  { weight: 3, arbitrary: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789'.split('')) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }) },
);
const yamlishText = fc.string({ unit: yamlChar, maxLength: 300 });

/** Lines built from the valid file's own keys, shuffled and re-indented. */
const KEYS = [
  'apiVersion: helmgate/v1',
  'environments:',
  'staging:',
  'production:',
  'approval: none',
  'approval: required',
  'after: staging',
  'cluster: { secret: test/x }',
  'releases:',
  '- name: hello',
  'namespace: hello',
  'chart: ./charts/hello',
  'values: [values/hello.yaml]',
  'needs: [hello]',
  'timeout: 5m',
  'defaults:',
  'secrets:',
  '- &a [1, 2]',
  '- *a',
  '<<: *a',
];
const lineSoup = fc
  .array(fc.tuple(fc.integer({ min: 0, max: 8 }), fc.constantFrom(...KEYS)), { maxLength: 30 })
  .map((lines) => lines.map(([indent, l]) => `${' '.repeat(indent)}${l}`).join('\n'));

/** Exponential alias expansion ("billion laughs"): each level doubles the previous one. */
const aliasBomb = fc.integer({ min: 1, max: 40 }).map((depth) => {
  const lines = ['l0: &l0 [x, x, x, x, x, x, x, x, x, x]'];
  for (let i = 1; i <= depth; i++)
    lines.push(`l${i}: &l${i} [${Array.from({ length: 10 }, () => `*l${i - 1}`).join(', ')}]`);
  return lines.join('\n');
});

function setPath(target: unknown, keys: readonly (string | number)[], value: unknown): void {
  let cur = target;
  for (const k of keys.slice(0, -1)) {
    if (typeof cur !== 'object' || cur === null) return;
    cur = (cur as Record<string | number, unknown>)[k];
  }
  if (typeof cur === 'object' && cur !== null)
    (cur as Record<string | number, unknown>)[keys.at(-1) as string | number] = value;
}

const CONFIG_PATHS: ReadonlyArray<ReadonlyArray<string | number>> = [
  ['apiVersion'],
  ['environments'],
  ['environments', 'staging'],
  ['environments', 'staging', 'approval'],
  ['environments', 'staging', 'releases'],
  ['environments', 'staging', 'releases', 0],
  ['environments', 'staging', 'releases', 0, 'name'],
  ['environments', 'staging', 'releases', 0, 'chart'],
  ['environments', 'staging', 'releases', 0, 'values'],
  ['environments', 'staging', 'releases', 0, 'needs'],
  ['environments', 'staging', 'releases', 0, 'timeout'],
  ['environments', 'staging', 'releases', 0, 'namespace'],
  ['environments', 'production', 'after'],
  ['environments', 'production', 'cluster'],
  ['environments', 'production', 'releases', 0, 'secrets'],
  ['environments', 'x'],
  ['defaults'],
  ['extra'],
];

/** The valid config with some parts replaced by arbitrary JSON (or by its own other parts). */
const mutatedConfig = fc
  .array(
    fc.tuple(
      fc.constantFrom(...CONFIG_PATHS),
      fc.oneof(
        fc.jsonValue({ maxDepth: 3 }),
        fc.constantFrom(
          'staging',
          'production',
          'hello',
          './charts/hello',
          '../../etc',
          '4.4',
          4.4,
          null,
          [],
          {},
        ),
      ),
    ),
    { minLength: 1, maxLength: 4 },
  )
  .map((changes) => {
    const doc = structuredClone(VALID_JS);
    for (const [keys, value] of changes) setPath(doc, keys, value);
    return stringify(doc);
  });

const anyJsonAsYaml = fc.jsonValue({ maxDepth: 5 }).map((v) => stringify(v));

export const deployConfigInput = fc.oneof(
  { weight: 3, arbitrary: mutatedConfig },
  { weight: 2, arbitrary: anyJsonAsYaml },
  { weight: 2, arbitrary: yamlishText },
  { weight: 2, arbitrary: lineSoup },
  { weight: 1, arbitrary: aliasBomb },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 200 }) },
);

/**
 * parseDeployConfig on arbitrary text: it returns a config or throws DeployConfigError (with at
 * least one issue), never another error type, and never takes longer than HANG_MS.
 */
export async function deployConfigProperties(opts: PropertyOptions): Promise<PropertyReport[]> {
  const report = await checkProperty(
    'parseDeployConfig: arbitrary YAML-ish text and JSON shapes',
    deployConfigInput,
    async (text) => {
      const v: string[] = [];
      const started = performance.now();
      try {
        const config = parseDeployConfig(text);
        if (typeof config !== 'object' || config === null || typeof config.environments !== 'object')
          v.push('returned something that is not a config');
      } catch (e) {
        if (!(e instanceof DeployConfigError))
          v.push(`threw ${e instanceof Error ? `${e.constructor.name}: ${e.message}` : String(e)}`);
        else if (e.issues.length === 0) v.push('DeployConfigError without issues');
      }
      const ms = performance.now() - started;
      if (ms > HANG_MS) v.push(`took ${ms.toFixed(0)} ms`);
      return v;
    },
    opts,
  );
  return [report];
}
