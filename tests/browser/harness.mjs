// Shared helpers for the browser tests and bench/web: servers and Chromium, every wait bounded.
//
// - startCnote(): build/bin/cnote-server on a free port (--port 0) with a temp root dir, a temp
//   data dir and a token; the kernelspecs of .venv/share/jupyter (cnote, python3).
// - startJupyterLab(): JupyterLab from .venv on a free port with its own config/data/runtime dirs
//   (no news or update checks, workspace state kept in the temp dir).
// - launchBrowser(): Debian's Chromium through playwright-core with a fresh profile
//   (launchPersistentContext, the flags of reference/frontend.md §3), console errors and page
//   errors collected, screenshots to build/artifacts/<name>.png.
// - Every process started here is killed when this process exits, also on SIGINT/SIGTERM/SIGHUP,
//   and so are the kernels and browser processes they left (killStrays: found by the temp dirs
//   made here, which their command lines name).
//
// It does not assert anything and knows nothing of the app's DOM: tests do that. It does not
// install packages or build the app (scripts/run-browser.sh and `make` do). Used by
// tests/browser/*.test.mjs and bench/web/bench.mjs (which imports it by path; playwright-core
// is then resolved from tests/browser/node_modules, next to this file).

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';

export { chromium };

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CHROMIUM = process.env.CNOTE_CHROMIUM || '/usr/bin/chromium';
export const SERVER_BIN = process.env.CNOTE_SERVER_BIN || path.join(ROOT, 'build', 'bin', 'cnote-server');
export const VENV_BIN = path.join(ROOT, '.venv', 'bin');
export const VENV_SHARE = path.join(ROOT, '.venv', 'share', 'jupyter');
export const ARTIFACTS = path.join(ROOT, 'build', 'artifacts');

// The flags of reference/frontend.md §3: no sandbox (root in a container), no GPU, nothing that
// reaches the network by itself.
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
  '--no-first-run', '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--disable-default-apps', '--disable-extensions'];

// ------------------------------------------------------------------------------------------
// children and clean-up

const children = new Set();
const tempDirs = new Set();

/** Kill every child still running (SIGKILL unless told) and remove the temp dirs made here. */
export function killChildren(signal = 'SIGKILL') {
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

/** SIGKILL every process whose command line holds one of markers (the temp dirs made here:
 * a server's kernels name their connection file in its runtime dir, Chromium its profile dir),
 * and their descendants. For what a server killed with SIGKILL (or one that did not shut its
 * kernels down) leaves behind; only processes started from this process's temp dirs match.
 * Linux (/proc) only; elsewhere it does nothing. Returns the pids signalled. */
export function killStrays(markers) {
  markers = markers.filter(Boolean);
  if (!markers.length) return [];
  const procs = new Map();
  let entries = [];
  try {
    entries = fs.readdirSync('/proc');
  } catch {
    return [];
  }
  for (const d of entries) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      procs.set(Number(d), { ppid, cmd: fs.readFileSync(`/proc/${d}/cmdline`, 'utf8') });
    } catch {
      /* gone meanwhile */
    }
  }
  const hit = new Set();
  for (const [pid, p] of procs) if (markers.some((m) => p.cmd.includes(m))) hit.add(pid);
  for (let grew = true; grew;) {
    grew = false;
    for (const [pid, p] of procs) {
      if (!hit.has(pid) && hit.has(p.ppid)) {
        hit.add(pid);
        grew = true;
      }
    }
  }
  hit.delete(process.pid);
  for (const pid of hit) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  return [...hit];
}

function removeTempDirs() {
  for (const d of tempDirs) fs.rmSync(d, { recursive: true, force: true });
  tempDirs.clear();
}

process.on('exit', () => {
  killChildren();
  killStrays([...tempDirs]);
  removeTempDirs();
});
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    killChildren();
    killStrays([...tempDirs]);
    removeTempDirs();
    process.exit(128 + os.constants.signals[sig]);
  });
}

/** A temp dir removed at exit (or by the caller). */
export function tempDir(prefix = 'cnote-browser-') {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.add(d);
  return d;
}

export function removeTempDir(d) {
  tempDirs.delete(d);
  fs.rmSync(d, { recursive: true, force: true });
}

// ------------------------------------------------------------------------------------------
// time

export function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

/** A deadline for Promise.race that does not keep the process alive once the race is won. */
export function deadline(ms, value = 'timeout') {
  return new Promise((r) => setTimeout(() => r(value), ms).unref());
}

/** Resolve with fn's promise, or reject after ms with a message naming what timed out. */
export async function withTimeout(what, ms, promise) {
  let timer;
  const t = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    timer.unref();
  });
  try {
    return await Promise.race([promise, t]);
  } finally {
    clearTimeout(timer);
  }
}

/** Call fn every intervalMs until it returns a truthy value (returned) or timeoutMs passes
 * (throws, with fn's last exception if any). */
export async function waitFor(what, timeoutMs, fn, intervalMs = 50) {
  const until = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() >= until) break;
    await sleep(intervalMs);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last.message || last}` : ''}`);
}

// ------------------------------------------------------------------------------------------
// processes

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Start a child with stdout+stderr to logPath (a file, never a pipe nobody reads: a full pipe
 * would block the server and its kernels). Returns {name, child, pid, exited, logPath,
 * running(), logs(), stop(graceMs)}; stop sends SIGTERM, then SIGKILL after graceMs. */
export function startProcess(name, cmd, args, { env = process.env, cwd, logPath } = {}) {
  const fd = fs.openSync(logPath, 'w');
  let child;
  try {
    child = spawn(cmd, args, { env, cwd, stdio: ['ignore', fd, fd] });
  } finally {
    fs.closeSync(fd);
  }
  children.add(child);
  const exited = new Promise((resolve) => child.once('exit', (code, sig) => {
    children.delete(child);
    resolve(code ?? sig);
  }));
  let spawnError = null;
  child.on('error', (e) => {
    spawnError = e;
  });
  const proc = {
    name,
    child,
    pid: child.pid,
    exited,
    logPath,
    running: () => child.exitCode === null && child.signalCode === null && !spawnError,
    logs: () => {
      try {
        return fs.readFileSync(logPath, 'utf8');
      } catch (e) {
        return String(e);
      }
    },
    async stop(graceMs = 10_000) {
      if (!proc.running()) return;
      child.kill('SIGTERM');
      if ((await Promise.race([exited, deadline(graceMs)])) === 'timeout') {
        child.kill('SIGKILL');
        await Promise.race([exited, deadline(5000)]);
      }
    },
    get error() {
      return spawnError;
    },
  };
  return proc;
}

async function httpOk(url, token, timeoutMs = 2000) {
  const r = await fetch(url, {
    headers: token ? { Authorization: `token ${token}` } : {},
    signal: AbortSignal.timeout(timeoutMs),
  });
  await r.arrayBuffer();
  if (r.status !== 200) throw new Error(`GET ${url}: ${r.status}`);
  return true;
}

/** A small REST client for either server: api('GET', 'api/contents/a.ipynb') -> parsed JSON
 * (or null for 204); throws on a status >= 400 with the body in the message. */
function restClient(baseUrl, token) {
  return async (method, p, body, timeoutMs = 15_000) => {
    const r = await fetch(baseUrl + p.replace(/^\//, ''), {
      method,
      headers: { Authorization: `token ${token}`, 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await r.text();
    if (r.status >= 400) throw new Error(`${method} ${p}: ${r.status} ${text.slice(0, 500)}`);
    return text ? JSON.parse(text) : null;
  };
}

/**
 * Start build/bin/cnote-server on a free port.
 * opts: token (default 'test-token'), root (default a new temp dir), baseUrl ('/cnote/'),
 *       args (more options), env (added to the environment; JUPYTER_PATH defaults to
 *       .venv/share/jupyter), timeoutMs (start-up, default 30 s).
 * Returns {url (ends in '/', includes the base URL), token, root, dataDir, pid, proc,
 *          api(method, path, body), logs(), stop()}. stop() ends the server (kernels too:
 *          --shutdown-kernels-on-exit) and removes the temp dirs it made.
 */
export async function startCnote(opts = {}) {
  const token = opts.token ?? 'test-token';
  const tmp = tempDir('cnote-server-');
  const root = opts.root ?? path.join(tmp, 'root');
  const dataDir = path.join(tmp, 'data');
  fs.mkdirSync(root, { recursive: true });
  fs.mkdirSync(dataDir);
  const env = { ...process.env, JUPYTER_PATH: VENV_SHARE, ...(opts.env || {}) };
  const args = ['--ip', '127.0.0.1', '--port', '0', '--root', root, '--data-dir', dataDir,
    '--runtime-dir', path.join(tmp, 'runtime'), '--token', token, '--shutdown-kernels-on-exit'];
  if (opts.baseUrl) args.push('--base-url', opts.baseUrl);
  args.push(...(opts.args || []));
  const proc = startProcess('cnote-server', opts.bin || SERVER_BIN, args,
    { env, logPath: path.join(tmp, 'cnote-server.log') });
  const stop = async () => {
    await proc.stop();
    killStrays([tmp]); // kernels the server did not shut down
    removeTempDir(tmp);
  };
  try {
    let url = await waitFor('cnote-server to print its URL', opts.timeoutMs ?? 30_000, () => {
      if (!proc.running()) throw new Error(`cnote-server exited: ${proc.logs().slice(-2000)}`);
      // the line after "is running at:" (log lines before it may name other URLs, such as the
      // Kubernetes API server's)
      const m = /running at:\s+(https?:\/\/[^\s?]+)/.exec(proc.logs());
      return m && m[1];
    }, 20);
    if (!url.endsWith('/')) url += '/';
    await waitFor('cnote-server GET api/status', opts.timeoutMs ?? 30_000,
      () => httpOk(`${url}api/status`, token), 20);
    return { url, token, root, dataDir, pid: proc.pid, proc, api: restClient(url, token),
      logs: proc.logs, stop };
  } catch (e) {
    const logs = proc.logs();
    await stop();
    e.message += `\n--- cnote-server log ---\n${logs.slice(-4000)}`;
    throw e;
  }
}

/**
 * Start JupyterLab from .venv on a free port, isolated from the user's Jupyter config.
 * opts: token (default 'lab-token'), root (default a new temp dir), settings (user settings:
 *       {'@jupyterlab/notebook-extension:tracker': {windowingMode: 'none'}, ...}; news and
 *       update checks are always off), args (more options), env, timeoutMs (default 90 s).
 * Returns {url, token, root, pid, proc, api, logs(), stop()}.
 */
export async function startJupyterLab(opts = {}) {
  const token = opts.token ?? 'lab-token';
  const tmp = tempDir('jupyter-lab-');
  const root = opts.root ?? path.join(tmp, 'root');
  fs.mkdirSync(root, { recursive: true });
  const config = path.join(tmp, 'config');
  for (const d of ['config', 'data', 'runtime']) fs.mkdirSync(path.join(tmp, d), { recursive: true });
  const settings = {
    '@jupyterlab/apputils-extension:notification': { fetchNews: 'false', checkForUpdates: false },
    ...(opts.settings || {}),
  };
  for (const [id, value] of Object.entries(settings)) {
    const [pkg, plugin] = id.split(':');
    const dir = path.join(config, 'lab', 'user-settings', ...pkg.split('/'));
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, `${plugin}.jupyterlab-settings`), JSON.stringify(value));
  }
  const port = await freePort();
  const env = Object.fromEntries(Object.entries(process.env).filter(
    ([k]) => !k.startsWith('KERNEL_') && !k.startsWith('JUPYTER_')));
  Object.assign(env, {
    JUPYTER_CONFIG_DIR: config,
    JUPYTER_DATA_DIR: path.join(tmp, 'data'),
    JUPYTER_RUNTIME_DIR: path.join(tmp, 'runtime'),
    JUPYTER_PLATFORM_DIRS: '1',
    JUPYTER_PATH: VENV_SHARE,
    IPYTHONDIR: path.join(tmp, 'ipython'),
    ...(opts.env || {}),
  });
  const args = ['--no-browser', '--ip=127.0.0.1', `--port=${port}`, '--ServerApp.port_retries=0',
    `--IdentityProvider.token=${token}`, `--ServerApp.root_dir=${root}`, '--allow-root',
    `--LabApp.workspaces_dir=${path.join(tmp, 'workspaces')}`, ...(opts.args || [])];
  const proc = startProcess('jupyter-lab', path.join(VENV_BIN, 'jupyter-lab'), args,
    { env, logPath: path.join(tmp, 'jupyter-lab.log') });
  const url = `http://127.0.0.1:${port}/`;
  const stop = async () => {
    await proc.stop();
    killStrays([tmp]); // kernels the server did not shut down
    removeTempDir(tmp);
  };
  try {
    await waitFor('JupyterLab GET api/status', opts.timeoutMs ?? 90_000, () => {
      if (!proc.running()) throw new Error(`jupyter-lab exited: ${proc.logs().slice(-2000)}`);
      return httpOk(`${url}api/status`, token);
    }, 100);
    return { url, token, root, pid: proc.pid, proc, api: restClient(url, token), logs: proc.logs, stop };
  } catch (e) {
    const logs = proc.logs();
    await stop();
    e.message += `\n--- jupyter-lab log ---\n${logs.slice(-4000)}`;
    throw e;
  }
}

// ------------------------------------------------------------------------------------------
// the browser

/** Screenshot a page to build/artifacts/<name>.png (bounded; never throws). Returns the path
 * or null. */
export async function screenshot(page, name, opts = {}) {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, `${name}.png`);
  try {
    await page.screenshot({ path: file, timeout: 10_000, ...opts });
    return file;
  } catch {
    return null;
  }
}

/**
 * Launch Chromium with a fresh profile (a temp dir, removed by close()).
 * opts: viewport ({width: 1280, height: 800}), args (more flags), timeoutMs (default action
 *       timeout for the context, 30 s), colorScheme ('light'|'dark'), launch (more
 *       launchPersistentContext options).
 * Returns {context, page, errors, consoleErrors, pageErrors, watch(page), screenshot(name, page?),
 *          close()}: errors lists every console error and page error of every page of the
 *          context as strings ("console.error: ...", "pageerror: ..."); watch() is done for
 *          pages the context opens.
 */
export async function launchBrowser(opts = {}) {
  const profile = tempDir('cnote-chromium-');
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [...CHROMIUM_ARGS, ...(opts.args || [])],
    viewport: opts.viewport || { width: 1280, height: 800 },
    colorScheme: opts.colorScheme,
    timeout: 60_000,
    ...(opts.launch || {}),
  });
  context.setDefaultTimeout(opts.timeoutMs ?? 30_000);
  context.setDefaultNavigationTimeout(opts.timeoutMs ?? 30_000);
  const errors = [];
  const consoleErrors = [];
  const pageErrors = [];
  const watched = new WeakSet();
  const watch = (p) => {
    if (watched.has(p)) return p;
    watched.add(p);
    p.on('console', (m) => {
      if (m.type() !== 'error') return;
      const loc = m.location();
      const line = `console.error: ${m.text()}${loc && loc.url ? ` (${loc.url}:${loc.lineNumber})` : ''}`;
      consoleErrors.push(line);
      errors.push(line);
    });
    p.on('pageerror', (e) => {
      const line = `pageerror: ${e && e.stack ? e.stack : e}`;
      pageErrors.push(line);
      errors.push(line);
    });
    return p;
  };
  context.on('page', watch);
  const page = watch(context.pages()[0] || (await context.newPage()));
  let closed = false;
  return {
    context,
    page,
    errors,
    consoleErrors,
    pageErrors,
    watch,
    screenshot: (name, p = page, o) => screenshot(p, name, o),
    async close() {
      if (closed) return;
      closed = true;
      await Promise.race([context.close().catch(() => {}), deadline(10_000)]);
      killStrays([profile]);
      removeTempDir(profile);
    },
  };
}
