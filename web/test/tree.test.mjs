// Unit tests of the file browser (src/tree.js) in jsdom, against a fake fetch that answers like
// Jupyter Server's contents, sessions and kernelspecs APIs over an in-memory folder tree.
// The real server is exercised by the end-to-end tests; only here is global fetch stubbed.

import { test, before, after, beforeEach, mock } from 'node:test';
import assert from 'node:assert/strict';
import { register } from 'node:module';
import { JSDOM } from 'jsdom';

// tree.js imports its CSS (esbuild bundles it); Node gets an empty module instead.
register(
  'data:text/javascript,' +
    encodeURIComponent(
      'export async function load(url, ctx, next) {' +
        " if (url.endsWith('.css')) return { format: 'module', source: 'export default \"\";', shortCircuit: true };" +
        ' return next(url, ctx); }',
    ),
  import.meta.url,
);

const BASE = '/b/';
const dom = new JSDOM(
  '<!doctype html><html><head><title>x</title>' +
    '<script id="cnote-config" type="application/json">{"baseUrl":"/b/"}</script></head>' +
    '<body><main id="tree"></main></body></html>',
  { url: 'http://localhost/b/tree', pretendToBeVisual: true },
);
const win = dom.window;
for (const k of ['window', 'document', 'history', 'location', 'HTMLElement', 'Node', 'Event', 'KeyboardEvent', 'File']) {
  Object.defineProperty(globalThis, k, { value: k === 'window' ? win : win[k], configurable: true, writable: true });
}
win.document.cookie = '_xsrf=xs1';

// ---- the fake server ----
let fs; // path -> {type, content, mtime}
let sessionsList;
let calls;
let failures; // [{match(method, path), status, message}]

const T0 = Date.parse('2024-05-01T12:00:00Z');

function resetServer() {
  fs = new Map();
  sessionsList = [];
  calls = [];
  failures = [];
  const now = Date.now();
  const add = (p, type, ageSec, content = '') => fs.set(p, { type, content, mtime: new Date(now - ageSec * 1000).toISOString() });
  add('zeta', 'directory', 7200);
  add('Alpha', 'directory', 60);
  add('beta.ipynb', 'notebook', 180, '{"cells":[],"metadata":{},"nbformat":4,"nbformat_minor":5}');
  add('alpha.txt', 'file', 30, 'hello');
  add('Gamma.c', 'file', 86400 * 3, 'int x;');
  add('.hidden', 'file', 5, 'secret');
  add('zeta/inner.ipynb', 'notebook', 10, '{}');
  add('Alpha/deep', 'directory', 10);
}

function jsonResponse(status, body) {
  return new Response(body === null ? null : JSON.stringify(body), {
    status,
    headers: { 'Content-Type': 'application/json' },
  });
}

function model(p, withContent) {
  const e = fs.get(p);
  const name = p.split('/').pop();
  const m = {
    name,
    path: p,
    type: e.type,
    last_modified: e.mtime,
    created: e.mtime,
    writable: true,
    mimetype: e.type === 'file' ? 'text/plain' : null,
    format: null,
    content: null,
    size: e.type === 'directory' ? null : e.content.length,
  };
  if (withContent && e.type === 'directory') {
    m.format = 'json';
    m.content = [...fs.keys()].filter((k) => k.split('/').slice(0, -1).join('/') === p && (p || !k.includes('/'))).map((k) => model(k, false));
  }
  return m;
}

function untitled(dir, type) {
  const stem = type === 'directory' ? 'Untitled Folder' : type === 'notebook' ? 'Untitled' : 'untitled';
  const ext = type === 'notebook' ? '.ipynb' : type === 'file' ? '.txt' : '';
  for (let i = 0; ; i++) {
    const name = `${stem}${i ? (type === 'directory' ? ' ' : '') + i : ''}${ext}`;
    const p = dir ? `${dir}/${name}` : name;
    if (!fs.has(p)) return p;
  }
}

async function fakeFetch(input, init = {}) {
  const u = new URL(String(input), 'http://localhost');
  const method = (init.method || 'GET').toUpperCase();
  const body = init.body ? JSON.parse(init.body) : undefined;
  calls.push({ method, url: u.pathname + u.search, body, headers: init.headers || {} });
  assert.ok(u.pathname.startsWith(BASE), `request outside the base URL: ${u.pathname}`);
  const rest = u.pathname.slice(BASE.length);
  for (const f of failures) {
    if (f.method === method && rest.startsWith(f.prefix)) {
      if (f.once) failures.splice(failures.indexOf(f), 1);
      if (f.network) throw new TypeError('Failed to fetch');
      return jsonResponse(f.status, { message: f.message, reason: null });
    }
  }
  if (rest === 'api/kernelspecs') {
    return jsonResponse(200, {
      default: 'cnote',
      kernelspecs: {
        python3: { name: 'python3', spec: { display_name: 'Python 3', language: 'python' }, resources: {} },
        cnote: { name: 'cnote', spec: { display_name: 'C (cnote)', language: 'c' }, resources: {} },
      },
    });
  }
  if (rest === 'api/sessions' && method === 'GET') return jsonResponse(200, sessionsList);
  if (rest.startsWith('api/sessions/') && method === 'DELETE') {
    const id = decodeURIComponent(rest.slice('api/sessions/'.length));
    sessionsList = sessionsList.filter((s) => s.id !== id);
    return new Response(null, { status: 204 });
  }
  if (rest === 'api/contents' || rest.startsWith('api/contents/')) {
    const p = rest
      .slice('api/contents'.length)
      .split('/')
      .filter(Boolean)
      .map(decodeURIComponent)
      .join('/');
    const exists = p === '' || fs.has(p);
    if (method === 'GET') {
      if (!exists) return jsonResponse(404, { message: `file or directory ${p} does not exist`, reason: null });
      if (p === '') return jsonResponse(200, { ...rootModel() });
      if (u.searchParams.get('type') === 'directory' && fs.get(p).type !== 'directory')
        return jsonResponse(400, { message: `${p} is not a directory`, reason: 'bad type' });
      return jsonResponse(200, model(p, u.searchParams.get('content') !== '0'));
    }
    if (method === 'POST') {
      const np = untitled(p, body.type);
      fs.set(np, { type: body.type, content: '', mtime: new Date().toISOString() });
      return jsonResponse(201, model(np, false));
    }
    if (method === 'PUT') {
      fs.set(p, { type: body.type, content: JSON.stringify(body.content), mtime: new Date().toISOString() });
      return jsonResponse(exists ? 200 : 201, model(p, false));
    }
    if (method === 'PATCH') {
      if (!exists) return jsonResponse(404, { message: `file or directory ${p} does not exist`, reason: null });
      if (fs.has(body.path)) return jsonResponse(409, { message: `File already exists: ${body.path}`, reason: null });
      for (const k of [...fs.keys()]) {
        if (k === p || k.startsWith(`${p}/`)) {
          fs.set(body.path + k.slice(p.length), fs.get(k));
          fs.delete(k);
        }
      }
      return jsonResponse(200, model(body.path, false));
    }
    if (method === 'DELETE') {
      if (!exists) return jsonResponse(404, { message: `file or directory ${p} does not exist`, reason: null });
      if ([...fs.keys()].some((k) => k.startsWith(`${p}/`))) return jsonResponse(400, { message: `Directory ${p} not empty`, reason: null });
      fs.delete(p);
      return new Response(null, { status: 204 });
    }
  }
  return jsonResponse(404, { message: 'Not Found', reason: null });
}

function rootModel() {
  const m = { name: '', path: '', type: 'directory', last_modified: new Date(T0).toISOString(), writable: true, format: 'json', size: null };
  m.content = [...fs.keys()].filter((k) => !k.includes('/')).map((k) => model(k, false));
  return m;
}

// ---- helpers ----
let tree; // the module
let root;
const assigned = [];

const tick = () => new Promise((r) => setTimeout(r, 0));
async function waitFor(cond, what = 'condition') {
  for (let i = 0; i < 200; i++) {
    const v = cond();
    if (v) return v;
    await tick();
  }
  assert.fail(`timed out waiting for ${what}`);
}

const $ = (sel) => win.document.querySelector(sel);
const $$ = (sel) => [...win.document.querySelectorAll(sel)];
const rows = () => $$('#file-list tbody tr.item');
const rowNames = () => rows().map((r) => r.querySelector('.item-name').textContent);
const byLabel = (label) => $(`[aria-label="${label}"]`);
const key = (el, k) => el.dispatchEvent(new win.KeyboardEvent('keydown', { key: k, bubbles: true, cancelable: true }));

before(async () => {
  globalThis.fetch = fakeFetch;
  tree = await import('../src/tree.js');
  tree.treeNav.assign = (u) => assigned.push(u);
  tree.treeNav.replace = (u) => assigned.push(`replace:${u}`);
});

after(() => {
  tree.stopTree();
  win.close();
});

beforeEach(async () => {
  resetServer();
  assigned.length = 0;
  win.history.replaceState(null, '', '/b/tree');
  delete win.__cnoteReady;
  root = $('#tree');
  await tree.showTree(root, '');
  tree.stopTree();
});

// ---- tests ----

test('lists directories first, then by name case-insensitively, hides dot files, marks ready', () => {
  assert.deepEqual(rowNames(), ['Alpha', 'zeta', 'alpha.txt', 'beta.ipynb', 'Gamma.c']);
  assert.equal(win.__cnoteReady, true);
  assert.equal(win.document.body.dataset.page, 'tree');
  assert.equal(win.document.title, 'Home - cnote');
  const types = rows().map((r) => [r.dataset.path, r.dataset.type]);
  assert.deepEqual(types, [
    ['Alpha', 'directory'],
    ['zeta', 'directory'],
    ['alpha.txt', 'file'],
    ['beta.ipynb', 'notebook'],
    ['Gamma.c', 'file'],
  ]);
});

test('rows link to the right places and show relative times, sizes and actions', () => {
  const row = (p) => rows().find((r) => r.dataset.path === p);
  assert.equal(row('Alpha').querySelector('.item-name').getAttribute('href'), '/b/tree/Alpha');
  assert.equal(row('beta.ipynb').querySelector('.item-name').getAttribute('href'), '/b/notebooks/beta.ipynb');
  const file = row('alpha.txt').querySelector('.item-name');
  assert.equal(file.getAttribute('href'), '/b/files/alpha.txt');
  assert.equal(file.getAttribute('target'), '_blank');
  const time = row('beta.ipynb').querySelector('time');
  assert.equal(time.textContent, '3 minutes ago');
  assert.ok(time.getAttribute('title'), 'full date in title');
  assert.equal(row('Gamma.c').querySelector('time').textContent, '3 days ago');
  assert.equal(row('alpha.txt').querySelector('.col-size').textContent, '5 B');
  assert.equal(row('Alpha').querySelector('.col-size').textContent, '');
  const dl = byLabel('Download alpha.txt');
  assert.equal(dl.getAttribute('href'), '/b/files/alpha.txt?download=1');
  assert.ok(dl.hasAttribute('download'));
  assert.equal(byLabel('Download Alpha'), null, 'no download for folders');
  for (const a of ['Open', 'Rename', 'Delete']) assert.ok(byLabel(`${a} Alpha`), `${a} Alpha`);
  assert.equal(byLabel('Open beta.ipynb').getAttribute('href'), '/b/notebooks/beta.ipynb');
});

test('toolbar controls and the kernel chooser (default selected)', () => {
  for (const l of ['New notebook', 'New folder', 'Upload', 'Refresh']) assert.equal(byLabel(l).tagName, 'BUTTON', l);
  const sel = $('select#new-kernel');
  assert.equal($('label[for="new-kernel"]').textContent, 'Kernel');
  assert.deepEqual([...sel.options].map((o) => o.value), ['cnote', 'python3']);
  assert.equal(sel.value, 'cnote');
  assert.ok($('input[type=file][multiple]'));
  assert.ok($('[role="alert"]'));
});

test('clicking a folder navigates in the page: breadcrumbs, title, URL, back button', async () => {
  rows()[1].querySelector('.item-name').click();
  await waitFor(() => rowNames().join() === 'inner.ipynb', 'zeta listing');
  assert.equal(win.location.pathname, '/b/tree/zeta');
  assert.equal(win.document.title, 'zeta - cnote');
  const crumbs = $$('nav#breadcrumbs a');
  assert.deepEqual(
    crumbs.map((a) => [a.textContent, a.getAttribute('href')]),
    [
      ['Home', '/b/tree'],
      ['zeta', '/b/tree/zeta'],
    ],
  );
  assert.equal(crumbs[1].getAttribute('aria-current'), 'page');
  assert.ok(calls.some((c) => c.method === 'GET' && c.url.startsWith('/b/api/contents/zeta?')));
  crumbs[0].click();
  await waitFor(() => rowNames().length === 5, 'root listing');
  assert.equal(win.location.pathname, '/b/tree');
  // popstate (the back button) re-lists the folder of the URL
  win.history.pushState(null, '', '/b/tree/Alpha');
  win.dispatchEvent(new win.PopStateEvent('popstate'));
  await waitFor(() => rowNames().join() === 'deep', 'Alpha listing');
  assert.equal(win.document.title, 'Alpha - cnote');
});

test('showTree of a nested path shows every level in the breadcrumbs; empty folder message', async () => {
  await tree.showTree(root, 'Alpha/deep');
  tree.stopTree();
  assert.deepEqual(
    $$('nav#breadcrumbs a').map((a) => a.getAttribute('href')),
    ['/b/tree', '/b/tree/Alpha', '/b/tree/Alpha/deep'],
  );
  assert.equal(rows().length, 0);
  const empty = $('.tree-empty');
  assert.equal(empty.hidden, false);
  assert.equal(empty.textContent, 'This folder is empty.');
});

test('treePathFromLocation decodes tree routes under the base URL', () => {
  const f = (pathname) => tree.treePathFromLocation({ pathname });
  assert.equal(f('/b/'), '');
  assert.equal(f('/b'), '');
  assert.equal(f('/b/tree'), '');
  assert.equal(f('/b/tree/a%20b/c'), 'a b/c');
  assert.equal(f('/b/notebooks/x.ipynb'), null);
  assert.equal(f('/other/tree'), null);
});

test('New notebook: POST in the folder, PUT with the chosen kernelspec, then opens it', async () => {
  await tree.showTree(root, 'zeta');
  tree.stopTree();
  calls.length = 0;
  $('select#new-kernel').value = 'python3';
  byLabel('New notebook').click();
  await waitFor(() => assigned.length === 1, 'navigation');
  const post = calls.find((c) => c.method === 'POST');
  assert.equal(post.url, '/b/api/contents/zeta');
  assert.deepEqual(post.body, { type: 'notebook' });
  assert.equal(post.headers['X-XSRFToken'], 'xs1');
  const put = calls.find((c) => c.method === 'PUT');
  assert.ok(calls.indexOf(put) > calls.indexOf(post));
  assert.equal(put.url, '/b/api/contents/zeta/Untitled.ipynb');
  assert.equal(put.body.type, 'notebook');
  assert.equal(put.body.format, 'json');
  assert.equal(put.body.content.nbformat, 4);
  assert.deepEqual(put.body.content.cells, []);
  assert.deepEqual(put.body.content.metadata.kernelspec, { name: 'python3', display_name: 'Python 3', language: 'python' });
  assert.deepEqual(assigned, ['/b/notebooks/zeta/Untitled.ipynb']);
});

test('New notebook with the default kernel uses cnote', async () => {
  byLabel('New notebook').click();
  await waitFor(() => assigned.length === 1, 'navigation');
  const put = calls.find((c) => c.method === 'PUT');
  assert.deepEqual(put.body.content.metadata.kernelspec, { name: 'cnote', display_name: 'C (cnote)', language: 'c' });
  assert.deepEqual(assigned, ['/b/notebooks/Untitled.ipynb']);
});

test('New folder creates it and opens the rename input on it', async () => {
  byLabel('New folder').click();
  const input = await waitFor(() => $('input[aria-label="New name"]'), 'rename input');
  assert.ok(fs.has('Untitled Folder'));
  assert.equal(input.value, 'Untitled Folder');
  assert.equal(input.closest('tr').dataset.path, 'Untitled Folder');
  assert.equal(win.document.activeElement, input);
});

test('Rename: Enter sends PATCH with the new path; Escape cancels', async () => {
  byLabel('Rename alpha.txt').click();
  let input = $('input[aria-label="New name"]');
  assert.equal(input.value, 'alpha.txt');
  key(input, 'Escape');
  assert.equal($('input[aria-label="New name"]'), null);
  assert.equal(win.document.activeElement, byLabel('Rename alpha.txt'));
  assert.ok(!calls.some((c) => c.method === 'PATCH'));

  byLabel('Rename alpha.txt').click();
  input = $('input[aria-label="New name"]');
  input.value = 'omega.txt';
  key(input, 'Enter');
  await waitFor(() => rowNames().includes('omega.txt'), 'renamed row');
  const patch = calls.find((c) => c.method === 'PATCH');
  assert.equal(patch.url, '/b/api/contents/alpha.txt');
  assert.deepEqual(patch.body, { path: 'omega.txt' });
  assert.equal($('input[aria-label="New name"]'), null);
  assert.equal(win.document.activeElement, byLabel('Rename omega.txt'));
});

test('Rename in a subfolder keeps the folder; a conflict shows the error and keeps the input', async () => {
  await tree.showTree(root, 'zeta');
  tree.stopTree();
  byLabel('Rename inner.ipynb').click();
  let input = $('input[aria-label="New name"]');
  input.value = 'outer.ipynb';
  key(input, 'Enter');
  await waitFor(() => rowNames().includes('outer.ipynb'), 'renamed');
  assert.deepEqual(calls.find((c) => c.method === 'PATCH').body, { path: 'zeta/outer.ipynb' });

  await tree.showTree(root, '');
  tree.stopTree();
  byLabel('Rename alpha.txt').click();
  input = $('input[aria-label="New name"]');
  input.value = 'Gamma.c';
  key(input, 'Enter');
  const alert = $('[role="alert"]');
  await waitFor(() => alert.textContent.includes('File already exists: Gamma.c'), 'conflict error');
  assert.ok(alert.textContent.includes('409'));
  assert.equal($('input[aria-label="New name"]'), input, 'input still open');
  assert.equal(rows().length, 5, 'listing kept');
});

test('Delete asks in a dialog; Cancel keeps the file, Delete removes it', async () => {
  byLabel('Delete alpha.txt').click();
  const dialog = $('dialog');
  assert.ok(dialog.open || dialog.hasAttribute('open'));
  const btn = (name) => [...dialog.querySelectorAll('button')].find((b) => b.textContent === name);
  assert.ok(dialog.textContent.includes('alpha.txt'));
  btn('Cancel').click();
  await tick();
  assert.ok(!dialog.hasAttribute('open'));
  assert.ok(!calls.some((c) => c.method === 'DELETE'));

  byLabel('Delete alpha.txt').click();
  btn('Delete').click();
  await waitFor(() => !rowNames().includes('alpha.txt'), 'row removed');
  const del = calls.find((c) => c.method === 'DELETE');
  assert.equal(del.url, '/b/api/contents/alpha.txt');
  assert.ok(!fs.has('alpha.txt'));
});

test('Deleting a non-empty folder shows the server message and keeps the listing', async () => {
  byLabel('Delete zeta').click();
  [...$('dialog').querySelectorAll('button')].find((b) => b.textContent === 'Delete').click();
  const alert = $('[role="alert"]');
  await waitFor(() => alert.textContent.includes('Directory zeta not empty'), 'error');
  assert.equal(rows().length, 5);
  assert.ok(fs.has('zeta'));
});

test('a failing refresh shows the error in role=alert and keeps the rows', async () => {
  failures.push({ method: 'GET', prefix: 'api/contents', network: true, once: true });
  byLabel('Refresh').click();
  const alert = $('[role="alert"]');
  await waitFor(() => alert.textContent.includes('cannot reach the server'), 'network error');
  assert.equal(alert.closest('.tree-alert').hidden, false);
  assert.equal(rows().length, 5);
  failures.push({ method: 'GET', prefix: 'api/contents', status: 404, message: 'file or directory x does not exist', once: true });
  byLabel('Refresh').click();
  await waitFor(() => alert.textContent.includes('404'), '404 error');
  assert.equal(rows().length, 5);
  byLabel('Dismiss error').click();
  assert.equal(alert.textContent, '');
  assert.equal(alert.closest('.tree-alert').hidden, true);
});

test('running sessions: badge in the row, section with kernel and state, Shut down', async () => {
  sessionsList = [
    {
      id: 's1',
      path: 'beta.ipynb',
      name: 'beta.ipynb',
      type: 'notebook',
      kernel: { id: 'k1', name: 'cnote', execution_state: 'busy', connections: 1 },
      notebook: { path: 'beta.ipynb', name: 'beta.ipynb' },
    },
  ];
  byLabel('Refresh').click();
  await waitFor(() => $('tr.item[data-path="beta.ipynb"] .running'), 'badge');
  assert.equal($('tr.item[data-path="beta.ipynb"] .running').textContent, 'Running');
  assert.equal($$('tr.item .running').length, 1);
  const li = $('section#running li');
  assert.equal(li.querySelector('a').getAttribute('href'), '/b/notebooks/beta.ipynb');
  assert.ok(li.textContent.includes('C (cnote)'));
  assert.ok(li.textContent.includes('busy'));
  byLabel('Shut down beta.ipynb').click();
  await waitFor(() => !$('tr.item .running'), 'badge gone');
  assert.ok(calls.some((c) => c.method === 'DELETE' && c.url === '/b/api/sessions/s1'));
  assert.equal($('section#running li'), null);
  assert.ok($('section#running').textContent.includes('No running notebooks.'));
});

test('Upload sends the file with a PUT and asks before replacing an existing name', async () => {
  const input = $('input[type=file]');
  const pick = (files) => {
    Object.defineProperty(input, 'files', { value: files, configurable: true });
    input.dispatchEvent(new win.Event('change'));
  };
  pick([new File(['new data'], 'new.txt', { type: 'text/plain' })]);
  await waitFor(() => rowNames().includes('new.txt'), 'uploaded');
  const put = calls.find((c) => c.method === 'PUT');
  assert.equal(put.url, '/b/api/contents/new.txt');
  assert.equal(put.body.format, 'base64');
  assert.equal(Buffer.from(put.body.content, 'base64').toString(), 'new data');
  assert.ok($('[role="status"]').textContent.includes('Uploaded 1 file'));

  calls.length = 0;
  pick([new File(['x'], 'alpha.txt')]);
  const dialog = $('dialog');
  await waitFor(() => dialog.hasAttribute('open'), 'overwrite question');
  assert.ok(dialog.textContent.includes('alpha.txt already exists'));
  [...dialog.querySelectorAll('button')].find((b) => b.textContent === 'Cancel').click();
  await waitFor(() => !dialog.hasAttribute('open'));
  await tick();
  assert.ok(!calls.some((c) => c.method === 'PUT'), 'not overwritten');
  assert.equal(fs.get('alpha.txt').content, 'hello');

  pick([new File(['x2'], 'alpha.txt')]);
  await waitFor(() => dialog.hasAttribute('open'), 'overwrite question');
  [...dialog.querySelectorAll('button')].find((b) => b.textContent === 'Replace').click();
  await waitFor(() => calls.some((c) => c.method === 'PUT'), 'overwritten');
});

test('live refresh every 10 s keeps focus and an open rename input', async () => {
  mock.timers.enable({ apis: ['setInterval'] });
  try {
    await tree.showTree(root, '');
    byLabel('Rename Gamma.c').focus();
    fs.set('b-new.c', { type: 'file', content: 'int y;', mtime: new Date().toISOString() });
    const focused = win.document.activeElement;
    mock.timers.tick(10000);
    await waitFor(() => rowNames().includes('b-new.c'), 'polled listing');
    assert.equal(win.document.activeElement, focused, 'focus kept');
    assert.deepEqual(rowNames(), ['Alpha', 'zeta', 'alpha.txt', 'b-new.c', 'beta.ipynb', 'Gamma.c']);

    byLabel('Rename Gamma.c').click();
    const input = $('input[aria-label="New name"]');
    input.value = 'typing';
    const n = calls.length;
    mock.timers.tick(10000);
    await tick();
    assert.equal(calls.length, n, 'no poll while renaming');
    assert.equal($('input[aria-label="New name"]'), input);
    assert.equal(input.value, 'typing');
    key(input, 'Escape');
  } finally {
    tree.stopTree();
    mock.timers.reset();
  }
});

test('helpers: relativeTime and formatSize', () => {
  const now = Date.parse('2024-05-01T12:00:00Z');
  assert.equal(tree.relativeTime(new Date(now - 2000), now), 'just now');
  assert.equal(tree.relativeTime(new Date(now - 45000), now), '45 seconds ago');
  assert.equal(tree.relativeTime(new Date(now - 3 * 60000), now), '3 minutes ago');
  assert.equal(tree.relativeTime(new Date(now - 2 * 3600000), now), '2 hours ago');
  assert.equal(tree.relativeTime(new Date(now - 86400000), now), 'yesterday');
  assert.equal(tree.formatSize(0), '0 B');
  assert.equal(tree.formatSize(1536), '1.5 KiB');
  assert.equal(tree.formatSize(20 * 1024 * 1024), '20 MiB');
  assert.equal(tree.formatSize(null), '');
});

test('a tree URL of a notebook or file opens it instead', async () => {
  win.__cnoteReady = undefined;
  await tree.showTree(root, 'beta.ipynb');
  tree.stopTree();
  assert.deepEqual(assigned, ['replace:/b/notebooks/beta.ipynb']);
  await tree.showTree(root, 'alpha.txt');
  tree.stopTree();
  assert.deepEqual(assigned, ['replace:/b/notebooks/beta.ipynb', 'replace:/b/files/alpha.txt']);
});

test('a missing folder shows the 404 in role=alert and still marks the page ready', async () => {
  delete win.__cnoteReady;
  await tree.showTree(root, 'nope');
  tree.stopTree();
  assert.equal(win.__cnoteReady, true);
  assert.ok($('[role="alert"]').textContent.includes('does not exist'));
  assert.equal($('.tree-empty').hidden, true, 'no "empty" claim for a folder that failed to list');
});
