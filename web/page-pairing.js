// Pairing: arm a one-time PIN for a punktfunk client (shown big, with its countdown), and hand the
// PIN a Moonlight client shows to the host.

import { api } from './api.js';
import { busy, duration, h, replace, toast } from './dom.js';

const STATUS_MS = 3000;

const clock = (secs) => {
  const s = Math.max(0, Math.ceil(secs));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
};

export function mountPairing(root, { events }) {
  // --- punktfunk clients: the host arms a PIN, the user types it on the client.
  const nativeStatus = h('p', { class: 'muted', id: 'native-status' });
  const pin = h('output', { class: 'pin', 'aria-label': 'Pairing PIN', id: 'pin' });
  const countdown = h('p', { class: 'countdown', id: 'pin-countdown' });
  const meter = h('progress', { max: 1, value: 0, 'aria-label': 'Time left for this PIN' });
  const pinBox = h('div', { class: 'pin-box', hidden: true }, pin, meter, countdown);
  const arm = h('button', { type: 'button', class: 'primary' }, 'Arm a PIN');

  // --- Moonlight: the client shows a PIN, the user types it here.
  const mlInput = h('input', {
    id: 'moonlight-pin',
    name: 'pin',
    inputmode: 'numeric',
    autocomplete: 'off',
    pattern: '[0-9]{4}',
    maxlength: 4,
    required: true,
  });
  const mlError = h('p', { class: 'error', role: 'alert' });
  const mlStatus = h('p', { class: 'muted' });
  const mlSubmit = h('button', { type: 'submit', class: 'primary' }, 'Send PIN');
  const mlForm = h(
    'form',
    { class: 'inline-form', novalidate: true },
    h('label', { for: 'moonlight-pin' }, 'Moonlight PIN'),
    mlInput,
    mlSubmit,
  );

  root.replaceChildren(
    h('h1', null, 'Pairing'),
    h('section', { class: 'card', 'aria-labelledby': 'native-title' },
      h('h2', { id: 'native-title' }, 'punktfunk clients'),
      h('p', null,
        'Arm a one-time PIN, then enter it on the device you are pairing. ',
        'It works once and expires after two minutes.'),
      nativeStatus, arm, pinBox),
    h('section', { class: 'card', 'aria-labelledby': 'moonlight-title' },
      h('h2', { id: 'moonlight-title' }, 'Moonlight clients'),
      h('p', null, 'Add this host in Moonlight; it shows a four-digit PIN. Enter that PIN here.'),
      mlStatus, mlForm, mlError),
  );

  let armed = null; // { pin, until } for the PIN this page armed

  function renderPin() {
    if (!armed) {
      pinBox.hidden = true;
      return;
    }
    pinBox.hidden = false;
    const left = (armed.until - Date.now()) / 1000;
    pin.textContent = armed.pin;
    meter.max = armed.total;
    meter.value = Math.max(0, left);
    if (left > 0) {
      pinBox.classList.remove('expired');
      countdown.textContent = `Expires in ${clock(left)}`;
    } else {
      pinBox.classList.add('expired');
      countdown.textContent = 'This PIN expired. Arm a new one.';
    }
  }

  async function refreshStatus() {
    try {
      const status = await api('GET', '/pairing');
      const native = status.native ?? {};
      const attempts = native.failed_attempts
        ? ` ${native.failed_attempts} failed attempt${native.failed_attempts === 1 ? '' : 's'}.`
        : '';
      nativeStatus.textContent = native.armed
        ? `A PIN is armed (expires in ${clock(native.expires_in_secs ?? 0)}).${attempts}`
        : `No PIN is armed.${attempts}`;
      if (!native.armed && armed && armed.until > Date.now()) {
        // Used up (paired, or a wrong attempt burned it) before its time ran out.
        armed = null;
        renderPin();
      }
      renderMoonlight(status.moonlight);
    } catch (e) {
      if (e.status !== 401) nativeStatus.textContent = e.message;
    }
  }

  function renderMoonlight(moonlight) {
    if (!moonlight || typeof moonlight !== 'object') {
      replace(mlStatus);
      return;
    }
    if (moonlight.enabled === false) {
      replace(mlStatus, 'GameStream is off on this host: start it with serve --gamestream to pair Moonlight clients.');
      return;
    }
    const pending = Array.isArray(moonlight.pending) ? moonlight.pending : [];
    replace(mlStatus, pending.length
      ? `Waiting for a PIN: ${pending.map((p) => `${p.client_name} (${duration(p.waiting_secs ?? 0)})`).join(', ')}`
      : 'No Moonlight client is waiting for a PIN right now.');
  }

  arm.addEventListener('click', () => busy(arm, async () => {
    const result = await api('POST', '/pairing/native');
    const total = result.expires_in_secs ?? 120;
    armed = { pin: String(result.pin), until: Date.now() + total * 1000, total };
    renderPin();
    await refreshStatus();
  }));

  mlForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    mlError.textContent = '';
    const value = mlInput.value.trim();
    if (!/^[0-9]{4}$/.test(value)) {
      mlError.textContent = 'The Moonlight PIN has four digits.';
      mlInput.focus();
      return;
    }
    mlSubmit.disabled = true;
    try {
      await api('POST', '/pairing/moonlight', { pin: value });
      mlInput.value = '';
      toast('PIN sent. Moonlight finishes pairing by itself.');
      await refreshStatus();
    } catch (err) {
      mlError.textContent = err.message;
    } finally {
      mlSubmit.disabled = false;
    }
  });

  const unsubscribe = events.on({
    pairing_armed: () => refreshStatus(),
    device_paired: (e) => {
      toast(`Paired with ${e.name || 'a new device'} (${e.protocol})`);
      if (e.protocol !== 'gamestream') armed = null;
      renderPin();
      refreshStatus();
    },
  });
  refreshStatus();
  let ticks = 0;
  const timer = setInterval(() => {
    renderPin();
    ticks += 1;
    if ((ticks * 1000) % STATUS_MS === 0) refreshStatus();
  }, 1000);
  return () => {
    clearInterval(timer);
    unsubscribe();
  };
}
