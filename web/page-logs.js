// Logs: the host's recent log lines, tailed live. New lines are fetched by sequence number when the
// event stream says there are some, and every few seconds regardless.

import { api } from './api.js';
import { h } from './dom.js';

const POLL_MS = 3000;
const KEEP = 2000;
const RANK = { TRACE: 0, DEBUG: 1, INFO: 2, WARN: 3, ERROR: 4 };

export function mountLogs(root, { events }) {
  const level = h('select', { id: 'log-level' },
    h('option', { value: 'TRACE' }, 'everything'),
    h('option', { value: 'DEBUG' }, 'debug and up'),
    h('option', { value: 'INFO', selected: true }, 'info and up'),
    h('option', { value: 'WARN' }, 'warnings and errors'),
    h('option', { value: 'ERROR' }, 'errors'));
  const filter = h('input', { id: 'log-filter', type: 'search', placeholder: 'text in target or message' });
  const follow = h('input', { id: 'log-follow', type: 'checkbox', checked: true });
  const list = h('div', { class: 'log', role: 'log', 'aria-label': 'Host log', tabindex: 0 });
  const empty = h('p', { class: 'empty' }, 'No log lines yet.');
  root.replaceChildren(
    h('h1', null, 'Logs'),
    h('div', { class: 'card' },
      h('div', { class: 'toolbar' },
        h('label', { for: 'log-level' }, 'Level'), level,
        h('label', { for: 'log-filter' }, 'Filter'), filter,
        h('span', { class: 'check' }, follow, h('label', { for: 'log-follow' }, 'Follow'))),
      list, empty),
  );

  let next = 0;
  let fetching = false;
  let again = false;

  const visible = (row) => {
    const minimum = RANK[level.value] ?? 0;
    const text = filter.value.trim().toLowerCase();
    return (RANK[row.dataset.level] ?? 2) >= minimum &&
      (!text || row.dataset.text.includes(text));
  };

  function applyFilter() {
    let shown = 0;
    for (const row of list.children) {
      row.hidden = !visible(row);
      if (!row.hidden) shown += 1;
    }
    empty.hidden = shown > 0;
  }

  function add(line) {
    const lvl = String(line.level ?? 'INFO').toUpperCase();
    const time = line.unix_ms ? new Date(line.unix_ms).toLocaleTimeString() : '';
    const row = h('div', { class: `line ${lvl.toLowerCase()}`, dataset: { level: lvl, seq: String(line.seq) } },
      h('time', null, time),
      h('span', { class: 'level' }, lvl),
      h('span', { class: 'target' }, line.target ?? ''),
      h('span', { class: 'message' }, line.message ?? ''));
    row.dataset.text = `${line.target ?? ''} ${line.message ?? ''}`.toLowerCase();
    row.hidden = !visible(row);
    list.append(row);
  }

  async function fetchNew() {
    if (fetching) {
      again = true;
      return;
    }
    fetching = true;
    try {
      do {
        again = false;
        const page = await api('GET', `/logs?after=${next}`);
        const lines = Array.isArray(page?.lines) ? page.lines : [];
        lines.forEach(add);
        if (typeof page?.next === 'number') next = page.next;
        while (list.children.length > KEEP) list.firstElementChild.remove();
        if (lines.length) {
          applyFilter();
          if (follow.checked) list.scrollTop = list.scrollHeight;
        }
      } while (again);
    } catch (e) {
      if (e.status !== 401) empty.textContent = e.message;
    } finally {
      fetching = false;
    }
  }

  level.addEventListener('change', applyFilter);
  filter.addEventListener('input', applyFilter);
  follow.addEventListener('change', () => {
    if (follow.checked) list.scrollTop = list.scrollHeight;
  });
  // Scrolling up to read stops following; scrolling back to the end resumes it.
  list.addEventListener('scroll', () => {
    follow.checked = list.scrollHeight - list.scrollTop - list.clientHeight < 8;
  });

  let pending = null;
  const unsubscribe = events.on({
    log: () => {
      pending ??= setTimeout(() => {
        pending = null;
        fetchNew();
      }, 250);
    },
  });
  fetchNew();
  const timer = setInterval(fetchNew, POLL_MS);
  return () => {
    clearInterval(timer);
    clearTimeout(pending);
    unsubscribe();
  };
}
