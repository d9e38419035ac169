// tree.js - the file browser page: lists a folder of the contents API and acts on its entries.
//
// What it does: breadcrumbs, a toolbar (kernel chooser, New notebook, New folder, Upload, Refresh),
// the listing table (directories first, then by name, case-insensitive; hidden dot files left out),
// per-row Open / Rename (inline) / Delete (confirm dialog) / Download, the running notebooks of
// /api/sessions with Shut down, an error line (role=alert) that never replaces the listing, and a
// live refresh every 10 s while the tab is visible that keeps focus and an open rename input.
// What it does not do: open notebooks (that is the notebook page: links and window.location go there)
// or talk to the network other than through api.js.
//
// Navigation between folders stays in the page: tree.js calls history.pushState itself (to
// appLink('tree', path)) and listens to popstate for tree routes ({base}, {base}tree, {base}tree/...),
// so main.js only calls showTree once for the route the page was loaded with (calling it again, for
// instance from its own popstate handler, is harmless: it re-renders that folder).
//
// Exported: showTree(root, path); for tests and main.js: treePathFromLocation(loc), stopTree(),
// treeNav (where the page goes when it leaves), relativeTime, formatSize.

import {
  appLink,
  config,
  contents,
  encodePath,
  errorText,
  kernelspecs,
  sessions,
  url,
} from './api.js';
import { addUserBar } from './account.js';
import { h } from './dom.js';
import './tree.css';

const REFRESH_MS = 10000;

// One page state; showTree resets it. gen increases with every navigation so a listing that
// arrives for a folder we already left is dropped.
const state = {
  root: null,
  path: '',
  gen: 0,
  items: [],
  running: new Map(), // notebook path -> session
  specs: null, // kernelspecs answer
  renaming: null, // {path, row, input} while a rename input is open
  dialogOpen: false,
  listing: false,
  alertFromPoll: false,
  timer: null,
  els: null,
  ready: false,
};

let popstateInstalled = false;

// Leaving the page goes through here, so unit tests (jsdom cannot navigate) can see where to.
export const treeNav = {
  assign: (u) => window.location.assign(u),
  replace: (u) => window.location.replace(u),
};

// ---- small helpers ----

function basename(p) {
  const s = String(p || '').replace(/\/+$/, '');
  const i = s.lastIndexOf('/');
  return i < 0 ? s : s.slice(i + 1);
}

function dirname(p) {
  const s = String(p || '').replace(/\/+$/, '');
  const i = s.lastIndexOf('/');
  return i < 0 ? '' : s.slice(0, i);
}

function join(dir, name) {
  return dir ? `${dir}/${name}` : name;
}

function normPath(p) {
  return String(p || '')
    .split('/')
    .filter((s) => s !== '')
    .join('/');
}

// The folder of a tree route, or null when loc is not a tree route of this app.
export function treePathFromLocation(loc = window.location) {
  const base = config.baseUrl;
  const pathname = loc.pathname || '/';
  if (!pathname.startsWith(base) && `${pathname}/` !== base) return null;
  const rest = pathname.slice(base.length);
  if (rest === '' || rest === 'tree' || rest === 'tree/') return '';
  if (!rest.startsWith('tree/')) return null;
  try {
    return normPath(rest.slice(5).split('/').map(decodeURIComponent).join('/'));
  } catch {
    return null;
  }
}

const rtf = typeof Intl !== 'undefined' && Intl.RelativeTimeFormat ? new Intl.RelativeTimeFormat('en', { numeric: 'auto' }) : null;

export function relativeTime(date, now = Date.now()) {
  const t = date instanceof Date ? date.getTime() : Date.parse(date);
  if (!Number.isFinite(t)) return '';
  const s = Math.round((now - t) / 1000);
  if (s < 10) return 'just now';
  const steps = [
    [60, 'second', 1],
    [3600, 'minute', 60],
    [86400, 'hour', 3600],
    [86400 * 30, 'day', 86400],
    [86400 * 365, 'month', 86400 * 30],
    [Infinity, 'year', 86400 * 365],
  ];
  for (const [limit, unit, div] of steps) {
    if (s < limit) {
      const n = Math.floor(s / div);
      return rtf ? rtf.format(-n, unit) : `${n} ${unit}${n === 1 ? '' : 's'} ago`;
    }
  }
  return '';
}

export function formatSize(n) {
  if (typeof n !== 'number' || !Number.isFinite(n) || n < 0) return '';
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

function compareItems(a, b) {
  const da = a.type === 'directory' ? 0 : 1;
  const db = b.type === 'directory' ? 0 : 1;
  if (da !== db) return da - db;
  const la = a.name.toLowerCase();
  const lb = b.name.toLowerCase();
  if (la !== lb) return la < lb ? -1 : 1;
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

function sessionPath(s) {
  return normPath(s.path || (s.notebook && s.notebook.path) || '');
}

function specLabel(name) {
  const ks = state.specs && state.specs.kernelspecs && state.specs.kernelspecs[name];
  return (ks && ks.spec && ks.spec.display_name) || name || '';
}

// ---- alerts and status ----

function showError(e, fromPoll = false) {
  const { alert, alertBox } = state.els;
  alert.textContent = typeof e === 'string' ? e : errorText(e);
  alertBox.hidden = false;
  state.alertFromPoll = fromPoll;
}

function clearError() {
  const { alert, alertBox } = state.els;
  alert.textContent = '';
  alertBox.hidden = true;
  state.alertFromPoll = false;
}

function setStatus(text) {
  state.els.status.textContent = text || '';
}

// ---- the page skeleton ----

function buildSkeleton(root) {
  const breadcrumbs = h('nav', { id: 'breadcrumbs', 'aria-label': 'Breadcrumbs' });
  const header = h(
    'header',
    { class: 'app-header tree-header' },
    h('a', {
      class: 'brand tree-app-name',
      href: appLink('tree', ''),
      text: 'cnote',
      onclick: (ev) => navLinkClick(ev, ''),
    }),
    breadcrumbs,
  );

  const kernelSelect = h('select', { id: 'new-kernel', name: 'new-kernel' });
  const uploadInput = h('input', {
    type: 'file',
    multiple: true,
    hidden: true,
    tabindex: '-1',
    id: 'upload-input',
    'aria-label': 'Files to send',
  });
  uploadInput.addEventListener('change', () => {
    const files = Array.from(uploadInput.files || []);
    uploadInput.value = '';
    if (files.length) uploadFiles(files);
  });
  const toolbar = h(
    'div',
    { class: 'tree-toolbar' },
    h(
      'span',
      { class: 'tree-kernel' },
      h('label', { for: 'new-kernel', text: 'Kernel' }),
      kernelSelect,
    ),
    h('button', { type: 'button', class: 'tree-btn primary', 'aria-label': 'New notebook', text: 'New notebook', onclick: () => newNotebook() }),
    h('button', { type: 'button', class: 'tree-btn', 'aria-label': 'New folder', text: 'New folder', onclick: () => newFolder() }),
    h('button', { type: 'button', class: 'tree-btn', 'aria-label': 'Upload', text: 'Upload', onclick: () => uploadInput.click() }),
    uploadInput,
    h('button', { type: 'button', class: 'tree-btn', 'aria-label': 'Refresh', text: 'Refresh', onclick: () => refresh({ user: true }) }),
  );
  // the role=alert element stays in the page (a live region must exist before it speaks); its
  // box with the dismiss button is hidden while there is nothing to say
  const alert = h('div', { class: 'tree-alert-text', role: 'alert' });
  const alertBox = h(
    'div',
    { class: 'tree-alert', hidden: true },
    alert,
    h('button', { type: 'button', class: 'tree-alert-close', 'aria-label': 'Dismiss error', text: '×', onclick: () => clearError() }),
  );
  const status = h('div', { class: 'tree-status', role: 'status', 'aria-live': 'polite' });

  const caption = h('caption', { class: 'visually-hidden' });
  const tbody = h('tbody');
  const table = h(
    'table',
    { id: 'file-list' },
    caption,
    h(
      'thead',
      null,
      h(
        'tr',
        null,
        h('th', { scope: 'col', class: 'col-name', text: 'Name' }),
        h('th', { scope: 'col', class: 'col-modified', text: 'Last modified' }),
        h('th', { scope: 'col', class: 'col-size', text: 'Size' }),
        h('th', { scope: 'col', class: 'col-actions', text: 'Actions' }),
      ),
    ),
    tbody,
  );
  const empty = h('p', { class: 'tree-empty', hidden: true, text: 'This folder is empty.' });

  const runningList = h('ul', { class: 'running-list' });
  const runningEmpty = h('p', { class: 'tree-muted', text: 'No running notebooks.' });
  const running = h(
    'section',
    { id: 'running', 'aria-labelledby': 'running-title' },
    h('h2', { id: 'running-title', tabindex: '-1', text: 'Running notebooks' }),
    runningList,
    runningEmpty,
  );

  const dialogText = h('p', { id: 'tree-dialog-text' });
  const dialogOk = h('button', { type: 'button', class: 'tree-btn danger', value: 'ok' });
  const dialogCancel = h('button', { type: 'button', class: 'tree-btn', value: 'cancel', text: 'Cancel' });
  const dialog = h(
    'dialog',
    { class: 'tree-dialog', 'aria-labelledby': 'tree-dialog-text' },
    dialogText,
    h('div', { class: 'tree-dialog-buttons' }, dialogOk, dialogCancel),
  );

  const listWrap = h('div', { class: 'tree-list' }, h('h1', { class: 'visually-hidden', id: 'tree-title' }), table, empty);
  root.replaceChildren(header, h('div', { class: 'tree-body' }, toolbar, alertBox, status, listWrap, running), dialog);
  root.classList.add('cnote-tree');
  return {
    header,
    breadcrumbs,
    kernelSelect,
    uploadInput,
    alert,
    alertBox,
    status,
    caption,
    table,
    tbody,
    empty,
    runningList,
    runningEmpty,
    runningTitle: running.querySelector('#running-title'),
    dialog,
    dialogText,
    dialogOk,
    dialogCancel,
    title: listWrap.querySelector('#tree-title'),
  };
}

// ---- navigation ----

function navLinkClick(ev, path) {
  if (ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
  ev.preventDefault();
  navigate(path);
}

function navigate(path, { push = true } = {}) {
  path = normPath(path);
  if (push) {
    const target = appLink('tree', path);
    if (window.location.pathname !== target) window.history.pushState({ cnoteTree: path }, '', target);
  }
  cancelRename();
  clearError();
  setStatus('');
  return load(path);
}

function onPopState() {
  if (!state.root || !state.root.isConnected) return;
  const p = treePathFromLocation(window.location);
  if (p === null) return;
  navigate(p, { push: false });
}

function renderBreadcrumbs(path) {
  const { breadcrumbs } = state.els;
  const ol = h('ol');
  const parts = path ? path.split('/') : [];
  const crumbs = [['Home', '']];
  parts.forEach((name, i) => crumbs.push([name, parts.slice(0, i + 1).join('/')]));
  crumbs.forEach(([label, p], i) => {
    const last = i === crumbs.length - 1;
    const a = h('a', {
      href: appLink('tree', p),
      text: label,
      'aria-current': last ? 'page' : null,
      onclick: (ev) => navLinkClick(ev, p),
    });
    ol.append(h('li', null, a));
  });
  breadcrumbs.replaceChildren(ol);
}

// ---- listing ----

async function load(path) {
  const gen = ++state.gen;
  state.path = path;
  const name = basename(path) || 'Home';
  document.title = `${name} - cnote`;
  state.els.title.textContent = path ? `Folder ${path}` : 'Home folder';
  state.els.caption.textContent = path ? `Contents of ${path}` : 'Contents of the home folder';
  renderBreadcrumbs(path);
  // the previous folder's rows must not stay clickable under the new breadcrumbs
  state.items = [];
  state.els.tbody.replaceChildren();
  state.els.empty.hidden = true;
  state.els.table.setAttribute('aria-busy', 'true');
  await refresh({ gen, user: true });
}

// Lists the current folder and the sessions. user: errors shown even when quiet polling; the
// listing on screen stays as it was when anything fails.
async function refresh({ gen = state.gen, user = false, poll = false } = {}) {
  if (state.listing && poll) return;
  state.listing = true;
  const path = state.path;
  try {
    const [dir, sess] = await Promise.allSettled([contents.list(path), sessions.list()]);
    if (gen !== state.gen) return;
    if (sess.status === 'fulfilled' && Array.isArray(sess.value)) {
      state.running = new Map();
      for (const s of sess.value) {
        const p = sessionPath(s);
        if (p) state.running.set(p, s);
      }
      renderRunning();
    }
    if (dir.status === 'fulfilled') {
      const items = ((dir.value && dir.value.content) || []).filter((it) => it && it.name && !it.name.startsWith('.'));
      items.sort(compareItems);
      state.items = items;
      renderRows();
      if (state.alertFromPoll) clearError();
    } else {
      const e = dir.reason;
      if (!state.ready && e && e.status === 400 && path && /not a directory/i.test(e.message || '')) {
        // /tree/x.ipynb: open the file as Jupyter does
        treeNav.replace(/\.ipynb$/i.test(path) ? appLink('notebooks', path) : url(`files/${encodePath(path)}`));
        return;
      }
      if (user || !poll || !state.els.alert.textContent) showError(e, poll);
    }
    if (sess.status === 'rejected' && dir.status === 'fulfilled' && !poll) showError(sess.reason);
  } finally {
    state.listing = false;
    if (gen === state.gen) {
      state.els.table.removeAttribute('aria-busy');
      markReady();
    }
  }
}

function markReady() {
  if (state.ready) return;
  state.ready = true;
  window.__cnoteReady = true;
}

function rowSignature(it) {
  return JSON.stringify([it.name, it.type, it.last_modified, it.size, state.running.has(normPath(it.path))]);
}

// Reconcile rows by path so an unchanged row (and the focus in it) stays the same node.
function renderRows() {
  const { tbody, empty } = state.els;
  const existing = new Map();
  for (const tr of tbody.querySelectorAll(':scope > tr.item')) existing.set(tr.dataset.path, tr);
  const focused = document.activeElement && tbody.contains(document.activeElement) ? document.activeElement : null;
  const focusKey = focused ? focusKeyOf(focused) : null;

  const rows = state.items.map((it) => {
    const p = normPath(it.path || join(state.path, it.name));
    const old = existing.get(p);
    if (old && state.renaming && state.renaming.row === old) return old;
    if (old && old.dataset.sig === rowSignature(it)) return old;
    return buildRow(it, p);
  });
  const keep = new Set(rows);
  for (const tr of existing.values()) if (!keep.has(tr)) tr.remove();
  rows.forEach((tr, i) => {
    const at = tbody.children[i];
    if (at !== tr) tbody.insertBefore(tr, at || null);
  });
  // relative times age between listings; text-only updates leave focus alone
  const now = Date.now();
  for (const t of tbody.querySelectorAll('time[datetime]')) {
    const txt = relativeTime(t.getAttribute('datetime'), now);
    if (t.textContent !== txt) t.textContent = txt;
  }
  empty.hidden = rows.length > 0;
  state.els.table.classList.toggle('is-empty', rows.length === 0);

  if (focusKey && (!document.activeElement || document.activeElement === document.body)) restoreFocus(focusKey);
  updateRenameTarget();
}

function focusKeyOf(el) {
  const tr = el.closest('tr.item');
  if (!tr) return null;
  return { path: tr.dataset.path, action: el.dataset.action || null };
}

function restoreFocus({ path, action }) {
  const tr = rowByPath(path);
  if (!tr) return;
  const el = action ? tr.querySelector(`[data-action="${action}"]`) : tr.querySelector('a');
  if (el) el.focus();
}

function rowByPath(p) {
  for (const tr of state.els.tbody.querySelectorAll(':scope > tr.item')) if (tr.dataset.path === p) return tr;
  return null;
}

function openHref(it, p) {
  if (it.type === 'directory') return appLink('tree', p);
  if (it.type === 'notebook') return appLink('notebooks', p);
  return url(`files/${encodePath(p)}`);
}

function openAttrs(it, p) {
  const attrs = { href: openHref(it, p) };
  if (it.type === 'directory') attrs.onclick = (ev) => navLinkClick(ev, p);
  else if (it.type !== 'notebook') {
    attrs.target = '_blank';
    attrs.rel = 'noopener';
  }
  return attrs;
}

function buildRow(it, p) {
  const name = it.name;
  const type = it.type === 'directory' || it.type === 'notebook' ? it.type : 'file';
  const running = state.running.has(p);
  const nameLink = h('a', { class: 'item-name', 'data-action': 'open-name', ...openAttrs(it, p), text: name });
  const nameCell = h(
    'td',
    { class: 'col-name' },
    h('span', { class: 'item-icon', 'aria-hidden': 'true', dataset: { type } }),
    nameLink,
    running ? h('span', { class: 'running', text: 'Running' }) : null,
  );

  let modCell;
  const t = Date.parse(it.last_modified);
  if (Number.isFinite(t)) {
    const d = new Date(t);
    modCell = h(
      'td',
      { class: 'col-modified' },
      h('time', { datetime: d.toISOString(), title: d.toLocaleString(), text: relativeTime(d) }),
    );
  } else {
    modCell = h('td', { class: 'col-modified' });
  }
  const sizeCell = h('td', { class: 'col-size', text: type === 'directory' ? '' : formatSize(it.size) });

  const actions = h('td', { class: 'col-actions' });
  actions.append(
    h('a', { class: 'tree-action', 'data-action': 'open', 'aria-label': `Open ${name}`, ...openAttrs(it, p), text: 'Open' }),
    h('button', {
      type: 'button',
      class: 'tree-action',
      'data-action': 'rename',
      'aria-label': `Rename ${name}`,
      text: 'Rename',
      onclick: () => startRename(p),
    }),
    h('button', {
      type: 'button',
      class: 'tree-action danger',
      'data-action': 'delete',
      'aria-label': `Delete ${name}`,
      text: 'Delete',
      onclick: () => confirmDelete(p, name, type),
    }),
  );
  if (type !== 'directory') {
    actions.append(
      h('a', {
        class: 'tree-action',
        'data-action': 'download',
        'aria-label': `Download ${name}`,
        href: contents.downloadUrl(p),
        download: name,
        text: 'Download',
      }),
    );
  }
  const tr = h('tr', { class: 'item', dataset: { path: p, type, sig: rowSignature(it) } }, nameCell, modCell, sizeCell, actions);
  if (running) tr.classList.add('has-running');
  return tr;
}

// ---- running sessions ----

function renderRunning() {
  const { runningList, runningEmpty } = state.els;
  const list = Array.from(state.running.entries()).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const focused = document.activeElement && runningList.contains(document.activeElement) ? document.activeElement : null;
  const focusId = focused && focused.closest('li') ? focused.closest('li').dataset.sessionId + '|' + (focused.dataset.action || '') : null;
  const sig = JSON.stringify(list.map(([p, s]) => [p, s.id, s.kernel && s.kernel.name, s.kernel && s.kernel.execution_state]));
  if (runningList.dataset.sig === sig) return;
  runningList.dataset.sig = sig;
  runningList.replaceChildren(
    ...list.map(([p, s]) => {
      const name = basename(p);
      const k = s.kernel || {};
      const st = k.execution_state || 'unknown';
      return h(
        'li',
        { class: 'running-item', dataset: { sessionId: s.id, path: p } },
        h('a', { href: appLink('notebooks', p), 'data-action': 'open', text: p }),
        h('span', { class: 'running-kernel', text: specLabel(k.name) }),
        h('span', { class: 'running-state', dataset: { state: st }, text: st }),
        h('button', {
          type: 'button',
          class: 'tree-action',
          'data-action': 'shutdown',
          'aria-label': `Shut down ${name}`,
          text: 'Shut down',
          onclick: (ev) => shutdown(s, ev.currentTarget),
        }),
      );
    }),
  );
  runningEmpty.hidden = list.length > 0;
  if (focusId) {
    const [id, action] = focusId.split('|');
    const li = Array.from(runningList.children).find((x) => x.dataset.sessionId === id);
    const el = li && (action ? li.querySelector(`[data-action="${action}"]`) : li.querySelector('a'));
    if (el) el.focus();
    else state.els.runningTitle.focus();
  }
}

async function shutdown(s, btn) {
  if (btn) btn.disabled = true;
  try {
    await sessions.remove(s.id);
    setStatus(`Shut down ${basename(sessionPath(s))}.`);
  } catch (e) {
    showError(e);
    if (btn) btn.disabled = false;
  }
  await refresh({ user: true });
}

// ---- kernelspecs ----

async function loadKernelspecs() {
  const sel = state.els.kernelSelect;
  try {
    const ks = await kernelspecs.get();
    state.specs = ks || { kernelspecs: {} };
    const names = Object.keys(state.specs.kernelspecs || {}).sort((a, b) => {
      const la = specLabel(a).toLowerCase();
      const lb = specLabel(b).toLowerCase();
      return la < lb ? -1 : la > lb ? 1 : 0;
    });
    const def = state.specs.default && names.includes(state.specs.default) ? state.specs.default : names[0];
    sel.replaceChildren(...names.map((n) => h('option', { value: n, text: specLabel(n), selected: n === def })));
    if (def) sel.value = def;
    renderRunningLabels();
  } catch (e) {
    showError(e);
  }
}

function renderRunningLabels() {
  for (const li of state.els.runningList.children) {
    const s = state.running.get(li.dataset.path);
    const el = li.querySelector('.running-kernel');
    if (s && el) el.textContent = specLabel(s.kernel && s.kernel.name);
  }
}

// ---- toolbar actions ----

async function newNotebook() {
  clearError();
  const specName = state.els.kernelSelect.value || (state.specs && state.specs.default) || 'cnote';
  const ks = (state.specs && state.specs.kernelspecs && state.specs.kernelspecs[specName]) || {};
  const spec = ks.spec || {};
  const kernelspec = { name: specName, display_name: spec.display_name || specName, language: spec.language || '' };
  let model;
  try {
    setStatus('Creating a notebook…');
    model = await contents.newUntitled(state.path, { type: 'notebook' });
  } catch (e) {
    setStatus('');
    showError(e);
    return;
  }
  try {
    const metadata = { kernelspec };
    if (kernelspec.language) metadata.language_info = { name: kernelspec.language };
    await contents.save(model.path, {
      type: 'notebook',
      format: 'json',
      content: { cells: [], metadata, nbformat: 4, nbformat_minor: 5 },
    });
  } catch (e) {
    setStatus('');
    showError(e);
    await refresh({ user: true });
    return;
  }
  setStatus(`Created ${model.name || basename(model.path)}.`);
  treeNav.assign(appLink('notebooks', model.path));
}

async function newFolder() {
  clearError();
  try {
    const model = await contents.newUntitled(state.path, { type: 'directory' });
    await refresh({ user: true });
    const p = normPath(model.path);
    if (rowByPath(p)) startRename(p);
  } catch (e) {
    showError(e);
  }
}

// Names in dir as the server has them now (the listing on screen may be 10 s old).
async function namesIn(dir) {
  const m = await contents.list(dir);
  return new Set(((m && m.content) || []).map((it) => it.name));
}

async function uploadFiles(files) {
  clearError();
  const dir = state.path;
  let done = 0;
  const errors = [];
  let names;
  try {
    names = await namesIn(dir);
  } catch (e) {
    showError(e);
    return;
  }
  for (let i = 0; i < files.length; i++) {
    const f = files[i];
    const p = join(dir, f.name);
    try {
      if (f.name.startsWith('.') || f.name.includes('/')) throw new Error(`cannot upload ${f.name}: hidden or invalid name`);
      if (names.has(f.name)) {
        const ok = await confirmDialog(`${f.name} already exists in this folder. Replace it?`, 'Replace');
        if (!ok) continue;
      }
      setStatus(`Uploading ${f.name} (${i + 1} of ${files.length})…`);
      await contents.upload(dir, f);
      names.add(f.name);
      done++;
    } catch (e) {
      errors.push(`${f.name}: ${errorText(e)}`);
    }
  }
  setStatus(done ? `Uploaded ${done} file${done === 1 ? '' : 's'}.` : '');
  if (errors.length) showError(`Upload failed: ${errors.join('; ')}`);
  if (state.path === dir) await refresh({ user: true });
}

// ---- rename ----

function startRename(p) {
  if (state.renaming) cancelRename();
  const tr = rowByPath(p);
  if (!tr) return;
  const link = tr.querySelector('a.item-name');
  const name = basename(p);
  const input = h('input', { type: 'text', class: 'rename-input', 'aria-label': 'New name', value: name, spellcheck: 'false' });
  input.value = name;
  link.hidden = true;
  link.after(input);
  state.renaming = { path: p, row: tr, input, link };
  input.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter') {
      ev.preventDefault();
      commitRename();
    } else if (ev.key === 'Escape') {
      ev.preventDefault();
      ev.stopPropagation();
      clearError();
      cancelRename(true);
    }
  });
  input.focus();
  const dot = tr.dataset.type === 'directory' ? -1 : name.lastIndexOf('.');
  try {
    input.setSelectionRange(0, dot > 0 ? dot : name.length);
  } catch {
    /* not a text input in some environments */
  }
}

function cancelRename(refocus = false) {
  const r = state.renaming;
  if (!r) return;
  state.renaming = null;
  r.input.remove();
  r.link.hidden = false;
  if (refocus) {
    const tr = rowByPath(r.path) || r.row;
    const btn = tr && tr.isConnected && tr.querySelector('[data-action="rename"]');
    if (btn) btn.focus();
  }
  // the row was kept while editing; bring it up to date
  renderRows();
}

// after a refresh, a rename whose row disappeared is dropped
function updateRenameTarget() {
  const r = state.renaming;
  if (r && !r.row.isConnected) state.renaming = null;
}

async function commitRename() {
  const r = state.renaming;
  if (!r || r.busy) return;
  const newName = r.input.value.trim();
  const oldName = basename(r.path);
  if (!newName || newName === oldName) {
    cancelRename(true);
    return;
  }
  if (newName.includes('/')) {
    showError('A name cannot contain "/".');
    return;
  }
  const newPath = join(dirname(r.path), newName);
  r.busy = true;
  r.input.setAttribute('aria-busy', 'true');
  try {
    await contents.rename(r.path, newPath);
  } catch (e) {
    r.busy = false;
    r.input.removeAttribute('aria-busy');
    showError(e);
    r.input.focus();
    return;
  }
  clearError();
  state.renaming = null;
  r.input.remove();
  r.link.hidden = false;
  setStatus(`Renamed ${oldName} to ${newName}.`);
  await refresh({ user: true });
  const tr = rowByPath(newPath);
  const btn = tr && tr.querySelector('[data-action="rename"]');
  if (btn) btn.focus();
}

// ---- delete and the confirm dialog ----

// Resolves true when the user confirms. Uses <dialog>.showModal where it exists (focus trapped,
// Esc cancels); elsewhere the dialog is shown with the open attribute.
function confirmDialog(message, okLabel) {
  const { dialog, dialogText, dialogOk, dialogCancel } = state.els;
  dialogText.textContent = message;
  dialogOk.textContent = okLabel;
  const before = document.activeElement;
  state.dialogOpen = true;
  return new Promise((resolve) => {
    const finish = (ok) => {
      dialogOk.removeEventListener('click', onOk);
      dialogCancel.removeEventListener('click', onCancel);
      dialog.removeEventListener('cancel', onCancelEvent);
      dialog.removeEventListener('keydown', onKey);
      if (typeof dialog.close === 'function' && dialog.open) dialog.close();
      dialog.removeAttribute('open');
      state.dialogOpen = false;
      if (before && before.isConnected && typeof before.focus === 'function') before.focus();
      resolve(ok);
    };
    const onOk = () => finish(true);
    const onCancel = () => finish(false);
    const onCancelEvent = (ev) => {
      ev.preventDefault();
      finish(false);
    };
    const onKey = (ev) => {
      if (ev.key === 'Escape') {
        ev.preventDefault();
        finish(false);
      }
    };
    dialogOk.addEventListener('click', onOk);
    dialogCancel.addEventListener('click', onCancel);
    dialog.addEventListener('cancel', onCancelEvent);
    dialog.addEventListener('keydown', onKey);
    if (typeof dialog.showModal === 'function') {
      try {
        dialog.showModal();
      } catch {
        dialog.setAttribute('open', '');
      }
    } else {
      dialog.setAttribute('open', '');
    }
    dialogCancel.focus();
  });
}

async function confirmDelete(p, name, type) {
  const what = type === 'directory' ? 'the folder' : '';
  const ok = await confirmDialog(`Delete ${what ? what + ' ' : ''}${name}? This cannot be undone.`, 'Delete');
  if (!ok) return;
  clearError();
  const tr = rowByPath(p);
  const next = tr && (tr.nextElementSibling || tr.previousElementSibling);
  const nextPath = next && next.dataset.path;
  try {
    await contents.remove(p);
  } catch (e) {
    showError(e);
    return;
  }
  setStatus(`Deleted ${name}.`);
  await refresh({ user: true });
  const focusTr = nextPath && rowByPath(nextPath);
  const el = focusTr ? focusTr.querySelector('a.item-name') : state.root.querySelector('.tree-toolbar button');
  if (el) el.focus();
}

// ---- live refresh ----

function startPolling() {
  stopPolling();
  state.timer = setInterval(() => {
    if (!state.root || !state.root.isConnected) {
      stopPolling();
      return;
    }
    if (document.visibilityState && document.visibilityState !== 'visible') return;
    if (state.renaming || state.dialogOpen) return;
    refresh({ poll: true });
  }, REFRESH_MS);
}

function stopPolling() {
  if (state.timer) clearInterval(state.timer);
  state.timer = null;
}

function onVisibility() {
  if (document.visibilityState === 'visible' && state.root && state.root.isConnected && !state.renaming && !state.dialogOpen && state.ready)
    refresh({ poll: true });
}

let visibilityInstalled = false;

// Shows the folder `path` ('' = the root) in `root` (the page's <main id="tree">). Resolves once
// the first listing has been rendered (or has failed, with the error shown).
export async function showTree(root, path = '') {
  stopPolling();
  state.root = root;
  state.renaming = null;
  state.dialogOpen = false;
  state.running = new Map();
  state.items = [];
  state.ready = false;
  document.body.dataset.page = 'tree';
  state.els = buildSkeleton(root);
  addUserBar(state.els.header, { page: 'tree' }); // multi-user mode: name, Admin, tokens, Log out
  if (!popstateInstalled) {
    window.addEventListener('popstate', onPopState);
    popstateInstalled = true;
  }
  if (!visibilityInstalled) {
    document.addEventListener('visibilitychange', onVisibility);
    visibilityInstalled = true;
  }
  const specsDone = loadKernelspecs();
  await load(normPath(path));
  await specsDone;
  startPolling();
}

// for tests: stop the timer
export function stopTree() {
  stopPolling();
}
