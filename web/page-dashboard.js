// Dashboard: the host's status and every live session, with bitrate / fps / latency graphs fed by
// the event stream (or by polling while the stream is down), and the stop and keyframe buttons.

import { api } from './api.js';
import { busy, confirmAction, dateTime, duration, h, label, mode, plain, replace, toast } from './dom.js';
import { capabilitiesPanel } from './capabilities.js';
import { Sparkline } from './sparkline.js';

const REFRESH_MS = 5000;
const POLL_MS = 2000;

const formatBitrate = (kbps) =>
  kbps >= 1000 ? `${(kbps / 1000).toFixed(1)} Mbit/s` : `${Math.round(kbps)} kbit/s`;
const formatFps = (fps) => `${fps.toFixed(fps < 10 ? 1 : 0)} fps`;
const formatLatency = (ms) => `${ms.toFixed(1)} ms`;

/** Status fields that read better with their own words: key → [label, format]. */
const FACTS = {
  compositor: ['Displays', (c) => {
    if (!c) return 'none: sessions get the test source';
    const notes = [c.version, c.private && !/private/i.test(c.kind) ? 'private' : null].filter(Boolean);
    return notes.length ? `${c.kind} (${notes.join(', ')})` : c.kind;
  }],
  ports: ['Ports', (p) => {
    if (!p || typeof p !== 'object') return plain(p);
    const named = { punktfunk1_quic: 'QUIC', punktfunk1_data: 'data', api: 'API', gamestream_http: 'GameStream' };
    const parts = Object.entries(p).filter(([, v]) => v !== null && v !== undefined)
      .map(([k, v]) => `${named[k] ?? label(k)} ${v}`);
    return parts.length ? parts.join(' · ') : '—';
  }],
  gamestream: ['GameStream (Moonlight)', (on) => (on ? 'on' : 'off')],
  pairing_required: ['New clients', (required) =>
    (required ? 'must pair with a PIN' : 'trusted on first use (--open)')],
};

export function mountDashboard(root, { events }) {
  const facts = h('dl', { class: 'facts', 'aria-label': 'Host status' });
  const tbody = h('tbody');
  const empty = h('p', { class: 'empty' }, 'No one is streaming right now.');
  const count = h('span', { class: 'count' });
  const table = h(
    'table',
    { class: 'sessions', 'aria-labelledby': 'sessions-title' },
    h(
      'thead',
      null,
      h(
        'tr',
        null,
        h('th', { scope: 'col' }, 'Client'),
        h('th', { scope: 'col' }, 'Stream'),
        h('th', { scope: 'col' }, 'Display'),
        h('th', { scope: 'col' }, 'Performance'),
        h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions')),
      ),
    ),
    tbody,
  );
  root.replaceChildren(
    h('h1', null, 'Dashboard'),
    h('section', { class: 'card', 'aria-labelledby': 'status-title' },
      h('h2', { id: 'status-title' }, 'Host'), facts, capabilitiesPanel()),
    h('section', { class: 'card', 'aria-labelledby': 'sessions-title' },
      h('h2', { id: 'sessions-title' }, 'Live sessions ', count),
      h('div', { class: 'table-scroll' }, table), empty),
  );

  /** id → { row, info, graphs, since } */
  const sessions = new Map();
  let status = null;
  let statusAt = 0;

  function renderStatus() {
    if (!status) return;
    const uptime = (status.uptime_secs ?? 0) + (Date.now() - statusAt) / 1000;
    const shown = {
      host_name: status.host_name,
      version: status.version,
      uptime: duration(uptime),
      fingerprint: status.fingerprint,
    };
    for (const [key, value] of Object.entries(status)) {
      if (!(key in shown) && key !== 'uptime_secs' && key !== 'sessions') shown[key] = value;
    }
    replace(
      facts,
      Object.entries(shown).map(([key, value]) => {
        const known = FACTS[key];
        return h('div', { class: key === 'fingerprint' ? 'fact wide' : 'fact' },
          h('dt', null, known ? known[0] : label(key)),
          h('dd', { class: key === 'fingerprint' ? 'mono' : null },
            known ? known[1](value) : plain(value)));
      }),
    );
  }

  function renderCount() {
    const n = sessions.size;
    count.textContent = `(${n})`;
    table.hidden = n === 0;
    empty.hidden = n !== 0;
  }

  function displayCell(display) {
    if (!display) return h('td', { class: 'display muted' }, 'test source (no display)');
    const env = Object.entries(display.env ?? {});
    const exports = env.map(([k, v]) => `${k}=${v}`).join(' ');
    return h(
      'td',
      { class: 'display' },
      h('div', null, `${display.compositor} ${display.output}`),
      h('div', { class: 'muted' }, mode(display.width, display.height, display.refresh_mhz)),
      env.length
        ? h('details', null,
          h('summary', null, 'Environment'),
          h('dl', { class: 'env' }, env.map(([k, v]) =>
            h('div', null, h('dt', null, k), h('dd', { class: 'mono' }, v)))),
          h('button', {
            type: 'button',
            class: 'ghost small',
            onclick: () => navigator.clipboard.writeText(exports).then(
              () => toast('Environment copied'),
              () => toast('Copying needs clipboard access', 'error'),
            ),
          }, 'Copy as shell variables'))
        : null,
    );
  }

  function addSession(info) {
    if (sessions.has(info.id)) return;
    const graphs = {
      bitrate: new Sparkline('Bitrate', formatBitrate),
      fps: new Sparkline('Frame rate', formatFps),
      latency: new Sparkline('Latency', formatLatency),
    };
    const since = h('div', { class: 'muted' });
    const playing = h('div', { class: 'playing', 'aria-label': 'Running' });
    // A GameStream client went away without quitting: its app waits on its display for a resume.
    const parked = info.state === 'parked';
    const who = info.client_name || 'unnamed client';
    const keyframe = h('button', {
      type: 'button',
      class: 'ghost',
      'aria-label': `Force a keyframe for ${who}`,
    }, 'Keyframe');
    keyframe.addEventListener('click', () => busy(keyframe, async () => {
      await api('POST', `/sessions/${encodeURIComponent(info.id)}/keyframe`);
      toast(`Keyframe requested for ${who}`);
    }));
    const stages = h('div', { class: 'muted stages', 'aria-label': 'Frame stages' });
    const stop = h('button', { type: 'button', class: 'danger', 'aria-label': `Stop the session of ${who}` }, 'Stop');
    stop.addEventListener('click', async () => {
      const ok = await confirmAction(
        parked ? 'Quit the parked app?' : 'Stop this session?',
        parked
          ? `The app ${who} left running is stopped and its display is closed; it can no longer be resumed.`
          : `${who} (${info.remote}) is disconnected and its display is closed.`,
        parked ? 'Quit app' : 'Stop session',
      );
      if (ok) {
        await busy(stop, () => api('DELETE', `/sessions/${encodeURIComponent(info.id)}`));
      }
    });
    const row = h(
      'tr',
      { dataset: { sessionId: info.id } },
      h('td', null,
        h('div', { class: 'strong' }, who),
        h('div', { class: 'muted' }, info.remote),
        h('span', { class: 'badge' }, info.protocol),
        parked ? h('span', { class: 'badge' }, 'parked') : null),
      h('td', null,
        h('div', null, mode(info.width, info.height, info.refresh_mhz)),
        h('div', { class: 'muted' }, info.codec),
        since,
        playing),
      displayCell(info.display),
      h('td', null,
        h('div', { class: 'graphs' }, graphs.bitrate.element, graphs.fps.element, graphs.latency.element),
        stages),
      h('td', { class: 'row-actions' }, parked ? null : keyframe, stop),
    );
    row.setAttribute('aria-label', `Session of ${who}`);
    tbody.append(row);
    const entry = { row, info, graphs, since, stages, playing };
    sessions.set(info.id, entry);
    renderSince(entry);
    renderPlaying(entry);
    pushStats(entry, info.stats);
    renderCount();
  }

  /** What runs on the session's display: the app or library title, if any. */
  function renderPlaying(entry) {
    const name = entry.info.app_name;
    entry.playing.textContent = name ? `Running ${name}` : '';
    entry.playing.hidden = !name;
  }

  function renderSince(entry) {
    const started = entry.info.started_unix;
    entry.since.textContent = started
      ? `for ${duration(Date.now() / 1000 - started)}`
      : '';
    entry.since.title = `since ${dateTime(started)}`;
  }

  function pushStats(entry, stats) {
    if (!stats) return;
    entry.graphs.bitrate.push(stats.bitrate_kbps);
    entry.graphs.fps.push(stats.fps);
    entry.graphs.latency.push(stats.latency_ms);
    renderStages(entry.stages, stats.stages);
  }

  // The host's time per frame, stage by stage (the last second), from the one frame pipeline.
  function renderStages(el, st) {
    if (!st) {
      el.textContent = '';
      return;
    }
    const ms = (v) => `${v.toFixed(1)} ms`;
    el.textContent =
      `host latency ${ms(st.host_latency_p50_ms)} (p95 ${ms(st.host_latency_p95_ms)}) · ` +
      `convert ${ms(st.convert_ms)} · encode ${ms(st.encode_ms)} · ` +
      `packetize ${ms(st.packetize_ms)} · send ${ms(st.send_ms)}` +
      (st.repeated_fps > 0.5 ? ` · ${st.repeated_fps.toFixed(0)} repeats/s` : '');
    el.title = `capture wait ${ms(st.capture_wait_ms)}; pictures dropped ${st.pictures_dropped}`;
  }

  function removeSession(id) {
    const entry = sessions.get(id);
    if (!entry) return;
    entry.row.remove();
    sessions.delete(id);
    renderCount();
  }

  async function refresh(feedStats) {
    try {
      const [st, list] = await Promise.all([api('GET', '/status'), api('GET', '/sessions')]);
      status = st;
      statusAt = Date.now();
      renderStatus();
      const live = new Set(list.map((s) => s.id));
      for (const id of [...sessions.keys()]) if (!live.has(id)) removeSession(id);
      for (const info of list) {
        const entry = sessions.get(info.id);
        if (!entry) {
          addSession(info);
          continue;
        }
        entry.info = { ...entry.info, app: info.app, app_name: info.app_name };
        renderPlaying(entry);
        if (feedStats) pushStats(entry, info.stats);
      }
    } catch (e) {
      if (e.status !== 401) toast(e.message, 'error');
    }
  }

  const unsubscribe = events.on({
    session_started: (e) => addSession(e.session),
    session_ended: (e) => {
      const entry = sessions.get(e.id);
      if (entry) toast(`${entry.info.client_name || 'A client'} left: ${e.reason}`);
      removeSession(e.id);
    },
    session_app: (e) => {
      const entry = sessions.get(e.id);
      if (!entry) return;
      entry.info = { ...entry.info, app: e.app, app_name: e.app_name };
      renderPlaying(entry);
    },
    session_stats: (e) => {
      const entry = sessions.get(e.id);
      if (entry) pushStats(entry, e.stats);
    },
    // Events may have been missed: re-read the list.
    lagged: () => refresh(false),
    connection: (up) => up && refresh(false),
  });

  renderCount();
  refresh(false);
  let lastRefresh = Date.now();
  const timer = setInterval(() => {
    for (const entry of sessions.values()) renderSince(entry);
    renderStatus();
    // Without the event stream the graphs live on polling.
    const every = events.connected ? REFRESH_MS : POLL_MS;
    if (Date.now() - lastRefresh >= every) {
      lastRefresh = Date.now();
      refresh(!events.connected);
    }
  }, 1000);
  const redraw = () => sessions.forEach((e) => Object.values(e.graphs).forEach((g) => g.draw()));
  window.addEventListener('resize', redraw);

  return () => {
    clearInterval(timer);
    unsubscribe();
    window.removeEventListener('resize', redraw);
  };
}
