// account.js - who is logged in, in multi-user mode: the user bar of the app's headers (the
// user's name, an Admin link for admins, "My tokens", "Log out") and the API token manager (a
// modal dialog listing tokens, making one that is shown once, revoking). The admin page reuses
// the token manager for any user's tokens, and the small DOM helpers (h, openModal).
//
// What it does not do: log in (the server's login page does) or decide what a user may do (the
// server does; a 403 is shown as an error). In single-user mode GET api/me has no
// identity.admin field, and nothing is added.
//
// Exported: loadMe() (api/me's identity, or null; fetched once per page), addUserBar(header,
// {page}), tokenManager({title, list, create, revoke}), h, openModal, formatDate.

import { errorText, request, url } from './api.js';
import { h } from './dom.js';

export { h };

export function formatDate(s) {
  if (!s) return '';
  const t = Date.parse(s);
  return Number.isFinite(t) ? new Date(t).toLocaleString() : String(s);
}

let mePromise = null;

// The caller's identity from api/me ({username, admin?, ...}) or null when it cannot be had.
export function loadMe() {
  if (!mePromise) {
    mePromise = request('GET', 'api/me')
      .then((r) => (r && r.identity) || null)
      .catch(() => null);
  }
  return mePromise;
}

// for tests
export function resetMe() {
  mePromise = null;
}

let modalSeq = 0;
let fieldSeq = 0;

// Shows a modal <dialog> made of `content` (elements) under an h2 `title`. Returns {dialog,
// close(), error(msg), closed (a promise)}. Esc and the Close/Cancel button close it; focus
// goes to `focus` (or the first field) and back to where it was afterwards. The dialog has its
// own role=alert line for errors of what is done in it.
export function openModal({ title, content = [], buttons = [], focus, className = '' }) {
  const id = `modal-title-${++modalSeq}`;
  const before = document.activeElement;
  const err = h('p', { class: 'modal-error', role: 'alert' });
  const heading = h('h2', { id, text: title });
  let done;
  const closed = new Promise((r) => (done = r));
  const close = () => {
    if (!dialog.isConnected) return;
    if (typeof dialog.close === 'function' && dialog.open) dialog.close();
    dialog.removeAttribute('open');
    dialog.remove();
    if (before && before.isConnected && typeof before.focus === 'function') before.focus();
    done();
  };
  const closeBtn = h('button', { type: 'button', class: 'btn', 'data-action': 'close', text: 'Close', onclick: close });
  const dialog = h(
    'dialog',
    { class: `modal ${className}`.trim(), 'aria-labelledby': id },
    heading,
    err,
    ...content,
    h('div', { class: 'modal-buttons' }, ...buttons, closeBtn),
  );
  dialog.addEventListener('cancel', (ev) => {
    ev.preventDefault();
    close();
  });
  dialog.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape') {
      ev.preventDefault();
      ev.stopPropagation();
      close();
    }
  });
  document.body.append(dialog);
  if (typeof dialog.showModal === 'function') {
    try {
      dialog.showModal();
    } catch {
      dialog.setAttribute('open', '');
    }
  } else {
    dialog.setAttribute('open', '');
  }
  const first = focus || dialog.querySelector('input:not([type=hidden]):not([readonly]), select') || closeBtn;
  first.focus();
  return {
    dialog,
    close,
    closed,
    closeButton: closeBtn,
    error(msg) {
      err.textContent = msg ? (typeof msg === 'string' ? msg : errorText(msg)) : '';
    },
  };
}

const EXPIRY = [
  ['', 'Never'],
  ['86400', '1 day'],
  ['2592000', '30 days'],
  ['31536000', '1 year'],
];

// The token manager dialog. api: {list() -> [tokens], create({note, expires_in}) -> {id, token},
// revoke(id)}. Resolves when it is closed.
export function tokenManager({ title, list, create, revoke, onChange }) {
  const fid = ++fieldSeq;
  const tbody = h('tbody');
  const empty = h('p', { class: 'muted', text: 'No tokens.', hidden: true });
  const table = h(
    'table',
    { class: 'data-table tokens-table' },
    h('caption', { class: 'sr-only', text: 'API tokens' }),
    h(
      'thead',
      null,
      h(
        'tr',
        null,
        ...['ID', 'Note', 'Created', 'Expires', 'Last used', 'Actions'].map((t) => h('th', { scope: 'col', text: t })),
      ),
    ),
    tbody,
  );
  const note = h('input', { type: 'text', id: `tok-note-${fid}`, name: 'note', autocomplete: 'off' });
  const expiry = h('select', { id: `tok-exp-${fid}`, name: 'expires_in' }, ...EXPIRY.map(([v, t]) => h('option', { value: v, text: t })));
  const status = h('p', { class: 'muted', role: 'status' });
  const shown = h('input', { type: 'text', readonly: true, class: 'token-text', 'aria-label': 'New token', spellcheck: 'false' });
  const copyBtn = h('button', {
    type: 'button',
    class: 'btn',
    text: 'Copy',
    onclick: async () => {
      shown.select();
      try {
        await navigator.clipboard.writeText(shown.value);
      } catch {
        try {
          document.execCommand('copy');
        } catch {
          /* selected: the user can copy it */
        }
      }
      status.textContent = 'Token copied.';
    },
  });
  const newBox = h(
    'div',
    { class: 'token-new', hidden: true },
    h('p', { text: 'Your new token. Copy it now: it is not shown again.' }),
    h('div', { class: 'row' }, shown, copyBtn),
  );
  const form = h(
    'form',
    { class: 'token-form' },
    h('div', { class: 'field' }, h('label', { for: note.id, text: 'Note' }), note),
    h('div', { class: 'field' }, h('label', { for: expiry.id, text: 'Expires' }), expiry),
    h('button', { type: 'submit', class: 'btn primary', text: 'New token' }),
  );
  const m = openModal({ title, content: [status, table, empty, form, newBox], className: 'tokens-dialog', focus: note });

  async function reload() {
    try {
      const toks = (await list()) || [];
      tbody.replaceChildren(
        ...toks.map((t) =>
          h(
            'tr',
            { dataset: { tokenId: String(t.id) } },
            h('td', { text: String(t.id) }),
            h('td', { text: t.note || '' }),
            h('td', { text: formatDate(t.created) }),
            h('td', { text: t.expires ? formatDate(t.expires) : 'never' }),
            h('td', { text: t.last_used ? formatDate(t.last_used) : 'never' }),
            h(
              'td',
              null,
              h('button', {
                type: 'button',
                class: 'btn danger',
                'data-action': 'revoke',
                'aria-label': `Revoke token ${t.id}${t.note ? ` (${t.note})` : ''}`,
                text: 'Revoke',
                onclick: () => doRevoke(t),
              }),
            ),
          ),
        ),
      );
      empty.hidden = toks.length > 0;
      table.hidden = toks.length === 0;
    } catch (e) {
      m.error(e);
    }
  }

  async function doRevoke(t) {
    m.error('');
    try {
      await revoke(t.id);
      status.textContent = `Token ${t.id} revoked.`;
      if (onChange) onChange();
    } catch (e) {
      m.error(e);
    }
    await reload();
    note.focus();
  }

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    m.error('');
    const body = {};
    if (note.value.trim()) body.note = note.value.trim();
    if (expiry.value) body.expires_in = Number(expiry.value);
    try {
      const r = await create(body);
      shown.value = r.token;
      newBox.hidden = false;
      note.value = '';
      status.textContent = `Token ${r.id} created.`;
      if (onChange) onChange();
      await reload();
      shown.focus();
      shown.select();
    } catch (e) {
      m.error(e);
    }
  });
  reload();
  return m;
}

export function ownTokens() {
  return tokenManager({
    title: 'My API tokens',
    list: () => request('GET', 'api/tokens'),
    create: (b) => request('POST', 'api/tokens', b),
    revoke: (id) => request('DELETE', `api/tokens/${encodeURIComponent(id)}`),
  });
}

// Adds the user bar to a page header once api/me has answered. page: 'tree' | 'notebook' |
// 'admin' (no Admin link on the admin page itself).
export async function addUserBar(header, { page = '' } = {}) {
  const me = await loadMe();
  if (!me || typeof me.admin !== 'boolean' || !header.isConnected) return null;
  const bar = h(
    'nav',
    { class: 'userbar', 'aria-label': 'Account' },
    me.admin && page !== 'admin' ? h('a', { href: url('admin'), class: 'userbar-admin', text: 'Admin' }) : null,
    h('span', { class: 'userbar-name' }, h('span', { class: 'sr-only', text: 'Logged in as ' }), me.name || me.username),
    h('button', { type: 'button', class: 'btn userbar-tokens', text: 'My tokens', onclick: () => ownTokens() }),
    h('a', { href: url('logout'), class: 'userbar-logout', text: 'Log out' }),
  );
  header.append(bar);
  return bar;
}
