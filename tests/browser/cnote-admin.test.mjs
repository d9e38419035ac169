// The admin page of multi-user mode, end to end: headless Chromium (playwright-core) against a
// real cnote-server with users in its data dir and the real C kernel. The tests run in order and
// build on each other. Screenshots go to build/artifacts/app-admin-*.png.
//
// What is checked: an admin logs in through the real login form (user name and password) and
// sees the Admin link; the admin page lists the users; a user is created in the UI, gets a
// quota, a token is made (shown once) and revoked; a kernel is spawned for another user and
// shows up in the kernels table with that owner, then is stopped from the UI and goes; a user
// is deleted after a confirm dialog (keyboard only); the audit log shows those actions;
// axe-core finds nothing serious or critical (light, dark, a dialog open); a non-admin sees no
// Admin link, an "Admins only" message at {base}admin, and can make their own token.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';

import { SERVER_BIN, startCnote, launchBrowser, screenshot, tempDir, waitFor } from './harness.mjs';

const require = createRequire(import.meta.url);
const AXE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

const ROOT_PW = 'root-pass-4711';
const ALICE_PW = 'alice-pass-4711';

let srv;
let br;
let page;

function cli(dataDir, args, input) {
  return execFileSync(SERVER_BIN, ['user', ...args, '--data-dir', dataDir], {
    input: input ?? '',
    encoding: 'utf8',
    stdio: ['pipe', 'pipe', 'pipe'],
    timeout: 30_000,
  }).trim();
}

async function ready(p = page) {
  await p.waitForFunction(() => window.__cnoteReady === true, null, { timeout: 60_000 });
}

async function axe(p, name) {
  await p.addScriptTag({ content: AXE });
  const r = await p.evaluate(async () => {
    const res = await window.axe.run(document, { resultTypes: ['violations'] });
    return res.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) }));
  });
  const bad = r.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(bad, [], `${name}: axe-core serious/critical findings:\n${JSON.stringify(bad, null, 1)}`);
}

async function login(p, user, pw, next = '') {
  await p.goto(`${srv.url}${next}`);
  await p.waitForSelector('body[data-page="login"]');
  await p.getByLabel('User name').fill(user);
  await p.getByLabel('Password').fill(pw);
  await p.keyboard.press('Enter');
  await ready(p);
}

function userRow(name) {
  return page.locator(`#users-table tbody tr[data-user="${name}"]`);
}

// the audit log's actions as "action target" strings
async function auditActions() {
  return page.locator('#audit-table tbody tr').evaluateAll((rows) =>
    rows.map((r) => `${r.querySelector('.audit-action').textContent} ${r.children[3].textContent}`),
  );
}

describe('cnote admin page', { timeout: 300_000 }, () => {
  before(async () => {
    const data = tempDir('cnote-admin-data-');
    cli(data, ['add', 'root', '--admin', '--password-stdin'], `${ROOT_PW}\n`);
    cli(data, ['add', 'alice', '--password-stdin'], `${ALICE_PW}\n`);
    // the harness waits for GET api/status with this token: in multi-user mode a user's token
    const token = cli(data, ['token', 'root', '--note', 'harness']).split('\n').pop();
    assert.match(token, /^cnote_/);
    srv = await startCnote({ token, args: ['--data-dir', data] });
    br = await launchBrowser({ viewport: { width: 1400, height: 1000 }, launch: { bypassCSP: true } });
    page = br.page;
  });

  after(async () => {
    if (page) await screenshot(page, 'app-admin-last');
    if (br) await br.close();
    if (srv) await srv.stop();
    if (br && br.pageErrors.length) console.log(br.pageErrors.join('\n'));
  });

  it('an admin logs in with user name and password and finds the Admin link', async () => {
    await login(page, 'root', ROOT_PW);
    await page.waitForSelector('body[data-page="tree"]');
    const bar = page.getByRole('navigation', { name: 'Account' });
    await bar.waitFor();
    assert.match(await bar.textContent(), /root/);
    assert.equal(await bar.getByRole('link', { name: 'Log out' }).getAttribute('href'), `${new URL(srv.url).pathname}logout`);
    await bar.getByRole('link', { name: 'Admin' }).click();
    await page.waitForSelector('body[data-page="admin"]');
    await ready();
    await userRow('alice').waitFor();
    await userRow('root').waitFor();
    await screenshot(page, 'app-admin');
  });

  it('creates a user and sets their quota from the UI', async () => {
    await page.getByLabel('User name').fill('bob');
    await page.getByRole('button', { name: 'Create user' }).click();
    await userRow('bob').waitFor();
    assert.equal(await userRow('bob').locator('.user-role').textContent(), 'user');
    await page.getByRole('button', { name: 'Edit quota of bob' }).click();
    const dlg = page.getByRole('dialog', { name: 'Quota of bob' });
    await dlg.waitFor();
    await dlg.getByLabel('Max running kernels').fill('1');
    await dlg.getByRole('button', { name: 'Save quota' }).click();
    await dlg.waitFor({ state: 'detached' });
    await waitFor('bob quota 1 kernel', 15_000, async () => /^1 kernel,/.test(await userRow('bob').locator('.user-quota').textContent()));
    const q = await srv.api('GET', 'api/admin/users/bob/quota');
    assert.equal(q.max_kernels, 1);
    assert.equal(q.max_gpus, -1, 'left empty: the default');
  });

  it('makes a token for bob (shown once) and revokes it', async () => {
    await page.getByRole('button', { name: 'Tokens of bob' }).click();
    const dlg = page.getByRole('dialog', { name: 'Tokens of bob' });
    await dlg.waitFor();
    await dlg.getByLabel('Note').fill('ci');
    await dlg.getByRole('button', { name: 'New token' }).click();
    const shown = dlg.getByLabel('New token', { exact: true });
    await waitFor('the new token', 15_000, async () => /^cnote_/.test(await shown.inputValue()));
    const tok = await shown.inputValue();
    const ok = await fetch(`${srv.url}api/me`, { headers: { Authorization: `token ${tok}` } });
    assert.equal((await ok.json()).identity.username, 'bob');
    const revoke = dlg.getByRole('button', { name: /^Revoke token \d+ \(ci\)$/ });
    await revoke.click();
    await revoke.waitFor({ state: 'detached' });
    const gone = await fetch(`${srv.url}api/me`, { headers: { Authorization: `token ${tok}` } });
    assert.equal(gone.status, 403, 'a revoked token no longer works');
    await page.keyboard.press('Escape');
    await dlg.waitFor({ state: 'detached' });
  });

  it('spawns a kernel for alice, sees it with its owner, stops it', async () => {
    await page.getByRole('button', { name: 'Spawn kernel for alice' }).click();
    const dlg = page.getByRole('dialog', { name: 'Spawn kernel for alice' });
    await dlg.waitFor();
    await dlg.getByRole('button', { name: 'Spawn' }).click();
    await dlg.waitFor({ state: 'detached' });
    const row = page.locator('#kernels-table tbody tr[data-owner="alice"]');
    await row.waitFor({ timeout: 20_000 });
    assert.equal(await row.locator('.kernel-owner').textContent(), 'alice');
    const kid = await row.getAttribute('data-kernel-id');
    const ks = await srv.api('GET', 'api/admin/kernels');
    assert.ok(ks.some((k) => k.id === kid && k.owner === 'alice'));
    await waitFor('alice counted 1 kernel', 15_000, async () => (await userRow('alice').locator('.user-kernels').textContent()) === '1');
    await screenshot(page, 'app-admin-kernel');
    await row.getByRole('button', { name: /^Stop kernel / }).click();
    await row.waitFor({ state: 'detached', timeout: 20_000 });
    await waitFor('the kernel gone from the server', 15_000, async () => !(await srv.api('GET', 'api/admin/kernels')).some((k) => k.id === kid));
  });

  it('deletes a user after a confirm dialog, by keyboard (Esc cancels)', async () => {
    await page.getByRole('button', { name: 'Delete user bob' }).focus();
    await page.keyboard.press('Enter');
    const dlg = page.getByRole('dialog', { name: 'Please confirm' });
    await dlg.waitFor();
    await page.keyboard.press('Escape');
    await dlg.waitFor({ state: 'detached' });
    assert.equal(await page.evaluate(() => document.activeElement.getAttribute('aria-label')), 'Delete user bob', 'focus back');
    await page.keyboard.press('Enter');
    await dlg.waitFor();
    await dlg.getByRole('button', { name: 'Delete bob' }).click();
    await userRow('bob').waitFor({ state: 'detached' });
    assert.ok(!(await srv.api('GET', 'api/admin/users')).some((u) => u.name === 'bob'));
  });

  it('the audit log shows the actions', async () => {
    await waitFor('audit entries', 15_000, async () => {
      const a = await auditActions();
      return ['user_add bob', 'quota_set bob', 'token_new bob', 'token_revoke bob', 'kernel_spawn alice', 'kernel_stop alice', 'user_delete bob'].every((x) => a.includes(x));
    });
  });

  it('passes axe-core in light and dark themes', async () => {
    await axe(page, 'admin light');
    await page.emulateMedia({ colorScheme: 'dark' });
    await axe(page, 'admin dark');
    await screenshot(page, 'app-admin-dark', { fullPage: true });
    await page.emulateMedia({ colorScheme: 'light' });
    // a dialog open: still nothing serious
    await page.getByRole('button', { name: 'Tokens of alice' }).click();
    await page.getByRole('dialog', { name: 'Tokens of alice' }).waitFor();
    await axe(page, 'admin tokens dialog');
    await page.keyboard.press('Escape');
  });

  it('a non-admin sees no Admin link and an admins-only message', async () => {
    const b2 = await launchBrowser({ launch: { bypassCSP: true } });
    try {
      const p = b2.page;
      await login(p, 'alice', ALICE_PW);
      await p.waitForSelector('body[data-page="tree"]');
      const bar = p.getByRole('navigation', { name: 'Account' });
      await bar.waitFor();
      assert.match(await bar.textContent(), /alice/);
      assert.equal(await bar.getByRole('link', { name: 'Admin' }).count(), 0);
      await p.goto(`${srv.url}admin`);
      await ready(p);
      await p.getByRole('heading', { name: 'Admins only' }).waitFor();
      assert.match(await p.getByRole('alert').textContent(), /administrators only/);
      assert.equal(await p.locator('#users-table').count(), 0);
      await screenshot(p, 'app-admin-denied');
      // her own tokens: "My tokens"
      await bar.getByRole('button', { name: 'My tokens' }).click();
      const dlg = p.getByRole('dialog', { name: 'My API tokens' });
      await dlg.waitFor();
      await dlg.getByRole('button', { name: 'New token' }).click();
      await waitFor('alice token', 15_000, async () => /^cnote_/.test(await dlg.getByLabel('New token', { exact: true }).inputValue()));
      // the list refreshes after the token is shown
      await waitFor('her token in the list', 10_000, async () => (await dlg.locator('tbody tr').count()) === 1);
      assert.equal(await dlg.locator('tbody tr').count(), 1);
      assert.deepEqual(b2.pageErrors, []);
    } finally {
      await b2.close();
    }
  });
});
