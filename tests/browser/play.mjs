// Plays a running punktfunk host in headless Chromium through its own browser client
// (web/play.html): signs in to the console, opens the play page, and lets it stream. Started by
// crates/punktfunk-e2e/tests/browser_play.rs, which runs the host with a coloured window on the
// display the page's session gets.
//
// Environment:
//   PF_CONSOLE_URL  https://127.0.0.1:PORT/ (the host's self-signed certificate is accepted)
//   PF_ADMIN_TOKEN  the host's admin token: sets the console password, as an operator would
//   PF_CHROMIUM     Chromium executable (default /usr/bin/chromium)
//   PF_ARTIFACTS    directory for the screenshot (play.png)
//   PF_MODE         the mode the page asks for (default 1280x720@60)
//   PF_SECONDS      how long to stream (default 10)
// Talks with the test on stdin/stdout while it streams: prints `STREAMING` once frames decode;
// on a stdin line `PIXEL` prints `PIXEL r,g,b` (the canvas centre); on `INPUT` types "hello" and
// clicks at (320, 180) of the page — the host's display at 1280×720 — then prints `INPUT-SENT`.
// At the end prints one JSON line: the page's statistics.

import { chromium } from 'playwright-core';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';

const must = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const url = must('PF_CONSOLE_URL');
const token = must('PF_ADMIN_TOKEN');
const artifacts = must('PF_ARTIFACTS');
const executablePath = process.env.PF_CHROMIUM || '/usr/bin/chromium';
const mode = process.env.PF_MODE || '1280x720@60';
const seconds = Number(process.env.PF_SECONDS || 10);
const origin = new URL(url).origin;
const log = (text) => process.stderr.write(`play-test: ${text}\n`);

async function main() {
  await mkdir(artifacts, { recursive: true });
  const browser = await chromium.launch({ executablePath, headless: true });
  const problems = [];
  try {
    const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 720 } });
    const password = `pf-${randomBytes(12).toString('hex')}`;
    const set = await context.request.fetch(`${origin}/api/v1/auth/password`, {
      method: 'PUT', headers: { Authorization: `Bearer ${token}` }, data: { password },
    });
    if (!set.ok()) throw new Error(`PUT /auth/password answered ${set.status()}`);
    // The same cookie jar as the page: signing in here signs the page in.
    const login = await context.request.post(`${origin}/api/v1/auth/login`, { data: { password } });
    if (!login.ok()) throw new Error(`POST /auth/login answered ${login.status()}`);

    const page = await context.newPage();
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) problems.push(`CSP: ${m.text()}`);
    });
    log(`opening the play page at ${mode}`);
    await page.goto(`${origin}/assets/play.html?mode=${encodeURIComponent(mode)}`);
    await page.waitForFunction(() => window.punktfunk && window.punktfunk.stats().framesDecoded > 0
      || (window.punktfunk && ['failed', 'ended'].includes(window.punktfunk.stats().state)), null, { timeout: 30_000 });
    const first = await page.evaluate(() => window.punktfunk.stats());
    if (first.state !== 'streaming') throw new Error(`the page did not stream: ${JSON.stringify(first)}`);
    log('streaming');
    const t0 = await page.evaluate(() => window.punktfunk.stats().framesDecoded);
    const started = Date.now();
    const [w, h] = mode.split('@')[0].split('x').map(Number);
    const centre = () => page.evaluate(([x, y]) => window.punktfunk.pixel(x, y), [Math.floor(w / 2), Math.floor(h / 2)]);
    let lastCentre = null;
    const commands = createInterface({ input: process.stdin });
    commands.on('line', async (line) => {
      if (line === 'PIXEL') {
        lastCentre = await centre();
        await page.screenshot({ path: join(artifacts, 'play.png') });
        console.log(`PIXEL ${lastCentre.join(',')}`);
      } else if (line === 'INPUT') {
        await page.keyboard.type('hello');
        await page.mouse.click(320, 180);
        console.log('INPUT-SENT');
      }
    });
    console.log('STREAMING');
    await page.waitForTimeout(Math.max(0, seconds * 1000 - (Date.now() - started)));
    commands.close();
    const stats = await page.evaluate(() => window.punktfunk.stats());
    const numbers = stats.decodedNumbers;
    let gaps = 0;
    for (let i = 1; i < numbers.length; i++) if (numbers[i] !== numbers[i - 1] + 1) gaps += 1;
    const out = {
      ...stats,
      decodedNumbers: undefined,
      framesInWindow: stats.framesDecoded - t0,
      seconds,
      fps: (stats.framesDecoded - t0) / seconds,
      numberGaps: gaps,
      centre: lastCentre,
      problems,
    };
    console.log(JSON.stringify(out));
  } finally {
    await browser.close();
  }
}

main().catch((e) => {
  log(`failed: ${e.stack || e.message}`);
  process.exit(1);
});
