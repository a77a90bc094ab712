import { readFile } from 'node:fs/promises';
import { HelmgateError } from '../errors';
import type { SecretsProvider } from './secrets-provider';

/**
 * Local secrets: a JSON file `{ "<secret id>": "string" | { ...json secret } }`, read on each call so
 * edits apply without a restart. Used by the local stack only.
 */
export class FileSecretsProvider implements SecretsProvider {
  constructor(private readonly file: string) {}

  async getSecretString(id: string): Promise<string | undefined> {
    let doc: Record<string, unknown>;
    try {
      doc = JSON.parse(await readFile(this.file, 'utf8')) as Record<string, unknown>;
    } catch (e) {
      throw new HelmgateError('invalid_config', `secrets file ${this.file} is unreadable or not JSON`, {
        cause: e,
      });
    }
    // own entries only: an id like `__proto__` or `constructor` names no secret
    const v = doc && typeof doc === 'object' && Object.hasOwn(doc, id) ? doc[id] : undefined;
    if (v === undefined || v === null) return undefined;
    return typeof v === 'string' ? v : JSON.stringify(v);
  }
}
