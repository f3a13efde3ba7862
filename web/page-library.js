// Library: every game the host found in its stores, with covers and a search box; a title can be
// launched onto a streaming session's display (either protocol) and ended again ("End game"), and hidden
// from clients (the `library_hidden` setting).

import { api, newestRead } from './api.js';
import { busy, h, replace, toast } from './dom.js';

const SOURCES = { steam: 'Steam', heroic: 'Heroic', lutris: 'Lutris', desktop: 'Desktop entry' };

export function mountLibrary(root, { events }) {
  const search = h('input', {
    id: 'library-search',
    type: 'search',
    placeholder: 'Name or store',
    autocomplete: 'off',
  });
  const target = h('select', { id: 'library-session' });
  const rescan = h('button', { type: 'button', class: 'ghost' }, 'Rescan');
  const count = h('p', { class: 'hint', id: 'library-count', role: 'status' });
  const grid = h('ul', { class: 'library', 'aria-label': 'Games found' });
  const empty = h('p', { class: 'empty', hidden: true });
  root.replaceChildren(
    h('h1', null, 'Library'),
    h(
      'section',
      { class: 'card library-tools', 'aria-label': 'Find and launch' },
      h('div', { class: 'field' }, h('label', { for: 'library-search' }, 'Search the library'), search),
      h('div', { class: 'field' }, h('label', { for: 'library-session' }, 'Launch on'), target,
        h('p', { class: 'hint' }, 'A streaming session: the game opens on that client\'s display, in place of what runs there.')),
      h('div', { class: 'field' }, rescan),
      count,
    ),
    h('section', { class: 'card', 'aria-label': 'Games' }, grid, empty),
  );

  let titles = [];
  let sessions = [];

  /** Sessions a title can be launched on: streaming ones (either protocol) with a display. */
  const launchable = () => sessions.filter((s) => s.display && s.state !== 'parked');
  const chosen = () => launchable().find((s) => s.id === target.value);

  function renderTargets() {
    const keep = target.value;
    const options = launchable().map((s) =>
      h('option', { value: s.id }, `${s.client_name} (${s.id})`));
    if (!options.length) options.push(h('option', { value: '' }, 'No session is streaming'));
    replace(target, options);
    if (launchable().some((s) => s.id === keep)) target.value = keep;
    target.disabled = !launchable().length;
  }

  function card(title) {
    const session = chosen();
    const running = session && session.app === title.id;
    const cover = title.has_art
      ? h('img', {
          class: 'cover',
          src: `/api/v1/library/${encodeURIComponent(title.id)}/art`,
          alt: '',
          loading: 'lazy',
          width: 150,
          height: 225,
        })
      : h('div', { class: 'cover placeholder', 'aria-hidden': 'true' }, title.name.slice(0, 1).toUpperCase());
    const launch = h('button', {
      type: 'button',
      class: 'primary small',
      'aria-label': `Launch ${title.name}`,
      disabled: !session,
    }, 'Launch');
    launch.addEventListener('click', () => busy(launch, async () => {
      const on = chosen();
      if (!on) return;
      await api('POST', `/sessions/${encodeURIComponent(on.id)}/launch`, { title_id: title.id });
      toast(`Launched ${title.name} on ${on.client_name}`);
      await loadSessions();
    }));
    const hide = h('button', {
      type: 'button',
      class: 'ghost small',
      'aria-label': `${title.hidden ? 'Unhide' : 'Hide'} ${title.name}`,
    }, title.hidden ? 'Unhide' : 'Hide');
    hide.addEventListener('click', () => busy(hide, () => toggleHidden(title)));
    const actions = [launch, hide];
    if (running) {
      const end = h('button', {
        type: 'button',
        class: 'danger small',
        'aria-label': `End ${title.name}`,
      }, 'End game');
      end.addEventListener('click', () => busy(end, async () => {
        await api('DELETE', `/sessions/${encodeURIComponent(session.id)}/app`);
        toast(`Ending ${title.name}`);
        await loadSessions();
      }));
      actions.push(end);
    }
    const classes = ['title', running && 'running', title.hidden && 'hidden-title'].filter(Boolean);
    const badge = running ? 'Running' : title.hidden ? 'Hidden from clients' : SOURCES[title.source] ?? title.source;
    return h(
      'li',
      { class: classes.join(' '), dataset: { titleId: title.id }, 'aria-label': `Title ${title.name}` },
      cover,
      h('div', { class: 'title-name' }, title.name),
      h('span', { class: 'badge' }, badge),
      h('div', { class: 'actions' }, actions),
    );
  }

  function render() {
    const words = search.value.trim().toLowerCase().split(/\s+/).filter(Boolean);
    const shown = titles.filter((t) => {
      const text = `${t.name} ${SOURCES[t.source] ?? t.source} ${t.id}`.toLowerCase();
      return words.every((w) => text.includes(w));
    });
    replace(grid, shown.map(card));
    count.textContent = words.length
      ? `${shown.length} of ${titles.length} games match`
      : `${titles.length} games`;
    empty.hidden = shown.length > 0;
    empty.textContent = titles.length
      ? 'No game matches the search.'
      : 'No games found. Installed Steam, Heroic and Lutris games and desktop entries in the Game category show up here.';
  }

  /**
   * Flips whether a title is hidden, from its state as last read rather than as the button was
   * drawn: the grid is redrawn on every session event, and a click that lands on a redrawn button
   * must still do what the page shows now.
   */
  function toggleHidden(title) {
    const now = titles.find((t) => t.id === title.id) ?? title;
    return setHidden(title, !now.hidden);
  }

  /** Hides a title from clients or shows it again, in the host's `library_hidden` setting. */
  async function setHidden(title, hide) {
    const settings = await api('GET', '/settings');
    const list = (settings.library_hidden ?? []).filter((id) => id !== title.id);
    if (hide) list.push(title.id);
    await api('PATCH', '/settings', { library_hidden: list });
    toast(hide ? `${title.name} is hidden from clients` : `${title.name} is shown to clients again`);
    await loadTitles();
  }

  const readTitles = newestRead('/library');
  const readSessions = newestRead('/sessions');

  async function loadTitles() {
    try {
      const read = await readTitles();
      if (!read) return;
      titles = read.value;
      render();
    } catch (e) {
      toast(e.message, 'error');
    }
  }

  async function loadSessions() {
    try {
      const read = await readSessions();
      if (!read) return;
      sessions = read.value;
      renderTargets();
      render();
    } catch (e) {
      toast(e.message, 'error');
    }
  }

  search.addEventListener('input', render);
  target.addEventListener('change', render);
  rescan.addEventListener('click', () => busy(rescan, async () => {
    await api('POST', '/library/refresh');
    await loadTitles();
    toast('Library rescanned');
  }));

  const off = events.on({
    library_changed: loadTitles,
    session_started: loadSessions,
    session_ended: loadSessions,
    session_app: loadSessions,
    lagged: () => {
      loadTitles();
      loadSessions();
    },
  });
  renderTargets();
  loadTitles();
  loadSessions();
  return off;
}
