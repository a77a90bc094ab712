import { createHash } from 'node:crypto';
import { escapeHtml } from './html';

/** Where the one stylesheet is served; every page links it (no inline styles, so CSP needs no nonce for CSS). */
export const STYLESHEET_PATH = '/assets/helmgate.css';

/**
 * The one stylesheet of every human page (approval page and dashboard). System fonts only, no external
 * assets; light and dark through `prefers-color-scheme`; readable on a phone (one column below 40rem).
 * Charts are inline SVG that take their colours from the classes below, so they follow the scheme too.
 */
export const STYLESHEET = `:root{color-scheme:light dark;--bg:#ffffff;--fg:#1b1f24;--muted:#57606a;--border:#d0d7de;--panel:#f6f8fa;
--link:#0550ae;--ok:#116329;--ok-bg:#dafbe1;--bad:#a40e26;--bad-bg:#ffebe9;--warn:#7d4e00;--warn-bg:#fff8c5;--run:#0550ae;--run-bg:#ddf4ff;
--c1:#0969da;--c2:#cf222e;--c3:#1a7f37;--c4:#8250df;--focus:#0969da}
@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--fg:#e6edf3;--muted:#9198a1;--border:#3d444d;--panel:#161b22;
--link:#4493f8;--ok:#3fb950;--ok-bg:#12261e;--bad:#f85149;--bad-bg:#25171c;--warn:#d29922;--warn-bg:#272115;--run:#58a6ff;--run-bg:#121d2f;
--c1:#58a6ff;--c2:#f85149;--c3:#3fb950;--c4:#bc8cff;--focus:#58a6ff}}
*{box-sizing:border-box}
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;background:var(--bg);color:var(--fg)}
a{color:var(--link)}a:focus-visible,button:focus-visible,input:focus-visible,select:focus-visible,summary:focus-visible{outline:2px solid var(--focus);outline-offset:2px}
.skip{position:absolute;left:-999px}.skip:focus{left:.5rem;top:.5rem;background:var(--bg);padding:.3rem .6rem;z-index:2}
header.top{display:flex;flex-wrap:wrap;gap:.4rem 1.2rem;align-items:center;padding:.6rem 1rem;border-bottom:1px solid var(--border);background:var(--panel)}
header.top .brand{font-weight:700;text-decoration:none;color:var(--fg)}
header.top nav ul{display:flex;flex-wrap:wrap;gap:.2rem 1rem;list-style:none;margin:0;padding:0}
header.top nav a[aria-current=page]{font-weight:700;text-decoration:none;color:var(--fg)}
header.top .who{margin-left:auto;color:var(--muted)}
main{max-width:72rem;margin:0 auto;padding:1rem}
h1{font-size:1.4rem;margin:.4rem 0 1rem}h2{font-size:1.15rem;margin:1.4rem 0 .6rem}h3{font-size:1rem;margin:.8rem 0 .4rem}h4{font-size:.95rem;margin:.8rem 0 .2rem}
code,pre{font:13px ui-monospace,SFMono-Regular,Menlo,monospace}
pre{background:var(--panel);border:1px solid var(--border);padding:.6rem;overflow:auto;border-radius:6px;white-space:pre-wrap;word-break:break-word}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem;margin:.4rem 0}dt{font-weight:600}dd{margin:0;min-width:0;overflow-wrap:anywhere}
.muted{color:var(--muted)}
.state{padding:.7rem 1rem;border-radius:6px;background:var(--warn-bg);margin:1rem 0}.refused{background:var(--bad-bg)}.ok{background:var(--ok-bg)}
.table-wrap{overflow-x:auto}.chart-row .table-wrap{max-height:17rem;overflow-y:auto}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid var(--border);padding:.3rem .6rem;text-align:left;vertical-align:top}
th{font-weight:600}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
caption{text-align:left;font-weight:600;padding:.3rem 0}
.del{color:var(--bad)}.add{color:var(--ok)}
button,.button{font:inherit;font-size:1rem;padding:.35rem 1.1rem;margin:.2rem .6rem .2rem 0;border-radius:6px;border:1px solid var(--border);background:var(--panel);color:var(--fg);cursor:pointer}
button.primary{background:var(--ok);border-color:var(--ok);color:#fff}button.danger{color:var(--bad);border-color:var(--bad)}
@media (prefers-color-scheme:dark){button.primary{color:#0d1117}}
form{display:inline}form.filters{display:flex;flex-wrap:wrap;gap:.6rem 1rem;align-items:end;margin:0 0 1rem}
form.filters label{display:flex;flex-direction:column;font-size:.85rem;color:var(--muted)}
input,select{font:inherit;padding:.3rem .4rem;border:1px solid var(--border);border-radius:6px;background:var(--bg);color:var(--fg)}
.badge{display:inline-block;padding:0 .5rem;border-radius:1rem;font-size:.8rem;font-weight:600;border:1px solid currentColor;white-space:nowrap}
.s-succeeded,.s-rendered{color:var(--ok)}.s-failed,.s-rejected{color:var(--bad)}.s-awaiting_approval,.s-expired{color:var(--warn)}
.s-drifted{color:var(--warn)}.drift table{table-layout:fixed;width:100%}.drift th,.drift td{padding:2px 6px;text-align:left}.drift th.path{font-weight:normal;padding-top:8px;overflow-wrap:anywhere}ul.drift-releases{list-style:none;padding:0}.drift td,.drift caption{overflow-wrap:anywhere;text-align:left}.s-running,.s-queued{color:var(--run)}.s-superseded,.s-pending,.s-skipped,.s-cancelled{color:var(--muted)}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(22rem,1fr));gap:1rem}
.card{border:1px solid var(--border);border-radius:8px;padding:.8rem 1rem;background:var(--bg);min-width:0}
.card h2{margin:0 0 .5rem;display:flex;gap:.6rem;align-items:baseline;flex-wrap:wrap}
.card h3{font-size:.8rem;text-transform:uppercase;letter-spacing:.04em;color:var(--muted);margin:.9rem 0 .3rem}
.card section{border-top:1px solid var(--border);margin-top:.6rem}.card section:first-of-type{border-top:0;margin-top:0}
.wait{background:var(--warn-bg);border-radius:6px;padding:.5rem .7rem;margin:.4rem 0}
.fail{background:var(--bad-bg);border-radius:6px;padding:.5rem .7rem;margin:.4rem 0}
.run{background:var(--run-bg);border-radius:6px;padding:.5rem .7rem;margin:.4rem 0}
progress{width:100%;height:.6rem;accent-color:var(--run)}
ul.releases{list-style:none;padding:0;margin:.3rem 0}ul.releases li{display:flex;justify-content:space-between;gap:.6rem;flex-wrap:wrap}
ol.timeline{list-style:none;padding:0;margin:0;border-left:2px solid var(--border)}
ol.timeline li{position:relative;padding:.2rem 0 .6rem 1rem}
ol.timeline li::before{content:"";position:absolute;left:-.4rem;top:.55rem;width:.6rem;height:.6rem;border-radius:50%;background:var(--muted)}
ol.timeline li.t-ok::before{background:var(--ok)}ol.timeline li.t-bad::before{background:var(--bad)}ol.timeline li.t-wait::before{background:var(--warn)}
.pager{display:flex;gap:1rem;margin:1rem 0}
.chart-row{display:grid;grid-template-columns:minmax(0,3fr) minmax(14rem,2fr);gap:1rem;align-items:start;margin:0 0 1.5rem}
figure{margin:0}figcaption{font-weight:600;margin:.2rem 0}
svg.chart{width:100%;height:auto;max-height:16rem;display:block}
svg.chart .axis{stroke:var(--border);stroke-width:1}svg.chart text{fill:var(--muted);font:11px system-ui,sans-serif}
svg.chart .grid{stroke:var(--border);stroke-dasharray:2 3}
svg.chart .c1{fill:var(--c1);stroke:var(--c1)}svg.chart .c2{fill:var(--c2);stroke:var(--c2)}svg.chart .c3{fill:var(--c3);stroke:var(--c3)}svg.chart .c4{fill:var(--c4);stroke:var(--c4)}
svg.chart path.line{fill:none;stroke-width:2}
.legend{display:flex;flex-wrap:wrap;gap:.2rem 1rem;font-size:.85rem;margin:.2rem 0;padding:0;list-style:none}
.legend .key{display:inline-block;width:.8rem;height:.8rem;border-radius:2px;margin-right:.3rem;vertical-align:-1px}
.legend .c1{background:var(--c1)}.legend .c2{background:var(--c2)}.legend .c3{background:var(--c3)}.legend .c4{background:var(--c4)}
.figures{display:grid;grid-template-columns:repeat(auto-fill,minmax(11rem,1fr));gap:.6rem;margin:.6rem 0 1rem;padding:0;list-style:none}
.figures li{border:1px solid var(--border);border-radius:8px;padding:.5rem .7rem}.figures .value{font-size:1.3rem;font-weight:700;display:block}
.periods{display:flex;gap:.8rem;flex-wrap:wrap;margin:0 0 1rem}
form.action{display:block;margin:.4rem 0}form.override label{display:block;margin:.4rem 0 .2rem}
textarea{font:inherit;width:100%;max-width:40rem;display:block;padding:.4rem;margin:0 0 .5rem;border:1px solid var(--border);border-radius:6px;background:var(--bg);color:var(--fg)}
ul.override-votes{padding-left:1.2rem}ul.override-votes li{margin:.2rem 0}section.wait>h2:first-child{margin-top:.3rem}
@media (max-width:40rem){.chart-row{grid-template-columns:1fr}.cards{grid-template-columns:1fr}dl{grid-template-columns:1fr}dt{margin-top:.3rem}main{padding:.6rem}}
`;

/** The stylesheet's hash: a cache-busting query on the link, so a changed stylesheet is fetched again. */
export const STYLESHEET_VERSION = createHash('sha256').update(STYLESHEET).digest('hex').slice(0, 12);

export interface NavItem {
  href: string;
  label: string;
}

export const DASHBOARD_NAV: readonly NavItem[] = [
  { href: '/', label: 'Overview' },
  { href: '/deployments', label: 'History' },
  { href: '/metrics', label: 'Delivery metrics' },
];

export interface LayoutInput {
  title: string;
  body: string;
  /** the nav entry to mark as current (its href) */
  current?: string;
  /** who is logged in, shown top right */
  login?: string;
  /** navigation; the approval page (reached by a link with a token) shows none */
  nav?: readonly NavItem[];
  /** the one small script, if the page has one; it runs only with this nonce (see the CSP) */
  script?: { nonce: string; source: string };
}

/** The one layout of every human page: skip link, header with navigation, main, one stylesheet. */
export function renderLayout(input: LayoutInput): string {
  const nav = input.nav?.length
    ? `<nav aria-label="Main"><ul>${input.nav
        .map(
          (n) =>
            `<li><a href="${escapeHtml(n.href)}"${n.href === input.current ? ' aria-current="page"' : ''}>${escapeHtml(n.label)}</a></li>`,
        )
        .join('')}</ul></nav>`
    : '';
  const who = input.login
    ? `<span class="who">Logged in as <strong>${escapeHtml(input.login)}</strong></span>`
    : '';
  const script = input.script
    ? `\n<script nonce="${escapeHtml(input.script.nonce)}">${input.script.source.replace(/<\//g, '<\\/')}</script>`
    : '';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<meta name="color-scheme" content="light dark">
<title>${escapeHtml(input.title)}</title>
<link rel="stylesheet" href="${STYLESHEET_PATH}?v=${STYLESHEET_VERSION}">
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="top"><a class="brand" href="/">helmgate</a>${nav}${who}</header>
<main id="main">
${input.body}
</main>${script}
</body>
</html>
`;
}

/**
 * Headers for every human page: styles only from our stylesheet, scripts only with this response's
 * nonce (none without one), fetches and forms only to us, never framed, no Referer (approval page
 * URLs carry a token).
 */
export function pageHeaders(nonce?: string): Record<string, string> {
  const script = nonce ? `script-src 'nonce-${nonce}'; connect-src 'self'; ` : '';
  return {
    'content-security-policy': `default-src 'none'; style-src 'self'; img-src 'self'; ${script}form-action 'self'; frame-ancestors 'none'; base-uri 'none'`,
    'x-frame-options': 'DENY',
    'referrer-policy': 'no-referrer',
    'x-content-type-options': 'nosniff',
  };
}
