import { type Browser, chromium } from 'playwright-core';
import { cryptoRandom } from '../../lib/random';
import type { SecretWriter } from '../../lib/setup/github-app';
import { createGithubAppViaManifest } from '../../lib/setup/github-app';
import { GithubApiStandIn } from '../stand-ins/github-api';

/**
 * `helmgate setup github` in a real browser (Debian's chromium, playwright-core): the loopback page's
 * script (allowed by its CSP nonce) submits the manifest to GitHub (the stand-in, which answers as if
 * "Create GitHub App" was clicked), GitHub's redirect reaches the loopback callback (allowed by the
 * page's form-action), and the browser ends on the success page with the install link.
 */
const CHROMIUM = process.env.HELMGATE_CHROMIUM ?? '/usr/bin/chromium';

let browser: Browser;
let gh: GithubApiStandIn;

beforeAll(async () => {
  gh = await new GithubApiStandIn().start();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await gh?.close();
});

test('the page submits itself to GitHub and the browser lands on the success page; the credentials are stored, not shown', async () => {
  const stored = new Map<string, string>();
  const secrets: SecretWriter = {
    putSecret: async (name, value) => {
      stored.set(name, value);
      return 'created';
    },
  };
  const page = await browser.newPage();
  const cspErrors: string[] = [];
  page.on('console', (m) => {
    if (/Content Security Policy/i.test(m.text())) cspErrors.push(m.text());
  });
  let landed: Promise<unknown> = Promise.resolve();
  const created = await createGithubAppViaManifest(
    {
      secrets,
      githubWebUrl: gh.url,
      githubApiUrl: gh.url,
      openBrowser: async (url) => {
        landed = page.goto(url);
      },
      print: () => {},
      random: cryptoRandom,
    },
    { stage: 'browser', publicUrl: 'https://hooks.example.org', timeoutMs: 30_000 },
  );
  await landed;
  await page.waitForSelector('h1');
  expect(await page.textContent('h1')).toBe('GitHub App created');
  expect(await page.getAttribute('a', 'href')).toBe(created.installUrl);
  expect(new URL(page.url()).pathname).toBe('/callback');
  expect(cspErrors).toEqual([]);
  const app = [...gh.manifestApps.values()][0];
  expect(JSON.parse(stored.get('helmgate/github-app') ?? '{}').privateKey).toBe(app?.pem);
  const html = await page.content();
  for (const s of [app?.client_secret, app?.webhook_secret]) expect(html).not.toContain(s);
  await page.close();
}, 60_000);
