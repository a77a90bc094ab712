/** A browser, reduced to what matters here: a cookie jar and manual redirects. */
export class Browser {
  readonly jar = new Map<string, string>();
  constructor(private readonly base: string) {}
  async get(url: string) {
    return this.send(url, { method: 'GET' });
  }
  async post(url: string, form: Record<string, string>) {
    return this.send(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(form).toString(),
    });
  }
  async send(url: string, init: RequestInit) {
    const u = new URL(url, this.base);
    const headers = new Headers(init.headers);
    if (u.origin === this.base && this.jar.size)
      headers.set('cookie', [...this.jar].map(([k, v]) => `${k}=${v}`).join('; '));
    const res = await fetch(u, { ...init, headers, redirect: 'manual' });
    if (u.origin === this.base)
      for (const c of res.headers.getSetCookie()) {
        const [pair] = c.split(';');
        const [k, v] = (pair as string).split('=');
        if (v === '' || /max-age=0/i.test(c)) this.jar.delete(k as string);
        else this.jar.set(k as string, v as string);
      }
    return { res, text: await res.text(), location: res.headers.get('location') ?? undefined };
  }
  /** follows redirects across the app and the GitHub stand-in */
  async follow(url: string) {
    let r = await this.get(url);
    for (let i = 0; i < 5 && r.location; i++) r = await this.get(new URL(r.location, this.base).toString());
    return r;
  }
}

export function field(html: string, name: string): string {
  const m = new RegExp(`name="${name}" value="([^"]*)"`).exec(html);
  if (!m) throw new Error(`no ${name} field`);
  return (m[1] as string).replace(/&amp;/g, '&');
}
