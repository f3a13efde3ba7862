// Small DOM helpers. Everything the console shows goes through textContent (never innerHTML),
// so whatever a host, client or log line says cannot become markup.

/** Creates an element: h('button', {class: 'x', onclick: fn}, 'text', child, [more]). */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2), value);
    } else if (key === 'value' || key === 'checked') el[key] = value;
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : String(child));
  }
}

/** Replaces all children of `el`. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

/** "1 h 02 min", "3 min 05 s", "12 s". */
export function duration(totalSecs) {
  const s = Math.max(0, Math.floor(totalSecs));
  const d = Math.floor(s / 86400);
  const hrs = Math.floor((s % 86400) / 3600);
  const min = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  const two = (n) => String(n).padStart(2, '0');
  if (d > 0) return `${d} d ${hrs} h`;
  if (hrs > 0) return `${hrs} h ${two(min)} min`;
  if (min > 0) return `${min} min ${two(sec)} s`;
  return `${sec} s`;
}

/** A unix timestamp (seconds) as local date and time; "never" for null/0. */
export function dateTime(unixSecs) {
  if (!unixSecs) return 'never';
  return new Date(unixSecs * 1000).toLocaleString();
}

/** "1920×1080@60" from pixels and millihertz. */
export function mode(width, height, refreshMhz) {
  const hz = refreshMhz / 1000;
  return `${width}×${height}@${Number.isInteger(hz) ? hz : hz.toFixed(2)}`;
}

/** Any JSON value as short readable text (objects as "key: value" pairs). */
export function plain(value) {
  if (value === null || value === undefined) return '—';
  if (typeof value === 'boolean') return value ? 'yes' : 'no';
  if (Array.isArray(value)) return value.length ? value.map(plain).join(', ') : 'none';
  if (typeof value === 'object') {
    const parts = Object.entries(value).map(([k, v]) => `${label(k)}: ${plain(v)}`);
    return parts.length ? parts.join(', ') : '—';
  }
  return String(value);
}

/** Words a setting or field name spells differently from how people write them. */
const WORDS = { api: 'API', mdns: 'mDNS', gamestream: 'GameStream', id: 'ID', secs: '(s)', quic: 'QUIC', fec: 'FEC' };

/** "max_sessions" → "Max sessions", "api_port" → "API port". */
export function label(key) {
  const words = key.split('_').filter(Boolean).map((w) => WORDS[w] ?? w);
  if (words.length && !(words[0].toLowerCase() in WORDS)) {
    words[0] = words[0].charAt(0).toUpperCase() + words[0].slice(1);
  }
  return words.join(' ');
}

/** Asks a yes/no question in the page's own modal dialog; resolves true on OK. */
export function confirmAction(title, text, okLabel) {
  const dialog = document.getElementById('confirm');
  document.getElementById('confirm-title').textContent = title;
  document.getElementById('confirm-text').textContent = text;
  document.getElementById('confirm-ok').textContent = okLabel;
  dialog.returnValue = '';
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true });
  });
}

/** A short message in the corner that goes away by itself. */
export function toast(message, kind = 'info') {
  const box = document.getElementById('toasts');
  const item = h('div', { class: `toast ${kind}` }, message);
  box.append(item);
  setTimeout(() => item.remove(), kind === 'error' ? 8000 : 4000);
}

/** Runs `action` with `button` disabled; errors become a toast (and are swallowed). */
export async function busy(button, action) {
  button.disabled = true;
  try {
    return await action();
  } catch (e) {
    toast(e.message, 'error');
    return undefined;
  } finally {
    button.disabled = false;
  }
}
