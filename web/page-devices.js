// Paired devices: every client allowed to stream, with rename and unpair.

import { api, newestRead } from './api.js';
import { busy, confirmAction, dateTime, h, replace, toast } from './dom.js';

export function mountDevices(root, { events }) {
  const tbody = h('tbody');
  const empty = h('p', { class: 'empty' }, 'No devices are paired yet. Pair one on the Pairing page.');
  const table = h(
    'table',
    { class: 'devices', 'aria-labelledby': 'devices-title' },
    h('thead', null, h('tr', null,
      h('th', { scope: 'col' }, 'Name'),
      h('th', { scope: 'col' }, 'Protocol'),
      h('th', { scope: 'col' }, 'Paired'),
      h('th', { scope: 'col' }, 'Last seen'),
      h('th', { scope: 'col' }, 'Certificate'),
      h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions')))),
    tbody,
  );
  root.replaceChildren(
    h('h1', { id: 'devices-title' }, 'Paired devices'),
    h('section', { class: 'card' }, h('div', { class: 'table-scroll' }, table), empty),
  );

  function row(device) {
    const nameCell = h('td', { class: 'strong' }, device.name);
    const rename = h('button', { type: 'button', class: 'ghost', 'aria-label': `Rename ${device.name}` }, 'Rename');
    const unpair = h('button', { type: 'button', class: 'danger', 'aria-label': `Unpair ${device.name}` }, 'Unpair');

    rename.addEventListener('click', () => {
      const input = h('input', {
        id: `name-${device.id}`,
        value: device.name,
        required: true,
        maxlength: 64,
        'aria-label': `New name for ${device.name}`,
      });
      const save = h('button', { type: 'submit', class: 'primary small' }, 'Save');
      const cancel = h('button', { type: 'button', class: 'ghost small' }, 'Cancel');
      const form = h('form', { class: 'rename' }, input, save, cancel);
      const restore = () => replace(nameCell, device.name);
      cancel.addEventListener('click', restore);
      input.addEventListener('keydown', (e) => {
        if (e.key === 'Escape') restore();
      });
      form.addEventListener('submit', (e) => {
        e.preventDefault();
        const name = input.value.trim();
        if (!name) {
          input.focus();
          return;
        }
        busy(save, async () => {
          await api('PATCH', `/devices/${encodeURIComponent(device.id)}`, { name });
          toast(`Renamed to ${name}`);
          await load();
        });
      });
      replace(nameCell, form);
      input.select();
    });

    unpair.addEventListener('click', async () => {
      const ok = await confirmAction(
        `Unpair ${device.name}?`,
        'It can no longer connect until it pairs again with a new PIN.',
        'Unpair',
      );
      if (!ok) return;
      await busy(unpair, async () => {
        await api('DELETE', `/devices/${encodeURIComponent(device.id)}`);
        toast(`${device.name} was unpaired`);
        await load();
      });
    });

    return h(
      'tr',
      { dataset: { deviceId: device.id }, 'aria-label': `Device ${device.name}` },
      nameCell,
      h('td', null, h('span', { class: 'badge' }, device.protocol)),
      h('td', null, dateTime(device.paired_at_unix)),
      h('td', null, dateTime(device.last_seen_unix)),
      h('td', { class: 'mono', title: device.id }, `${device.id.slice(0, 16)}…`),
      h('td', { class: 'row-actions' }, rename, unpair),
    );
  }

  const readDevices = newestRead('/devices');

  async function load() {
    try {
      const read = await readDevices();
      if (!read) return;
      const devices = read.value;
      replace(tbody, devices.map(row));
      table.hidden = devices.length === 0;
      empty.hidden = devices.length !== 0;
    } catch (e) {
      if (e.status !== 401) toast(e.message, 'error');
    }
  }

  table.hidden = true;
  empty.hidden = true;
  load();
  return events.on({ device_paired: load, device_removed: load, lagged: load });
}
