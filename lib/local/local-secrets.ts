import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseApiTokens } from '../auth/read-access';
import { parseDeployConfig } from '../deploy/deploy-config';
import { planEnvironment } from '../deploy/plan';
import { cryptoRandom, type Random } from '../random';
import { directorySourceReader } from '../runner/source-reader';
import type { SecretRef } from '../secrets/secrets-provider';

/** Secret ids the local stack needs, created with random values on first start. */
export const LOCAL_SECRET_DEFAULTS = {
  'helmgate/github-webhook': (random: Random) => random.bytes(32).toString('hex'),
  'helmgate/approval-signing-key': (random: Random) => random.bytes(32).toString('hex'),
  // keys the runner's digests of secret content (issue 12)
  'helmgate/digest-key': (random: Random) => random.bytes(32).toString('hex'),
  // the read API's bearer token (GET /deployments…): `npm run push` reads it from here
  'helmgate/api-tokens': (random: Random) => random.bytes(32).toString('base64url'),
} as const;

/**
 * Creates the secrets file (mode 0600) if it does not exist; returns true when it did. An existing file
 * gets the defaults it lacks (a key added in a later version, e.g. the API token), its other entries
 * untouched.
 */
export function ensureSecretsFile(file: string, random: Random = cryptoRandom): boolean {
  if (existsSync(file)) {
    let doc: Record<string, unknown>;
    try {
      doc = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    } catch {
      return false; // reported by the provider when it reads the file
    }
    const missing = Object.keys(LOCAL_SECRET_DEFAULTS).filter((k) => !Object.hasOwn(doc, k));
    if (missing.length === 0) return false;
    for (const k of missing) doc[k] = LOCAL_SECRET_DEFAULTS[k as keyof typeof LOCAL_SECRET_DEFAULTS](random);
    writeFileSync(file, `${JSON.stringify(doc, null, 2)}\n`, { mode: 0o600 });
    chmodSync(file, 0o600);
    return false;
  }
  mkdirSync(path.dirname(file), { recursive: true });
  const doc: Record<string, string> = {};
  for (const [k, make] of Object.entries(LOCAL_SECRET_DEFAULTS)) doc[k] = make(random);
  writeFileSync(file, `${JSON.stringify(doc, null, 2)}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return true;
}

/** The first API token in a local secrets file (what `npm run push` sends as Bearer). */
export function localApiToken(file: string): string | undefined {
  try {
    const raw = (JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>)['helmgate/api-tokens'];
    return parseApiTokens(typeof raw === 'string' ? raw : JSON.stringify(raw))[0];
  } catch {
    return undefined;
  }
}

/**
 * Render-only convenience: every secret the working tree's deploy config references that the secrets
 * file lacks gets a random local placeholder (a JSON object when the reference names a key), so a first
 * `npm start` + `npm run push` renders instead of stopping at the pre-flight. Never used with a cluster.
 * Returns the references it added.
 */
export async function addLocalPlaceholders(
  file: string,
  repoDir: string,
  deployConfigPath = 'deploy.yaml',
  random: Random = cryptoRandom,
): Promise<string[]> {
  const reader = directorySourceReader(repoDir);
  const text = await reader.readFile(deployConfigPath);
  if (text === undefined) return [];
  let refs: SecretRef[] = [];
  try {
    const config = parseDeployConfig(text, deployConfigPath);
    for (const environment of Object.keys(config.environments)) {
      const plan = await planEnvironment({ config, environment, sha: 'working-tree', source: reader });
      refs = refs.concat(plan.secretRefs);
    }
  } catch {
    return []; // an invalid config is reported by the push that deploys it
  }
  const doc = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  const added: string[] = [];
  for (const ref of refs) {
    const value = random.bytes(24).toString('base64url');
    const current = doc[ref.secret];
    if (ref.key === undefined) {
      if (current === undefined || current === '') {
        doc[ref.secret] = value;
        added.push(ref.secret);
      }
    } else {
      const obj = (typeof current === 'object' && current !== null ? current : {}) as Record<string, unknown>;
      if (typeof current === 'string' && current !== '') continue; // a string secret: leave it as written
      if (obj[ref.key] === undefined || obj[ref.key] === '') {
        obj[ref.key] = value;
        doc[ref.secret] = obj;
        added.push(`${ref.secret}#${ref.key}`);
      }
    }
  }
  if (added.length > 0) writeFileSync(file, `${JSON.stringify(doc, null, 2)}\n`, { mode: 0o600 });
  return added;
}
