/**
 * The redactor knows every secret value helmgate has fetched, with the forms in which it can leak:
 * raw, base64 (Kubernetes Secret data, basic auth), base64url and JSON-escaped. It sits at every sink:
 * logs, stored helm output, error tails, notifications.
 */
const MASK = '***';
const MIN_LENGTH = 4; // shorter values would mask ordinary words; such secrets are rejected by pre-flight anyway

export class Redactor {
  private readonly forms = new Set<string>();
  private pattern: RegExp | undefined;

  /**
   * A fetched secret and what derives from it: the whole string, and when it is JSON, every string (and
   * number) leaf at any depth on its own — a token inside a JSON cluster secret leaks alone, not as the
   * whole document (issue 12).
   */
  registerSecret(value: string): void {
    this.register(value);
    const text = value.trim();
    if (!text.startsWith('{') && !text.startsWith('[')) return;
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch {
      return;
    }
    const walk = (v: unknown, depth: number): void => {
      if (depth > 32) return;
      if (typeof v === 'string') this.register(v);
      else if (typeof v === 'number' && Number.isFinite(v)) this.register(String(v));
      else if (Array.isArray(v)) for (const x of v) walk(x, depth + 1);
      else if (v && typeof v === 'object') for (const x of Object.values(v)) walk(x, depth + 1);
    };
    walk(doc, 0);
  }

  /**
   * `lines: false` registers a multi-line value only as a whole (a generated kubeconfig: its lines like
   * `apiVersion: v1` are not secret; its secret fields are registered on their own by the caller).
   */
  register(value: string, opts: { lines?: boolean } = {}): void {
    if (value.length < MIN_LENGTH) return;
    const before = this.forms.size;
    const b64 = Buffer.from(value, 'utf8').toString('base64');
    for (const form of [
      value,
      b64,
      b64.replace(/=+$/, ''),
      Buffer.from(value, 'utf8').toString('base64url'),
      JSON.stringify(value).slice(1, -1),
      encodeURIComponent(value),
    ]) {
      if (form.length >= MIN_LENGTH) this.forms.add(form);
    }
    // multi-line values (PEM keys, kubeconfigs) also leak line by line
    if (opts.lines !== false)
      for (const line of value.split(/\r?\n/)) if (line.trim().length >= 8) this.forms.add(line.trim());
    if (this.forms.size !== before) this.pattern = undefined;
  }

  get size(): number {
    return this.forms.size;
  }

  redact(text: string): string {
    if (this.forms.size === 0 || text.length === 0) return text;
    if (!this.pattern) {
      const sorted = [...this.forms].sort((a, b) => b.length - a.length).map(escapeRegExp);
      this.pattern = new RegExp(sorted.join('|'), 'g');
    }
    return text.replace(this.pattern, MASK);
  }

  /** Deep-redacts strings inside a JSON-like value. */
  redactValue<T>(value: T): T {
    if (this.forms.size === 0) return value;
    return JSON.parse(this.redact(JSON.stringify(value))) as T;
  }
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
