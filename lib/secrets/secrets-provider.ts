import type { Clock } from '../clock';
import { HelmgateError } from '../errors';
import type { Redactor } from '../log/redact';

/** A reference to one value: a Secrets Manager secret id and, for JSON secrets, a key inside it. */
export interface SecretRef {
  secret: string;
  key?: string;
}

/** Port: where secret strings come from (Secrets Manager in AWS, a local JSON file locally). */
export interface SecretsProvider {
  /** The secret's string, or undefined when it does not exist. */
  getSecretString(id: string): Promise<string | undefined>;
}

export class SecretMissingError extends HelmgateError {
  override name = 'SecretMissingError';
  readonly refs: string[];
  constructor(refs: string[]) {
    super('secret_missing', `missing or empty secrets: ${refs.join(', ')}`);
    this.refs = refs;
  }
}

export function describeRef(ref: SecretRef): string {
  return ref.key === undefined ? ref.secret : `${ref.secret}#${ref.key}`;
}

/**
 * Resolves refs through a provider, caching per instance, registering every value with the redactor
 * before anyone else sees it. An instance that outlives an invocation (an HTTP function's, built once
 * per container) is given `maxAge`: a secret is fetched again once its copy is older, so a rotated or
 * revoked value (an API token, a webhook secret) stops working without a redeploy. Old values stay
 * registered with the redactor.
 */
export class SecretResolver {
  private readonly cache = new Map<string, { value: Promise<string | undefined>; at: number }>();
  constructor(
    private readonly provider: SecretsProvider,
    private readonly redactor: Redactor,
    private readonly maxAge?: { ms: number; clock: Clock },
  ) {}

  private raw(id: string): Promise<string | undefined> {
    const now = this.maxAge ? this.maxAge.clock.now().getTime() : 0;
    const hit = this.cache.get(id);
    if (hit && (!this.maxAge || now - hit.at <= this.maxAge.ms)) return hit.value;
    const value = this.provider.getSecretString(id).then((v) => {
      if (v !== undefined) this.redactor.registerSecret(v);
      return v;
    });
    const entry = { value, at: now };
    value.catch(() => {
      if (this.cache.get(id) === entry) this.cache.delete(id);
    });
    this.cache.set(id, entry);
    return value;
  }

  /**
   * Registers text derived from a fetched secret (a kubeconfig built from a cluster secret) with the
   * redactor, so it is masked wherever it might appear.
   */
  registerDerived(value: string, opts: { lines?: boolean } = {}): void {
    this.redactor.register(value, opts);
  }

  /** The value, or undefined when the secret or its key is missing or empty. */
  async tryResolve(ref: SecretRef): Promise<string | undefined> {
    const raw = await this.raw(ref.secret);
    if (raw === undefined) return undefined;
    let value: unknown = raw;
    if (ref.key !== undefined) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(raw);
      } catch {
        return undefined;
      }
      // own fields only: `constructor` or `toString` must not resolve to something inherited
      value =
        parsed && typeof parsed === 'object' && !Array.isArray(parsed) && Object.hasOwn(parsed, ref.key)
          ? (parsed as Record<string, unknown>)[ref.key]
          : undefined;
    }
    if (typeof value === 'number' || typeof value === 'boolean') value = String(value);
    if (typeof value !== 'string' || value.trim() === '') return undefined;
    this.redactor.register(value);
    return value;
  }

  async resolve(ref: SecretRef): Promise<string> {
    const v = await this.tryResolve(ref);
    if (v === undefined) throw new SecretMissingError([describeRef(ref)]);
    return v;
  }

  /** Pre-flight: every ref exists and is non-empty, or one error naming all that are not. */
  async preflight(refs: SecretRef[]): Promise<void> {
    const missing: string[] = [];
    for (const ref of refs) if ((await this.tryResolve(ref)) === undefined) missing.push(describeRef(ref));
    if (missing.length > 0) throw new SecretMissingError([...new Set(missing)]);
  }
}

/** Webhook secrets: a plain string, or JSON {"secrets": [...]} holding current and previous (rotation). */
export function parseSecretList(raw: string | undefined): string[] {
  if (raw === undefined || raw.trim() === '') return [];
  try {
    const parsed = JSON.parse(raw) as unknown;
    if (parsed && typeof parsed === 'object' && Array.isArray((parsed as { secrets?: unknown }).secrets)) {
      return (parsed as { secrets: unknown[] }).secrets.filter(
        (s): s is string => typeof s === 'string' && s !== '',
      );
    }
  } catch {
    // not JSON: the string itself is the secret
  }
  return [raw];
}
