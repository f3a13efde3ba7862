// Settings: a form built from whatever GET /settings returns (booleans → checkboxes, numbers →
// number fields, strings → text, lists and tables → JSON), with types and help texts from the
// API's OpenAPI document when it is readable. Saving sends only the fields that changed.

import { api } from './api.js';
import { h, label, toast } from './dom.js';

/** The JSON type a field holds: from the schema when it says, else from the value. */
function kindOf(value, schema) {
  const declared = [];
  const collect = (s) => {
    if (!s || typeof s !== 'object') return;
    if (Array.isArray(s.type)) declared.push(...s.type);
    else if (typeof s.type === 'string') declared.push(s.type);
    for (const alt of [...(s.oneOf ?? []), ...(s.anyOf ?? [])]) collect(alt);
  };
  collect(schema);
  const nullable = declared.includes('null') || value === null;
  const concrete = declared.filter((t) => t !== 'null');
  let type = concrete.length === 1 ? concrete[0] : null;
  if (!type) {
    if (typeof value === 'boolean') type = 'boolean';
    else if (typeof value === 'number') type = Number.isInteger(value) ? 'integer' : 'number';
    else if (typeof value === 'string') type = 'string';
    else if (value !== null) type = 'json';
    else type = 'string';
  }
  if (type === 'array' || type === 'object') type = 'json';
  return { type, nullable };
}

function settingsSchema(spec) {
  const schemas = spec?.components?.schemas ?? {};
  return schemas.Settings?.properties ?? {};
}

/** One form field: its element and a reader that returns the value or throws a reason. */
function field(key, value, schema) {
  const { type, nullable } = kindOf(value, schema);
  const id = `setting-${key}`;
  const help = schema?.description
    ? h('p', { class: 'hint', id: `${id}-help` }, schema.description)
    : null;
  const describedBy = help ? `${id}-help` : null;

  if (type === 'boolean') {
    const input = h('input', { id, type: 'checkbox', checked: value === true, 'aria-describedby': describedBy });
    return {
      element: h('div', { class: 'field check' }, input, h('label', { for: id }, label(key)), help),
      read: () => input.checked,
    };
  }
  if (type === 'json') {
    const input = h('textarea', {
      id,
      rows: Math.min(10, Math.max(3, JSON.stringify(value, null, 2).split('\n').length)),
      spellcheck: 'false',
      class: 'mono',
      'aria-describedby': describedBy,
    });
    input.value = JSON.stringify(value, null, 2);
    return {
      element: h('div', { class: 'field wide' }, h('label', { for: id }, label(key), h('span', { class: 'muted' }, ' (JSON)')), input, help),
      read: () => {
        try {
          return JSON.parse(input.value);
        } catch (e) {
          throw new Error(`${label(key)}: not valid JSON (${e.message})`);
        }
      },
    };
  }
  const numeric = type === 'integer' || type === 'number';
  const input = h('input', {
    id,
    type: numeric ? 'number' : 'text',
    step: type === 'integer' ? '1' : numeric ? 'any' : null,
    value: value === null || value === undefined ? '' : String(value),
    placeholder: nullable ? 'not set' : null,
    'aria-describedby': describedBy,
  });
  return {
    element: h('div', { class: 'field' }, h('label', { for: id }, label(key)), input, help),
    read: () => {
      const text = input.value.trim();
      if (text === '' && nullable) return null;
      if (!numeric) return input.value;
      const n = Number(text);
      if (text === '' || !Number.isFinite(n)) throw new Error(`${label(key)}: enter a number`);
      if (type === 'integer' && !Number.isInteger(n)) throw new Error(`${label(key)}: enter a whole number`);
      return n;
    },
  };
}

export function mountSettings(root) {
  const error = h('div', { class: 'error', role: 'alert', id: 'settings-error' });
  const fields = h('div', { class: 'fields' });
  const save = h('button', { type: 'submit', class: 'primary' }, 'Save');
  const form = h('form', { class: 'card settings', 'aria-labelledby': 'settings-title', novalidate: true },
    fields, error, h('div', { class: 'actions' }, save));
  root.replaceChildren(
    h('h1', { id: 'settings-title' }, 'Settings'),
    h('p', { class: 'muted' },
      'Saved to config.toml on the host. Flags and environment variables the host was started with ',
      'still win, and listening addresses and ports change when the host restarts.'),
    form,
    passwordCard(),
  );

  let original = {};
  let readers = {};
  let schema = {};

  function render(values) {
    original = values;
    readers = {};
    fields.replaceChildren();
    for (const [key, value] of Object.entries(values)) {
      const f = field(key, value, schema[key]);
      readers[key] = f.read;
      fields.append(f.element);
    }
  }

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.textContent = '';
    const changed = {};
    try {
      for (const [key, read] of Object.entries(readers)) {
        const value = read();
        if (JSON.stringify(value) !== JSON.stringify(original[key])) changed[key] = value;
      }
    } catch (err) {
      error.textContent = err.message;
      return;
    }
    if (!Object.keys(changed).length) {
      toast('Nothing changed');
      return;
    }
    save.disabled = true;
    try {
      const updated = await api('PATCH', '/settings', changed);
      render(updated && typeof updated === 'object' ? updated : await api('GET', '/settings'));
      toast(`Saved ${Object.keys(changed).map(label).join(', ')}`);
    } catch (err) {
      error.textContent = err.status === 400 ? `Not saved: ${err.message}` : err.message;
    } finally {
      save.disabled = false;
    }
  });

  (async () => {
    try {
      const [values, spec] = await Promise.all([
        api('GET', '/settings'),
        api('GET', '/openapi.json').catch(() => null),
      ]);
      schema = settingsSchema(spec);
      render(values);
    } catch (e) {
      if (e.status !== 401) error.textContent = e.message;
    }
  })();
  return () => {};
}

/** Changing the console password (the API keeps only its argon2 hash). */
function passwordCard() {
  const next = h('input', { id: 'new-password', type: 'password', autocomplete: 'new-password', minlength: 8 });
  const again = h('input', { id: 'repeat-password', type: 'password', autocomplete: 'new-password' });
  const error = h('p', { class: 'error', role: 'alert' });
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Change password');
  const form = h('form', { class: 'card', 'aria-labelledby': 'password-title', novalidate: true },
    h('h2', { id: 'password-title' }, 'Console password'),
    h('div', { class: 'fields' },
      h('div', { class: 'field' }, h('label', { for: 'new-password' }, 'New password'), next),
      h('div', { class: 'field' }, h('label', { for: 'repeat-password' }, 'Repeat it'), again)),
    error,
    h('div', { class: 'actions' }, submit));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.textContent = '';
    if (next.value !== again.value) {
      error.textContent = 'The two passwords differ.';
      return;
    }
    submit.disabled = true;
    try {
      await api('PUT', '/auth/password', { password: next.value });
      next.value = '';
      again.value = '';
      toast('Password changed');
    } catch (err) {
      error.textContent = err.message;
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}
