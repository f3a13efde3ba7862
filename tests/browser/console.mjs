// Drives the web console of a running punktfunk host in headless Chromium, the way a person would:
// signs in, watches the live session and its graphs, changes a setting, arms a pairing PIN, stops
// the session. Started by crates/punktfunk-e2e/tests/console_browser.rs, which runs the host and a
// streaming probe; this script only talks to the host through the console and its API.
//
// Environment:
//   PF_CONSOLE_URL      https://127.0.0.1:PORT/ (the host's self-signed certificate is accepted)
//   PF_ADMIN_TOKEN      the host's admin token: sets the console password (the one thing done
//                       outside the browser, as an operator would with the CLI)
//   PF_CHROMIUM         Chromium executable (default /usr/bin/chromium)
//   PF_ARTIFACTS        directory for screenshots (console.png, console-*.png)
//   PF_PROBE            punktfunk-probe, to pair a second client with the PIN the page shows
//   PF_QUIC             the host's punktfunk/1 address (HOST:PORT)
//   PF_FINGERPRINT      the host's certificate fingerprint
//   PF_PAIR_CLIENT_DIR  an empty client dir for that second client
// Prints one JSON summary line on stdout; exits non-zero on the first failed check.

import { chromium } from 'playwright-core';
import { mkdir, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';

const url = must('PF_CONSOLE_URL');
const token = must('PF_ADMIN_TOKEN');
const executablePath = process.env.PF_CHROMIUM || '/usr/bin/chromium';
const artifacts = must('PF_ARTIFACTS');
const probe = must('PF_PROBE');
const quic = must('PF_QUIC');
const fingerprint = must('PF_FINGERPRINT');
const pairClientDir = must('PF_PAIR_CLIENT_DIR');
const origin = new URL(url).origin;
const password = `pf-${randomBytes(12).toString('hex')}`;
const summary = { screenshots: [], steps: [] };
const problems = [];

function must(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

function check(condition, message) {
  if (!condition) throw new Error(`check failed: ${message}`);
}

const started = Date.now();
async function step(name, action) {
  const t0 = Date.now();
  process.stderr.write(`console-test: ${name} …\n`);
  const result = await action();
  const ms = Date.now() - t0;
  summary.steps.push({ name, ms });
  process.stderr.write(`console-test: ${name} ok (${ms} ms)\n`);
  return result;
}

async function shot(page, name) {
  const path = join(artifacts, name);
  // From the top, so the sticky bar is where a person sees it.
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path, fullPage: true });
  summary.screenshots.push(path);
  return path;
}

/** The API as an operator's script sees it: bearer token, no cookies. */
async function adminRequest(request, method, path, body) {
  const response = await request.fetch(`${origin}/api/v1${path}`, {
    method,
    headers: { Authorization: `Bearer ${token}` },
    data: body,
  });
  return response;
}

const axeSource = await readFile(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/**
 * Runs the axe-core accessibility checks (WCAG 2 A and AA: labels, names, roles, contrast) on what
 * the page shows now; every violation becomes a problem that fails the run at the end.
 */
async function audit(page, where) {
  // Evaluated through the DevTools protocol, which the page's CSP does not govern.
  await page.evaluate(axeSource);
  const result = await page.evaluate(() =>
    globalThis.axe.run(document, { runOnly: ['wcag2a', 'wcag2aa'] }));
  for (const v of result.violations) {
    const nodes = v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ');
    problems.push(`accessibility (${where}): ${v.id} (${v.impact}) at ${nodes}: ${v.help}`);
  }
  summary.audited = [...(summary.audited ?? []), where];
}

/** Follows one of the console's section links in its navigation bar. */
async function nav(page, name) {
  await page.getByRole('navigation', { name: 'Console sections' }).getByRole('link', { name }).click();
}

/** The API with the browser's own session cookie (what the page itself may do). */
async function pageApi(page, path) {
  const response = await page.request.get(`${origin}/api/v1${path}`);
  check(response.ok(), `GET ${path} with the console cookie answered ${response.status()}`);
  return response.json();
}

async function main() {
  await mkdir(artifacts, { recursive: true });
  const browser = await chromium.launch({ executablePath, headless: true });
  const context = await browser.newContext({
    ignoreHTTPSErrors: true,
    viewport: { width: 1440, height: 900 },
    colorScheme: 'light',
  });
  const page = await context.newPage();
  page.setDefaultTimeout(20_000);
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  // Every change the page makes, in the test's log: a failing step shows what was sent.
  page.on('request', (r) => {
    if (r.method() !== 'GET') console.error(`console-test: page sent ${r.method()} ${new URL(r.url()).pathname} ${r.postData() ?? ''}`);
  });
  page.on('console', (m) => {
    // A CSP violation means the console broke the host's policy (inline script or style, eval).
    if (/Content Security Policy/i.test(m.text())) problems.push(`CSP: ${m.text()}`);
  });

  try {
    await step('set the console password with the admin token', async () => {
      const r = await adminRequest(context.request, 'PUT', '/auth/password', { password });
      check(r.ok(), `PUT /auth/password answered ${r.status()}: ${await r.text()}`);
    });

    await step('the console asks for the password', async () => {
      await page.goto(url);
      await page.getByLabel('Password').waitFor();
      await audit(page, 'login');
      await page.getByLabel('Password').fill('not the password');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('alert').filter({ hasText: 'Wrong password' }).waitFor();
    });

    await step('sign in', async () => {
      await page.getByLabel('Password').fill(password);
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByRole('heading', { name: 'Dashboard', level: 1 }).waitFor();
      const me = await pageApi(page, '/auth/me');
      summary.auth_method = me.method;
    });

    const session = await step('the live session shows up', async () => {
      const row = page.getByRole('row', { name: /^Session of / }).first();
      await row.waitFor({ timeout: 45_000 });
      const id = await row.getAttribute('data-session-id');
      const listed = await pageApi(page, '/sessions');
      const info = listed.find((s) => s.id === id);
      check(info, `row ${id} is not among the API's sessions ${JSON.stringify(listed.map((s) => s.id))}`);
      await row.getByText(info.client_name, { exact: true }).waitFor();
      await page.getByRole('status').filter({ hasText: 'Live' }).waitFor();
      summary.session = { id, client_name: info.client_name, display: info.display };
      return { row, info };
    });

    await step('its graphs update from the live stats', async () => {
      const graph = session.row.getByRole('img', { name: /^Bitrate graph/ });
      const samples = async () => Number(await graph.getAttribute('data-samples'));
      const pixels = () => graph.evaluate((c) => c.toDataURL());
      // Wait for a couple of samples so there is a line to compare.
      await page.waitForFunction(
        (el) => Number(el.dataset.samples) >= 2,
        await graph.elementHandle(),
        { timeout: 15_000 },
      );
      const before = { n: await samples(), png: await pixels() };
      await page.waitForFunction(
        ([el, n]) => Number(el.dataset.samples) >= n + 2,
        [await graph.elementHandle(), before.n],
        { timeout: 15_000 },
      );
      const after = { n: await samples(), png: await pixels() };
      check(after.png !== before.png, 'the bitrate graph did not change between samples');
      for (const name of [/^Frame rate graph/, /^Latency graph/]) {
        const n = Number(await session.row.getByRole('img', { name }).getAttribute('data-samples'));
        check(n >= after.n - 1, `${name} has ${n} samples, the bitrate graph ${after.n}`);
      }
      summary.graph_samples = { before: before.n, after: after.n };
      summary.graph_label = await graph.getAttribute('aria-label');
    });

    await step('dashboard screenshot', async () => {
      // The host facts are in too, and the graphs have some history, so the picture shows a
      // complete dashboard (with the display's environment opened).
      await page.getByRole('region', { name: 'Host' }).getByText('Fingerprint', { exact: true }).waitFor();
      await page.waitForFunction(
        (el) => Number(el.dataset.samples) >= 10,
        await session.row.getByRole('img', { name: /^Bitrate graph/ }).elementHandle(),
        { timeout: 20_000 },
      );
      const environment = session.row.getByText('Environment', { exact: true });
      if (await environment.count()) await environment.click();
      summary.screenshot = await shot(page, 'console.png');
      await audit(page, 'dashboard');
    });

    await step('library: covers load, search narrows, a game launches on the session and ends', async () => {
      await nav(page, 'Library');
      await page.getByRole('heading', { name: 'Library', level: 1 }).waitFor();
      const card = page.getByRole('listitem', { name: 'Title Console Quest' });
      await card.waitFor();
      const cover = card.locator('img.cover');
      await page.waitForFunction((img) => img.complete && img.naturalWidth > 0, await cover.elementHandle());
      const coverWidth = await cover.evaluate((img) => img.naturalWidth);
      const search = page.getByLabel('Search the library');
      await search.fill('no such game anywhere');
      await page.getByText('No game matches the search.').waitFor();
      check(await card.count() === 0, 'the search left a non-matching game listed');
      await search.fill('quest');
      await card.waitFor();
      await page.getByLabel('Launch on').selectOption(session.info.id);
      await card.getByRole('button', { name: 'Launch Console Quest' }).click();
      await page.getByRole('status').filter({ hasText: 'Launched Console Quest on' }).waitFor();
      const end = card.getByRole('button', { name: 'End Console Quest' });
      await end.waitFor();
      const running = await pageApi(page, `/sessions/${session.info.id}`);
      check(running.app === 'desktop:console-quest' && running.app_name === 'Console Quest',
        `the session runs ${JSON.stringify([running.app, running.app_name])}, not the launched game`);
      await shot(page, 'console-library.png');
      await audit(page, 'library');
      await end.click();
      await end.waitFor({ state: 'detached', timeout: 15_000 });
      const after = await pageApi(page, `/sessions/${session.info.id}`);
      check(after.app === null, `the session still runs ${JSON.stringify(after.app)} after End game`);
      // Hidden from clients through the settings, then shown again.
      await card.getByRole('button', { name: 'Hide Console Quest' }).click();
      await page.getByRole('status').filter({ hasText: 'Console Quest is hidden from clients' }).waitFor();
      await card.getByText('Hidden from clients').waitFor();
      const hiddenIn = (await pageApi(page, '/settings')).library_hidden;
      check(hiddenIn.includes('desktop:console-quest'), `library_hidden is ${JSON.stringify(hiddenIn)}`);
      check((await pageApi(page, '/library')).find((t) => t.id === 'desktop:console-quest')?.hidden === true,
        'the library does not say the title is hidden');
      await card.getByRole('button', { name: 'Unhide Console Quest' }).click();
      await page.getByRole('status').filter({ hasText: 'Console Quest is shown to clients again' }).waitFor();
      await card.getByRole('button', { name: 'Hide Console Quest' }).waitFor();
      const shownIn = (await pageApi(page, '/settings')).library_hidden;
      check(!shownIn.includes('desktop:console-quest'), `still hidden: ${JSON.stringify(shownIn)}`);
      summary.library = {
        cover_width: coverWidth,
        launched: running.app,
        ended: after.app === null,
        hid_and_unhid: true,
      };
    });

    await step('arm a pairing PIN', async () => {
      await nav(page, 'Pairing');
      await page.getByRole('heading', { name: 'Pairing', level: 1 }).waitFor();
      await page.getByRole('button', { name: 'Arm a PIN' }).click();
      const pin = page.getByLabel('Pairing PIN');
      await page.waitForFunction((el) => /^\d+$/.test(el.textContent), await pin.elementHandle());
      const digits = (await pin.textContent()).trim();
      check(/^\d{6}$/.test(digits), `the PIN on the page is ${JSON.stringify(digits)}, not 6 digits`);
      const status = await pageApi(page, '/pairing');
      check(status.native && status.native.armed === true,
        `the API does not say a PIN is armed: ${JSON.stringify(status)}`);
      await page.getByText(/^Expires in \d:\d\d$/).waitFor();
      summary.pin = digits;
      summary.pairing = status.native;
      await shot(page, 'console-pairing.png');
      await audit(page, 'pairing');
    });

    await step('a client pairs with the PIN from the page', async () => {
      const name = 'console-paired-probe';
      const result = await new Promise((resolve) => {
        execFile(probe, ['pair', quic, '--pin', summary.pin, '--name', name, '--fingerprint', fingerprint],
          { env: { ...process.env, PUNKTFUNK_CLIENT_DIR: pairClientDir }, timeout: 30_000 },
          (error, stdout, stderr) => resolve({ code: error ? error.code : 0, stdout, stderr }));
      });
      check(result.code === 0, `punktfunk-probe pair exited ${result.code}: ${result.stderr}`);
      // The page hears of it over the event stream and retires the used PIN.
      await page.getByRole('status').filter({ hasText: `Paired with ${name}` }).waitFor();
      await page.getByLabel('Pairing PIN').waitFor({ state: 'hidden' });
      const status = await pageApi(page, '/pairing');
      check(status.native.armed === false, `the PIN is still armed after pairing: ${JSON.stringify(status)}`);
      const devices = await pageApi(page, '/devices');
      check(devices.some((d) => d.name === name), `${name} is not among the paired devices`);
      summary.paired_with_pin = name;
    });

    await step('a Moonlight PIN is refused with the host\'s reason', async () => {
      const status = await pageApi(page, '/status');
      await page.getByLabel('Moonlight PIN').fill('1234');
      await page.getByRole('button', { name: 'Send PIN' }).click();
      if (status.gamestream === true || status.gamestream?.enabled === true) {
        summary.moonlight = 'gamestream on: PIN accepted for delivery';
      } else {
        const alert = page.getByRole('alert').filter({ hasText: /GameStream/ });
        await alert.waitFor();
        summary.moonlight = (await alert.textContent()).trim();
      }
    });

    await step('settings: a change is saved, an invalid one shows the reason', async () => {
      await nav(page, 'Settings');
      await page.getByRole('heading', { name: 'Settings', level: 1 }).waitFor();
      const before = await pageApi(page, '/settings');
      const maxSessions = page.getByLabel('Max sessions', { exact: true });
      await maxSessions.waitFor();
      // Every setting the API returned has a control.
      const controls = await page.locator('form.settings .field').count();
      check(controls === Object.keys(before).length,
        `${controls} controls for ${Object.keys(before).length} settings`);
      const wanted = before.max_sessions === 7 ? 6 : 7;
      await maxSessions.fill(String(wanted));
      await page.getByRole('button', { name: 'Save' }).click();
      await page.getByText('Saved Max sessions').waitFor();
      const after = await pageApi(page, '/settings');
      check(after.max_sessions === wanted, `max_sessions is ${after.max_sessions}, wanted ${wanted}`);
      await page.getByLabel('Host name', { exact: true }).fill('   ');
      await page.getByRole('button', { name: 'Save' }).click();
      const error = page.locator('#settings-error');
      await error.filter({ hasText: /^Not saved: .*host_name/ }).waitFor();
      summary.settings_error = (await error.textContent()).trim();
      const unchanged = await pageApi(page, '/settings');
      check(unchanged.host_name === before.host_name, 'an invalid host name was saved');
      await shot(page, 'console-settings.png');
      await audit(page, 'settings');
    });

    await step('logs page tails the host log', async () => {
      await nav(page, 'Logs');
      const log = page.getByRole('log', { name: 'Host log' });
      await log.locator('.line').first().waitFor();
      summary.log_lines = await log.locator('.line').count();
      await shot(page, 'console-logs.png');
      await audit(page, 'logs');
    });

    await step('devices: the streaming client is listed and can be renamed', async () => {
      await nav(page, 'Devices');
      const devices = await pageApi(page, '/devices');
      const device = devices.find((d) => d.id === session.info.client_id);
      check(device, `the session's client ${session.info.client_id} is not a paired device: ${JSON.stringify(devices)}`);
      const row = page.getByRole('row', { name: `Device ${device.name}` });
      await row.getByRole('button', { name: `Rename ${device.name}` }).click();
      const renamed = `${device.name} (renamed)`;
      await row.getByLabel(`New name for ${device.name}`).fill(renamed);
      await row.getByRole('button', { name: 'Save' }).click();
      await page.getByRole('row', { name: `Device ${renamed}` }).waitFor();
      const after = await pageApi(page, '/devices');
      check(after.find((d) => d.id === device.id)?.name === renamed, 'the new name did not reach the API');
      summary.device = { id: device.id, renamed };
      await shot(page, 'console-devices.png');
      await audit(page, 'devices');
    });

    await step('force a keyframe, then stop the session from the dashboard', async () => {
      await nav(page, 'Dashboard');
      const row = page.locator(`tr[data-session-id="${session.info.id}"]`);
      await row.getByRole('button', { name: /^Force a keyframe for / }).click();
      await page.getByRole('status').filter({ hasText: 'Keyframe requested for' }).waitFor();
      await row.getByRole('button', { name: /^Stop the session of / }).click();
      const dialog = page.getByRole('dialog', { name: 'Stop this session?' });
      await dialog.getByRole('button', { name: 'Stop session' }).click();
      await row.waitFor({ state: 'detached', timeout: 15_000 });
      const listed = await pageApi(page, '/sessions');
      check(!listed.some((s) => s.id === session.info.id), 'the stopped session is still listed');
    });

    await step('capabilities: the encoders the host probed are listed', async () => {
      await nav(page, 'Dashboard');
      await page.getByText('Encoders and displays', { exact: true }).click();
      const table = page.getByRole('table', { name: 'Video encoders' });
      await table.waitFor({ timeout: 60_000 });
      const caps = await pageApi(page, '/capabilities');
      const rows = await table.locator('tbody tr').count();
      check(rows === caps.encoders.length, `${rows} encoder rows for ${caps.encoders.length} encoders`);
      summary.encoders_live = caps.encoders.filter((e) => e.live).map((e) => e.name);
      await shot(page, 'console-capabilities.png');
      await audit(page, 'capabilities');
    });

    await step('unpair the device', async () => {
      await nav(page, 'Devices');
      const name = summary.device.renamed;
      await page.getByRole('button', { name: `Unpair ${name}` }).click();
      await page.getByRole('dialog', { name: `Unpair ${name}?` }).getByRole('button', { name: 'Unpair' }).click();
      await page.getByRole('row', { name: `Device ${name}` }).waitFor({ state: 'detached' });
      const devices = await pageApi(page, '/devices');
      check(!devices.some((d) => d.id === summary.device.id), 'the unpaired device is still listed');
    });

    await step('dark mode passes the same checks', async () => {
      await page.emulateMedia({ colorScheme: 'dark' });
      // Each page with its data in (what shows once its first API answers arrived).
      const loaded = {
        Dashboard: () => page.getByText('Fingerprint', { exact: true }),
        Pairing: () => page.getByText(/PIN is armed/),
        Devices: () => page.getByRole('row', { name: /^Device / }).first(),
        Settings: () => page.getByLabel('Max sessions', { exact: true }),
        Logs: () => page.getByRole('log').locator('.line').first(),
      };
      for (const [name, ready] of Object.entries(loaded)) {
        await nav(page, name);
        await ready().waitFor();
        await audit(page, `${name.toLowerCase()}, dark`);
      }
      await nav(page, 'Dashboard');
      await shot(page, 'console-dark.png');
    });

    check(problems.length === 0, problems.join('; '));
  } catch (e) {
    try {
      await shot(page, 'console-failure.png');
    } catch {
      // The failure itself is what matters.
    }
    if (problems.length) process.stderr.write(`console-test: also: ${problems.join('; ')}\n`);
    throw e;
  } finally {
    await browser.close();
  }
  summary.total_ms = Date.now() - started;
  process.stdout.write(`${JSON.stringify(summary)}\n`);
}

main().catch((e) => {
  process.stderr.write(`console-test: FAILED: ${e.stack || e}\n`);
  process.exit(1);
});
