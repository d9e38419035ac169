// JupyterLab in headless Chromium, with cnote as its kernel gateway.
//
// Starts cnote-server (--port 0) and JupyterLab from the venv with
// `--gateway-url=<cnote> --GatewayClient.auth_token=<cnote token>`, so the notebook's kernel
// runs in cnote while JupyterLab serves the page, contents and sessions. Debian's Chromium,
// driven by playwright-core, opens /lab/tree/test.ipynb (kernelspec `cnote`), waits for the
// kernel to be idle, types a C cell, runs it with Shift+Enter and expects its output. Then it
// checks, through cnote's own REST API, that the kernel really lives in cnote.
//
// CNOTE_BROWSER_MODE=local runs the same test with no gateway (JupyterLab starts the cnote
// kernel itself), to tell JupyterLab/Chromium trouble from gateway trouble.
//
// Leaves build/artifacts/jupyterlab-gateway.png (the page at the end, or at the failure) and
// build/artifacts/jupyterlab-gateway.log (browser console errors and the server logs).
// Run by scripts/run-browser.sh. Every wait has a deadline; the whole test is bounded.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const MODE = process.env.CNOTE_BROWSER_MODE || 'gateway';
const CHROMIUM = process.env.CNOTE_CHROMIUM || '/usr/bin/chromium';
const SERVER_BIN = path.join(ROOT, 'build', 'bin', 'cnote-server');
const VENV_BIN = path.join(ROOT, '.venv', 'bin');
const VENV_SHARE = path.join(ROOT, '.venv', 'share', 'jupyter');
const ARTIFACTS = path.join(ROOT, 'build', 'artifacts');
const SCREENSHOT = path.join(ARTIFACTS, 'jupyterlab-gateway.png');
const LOG = path.join(ARTIFACTS, 'jupyterlab-gateway.log');
const LAB_TOKEN = 'lab-browser-token';
const CNOTE_TOKEN = 'cnote-browser-token';
const CODE = 'printf("from chromium %d\\n", 6 * 7);';
const EXPECTED = 'from chromium 42';
const STEPS_MS = 110_000;        // every step until the output is shown, all together
const TEST_TIMEOUT_MS = 160_000; // and the clean-up after it (each stop is bounded too)

const children = new Set();
const notes = [];

function note(line) {
  notes.push(`[${new Date().toISOString()}] ${line}`);
}

// Children die with us, even when a timeout kills us with a signal.
function killChildren(signal = 'SIGKILL') {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null) {
      try {
        process.kill(c.pid, signal);
      } catch {
        /* already gone */
      }
    }
  }
}
process.on('exit', () => killChildren());
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    killChildren();
    process.exit(128 + os.constants.signals[sig]);
  });
}

let stepsEnd = Date.now() + STEPS_MS;

// A step's timeout: its own limit, cut to what is left of the whole budget.
function budget(ms) {
  return Math.max(1000, Math.min(ms, stepsEnd - Date.now()));
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

// A deadline for Promise.race that does not keep the process alive once the race is won.
function deadline(ms, value = 'timeout') {
  return new Promise((r) => setTimeout(() => r(value), ms).unref());
}

async function waitFor(what, timeoutMs, fn) {
  timeoutMs = budget(timeoutMs);
  const until = Date.now() + timeoutMs;
  let last;
  while (Date.now() < until) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    await sleep(100);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last}` : ''}`);
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// Output to a file, never to a pipe nobody reads (a full pipe would block the server).
function start(name, cmd, args, env, logPath) {
  const fd = fs.openSync(logPath, 'w');
  const child = spawn(cmd, args, { env, stdio: ['ignore', fd, fd] });
  fs.closeSync(fd);
  children.add(child);
  const exited = new Promise((resolve) => child.once('exit', (code, sig) => resolve(code ?? sig)));
  child.on('error', (e) => note(`${name}: ${e}`));
  note(`${name} pid ${child.pid}: ${cmd} ${args.join(' ')}`);
  return { name, child, exited, logPath };
}

async function stop(proc, graceMs = 10_000) {
  if (!proc || proc.child.exitCode !== null || proc.child.signalCode !== null) return;
  proc.child.kill('SIGTERM');
  const r = await Promise.race([proc.exited, deadline(graceMs)]);
  if (r === 'timeout') {
    proc.child.kill('SIGKILL');
    await Promise.race([proc.exited, deadline(5000)]);
  }
}

async function getJson(url, token, timeoutMs = 10_000) {
  const r = await fetch(url, {
    headers: { Authorization: `token ${token}` },
    signal: AbortSignal.timeout(timeoutMs),
  });
  if (r.status !== 200) throw new Error(`GET ${url}: ${r.status} ${await r.text()}`);
  return r.json();
}

async function startCnote(tmp) {
  const root = path.join(tmp, 'cnote-root');
  const data = path.join(tmp, 'cnote-data');
  fs.mkdirSync(root);
  fs.mkdirSync(data);
  const env = { ...process.env, JUPYTER_PATH: VENV_SHARE };
  const proc = start('cnote-server', SERVER_BIN,
    ['--ip', '127.0.0.1', '--port', '0', '--root', root, '--data-dir', data,
      '--token', CNOTE_TOKEN, '--shutdown-kernels-on-exit'],
    env, path.join(tmp, 'cnote-server.log'));
  let url = await waitFor('cnote-server to print its URL', 30_000, () => {
    if (proc.child.exitCode !== null) throw new Error(`cnote-server exited ${proc.child.exitCode}`);
    const m = /(https?:\/\/[^\s?]+)/.exec(fs.readFileSync(proc.logPath, 'utf8'));
    return m && m[1];
  });
  if (!url.endsWith('/')) url += '/';
  await waitFor('cnote-server GET /api', 30_000, () => getJson(`${url}api`, CNOTE_TOKEN, 2000));
  return { ...proc, url };
}

async function startLab(tmp, gatewayUrl) {
  const home = path.join(tmp, 'lab');
  const root = path.join(tmp, 'lab-root');
  for (const d of ['config', 'data', 'runtime']) fs.mkdirSync(path.join(home, d), { recursive: true });
  fs.mkdirSync(root);
  // the notebook the browser opens: one empty code cell, kernelspec cnote
  fs.writeFileSync(path.join(root, 'test.ipynb'), JSON.stringify({
    cells: [{ cell_type: 'code', execution_count: null, id: 'c-cell-1', metadata: {}, outputs: [], source: [] }],
    metadata: {
      kernelspec: { display_name: 'C (cnote)', language: 'c', name: 'cnote' },
      language_info: { name: 'c' },
    },
    nbformat: 4,
    nbformat_minor: 5,
  }, null, 1) + '\n');
  // no news or update checks: no toast over the page, no request to the internet
  const settings = path.join(home, 'config', 'lab', 'user-settings', '@jupyterlab', 'apputils-extension');
  fs.mkdirSync(settings, { recursive: true });
  fs.writeFileSync(path.join(settings, 'notification.jupyterlab-settings'),
    JSON.stringify({ fetchNews: 'false', checkForUpdates: false }));

  const port = await freePort();
  const env = Object.fromEntries(Object.entries(process.env).filter(
    ([k]) => !k.startsWith('KERNEL_') && !k.startsWith('JUPYTER_GATEWAY_')));
  Object.assign(env, {
    JUPYTER_CONFIG_DIR: path.join(home, 'config'),
    JUPYTER_DATA_DIR: path.join(home, 'data'),
    JUPYTER_RUNTIME_DIR: path.join(home, 'runtime'),
    JUPYTER_PLATFORM_DIRS: '1',
    JUPYTER_PATH: VENV_SHARE,
    IPYTHONDIR: path.join(home, 'ipython'),
  });
  const args = ['--no-browser', '--ip=127.0.0.1', `--port=${port}`, '--ServerApp.port_retries=0',
    `--IdentityProvider.token=${LAB_TOKEN}`, `--ServerApp.root_dir=${root}`, '--allow-root'];
  if (gatewayUrl) {
    args.push(`--gateway-url=${gatewayUrl.replace(/\/$/, '')}`,
      `--GatewayClient.auth_token=${CNOTE_TOKEN}`);
  }
  const proc = start('jupyter-lab', path.join(VENV_BIN, 'jupyter-lab'), args, env,
    path.join(tmp, 'jupyter-lab.log'));
  const url = `http://127.0.0.1:${port}/`;
  await waitFor('JupyterLab GET /api/status', 60_000, () => {
    if (proc.child.exitCode !== null) throw new Error(`jupyter-lab exited ${proc.child.exitCode}`);
    return getJson(`${url}api/status`, LAB_TOKEN, 2000);
  });
  return { ...proc, url };
}

function writeLog(procs) {
  const parts = [`mode: ${MODE}`, ...notes];
  for (const p of procs) {
    if (!p) continue;
    let text = '';
    try {
      text = fs.readFileSync(p.logPath, 'utf8');
    } catch (e) {
      text = String(e);
    }
    parts.push(`\n----- ${p.name} (${p.logPath}), last 20000 characters -----\n${text.slice(-20_000)}`);
  }
  fs.writeFileSync(LOG, parts.join('\n') + '\n');
}

test(`JupyterLab runs a C cell in Chromium (${MODE} kernels)`, { timeout: TEST_TIMEOUT_MS }, async () => {
  assert.ok(['gateway', 'local'].includes(MODE), `CNOTE_BROWSER_MODE=${MODE}: gateway or local`);
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  fs.rmSync(SCREENSHOT, { force: true });
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cnote-browser-'));
  stepsEnd = Date.now() + STEPS_MS;
  let cnote, lab, context, page;
  try {
    if (MODE === 'gateway') {
      cnote = await startCnote(tmp);
      note(`cnote-server at ${cnote.url}`);
    }
    lab = await startLab(tmp, cnote && cnote.url);
    note(`JupyterLab at ${lab.url}`);

    context = await chromium.launchPersistentContext(path.join(tmp, 'profile'), {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
        '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
      viewport: { width: 1280, height: 800 },
      timeout: budget(30_000),
    });
    context.setDefaultTimeout(budget(30_000));
    page = context.pages()[0] || (await context.newPage());
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') note(`console.${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => note(`pageerror: ${e}`));

    await page.goto(`${lab.url}lab/tree/test.ipynb?token=${LAB_TOKEN}`, { timeout: budget(60_000) });
    note('page loaded');
    const panel = page.locator('.jp-NotebookPanel').filter({ has: page.locator('.jp-Notebook') });
    await panel.first().waitFor({ timeout: budget(60_000) });
    note('notebook shown');

    // the kernel is idle: the notebook's execution indicator and the status bar both say so
    await page.locator('.jp-NotebookPanel .jp-Notebook-ExecutionIndicator[data-status="idle"]')
      .first().waitFor({ timeout: budget(60_000) });
    await page.locator('.jp-StatusBar-TextItem', { hasText: /^C \(cnote\) \| Idle$/ })
      .first().waitFor({ timeout: budget(30_000) });
    note('kernel idle');

    // type the cell as a user would, check that the editor holds exactly it, run it
    const editor = page.locator('.jp-NotebookPanel .jp-CodeCell .cm-content').first();
    await editor.click();
    await page.keyboard.type(CODE, { delay: 5 });
    const typed = (await editor.locator('.cm-line').allTextContents()).join('\n');
    assert.equal(typed, CODE, 'the cell editor holds the typed code');
    await page.keyboard.press('Shift+Enter');
    note('cell sent');

    const output = page.locator('.jp-NotebookPanel .jp-CodeCell .jp-OutputArea-output').first();
    await output.filter({ hasText: EXPECTED }).waitFor({ timeout: budget(60_000) });
    assert.equal((await output.innerText()).trim(), EXPECTED);
    await page.locator('.jp-NotebookPanel .jp-InputPrompt', { hasText: '[1]:' }).first()
      .waitFor({ timeout: budget(10_000) });
    note('output shown');

    // where the kernel runs: in gateway mode cnote has it (and only the kernel: sessions stay
    // in JupyterLab); JupyterLab's kernel is that same id
    const labKernels = await getJson(`${lab.url}api/kernels`, LAB_TOKEN);
    assert.equal(labKernels.length, 1, `JupyterLab kernels: ${JSON.stringify(labKernels)}`);
    assert.equal(labKernels[0].name, 'cnote');
    if (MODE === 'gateway') {
      const cnoteKernels = await getJson(`${cnote.url}api/kernels`, CNOTE_TOKEN);
      assert.deepEqual(cnoteKernels.map((k) => [k.id, k.name]), [[labKernels[0].id, 'cnote']]);
      const cnoteSessions = await getJson(`${cnote.url}api/sessions`, CNOTE_TOKEN);
      assert.deepEqual(cnoteSessions, []);
    }
  } finally {
    if (page) {
      await page.screenshot({ path: SCREENSHOT, timeout: 10_000 }).catch((e) => note(`screenshot: ${e}`));
    }
    if (context) await Promise.race([context.close(), deadline(10_000)]).catch(() => {});
    await stop(lab);
    await stop(cnote);
    writeLog([lab, cnote]);
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  assert.ok(fs.statSync(SCREENSHOT).size > 0, 'screenshot written');
});
