// The console's shell: signs in, keeps the event stream open, and shows one page at a time from
// the URL's hash (#/dashboard, #/pairing, …).

import { api, HostEvents, onUnauthorized } from './api.js';
import { toast } from './dom.js';
import { mountDashboard } from './page-dashboard.js';
import { mountDevices } from './page-devices.js';
import { mountLibrary } from './page-library.js';
import { mountLogin } from './page-login.js';
import { mountLogs } from './page-logs.js';
import { mountPairing } from './page-pairing.js';
import { mountSettings } from './page-settings.js';

const PAGES = {
  dashboard: { title: 'Dashboard', mount: mountDashboard },
  library: { title: 'Library', mount: mountLibrary },
  pairing: { title: 'Pairing', mount: mountPairing },
  devices: { title: 'Devices', mount: mountDevices },
  settings: { title: 'Settings', mount: mountSettings },
  logs: { title: 'Logs', mount: mountLogs },
};

const main = document.getElementById('main');
const topbar = document.querySelector('.topbar');
const live = document.getElementById('live');
const events = new HostEvents();
let signedIn = false;
let unmount = () => {};

function pageName() {
  const name = location.hash.replace(/^#\/?/, '');
  return name in PAGES ? name : 'dashboard';
}

function show() {
  unmount();
  if (!signedIn) {
    topbar.hidden = true;
    document.title = 'Sign in · punktfunk';
    unmount = mountLogin(main, signIn);
    return;
  }
  topbar.hidden = false;
  const name = pageName();
  const page = PAGES[name];
  document.title = `${page.title} · punktfunk`;
  for (const link of document.querySelectorAll('#nav a')) {
    if (link.getAttribute('href') === `#/${name}`) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  unmount = page.mount(main, { events }) ?? (() => {});
  main.focus({ preventScroll: true });
}

async function signIn() {
  signedIn = true;
  events.start();
  show();
  try {
    const status = await api('GET', '/status');
    document.getElementById('host-name').textContent = status.host_name ?? '';
  } catch {
    // The dashboard reports it; the name in the bar is a nicety.
  }
}

function signedOut() {
  if (!signedIn) return;
  signedIn = false;
  events.stop();
  show();
}

onUnauthorized(signedOut);
window.addEventListener('hashchange', () => signedIn && show());

// The skip link must not become a route: it only moves focus past the navigation.
document.querySelector('.skip').addEventListener('click', (e) => {
  e.preventDefault();
  main.focus();
});

events.addEventListener('connection', (e) => {
  live.dataset.state = e.detail ? 'live' : 'down';
  live.textContent = e.detail ? 'Live' : 'Reconnecting';
});

document.getElementById('sign-out').addEventListener('click', async () => {
  try {
    await api('POST', '/auth/logout');
  } catch (e) {
    toast(e.message, 'error');
  }
  signedOut();
});

(async () => {
  try {
    await api('GET', '/auth/me');
    await signIn();
  } catch (e) {
    if (e.status !== 401) toast(e.message, 'error');
    show();
  }
})();
