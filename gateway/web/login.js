// login.js: sign in with a bearer token. The server checks it (WhoAmI);
// the console keeps it in this tab's sessionStorage only.
import * as api from './api.js';
import { h } from './ui.js';
import { go, session } from './nav.js';

export function loginPage(main, params, query, alive) {
  document.title = 'Log in — svcfleet';
  const input = h('input#login-token', {
    type: 'password', name: 'token', autocomplete: 'current-password', required: true,
    'aria-describedby': 'login-help',
  });
  const err = h('p.field-error#login-token-err', { hidden: true });
  const form = h('form.card.login', { novalidate: true },
    h('h1', { tabindex: '-1' }, 'Log in to svcfleet'),
    query.expired ? h('div.alert.alert-warn', { role: 'alert' },
      'The server did not accept your token any more. Log in again.') : null,
    h('div.field',
      h('label', { for: 'login-token' }, 'Access token'),
      input,
      err,
      h('p.help#login-help', 'A svcfleet bearer token: ',
        h('code', 'svcfleet token create USER'), ' prints one; the admin token is in ',
        h('code', '<data-dir>/admin.token'), '.')),
    h('div.actions', h('button.btn.btn-primary', { type: 'submit' }, 'Log in')));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.hidden = true;
    input.removeAttribute('aria-invalid');
    const t = input.value.trim();
    try {
      const me = await api.get('/whoami', { token: t });
      api.setToken(t);
      session.user = me.status.userInfo.username;
      session.groups = me.status.userInfo.groups || [];
      if (alive()) go(query.next && query.next !== '/login' ? query.next : '/clusters');
    } catch (ex) {
      if (!alive()) return;
      err.textContent = ex.status === 401
        ? 'The server does not accept this token (unknown, expired or revoked).'
        : ex.message;
      err.hidden = false;
      input.setAttribute('aria-invalid', 'true');
      input.setAttribute('aria-describedby', 'login-token-err login-help');
      input.focus();
    }
  });
  main.append(form);
  input.focus();
}
