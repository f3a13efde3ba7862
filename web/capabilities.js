// "What this host can do": encoders that really open here, GPUs, and the compositor for virtual
// displays. Fetched only when the panel is first opened: the host probes every encoder on the
// first request, which costs a few seconds of CPU.

import { api } from './api.js';
import { h, replace } from './dom.js';

export function capabilitiesPanel() {
  const body = h('div', { class: 'capabilities' }, h('p', { class: 'muted' }, 'Probing encoders…'));
  const panel = h('details', { class: 'capabilities-panel' },
    h('summary', null, 'Encoders and displays'), body);
  let loaded = false;
  panel.addEventListener('toggle', async () => {
    if (!panel.open || loaded) return;
    loaded = true;
    try {
      render(body, await api('GET', '/capabilities'));
    } catch (e) {
      loaded = false;
      replace(body, h('p', { class: 'error' }, e.message));
    }
  });
  return panel;
}

function render(body, caps) {
  const encoders = Array.isArray(caps.encoders) ? caps.encoders : [];
  const state = (e) => {
    if (e.live) return 'works';
    if (e.available) return 'opens, but not for live streaming';
    return 'not available';
  };
  const compositor = caps.compositor ?? {};
  const active = compositor.active;
  replace(
    body,
    h('table', { class: 'encoders', 'aria-label': 'Video encoders' },
      h('thead', null, h('tr', null,
        h('th', { scope: 'col' }, 'Encoder'),
        h('th', { scope: 'col' }, 'Codec'),
        h('th', { scope: 'col' }, 'Kind'),
        h('th', { scope: 'col' }, 'State'))),
      h('tbody', null, encoders.map((e) => h('tr', { class: e.live ? 'ok' : 'off' },
        h('td', { class: 'mono' }, e.name),
        h('td', null, e.codec),
        h('td', null, e.hardware ? 'hardware' : 'software'),
        h('td', null, h('span', { class: 'state' }, state(e)),
          e.reason ? h('div', { class: 'muted' }, e.reason) : null))))),
    h('dl', { class: 'facts' },
      h('div', { class: 'fact' }, h('dt', null, 'GPUs'),
        h('dd', null, caps.gpus?.length ? caps.gpus.join(', ') : 'none found')),
      h('div', { class: 'fact wide' }, h('dt', null, 'Compositor'),
        h('dd', null, `${compositor.detected ?? 'unknown'}: ${compositor.reason ?? ''}`)),
      active
        ? h('div', { class: 'fact wide' }, h('dt', null, 'Virtual displays'),
          h('dd', null,
            `${active.kind} ${active.version}; capture: ${(active.capture ?? []).join(', ') || '—'}; `,
            `custom modes: ${active.custom_modes ? 'yes' : 'no'}; removes outputs: ${active.removes_outputs ? 'yes' : 'no'}`,
            (active.notes ?? []).map((n) => h('div', { class: 'muted' }, n))))
        : null),
  );
}
