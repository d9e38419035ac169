// Unit tests of the admin page (src/admin.js) and the user bar (src/account.js) in jsdom,
// against a fake fetch that answers like cnote's admin REST API (server/api_admin.c) from
// fixture JSON. The real server is exercised by tests/browser/cnote-admin.test.mjs.

import { test, before, beforeEach, after } from 'node:test';
import assert from 'node:assert/strict';
import { register } from 'node:module';
import { JSDOM } from 'jsdom';

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
    '<body><div id="app"></div></body></html>',
  { url: 'http://localhost/b/admin', pretendToBeVisual: true },
);
const win = dom.window;
for (const k of ['window', 'document', 'history', 'location', 'HTMLElement', 'Node', 'Event', 'KeyboardEvent']) {
  Object.defineProperty(globalThis, k, { value: k === 'window' ? win : win[k], configurable: true, writable: true });
}
win.document.cookie = '_xsrf=xs1';

const NOW = Date.now();
const iso = (agoS) => new Date(NOW - agoS * 1000).toISOString();

const USERS = [
  { name: 'root', admin: true, created: iso(9000), last_activity: iso(5), kernels: 0, gpus: 0, quota: { max_kernels: 10, max_gpus: 1, max_idle_s: 0 } },
  { name: 'alice', admin: false, created: iso(8000), last_activity: iso(600), kernels: 2, gpus: 1, quota: { max_kernels: 2, max_gpus: 1, max_idle_s: 3600 } },
  { name: 'bob', admin: false, created: iso(100), last_activity: null, kernels: 0, gpus: 0, quota: { max_kernels: 10, max_gpus: 1, max_idle_s: 0 } },
];
const KERNELS = [
  { id: 'aaaaaaaa-1111-2222-3333-444444444444', name: 'cnote', owner: 'alice', execution_state: 'idle', last_activity: iso(90), connections: 0, idle_s: 90 },
  {
    id: 'bbbbbbbb-1111-2222-3333-444444444444',
    name: 'python3',
    owner: 'alice',
    execution_state: 'starting',
    last_activity: iso(4000),
    connections: 1,
    idle_s: 4000,
    launch: { provisioner: 'kubernetes', stage: 'Pulling', pod: 'cnote-k-bbbbbbbb', node: 'gpu-node-1', profile: 'gpu-small' },
  },
];
const AUDIT = [
  { time: iso(10), actor: 'root', action: 'quota_set', target: 'alice', detail: { max_kernels: 2 } },
  { time: iso(20), actor: 'root', action: 'user_add', target: 'bob', detail: null },
];

let calls;
let failures;
let userQuota;
let singleUser = false;

function json(status, body) {
  return new Response(body === null ? null : JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
}

async function fakeFetch(input, init = {}) {
  const u = new URL(String(input), 'http://localhost');
  const method = (init.method || 'GET').toUpperCase();
  const body = init.body ? JSON.parse(init.body) : undefined;
  calls.push({ method, url: u.pathname + u.search, body, headers: init.headers || {} });
  assert.ok(u.pathname.startsWith(BASE), `request outside the base URL: ${u.pathname}`);
  const rest = u.pathname.slice(BASE.length);
  for (const f of failures) {
    if (f.method === method && rest.startsWith(f.prefix)) return json(f.status, { message: f.message, reason: null });
  }
  if (rest === 'api/me' && singleUser) return json(200, { identity: { username: 'cnote', name: 'cnote', display_name: 'cnote' }, permissions: {} });
  if (rest === 'api/me') return json(200, { identity: { username: 'root', name: 'root', admin: true }, permissions: {} });
  if (rest === 'api/admin/users' && method === 'GET') return json(200, USERS);
  if (rest === 'api/admin/users' && method === 'POST') return json(201, { name: body.name, admin: !!body.admin, kernels: 0, gpus: 0 });
  if (rest === 'api/admin/kernels') return json(200, KERNELS);
  if (rest === 'api/admin/audit') return json(200, AUDIT);
  if (rest === 'api/admin/quotas') return json(200, { max_kernels: 10, max_gpus: 1, max_idle_s: 0 });
  const m = /^api\/admin\/users\/([^/]+)\/quota$/.exec(rest);
  if (m && method === 'GET') return json(200, userQuota);
  if (m && method === 'PUT') return json(200, body);
  if (rest === 'api/kernelspecs') return json(200, { default: 'cnote', kernelspecs: { cnote: { name: 'cnote', spec: { display_name: 'C (cnote)' } } } });
  if (rest === 'api/cnote/profiles') return json(200, { provisioner: 'local', profiles: [] });
  return json(404, { message: 'Not Found', reason: null });
}

let admin;
let account;
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
const byLabel = (label) => $(`[aria-label="${label}"]`);

before(async () => {
  globalThis.fetch = fakeFetch;
  admin = await import('../src/admin.js');
  account = await import('../src/account.js');
});

beforeEach(() => {
  calls = [];
  failures = [];
  userQuota = { max_kernels: 2, max_gpus: -1, max_idle_s: -1 };
  for (const d of $$('dialog')) d.remove();
  account.resetMe();
});

after(() => {
  admin.stopAdmin();
});

async function show() {
  const app = $('#app');
  await admin.showAdmin(app);
  admin.stopAdmin();
  return app;
}

test('quotaFromForm: numbers, empty = the default (null), bad input names the field', () => {
  assert.deepEqual(admin.quotaFromForm({ max_kernels: ' 3 ', max_gpus: '', max_idle_s: '600' }), { max_kernels: 3, max_gpus: null, max_idle_s: 600 });
  assert.deepEqual(admin.quotaFromForm({}), { max_kernels: null, max_gpus: null, max_idle_s: null });
  assert.throws(() => admin.quotaFromForm({ max_kernels: '-1' }), /Max running kernels/);
  assert.throws(() => admin.quotaFromForm({ max_gpus: '1.5' }), /Max GPUs/);
  assert.throws(() => admin.quotaFromForm({ max_kernels: '1', max_gpus: '', max_idle_s: '0' }, { allowEmpty: false }), /Max GPUs: a number is needed/);
  assert.deepEqual(admin.quotaFromForm({ max_kernels: '0', max_gpus: '0', max_idle_s: '0' }, { allowEmpty: false }), { max_kernels: 0, max_gpus: 0, max_idle_s: 0 });
});

test('formatIdle and quotaText', () => {
  assert.equal(admin.formatIdle(5), '5 s');
  assert.equal(admin.formatIdle(90), '1 min');
  assert.equal(admin.formatIdle(4000), '1 h 6 min');
  assert.equal(admin.formatIdle(undefined), '');
  assert.equal(admin.quotaText({ max_kernels: 1, max_gpus: 2, max_idle_s: 0 }), '1 kernel, 2 GPUs, idle: no limit');
});

test('renders the users, kernels and audit tables from the API', async () => {
  await show();
  assert.equal(win.document.body.dataset.page, 'admin');
  const rows = $$('#users-table tbody tr');
  assert.deepEqual(rows.map((r) => r.dataset.user), ['root', 'alice', 'bob']);
  const alice = rows[1];
  assert.equal(alice.querySelector('.user-role').textContent, 'user');
  assert.equal(alice.querySelector('.user-kernels').textContent, '2');
  assert.equal(alice.querySelector('.user-gpus').textContent, '1');
  assert.equal(alice.querySelector('.user-quota').textContent, '2 kernels, 1 GPU, idle: 1 h 0 min');
  assert.ok(alice.querySelector('time[datetime]'));
  assert.match(rows[2].textContent, /never/);
  // the admin cannot delete themselves or drop their own role; labelled buttons for the others
  assert.ok(byLabel('Delete user root').disabled);
  assert.ok(byLabel('Revoke admin role of root').disabled);
  assert.ok(!byLabel('Delete user alice').disabled);
  assert.ok(byLabel('Make admin bob'));
  assert.ok(byLabel('Stop kernels of bob').disabled, 'no kernels to stop');

  const ks = $$('#kernels-table tbody tr');
  assert.equal(ks.length, 2);
  const cells = (tr) => [...tr.children].map((c) => c.textContent);
  assert.deepEqual(cells(ks[0]).slice(0, 8), ['alice', 'cnote aaaaaaaa', 'idle', '1 min', 'local process', '', '', '']);
  assert.deepEqual(cells(ks[1]).slice(0, 8), ['alice', 'python3 bbbbbbbb', 'starting', '1 h 6 min', 'cnote-k-bbbbbbbb', 'gpu-node-1', 'gpu-small', 'Pulling']);
  assert.ok(byLabel('Stop kernel bbbbbbbb of alice'));

  const audit = $$('#audit-table tbody tr');
  assert.equal(audit.length, 2);
  assert.match(audit[0].textContent, /quota_set/);
  assert.match(audit[0].textContent, /"max_kernels":2/);

  // default quotas filled in; the user bar: name and Log out, no Admin link on the admin page
  assert.equal($('#default-quota-max_kernels').value, '10');
  await waitFor(() => $('.userbar'), 'the user bar');
  assert.match($('.userbar-name').textContent, /root/);
  assert.equal($('.userbar a.userbar-logout').getAttribute('href'), '/b/logout');
  assert.equal($('.userbar-admin'), null);
  // every control of the page has a label
  for (const el of $$('#app input, #app select')) {
    assert.ok(el.getAttribute('aria-label') || (el.id && $(`label[for="${el.id}"]`)), `unlabelled ${el.outerHTML}`);
  }
});

test('the quota dialog sends the form as JSON: empty fields are null (the default)', async () => {
  await show();
  byLabel('Edit quota of alice').click();
  const dlg = await waitFor(() => $('dialog.modal'), 'the quota dialog');
  assert.equal($('#user-quota-max_kernels').value, '2');
  assert.equal($('#user-quota-max_gpus').value, '', '-1 (the default) shows as empty');
  assert.equal($('#user-quota-max_gpus').placeholder, '1', 'the default as placeholder');
  $('#user-quota-max_kernels').value = '1';
  $('#user-quota-max_idle_s').value = '1800';
  $('#user-quota-form').dispatchEvent(new win.Event('submit', { cancelable: true, bubbles: true }));
  await waitFor(() => calls.some((c) => c.method === 'PUT'), 'the PUT');
  const put = calls.find((c) => c.method === 'PUT');
  assert.equal(put.url, '/b/api/admin/users/alice/quota');
  assert.deepEqual(put.body, { max_kernels: 1, max_gpus: null, max_idle_s: 1800 });
  assert.equal(put.headers['X-XSRFToken'], 'xs1');
  await waitFor(() => !dlg.isConnected, 'the dialog to close');
  await waitFor(() => /Saved the quota of alice/.test($('.admin-status').textContent), 'the status line');
});

test('a bad quota is refused in the dialog without a request', async () => {
  await show();
  byLabel('Edit quota of bob').click();
  await waitFor(() => $('dialog.modal'), 'the quota dialog');
  $('#user-quota-max_kernels').value = 'lots';
  $('#user-quota-form').dispatchEvent(new win.Event('submit', { cancelable: true, bubbles: true }));
  await tick();
  assert.match($('dialog.modal [role="alert"]').textContent, /Max running kernels/);
  assert.ok(!calls.some((c) => c.method === 'PUT'));
});

test('an API error is shown in the role=alert banner', async () => {
  await show();
  failures.push({ method: 'POST', prefix: 'api/admin/users', status: 409, message: 'User bob exists' });
  $('#new-user-name').value = 'bob';
  $('#create-user').dispatchEvent(new win.Event('submit', { cancelable: true, bubbles: true }));
  const alert = $('.admin-body [role="alert"]');
  await waitFor(() => alert.textContent, 'the error');
  assert.equal(alert.textContent, 'User bob exists (HTTP 409)');
  assert.equal(alert.closest('.banner').hidden, false);
  const post = calls.find((c) => c.method === 'POST');
  assert.deepEqual(post.body, { name: 'bob', admin: false });
  byLabel('Dismiss error').click();
  assert.equal(alert.textContent, '');
});

test('a non-admin (403) sees the admins-only message', async () => {
  failures.push({ method: 'GET', prefix: 'api/admin/', status: 403, message: 'Forbidden: this needs an admin' });
  const app = await show();
  assert.match(app.querySelector('h1').textContent, /Admins only/);
  assert.match(app.querySelector('[role="alert"]').textContent, /administrators only/);
  assert.equal(app.querySelector('#users-table'), null);
});

test('the user bar: nothing in single-user mode (api/me has no admin field)', async () => {
  singleUser = true;
  const header = win.document.createElement('header');
  win.document.body.append(header);
  assert.equal(await account.addUserBar(header, { page: 'tree' }), null);
  assert.equal(header.children.length, 0);
  header.remove();
  singleUser = false;
});
