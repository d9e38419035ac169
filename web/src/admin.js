// admin.js - the admin page ({base}admin) of multi-user mode, over the admin REST API
// (server/api_admin.c): users (last activity, running kernels, GPUs, quota) with create, make or
// revoke admin, delete (confirm dialog), tokens (new one shown once, revoke), quota, stop all
// kernels, spawn a kernel (optional profile); every user's kernels and pods with Stop; the
// default quotas; the audit log (latest 100). Refreshes every few seconds while the tab is
// visible and no dialog is open; unchanged rows stay the same nodes, so focus stays put.
//
// What it does not do: decide who may do what (the server answers 403 to non-admins, shown as
// an "Admins only" page) or talk to the network other than through api.js.
//
// Exported: showAdmin(root), stopAdmin(); for tests: quotaFromForm, formatIdle, quotaText.

import { appLink, errorText, kernelspecs, request } from './api.js';
import { addUserBar, formatDate, h, loadMe, openModal, tokenManager } from './account.js';
import { relativeTime } from './tree.js';

const REFRESH_MS = 4000;
const QUOTA_FIELDS = [
  ['max_kernels', 'Max running kernels'],
  ['max_gpus', 'Max GPUs'],
  ['max_idle_s', 'Max idle seconds'],
];

const state = { root: null, els: null, timer: null, busy: false, modals: 0, me: null, ready: false, users: [], defaults: null };

const enc = encodeURIComponent;
const A = {
  users: () => request('GET', 'api/admin/users'),
  addUser: (b) => request('POST', 'api/admin/users', b),
  patchUser: (n, b) => request('PATCH', `api/admin/users/${enc(n)}`, b),
  deleteUser: (n) => request('DELETE', `api/admin/users/${enc(n)}`),
  tokens: (n) => request('GET', `api/admin/users/${enc(n)}/tokens`),
  newToken: (n, b) => request('POST', `api/admin/users/${enc(n)}/tokens`, b),
  revokeToken: (n, id) => request('DELETE', `api/admin/users/${enc(n)}/tokens/${enc(id)}`),
  quota: (n) => request('GET', `api/admin/users/${enc(n)}/quota`),
  setQuota: (n, q) => request('PUT', `api/admin/users/${enc(n)}/quota`, q),
  defaults: () => request('GET', 'api/admin/quotas'),
  setDefaults: (q) => request('PUT', 'api/admin/quotas', q),
  kernels: () => request('GET', 'api/admin/kernels'),
  stopKernel: (id) => request('DELETE', `api/admin/kernels/${enc(id)}`),
  spawn: (n, b) => request('POST', `api/admin/users/${enc(n)}/kernels`, b),
  stopAll: (n) => request('DELETE', `api/admin/users/${enc(n)}/kernels`),
  audit: () => request('GET', 'api/admin/audit?limit=100'),
  profiles: () => request('GET', 'api/cnote/profiles'),
};

// ---- pure helpers (tested) ----

// {max_kernels: '3', max_gpus: '', ...} -> {max_kernels: 3, max_gpus: null, ...}. Empty means
// "the default" (null) unless allowEmpty is false. Throws an Error naming the bad field.
export function quotaFromForm(values, { allowEmpty = true } = {}) {
  const out = {};
  for (const [key, label] of QUOTA_FIELDS) {
    const raw = String(values[key] ?? '').trim();
    if (raw === '') {
      if (!allowEmpty) throw new Error(`${label}: a number is needed`);
      out[key] = null;
      continue;
    }
    if (!/^\d+$/.test(raw) || Number(raw) > 1000000) throw new Error(`${label}: a whole number from 0 to 1000000${allowEmpty ? ', or empty for the default' : ''}`);
    out[key] = Number(raw);
  }
  return out;
}

export function formatIdle(s) {
  if (typeof s !== 'number' || !Number.isFinite(s) || s < 0) return '';
  if (s < 60) return `${Math.floor(s)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

// an effective quota as one line: "10 kernels, 1 GPU, idle: no limit"
export function quotaText(q) {
  if (!q) return '';
  const n = (v, one, many) => `${v} ${v === 1 ? one : many}`;
  const idle = !q.max_idle_s ? 'no limit' : formatIdle(q.max_idle_s);
  return `${n(q.max_kernels, 'kernel', 'kernels')}, ${n(q.max_gpus, 'GPU', 'GPUs')}, idle: ${idle}`;
}

// ---- alerts ----

function showError(e, prefix = '') {
  const { alert, alertBox } = state.els;
  alert.textContent = `${prefix}${typeof e === 'string' ? e : errorText(e)}`;
  alertBox.hidden = false;
}

function clearError() {
  state.els.alert.textContent = '';
  state.els.alertBox.hidden = true;
}

function setStatus(t) {
  state.els.status.textContent = t || '';
}

// Runs an action from a button: errors to the banner, a status line, then a refresh.
async function act(fn, done) {
  clearError();
  try {
    await fn();
    if (done) setStatus(done);
  } catch (e) {
    showError(e);
  }
  await refresh();
}

// ---- the skeleton ----

function section(id, title, ...children) {
  return h('section', { id, class: 'admin-section', 'aria-labelledby': `${id}-title` }, h('h2', { id: `${id}-title`, text: title }), ...children);
}

function table(id, caption, cols) {
  const tbody = h('tbody');
  const t = h(
    'table',
    { id, class: 'data-table' },
    h('caption', { class: 'sr-only', text: caption }),
    h('thead', null, h('tr', null, ...cols.map((c) => h('th', { scope: 'col', text: c })))),
    tbody,
  );
  return { table: t, tbody };
}

function field(id, label, input, hint) {
  input.id = id;
  if (!input.name) input.name = id;
  return h('div', { class: 'field' }, h('label', { for: id, text: label }), input, hint ? h('span', { class: 'hint', text: hint }) : null);
}

function quotaInputs(prefix, values = {}, placeholders = {}) {
  const inputs = {};
  const fields = QUOTA_FIELDS.map(([key, label]) => {
    const v = values[key];
    inputs[key] = h('input', {
      type: 'text',
      inputmode: 'numeric',
      name: key,
      size: 8,
      autocomplete: 'off',
      placeholder: placeholders[key] !== undefined ? String(placeholders[key]) : null,
    });
    inputs[key].value = typeof v === 'number' && v >= 0 ? String(v) : '';
    return field(`${prefix}-${key}`, label, inputs[key]);
  });
  const read = () => Object.fromEntries(Object.entries(inputs).map(([k, el]) => [k, el.value]));
  return { fields, inputs, read };
}

function buildSkeleton(root) {
  const header = h('header', { class: 'app-header admin-header' }, h('a', { class: 'brand', href: appLink('tree', ''), text: 'cnote' }), h('span', { class: 'admin-crumb', text: 'Admin' }));
  const alert = h('div', { class: 'grow', role: 'alert' });
  const alertBox = h(
    'div',
    { class: 'banner error', hidden: true },
    alert,
    h('button', { type: 'button', class: 'btn', 'aria-label': 'Dismiss error', text: '×', onclick: () => clearError() }),
  );
  const status = h('p', { class: 'admin-status', role: 'status', 'aria-live': 'polite' });

  // create user
  const newName = h('input', { type: 'text', autocomplete: 'off', spellcheck: 'false', required: true });
  const newAdmin = h('input', { type: 'checkbox' });
  const newPw = h('input', { type: 'password', autocomplete: 'new-password' });
  const createForm = h(
    'form',
    { class: 'admin-form', id: 'create-user', 'aria-labelledby': 'create-user-title' },
    h('h3', { id: 'create-user-title', text: 'Create a user' }),
    field('new-user-name', 'User name', newName),
    h('div', { class: 'field check' }, Object.assign(newAdmin, { id: 'new-user-admin', name: 'admin' }), h('label', { for: 'new-user-admin', text: 'Admin' })),
    field('new-user-password', 'Password (optional)', newPw),
    h('button', { type: 'submit', class: 'btn primary', text: 'Create user' }),
  );
  createForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const name = newName.value.trim();
    if (!name) {
      showError('A user name is needed.');
      newName.focus();
      return;
    }
    const body = { name, admin: newAdmin.checked };
    if (newPw.value) body.password = newPw.value;
    act(async () => {
      await A.addUser(body);
      newName.value = '';
      newPw.value = '';
      newAdmin.checked = false;
    }, `Created user ${name}.`);
  });

  const users = table('users-table', 'Users', ['User', 'Role', 'Last activity', 'Kernels', 'GPUs', 'Quota', 'Actions']);
  const kernels = table('kernels-table', 'Kernels and pods of every user', ['Owner', 'Kernel', 'State', 'Idle', 'Pod', 'Node', 'Profile', 'Stage', 'Actions']);
  const kernelsEmpty = h('p', { class: 'muted', text: 'No kernels are running.', hidden: true });
  const audit = table('audit-table', 'Audit log, newest first', ['Time', 'Actor', 'Action', 'Target', 'Detail']);

  const defs = quotaInputs('default-quota');
  const defaultsForm = h(
    'form',
    { class: 'admin-form', id: 'default-quotas' },
    h('p', { class: 'hint', text: 'Apply to every user without a quota of their own. 0 idle seconds: never culled.' }),
    ...defs.fields,
    h('button', { type: 'submit', class: 'btn primary', text: 'Save defaults' }),
  );
  defaultsForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    let q;
    try {
      q = quotaFromForm(defs.read(), { allowEmpty: false });
    } catch (e) {
      showError(e.message);
      return;
    }
    act(async () => {
      state.defaults = await A.setDefaults(q);
      fillDefaults();
    }, 'Saved the default quotas.');
  });

  const main = h(
    'main',
    { class: 'admin-body' },
    h('h1', { text: 'Administration' }),
    alertBox,
    status,
    section('users', 'Users', createForm, h('div', { class: 'table-wrap' }, users.table)),
    section('kernels', 'Kernels and pods', h('div', { class: 'table-wrap' }, kernels.table), kernelsEmpty),
    section('quotas', 'Default quotas', defaultsForm),
    section('audit', 'Audit log', h('p', { class: 'hint', text: 'The latest 100 entries, newest first.' }), h('div', { class: 'table-wrap' }, audit.table)),
  );
  root.replaceChildren(header, main);
  root.classList.add('cnote-admin');
  return { header, main, alert, alertBox, status, users: users.tbody, kernels: kernels.tbody, kernelsTable: kernels.table, kernelsEmpty, audit: audit.tbody, defs };
}

function fillDefaults() {
  const q = state.defaults;
  if (!q) return;
  for (const [k] of QUOTA_FIELDS) {
    const el = state.els.defs.inputs[k];
    if (document.activeElement !== el) el.value = String(q[k]);
  }
}

// ---- rows ----

// Keeps rows whose data did not change (and the focus in them); key -> row built by build(item).
function reconcile(tbody, items, keyOf, build) {
  const existing = new Map();
  for (const tr of tbody.querySelectorAll(':scope > tr')) existing.set(tr.dataset.key, tr);
  const focused = document.activeElement && tbody.contains(document.activeElement) ? document.activeElement : null;
  const focusKey = focused && focused.closest('tr') ? [focused.closest('tr').dataset.key, focused.dataset.action] : null;
  const rows = items.map((it) => {
    const key = keyOf(it);
    const sig = JSON.stringify(it);
    const old = existing.get(key);
    if (old && old.dataset.sig === sig) return old;
    const tr = build(it);
    tr.dataset.key = key;
    tr.dataset.sig = sig;
    return tr;
  });
  const keep = new Set(rows);
  for (const tr of existing.values()) if (!keep.has(tr)) tr.remove();
  rows.forEach((tr, i) => {
    const at = tbody.children[i];
    if (at !== tr) tbody.insertBefore(tr, at || null);
  });
  if (focusKey && (!document.activeElement || document.activeElement === document.body)) {
    const tr = rows.find((r) => r.dataset.key === focusKey[0]);
    const el = tr && (tr.querySelector(`[data-action="${focusKey[1]}"]`) || tr.querySelector('button'));
    if (el) el.focus();
  }
}

function btn(action, text, label, onclick, extra = {}) {
  return h('button', { type: 'button', class: `btn ${extra.danger ? 'danger' : ''}`.trim(), 'data-action': action, 'aria-label': label, text, onclick, disabled: extra.disabled, title: extra.title });
}

function timeCell(s) {
  if (!s) return h('td', { text: 'never' });
  const t = Date.parse(s);
  if (!Number.isFinite(t)) return h('td', { text: String(s) });
  const d = new Date(t);
  return h('td', null, h('time', { datetime: d.toISOString(), title: d.toLocaleString(), text: relativeTime(d) }));
}

function userRow(u) {
  const self = state.me && state.me.username === u.name;
  const n = u.name;
  return h(
    'tr',
    { dataset: { user: n } },
    h('th', { scope: 'row', class: 'user-name', text: n }),
    h('td', { class: 'user-role', text: u.admin ? 'admin' : 'user' }),
    timeCell(u.last_activity),
    h('td', { class: 'num user-kernels', text: String(u.kernels ?? 0) }),
    h('td', { class: 'num user-gpus', text: String(u.gpus ?? 0) }),
    h('td', { class: 'user-quota', text: quotaText(u.quota) }),
    h(
      'td',
      { class: 'actions' },
      h(
        'div',
        { class: 'actions-wrap' },
        u.admin
          ? btn('revoke-admin', 'Revoke admin', `Revoke admin role of ${n}`, () => act(() => A.patchUser(n, { admin: false }), `${n} is no longer an admin.`), { disabled: self, title: self ? 'You cannot revoke your own admin role' : null })
          : btn('make-admin', 'Make admin', `Make admin ${n}`, () => act(() => A.patchUser(n, { admin: true }), `${n} is now an admin.`)),
        btn('tokens', 'Tokens', `Tokens of ${n}`, () => userTokens(n)),
        btn('quota', 'Quota', `Edit quota of ${n}`, () => editQuota(n)),
        btn('spawn', 'Spawn kernel', `Spawn kernel for ${n}`, () => spawnKernel(n)),
        btn('stop-all', 'Stop kernels', `Stop kernels of ${n}`, () => stopAll(n), { disabled: !u.kernels }),
        btn('delete', 'Delete', `Delete user ${n}`, () => deleteUser(n), { danger: true, disabled: self, title: self ? 'You cannot delete yourself' : null }),
      ),
    ),
  );
}

function kernelRow(k) {
  const l = k.launch || null;
  const st = k.execution_state || 'unknown';
  const pod = l && l.pod;
  const short = String(k.id || '').slice(0, 8);
  return h(
    'tr',
    { dataset: { kernelId: k.id, owner: k.owner || '' } },
    h('td', { class: 'kernel-owner', text: k.owner || '' }),
    h('td', { class: 'kernel-name' }, h('span', { text: k.name || '' }), ' ', h('code', { title: k.id, text: short })),
    h('td', { class: 'kernel-state' }, h('span', { class: 'state', dataset: { state: st }, text: st })),
    h('td', { class: 'num', text: formatIdle(k.idle_s) }),
    h('td', { text: pod || (l ? '' : 'local process') }),
    h('td', { text: (l && l.node) || '' }),
    h('td', { text: (l && l.profile) || '' }),
    h('td', { text: (l && l.stage) || '' }),
    h('td', { class: 'actions' }, btn('stop', 'Stop', `Stop kernel ${short} of ${k.owner || 'nobody'}`, () => act(() => A.stopKernel(k.id), `Stopped kernel ${short} of ${k.owner}.`))),
  );
}

function auditRow(a) {
  const d = a.detail && typeof a.detail === 'object' ? a.detail : null;
  return h(
    'tr',
    null,
    h('td', { class: 'audit-time', text: formatDate(a.time) }),
    h('td', { text: a.actor || 'system' }),
    h('td', { class: 'audit-action', text: a.action || '' }),
    h('td', { text: a.target || '' }),
    h('td', { class: 'audit-detail' }, d ? h('code', { text: JSON.stringify(d) }) : ''),
  );
}

// ---- refresh ----

async function refresh({ first = false } = {}) {
  if (state.busy && !first) return;
  state.busy = true;
  try {
    const [users, kernels, audit] = await Promise.allSettled([A.users(), A.kernels(), A.audit()]);
    if (!state.root || !state.root.isConnected) return;
    const failed = [users, kernels, audit].find((r) => r.status === 'rejected');
    if (users.status === 'fulfilled') {
      state.users = users.value || [];
      reconcile(state.els.users, state.users, (u) => u.name, userRow);
    }
    if (kernels.status === 'fulfilled') {
      const ks = kernels.value || [];
      reconcile(state.els.kernels, ks, (k) => k.id, kernelRow);
      state.els.kernelsEmpty.hidden = ks.length > 0;
      state.els.kernelsTable.hidden = ks.length === 0;
    }
    if (audit.status === 'fulfilled') {
      const list = (audit.value || []).slice(0, 100);
      let i = 0;
      reconcile(state.els.audit, list, (a) => `${a.time}|${a.action}|${a.target}|${i++}`, auditRow);
    }
    if (failed) showError(failed.reason, 'Refresh failed: ');
    else if (state.els.alert.textContent.startsWith('Refresh failed: ')) clearError();
  } finally {
    state.busy = false;
  }
}

// ---- dialogs ----

function modal(opts) {
  state.modals++;
  const m = openModal(opts);
  m.closed.then(() => {
    state.modals--;
  });
  return m;
}

function confirmAction(message, okLabel) {
  return new Promise((resolve) => {
    let ok = false;
    const okBtn = h('button', {
      type: 'button',
      class: 'btn danger',
      'data-action': 'confirm',
      text: okLabel,
      onclick: () => {
        ok = true;
        m.close();
      },
    });
    const m = modal({ title: 'Please confirm', content: [h('p', { text: message })], buttons: [okBtn] });
    m.closeButton.textContent = 'Cancel';
    m.closeButton.focus();
    m.closed.then(() => resolve(ok));
  });
}

async function deleteUser(n) {
  if (!(await confirmAction(`Delete the user ${n}? Their kernels are stopped and their tokens stop working. Their files stay on disk.`, `Delete ${n}`))) return;
  await act(() => A.deleteUser(n), `Deleted user ${n}.`);
}

async function stopAll(n) {
  if (!(await confirmAction(`Stop every kernel of ${n}?`, 'Stop kernels'))) return;
  await act(() => A.stopAll(n), `Stopped the kernels of ${n}.`);
}

function userTokens(n) {
  const m = tokenManager({
    title: `Tokens of ${n}`,
    list: () => A.tokens(n),
    create: (b) => A.newToken(n, b),
    revoke: (id) => A.revokeToken(n, id),
    onChange: () => refresh(),
  });
  state.modals++;
  m.closed.then(() => state.modals--);
}

async function editQuota(n) {
  let cur;
  try {
    [cur, state.defaults] = await Promise.all([A.quota(n), A.defaults()]);
  } catch (e) {
    showError(e);
    return;
  }
  const q = quotaInputs('user-quota', cur, state.defaults || {});
  const save = h('button', { type: 'submit', class: 'btn primary', form: 'user-quota-form', text: 'Save quota' });
  const form = h('form', { class: 'admin-form', id: 'user-quota-form' }, h('p', { class: 'hint', text: 'Empty: the default (shown greyed). 0 idle seconds: never culled.' }), ...q.fields);
  const m = modal({ title: `Quota of ${n}`, content: [form], buttons: [save] });
  const submit = async (ev) => {
    if (ev) ev.preventDefault();
    m.error('');
    let body;
    try {
      body = quotaFromForm(q.read());
    } catch (e) {
      m.error(e.message);
      return;
    }
    try {
      await A.setQuota(n, body);
      m.close();
      setStatus(`Saved the quota of ${n}.`);
      await refresh();
    } catch (e) {
      m.error(e);
    }
  };
  form.addEventListener('submit', submit);
}

async function spawnKernel(n) {
  const [specs, profs] = await Promise.allSettled([kernelspecs.get(), A.profiles()]);
  const names = specs.status === 'fulfilled' ? Object.keys(specs.value.kernelspecs || {}).sort() : [];
  const def = specs.status === 'fulfilled' ? specs.value.default : '';
  const profiles = profs.status === 'fulfilled' ? profs.value.profiles || [] : [];
  const spec = h('select', null, ...names.map((k) => h('option', { value: k, text: (specs.value.kernelspecs[k].spec || {}).display_name || k, selected: k === def })));
  if (def) spec.value = def;
  const prof = h(
    'select',
    null,
    h('option', { value: '', text: 'Default' }),
    ...profiles.map((p) => h('option', { value: p.slug, text: `${p.display_name || p.slug}${p.gpus ? ` (${p.gpus} GPU${p.gpus === 1 ? '' : 's'})` : ''}` })),
  );
  const go = h('button', { type: 'submit', class: 'btn primary', form: 'spawn-form', text: 'Spawn' });
  const form = h(
    'form',
    { class: 'admin-form', id: 'spawn-form' },
    h('p', { class: 'hint', text: `Starts a kernel owned by ${n} in their own storage, ready before they open a notebook.` }),
    names.length ? field('spawn-spec', 'Kernel', spec) : null,
    profiles.length ? field('spawn-profile', 'Profile', prof) : null,
  );
  const m = modal({ title: `Spawn kernel for ${n}`, content: [form], buttons: [go] });
  const submit = async (ev) => {
    if (ev) ev.preventDefault();
    m.error('');
    const body = {};
    if (names.length && spec.value) body.name = spec.value;
    if (profiles.length && prof.value) body.profile = prof.value;
    go.disabled = true;
    try {
      const k = await A.spawn(n, body);
      m.close();
      setStatus(`Spawned kernel ${String((k && k.id) || '').slice(0, 8)} for ${n}.`);
      await refresh();
    } catch (e) {
      m.error(e);
      go.disabled = false;
    }
  };
  form.addEventListener('submit', submit);
}

// ---- the page ----

function adminsOnly(root, e) {
  const single = e && e.status === 404;
  root.replaceChildren(
    h('header', { class: 'app-header' }, h('a', { class: 'brand', href: appLink('tree', ''), text: 'cnote' })),
    h(
      'main',
      { class: 'admin-body admin-denied' },
      h('h1', { text: single ? 'No admin page here' : 'Admins only' }),
      h('p', {
        class: 'banner error',
        role: 'alert',
        text: single
          ? 'The admin page needs multi-user mode (cnote-server user add NAME --admin).'
          : 'This page is for cnote administrators only. Your account is not an admin.',
      }),
      h('p', null, h('a', { href: appLink('tree', ''), text: 'Back to your files' })),
    ),
  );
}

function startPolling() {
  stopAdmin();
  state.timer = setInterval(() => {
    if (!state.root || !state.root.isConnected) return stopAdmin();
    if (document.visibilityState && document.visibilityState !== 'visible') return;
    if (state.modals > 0) return;
    refresh();
  }, REFRESH_MS);
}

function onVisibility() {
  if (document.visibilityState === 'visible' && state.ready && state.root && state.root.isConnected && !state.modals) refresh();
}

let visibilityInstalled = false;

export function stopAdmin() {
  if (state.timer) clearInterval(state.timer);
  state.timer = null;
}

// Shows the admin page in root (the app's <main>/<div>). Resolves once the first data is shown
// (or the admins-only message).
export async function showAdmin(root) {
  stopAdmin();
  state.root = root;
  state.ready = false;
  state.modals = 0;
  document.body.dataset.page = 'admin';
  document.title = 'Admin - cnote';
  state.me = await loadMe();
  let first;
  try {
    first = await A.users();
  } catch (e) {
    if (e && (e.status === 403 || e.status === 404)) {
      adminsOnly(root, e);
      addUserBar(root.querySelector('header'), { page: 'admin' });
      window.__cnoteReady = true;
      return;
    }
    throw e;
  }
  state.els = buildSkeleton(root);
  addUserBar(state.els.header, { page: 'admin' });
  reconcile(state.els.users, first || [], (u) => u.name, userRow);
  try {
    state.defaults = await A.defaults();
    fillDefaults();
  } catch (e) {
    showError(e);
  }
  await refresh({ first: true });
  state.ready = true;
  window.__cnoteReady = true;
  if (!visibilityInstalled) {
    document.addEventListener('visibilitychange', onVisibility);
    visibilityInstalled = true;
  }
  startPolling();
}
