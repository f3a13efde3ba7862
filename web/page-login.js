// The login form: the console password, exchanged for the API's session cookie.

import { api } from './api.js';
import { h } from './dom.js';

export function mountLogin(root, onLoggedIn) {
  const password = h('input', {
    id: 'password',
    name: 'password',
    type: 'password',
    autocomplete: 'current-password',
    required: true,
  });
  const error = h('p', { class: 'error', role: 'alert', id: 'login-error' });
  const submit = h('button', { type: 'submit', class: 'primary' }, 'Sign in');
  const form = h(
    'form',
    { class: 'card login', 'aria-labelledby': 'login-title', novalidate: true },
    h('img', { src: '/assets/icon.svg', alt: '', width: 48, height: 48 }),
    h('h1', { id: 'login-title' }, 'punktfunk console'),
    // Lets password managers file the password under a name; the console has only one account.
    h('input', { type: 'text', name: 'username', autocomplete: 'username', value: 'console', hidden: true, 'aria-hidden': 'true', tabindex: -1 }),
    h('label', { for: 'password' }, 'Password'),
    password,
    error,
    submit,
    h(
      'p',
      { class: 'hint' },
      'Set the console password on the host with its admin token (docs/api.md, PUT /auth/password).',
    ),
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.textContent = '';
    if (!password.value) {
      error.textContent = 'Enter the console password.';
      password.focus();
      return;
    }
    submit.disabled = true;
    try {
      await api('POST', '/auth/login', { password: password.value });
      onLoggedIn();
    } catch (err) {
      // The host says why (wrong password, or none set yet); 429 is the login rate limit.
      error.textContent =
        err.status === 429
          ? 'Too many attempts. Wait a minute, then try again.'
          : sentence(err.message);
      password.select();
    } finally {
      submit.disabled = false;
    }
  });
  root.replaceChildren(h('div', { class: 'login-wrap' }, form));
  password.focus();
  return () => {};
}

function sentence(text) {
  const t = String(text).trim();
  if (!t) return 'Signing in failed.';
  return t.charAt(0).toUpperCase() + t.slice(1) + (/[.!?]$/.test(t) ? '' : '.');
}
