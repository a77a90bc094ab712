/** What a browser does in GitHub's App-manifest flow, reduced to the requests (no JavaScript needed). */

const unescapeHtml = (s: string) =>
  s
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');

/** Loads the loopback page, submits its form to GitHub (the stand-in) and stops at GitHub's redirect. */
export async function submitManifestPage(startUrl: string) {
  const pageRes = await fetch(startUrl);
  const html = await pageRes.text();
  const action = unescapeHtml(/<form[^>]*action="([^"]*)"/.exec(html)?.[1] ?? '');
  const manifest = unescapeHtml(/name="manifest" value="([^"]*)"/.exec(html)?.[1] ?? '');
  const posted = await fetch(action, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ manifest }).toString(),
    redirect: 'manual',
  });
  return {
    pageRes,
    html,
    action: new URL(action),
    manifest: JSON.parse(manifest),
    posted,
    location: posted.headers.get('location') ?? '',
  };
}

/** GET without following redirects: status and body text. */
export async function visit(url: string) {
  const res = await fetch(url, { redirect: 'manual' });
  return { status: res.status, text: await res.text() };
}

/** A browser that does the whole round trip, as a person clicking "Create GitHub App" would; returns the pages it saw. */
export function roundTripBrowser(pages: string[] = [], opened: string[] = []) {
  return async (url: string) => {
    opened.push(url);
    const sent = await submitManifestPage(url);
    pages.push(sent.html);
    const back = await visit(sent.location);
    pages.push(back.text);
  };
}
