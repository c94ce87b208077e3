// ui.js: small DOM helpers shared by the pages — element building,
// relative times, toasts, confirmation dialogs, row menus, badges.

// h('tag.class#id', {attr: value, onclick: fn}, ...children)
export function h(spec, attrs, ...children) {
  const m = /^([a-z0-9]+)((?:[.#][-\w]+)*)$/i.exec(spec);
  const el = document.createElement(m ? m[1] : spec);
  if (m && m[2]) {
    for (const part of m[2].match(/[.#][-\w]+/g)) {
      if (part[0] === '.') el.classList.add(part.slice(1));
      else el.id = part.slice(1);
    }
  }
  if (attrs && (typeof attrs !== 'object' || attrs instanceof Node || Array.isArray(attrs))) {
    children.unshift(attrs);
    attrs = null;
  }
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') {
      el.addEventListener(k.slice(2), v);
    } else if (k === 'dataset') {
      Object.assign(el.dataset, v);
    } else if (k === 'value' && (el.tagName === 'INPUT' || el.tagName === 'TEXTAREA' || el.tagName === 'SELECT')) {
      el.value = v;
    } else if (k === 'checked' || k === 'disabled' || k === 'selected' || k === 'hidden') {
      el[k] = Boolean(v);
    } else {
      el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

// ------------------------------------------------------------------ times

export function exactTime(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  return `${d.toLocaleString()} (${d.toISOString()})`;
}

export function relative(iso, now = Date.now()) {
  const t = new Date(iso).getTime();
  if (Number.isNaN(t)) return '—';
  let s = Math.round((now - t) / 1000);
  const future = s < 0;
  s = Math.abs(s);
  let text;
  if (s < 5) return 'just now';
  if (s < 60) text = `${s}s`;
  else if (s < 3600) text = `${Math.floor(s / 60)}m`;
  else if (s < 86400) text = `${Math.floor(s / 3600)}h`;
  else text = `${Math.floor(s / 86400)}d`;
  return future ? `in ${text}` : `${text} ago`;
}

// A <time> showing "3m ago", with the exact time on hover; kept current
// by refreshTimes().
export function timeEl(iso) {
  if (!iso) return h('span.muted', '—');
  return h('time.rel', { datetime: iso, title: exactTime(iso) }, relative(iso));
}

export function refreshTimes(root = document) {
  const now = Date.now();
  for (const t of root.querySelectorAll('time.rel')) {
    t.textContent = relative(t.getAttribute('datetime'), now);
  }
}

// ----------------------------------------------------------------- toasts

export function toast(text, kind = 'ok') {
  const box = document.getElementById('toasts');
  const el = h(`div.toast.toast-${kind}`, { role: kind === 'error' ? 'alert' : 'status' }, text);
  box.append(el);
  setTimeout(() => el.remove(), 4000);
}

// ---------------------------------------------------------------- dialogs

// confirmDialog resolves true when the user confirms.
export function confirmDialog({ title, body, ok = 'OK', danger = false }) {
  return new Promise((resolve) => {
    const dlg = h('dialog.dialog', { 'aria-labelledby': 'dlg-title' },
      h('form', { method: 'dialog' },
        h('h2#dlg-title', title),
        h('div.dialog-body', body),
        h('div.actions',
          h('button.btn', { value: 'cancel', type: 'submit' }, 'Cancel'),
          h(`button.btn.${danger ? 'btn-danger' : 'btn-primary'}`, { value: 'ok', type: 'submit' }, ok))));
    dlg.addEventListener('close', () => {
      resolve(dlg.returnValue === 'ok');
      dlg.remove();
    });
    document.body.append(dlg);
    dlg.showModal();
  });
}

// ------------------------------------------------------------------ menus

// rowMenu(label, items): a "⋮" button opening a menu of items
// [{label, onSelect}], or of what a function returns when the menu opens
// (so that what the user may do is decided when they ask, not when the
// row was drawn); keyboard: Enter/Space/ArrowDown open, arrows move,
// Escape closes and returns focus.
export function rowMenu(label, items) {
  const wrap = h('div.menu-wrap');
  const btn = h('button.btn.btn-icon', {
    type: 'button', 'aria-haspopup': 'menu', 'aria-expanded': 'false', 'aria-label': label, title: label,
  }, '⋮');
  const menu = h('ul.menu', { role: 'menu', hidden: true });
  const close = (focusBtn) => {
    menu.hidden = true;
    btn.setAttribute('aria-expanded', 'false');
    document.removeEventListener('click', outside, true);
    if (focusBtn) btn.focus();
  };
  const outside = (e) => { if (!wrap.contains(e.target)) close(false); };
  const fill = () => {
    clear(menu);
    for (const it of typeof items === 'function' ? items() : items) {
      const mi = h('li', { role: 'none' },
        h(`button.menu-item${it.danger ? '.danger' : ''}`, { type: 'button', role: 'menuitem', tabindex: '-1' }, it.label));
      mi.firstChild.addEventListener('click', () => { close(false); it.onSelect(); });
      menu.append(mi);
    }
  };
  const open = () => {
    for (const m of document.querySelectorAll('ul.menu:not([hidden])')) m.hidden = true;
    fill();
    menu.hidden = false;
    btn.setAttribute('aria-expanded', 'true');
    document.addEventListener('click', outside, true);
    const first = menu.querySelector('[role=menuitem]');
    if (first) first.focus();
  };
  btn.addEventListener('click', () => (menu.hidden ? open() : close(false)));
  btn.addEventListener('keydown', (e) => {
    if (e.key === 'ArrowDown') { e.preventDefault(); open(); }
  });
  menu.addEventListener('keydown', (e) => {
    const all = [...menu.querySelectorAll('[role=menuitem]')];
    const i = all.indexOf(document.activeElement);
    if (e.key === 'Escape') { e.preventDefault(); close(true); }
    else if (e.key === 'ArrowDown') { e.preventDefault(); all[(i + 1) % all.length].focus(); }
    else if (e.key === 'ArrowUp') { e.preventDefault(); all[(i - 1 + all.length) % all.length].focus(); }
    else if (e.key === 'Tab') { close(false); }
  });
  wrap.append(btn, menu);
  return wrap;
}

// ----------------------------------------------------------------- badges

const STATE_CLASS = {
  SYNCED: 'ok', READY: 'ok', PENDING: 'wait', WAITING_ADDRESS: 'wait', DELETING: 'wait',
  ERROR: 'bad', UNREACHABLE: 'bad', UNAUTHORIZED: 'bad', UNKNOWN: 'none', UNSPECIFIED: 'none',
  // i19-ssd: drift policy Report kept a change made in the cluster.
  DRIFTED: 'bad',
};

const STATE_LABEL = {
  SYNCED: 'Synced', READY: 'Ready', PENDING: 'Pending', WAITING_ADDRESS: 'Waiting for address',
  DELETING: 'Deleting', ERROR: 'Error', UNREACHABLE: 'Unreachable', UNAUTHORIZED: 'Unauthorized',
  UNKNOWN: 'Unknown', UNSPECIFIED: 'Not synced yet',
  DRIFTED: 'Drifted (kept)',
};

export function badge(state) {
  const s = state || 'UNSPECIFIED';
  return h(`span.badge.badge-${STATE_CLASS[s] || 'none'}`, { dataset: { state: s } }, STATE_LABEL[s] || s);
}

export function errorBox(err) {
  return h('div.alert.alert-error', { role: 'alert' }, err.message || String(err));
}
