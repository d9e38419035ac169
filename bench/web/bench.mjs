// Web benchmark: cnote's web app and JupyterLab (the pinned one in .venv) side by side, in
// headless Chromium, in the same run. Started by bench/web/run; see bench/web/README.md for what
// is measured and how, and docs/benchmarks.md for the figures.
//
// For each app and each of --runs rounds (apps interleaved within a round), with a fresh
// Chromium profile for every page load (cold HTTP and code caches) and no kernels or sessions
// left from the previous load:
//   - app load: the file browser listing the contents root (which holds bench.ipynb);
//   - notebook: the 200-cell notebook of bench/web/notebook.mjs, opened from its URL.
// Time to interactive (TTI) of a load, the same for both apps, all times from navigation start
// (performance.timeOrigin), taken in the page:
//   1. "shown": the first DOM mutation after which the target element exists with its text (the
//      last cell's output holding the marker line; the file list's bench.ipynb entry): a
//      MutationObserver installed before any page script runs checks after each batch;
//   2. a real key press (Shift, through CDP Input.dispatchKeyEvent, as a user's key) is sent
//      as soon as the page reports 1; the capturing window keydown listener records when it ran;
//   3. TTI: the first task after the next animation frame following that keydown (rAF, then a
//      MessageChannel message), i.e. the page has handled the key and produced a frame.
// Bundle size: one extra, untimed load of each page (also the servers' warm-up) records every
// response's decoded body; the figure is the sum of gzip -9 of each HTML, JS and CSS body
// (resource types document, script, stylesheet), so servers that compress differently (or not
// at all) are compared on the same terms; the sum over all responses (fonts, JSON, images) and
// the bytes on the wire are printed too.
//
// Every wait has a deadline; the servers, browsers and kernels started are this process's
// children and die with it (tests/browser/harness.mjs).

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import zlib from 'node:zlib';

import {
  ROOT, SERVER_BIN, VENV_BIN, deadline, launchBrowser, sleep, startCnote, startJupyterLab,
  withTimeout,
} from '../../tests/browser/harness.mjs';
import { CELLS, LAST_OUTPUT_MARKER, makeNotebook } from './notebook.mjs';

const NB = 'bench.ipynb';
const CNOTE_TOKEN = 'bench-web-token';
const LAB_TOKEN = 'bench-web-lab-token';
const LOAD_TIMEOUT_MS = 90_000;
const TRACKER = '@jupyterlab/notebook-extension:tracker';

const { values: opt } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    quick: { type: 'boolean', default: false },
    apps: { type: 'string', default: 'cnote,jupyterlab' },
    'lab-windowing': { type: 'string', default: 'contentVisibility,none' },
    json: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (opt.help) {
  console.log(`usage: bench/web/run [--runs N] [--quick] [--apps cnote,jupyterlab]
       [--lab-windowing contentVisibility,none] [--json FILE]
  --runs N           timed rounds (default 5); --quick: 2 rounds
  --apps             which apps to measure
  --lab-windowing    JupyterLab notebook windowingMode values to measure the notebook with; the
                     first is the one the ratio uses (contentVisibility is JupyterLab 4.6's default)
  --json FILE        also write every sample as JSON`);
  process.exit(0);
}
const RUNS = opt.quick ? 2 : Math.max(1, parseInt(opt.runs, 10) || 5);
const APPS = opt.apps.split(',').filter(Boolean);
const LAB_MODES = opt['lab-windowing'].split(',').filter(Boolean);

function log(msg) {
  process.stderr.write(`${msg}\n`);
}

// ------------------------------------------------------------------------------------------
// in the page

// Installed with addInitScript before any page script: records when the target is shown and,
// after the key press that follows, when the page answered it. Top frame only. The observer
// looks only at what each mutation record touched (the target's enclosing element, the added
// subtrees), so its cost grows with the DOM work the app does, not with the page size; that
// cost is recorded (probeMs) and printed.
function probe(cfg) {
  if (window !== window.top) return;
  const st = { shown: null, key: null, raf: null, tti: null, probeMs: 0, batches: 0 };
  window.__bench = st;
  const hit = (node, deep) => {
    const e = node.nodeType === 1 ? node : node.parentElement;
    if (!e) return false;
    const c = e.closest(cfg.selector);
    if (c) return c.textContent.includes(cfg.text);
    if (deep) for (const x of e.querySelectorAll(cfg.selector)) if (x.textContent.includes(cfg.text)) return true;
    return false;
  };
  const obs = new MutationObserver((records) => {
    const t = performance.now();
    st.batches++;
    let found = false;
    for (const r of records) {
      if (hit(r.target, false)) found = true;
      else for (const n of r.addedNodes) if (hit(n, true)) found = true;
      if (found) break;
    }
    st.probeMs += performance.now() - t;
    if (found) {
      st.shown = performance.now();
      obs.disconnect();
      window.__benchShown();
    }
  });
  obs.observe(document, { childList: true, subtree: true, characterData: true });
  window.addEventListener('keydown', () => {
    if (st.shown === null || st.key !== null) return;
    st.key = performance.now();
    requestAnimationFrame(() => {
      st.raf = performance.now();
      const ch = new MessageChannel();
      ch.port1.onmessage = () => {
        st.tti = performance.now();
      };
      ch.port2.postMessage(0);
    });
  }, true);
}

// ------------------------------------------------------------------------------------------
// the apps: URLs and what "shown" is in each

function targets(app, server) {
  const q = (t) => `token=${encodeURIComponent(t)}`;
  if (app === 'cnote') {
    return {
      tree: { url: `${server.url}?${q(server.token)}`,
        probe: { selector: '#file-list tr.item', text: NB } },
      notebook: { url: `${server.url}notebooks/${NB}?${q(server.token)}`,
        probe: { selector: '.cell .outputs .output', text: LAST_OUTPUT_MARKER } },
    };
  }
  return {
    tree: { url: `${server.url}lab?${q(server.token)}`,
      probe: { selector: '.jp-DirListing-item', text: NB } },
    notebook: { url: `${server.url}lab/tree/${NB}?${q(server.token)}`,
      probe: { selector: '.jp-Notebook .jp-OutputArea-output', text: LAST_OUTPUT_MARKER } },
  };
}

// Back to a clean state before a load: the notebook file as generated, no sessions or kernels
// (a load must start its own kernel, as a first open does), no saved JupyterLab workspace (it
// would reopen the notebook on the app load).
async function reset(app, server, nbText) {
  fs.writeFileSync(path.join(server.root, NB), nbText);
  for (const s of await server.api('GET', 'api/sessions')) await server.api('DELETE', `api/sessions/${s.id}`);
  for (const k of await server.api('GET', 'api/kernels')) await server.api('DELETE', `api/kernels/${k.id}`);
  if (app === 'jupyterlab') {
    const ws = await server.api('GET', 'lab/api/workspaces');
    for (const id of ws.workspaces?.ids || []) await server.api('DELETE', `lab/api/workspaces/${id}`);
  }
}

async function setLabWindowing(server, mode) {
  await server.api('PUT', `lab/api/settings/${TRACKER}`, { raw: JSON.stringify({ windowingMode: mode }) });
}

// One page load in a fresh browser. Returns {shown, key, raf, tti, dcl, load, errors} (ms from
// navigation start) and, with sizes, the responses' sizes.
async function load(target, { sizes = false, name, screenshot = false } = {}) {
  const b = await launchBrowser({ viewport: { width: 1280, height: 900 }, timeoutMs: LOAD_TIMEOUT_MS });
  const responses = [];
  const pending = [];
  try {
    const { page } = b;
    await page.exposeFunction('__benchShown', () => {
      // the key goes in at once; its handling is timed in the page
      page.keyboard.press('Shift').catch(() => {});
    });
    await page.addInitScript(probe, target.probe);
    if (sizes) {
      page.on('response', (r) => {
        pending.push((async () => {
          const req = r.request();
          let body = null;
          try {
            body = await r.body();
          } catch {
            return; // redirects and aborted requests have no body
          }
          let wire = null;
          try {
            const s = await req.sizes();
            wire = s.responseBodySize + s.responseHeadersSize;
          } catch {
            /* not known */
          }
          responses.push({ url: r.url(), type: req.resourceType(), status: r.status(),
            bytes: body.length, gzip9: zlib.gzipSync(body, { level: 9 }).length, wire });
        })());
      });
    }
    await page.goto(target.url, { waitUntil: 'commit', timeout: LOAD_TIMEOUT_MS });
    await page.waitForFunction(() => window.__bench && window.__bench.tti !== null, null,
      { timeout: LOAD_TIMEOUT_MS, polling: 50 });
    const res = await page.evaluate(() => {
      const nav = performance.getEntriesByType('navigation')[0];
      return { ...window.__bench, dcl: nav ? nav.domContentLoadedEventEnd : null,
        load: nav ? nav.loadEventEnd : null };
    });
    if (sizes) {
      await Promise.race([page.waitForLoadState('networkidle').catch(() => {}), deadline(20_000)]);
      await sleep(500);
      await withTimeout('response bodies', 20_000, Promise.allSettled(pending));
      res.responses = responses;
    }
    if (screenshot) await b.screenshot(name);
    res.errors = [...b.errors];
    return res;
  } catch (e) {
    const shot = await b.screenshot(`${name}-failed`);
    const st = await b.page.evaluate(() => JSON.stringify(window.__bench)).catch(() => '?');
    e.message = `${e.message.split('\n')[0]} (probe ${st}; page errors: ${b.errors.length ? b.errors.join(' | ').slice(0, 600) : 'none'}; screenshot ${shot})`;
    throw e;
  } finally {
    await b.close();
  }
}

// ------------------------------------------------------------------------------------------
// servers

async function startServers(nbText) {
  const servers = {};
  const skipped = {};
  if (APPS.includes('cnote')) {
    try {
      if (!fs.existsSync(SERVER_BIN)) throw new Error(`${SERVER_BIN} missing (make)`);
      const s = await startCnote({ token: CNOTE_TOKEN });
      fs.writeFileSync(path.join(s.root, NB), nbText);
      // the web app is served: the notebook route answers with HTML
      const r = await fetch(`${s.url}notebooks/${NB}?token=${CNOTE_TOKEN}`, { signal: AbortSignal.timeout(10_000) });
      const text = await r.text();
      if (r.status !== 200 || !/<html/i.test(text)) {
        await s.stop();
        throw new Error(`GET notebooks/${NB}: ${r.status} ${r.headers.get('content-type')} (no web app served yet? `
          + `build/web/index.html ${fs.existsSync(path.join(ROOT, 'build', 'web', 'index.html')) ? 'exists' : 'missing'})`);
      }
      servers.cnote = s;
    } catch (e) {
      skipped.cnote = e.message.split('\n')[0];
    }
  }
  if (APPS.includes('jupyterlab')) {
    try {
      if (!fs.existsSync(path.join(VENV_BIN, 'jupyter-lab'))) throw new Error('.venv/bin/jupyter-lab missing (scripts/setup.sh)');
      servers.jupyterlab = await startJupyterLab({
        token: LAB_TOKEN,
        settings: { [TRACKER]: { windowingMode: LAB_MODES[0] } },
      });
    } catch (e) {
      skipped.jupyterlab = e.message.split('\n')[0];
    }
  }
  return { servers, skipped };
}

async function labVersion() {
  try {
    const { execFileSync } = await import('node:child_process');
    return execFileSync(path.join(VENV_BIN, 'jupyter-lab'), ['--version'], { timeout: 30_000 }).toString().trim();
  } catch {
    return '?';
  }
}

// ------------------------------------------------------------------------------------------
// figures

function median(xs) {
  const v = xs.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return null;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

function sumSizes(responses, code) {
  const sel = responses.filter((r) => r.status < 400
    && (!code || ['document', 'script', 'stylesheet'].includes(r.type)));
  return {
    n: sel.length,
    bytes: sel.reduce((a, r) => a + r.bytes, 0),
    gzip9: sel.reduce((a, r) => a + r.gzip9, 0),
    wire: sel.every((r) => r.wire !== null && r.wire >= 0) ? sel.reduce((a, r) => a + r.wire, 0) : null,
  };
}

function fmt(v, digits = 0) {
  return v === null || v === undefined ? '-' : v.toFixed(digits);
}

async function main() {
  const t0 = Date.now();
  const nbText = makeNotebook();
  log(`bench/web: ${CELLS}-cell notebook, ${(nbText.length / 1024).toFixed(0)} KiB; ${RUNS} round(s); apps ${APPS.join(', ')}`);
  const { servers, skipped } = await startServers(nbText);
  const apps = APPS.filter((a) => servers[a]);
  for (const [a, why] of Object.entries(skipped)) log(`not measured: ${a}: ${why}`);

  // the timed loads of a round: [key, app, page, lab windowing mode]
  const kinds = [];
  for (const a of apps) {
    kinds.push([`${a}:tree`, a, 'tree', null]);
    if (a === 'jupyterlab') for (const m of LAB_MODES) kinds.push([`${a}:notebook:${m}`, a, 'notebook', m]);
    else kinds.push([`${a}:notebook`, a, 'notebook', null]);
  }
  const samples = Object.fromEntries(kinds.map(([k]) => [k, []]));
  const sizes = {};
  const errors = {};
  const failures = [];
  try {
    // untimed: bundle sizes (and the servers' warm-up), screenshots
    for (const a of apps) {
      const t = targets(a, servers[a]);
      for (const pageKind of ['tree', 'notebook']) {
        try {
          if (a === 'jupyterlab') await setLabWindowing(servers[a], LAB_MODES[0]);
          await reset(a, servers[a], nbText);
          const r = await load(t[pageKind], { sizes: true, screenshot: true, name: `bench-web-${a}-${pageKind}` });
          sizes[`${a}:${pageKind}`] = { code: sumSizes(r.responses, true), all: sumSizes(r.responses, false),
            responses: r.responses };
          if (r.errors.length) errors[`${a}:${pageKind}`] = r.errors;
          log(`${a} ${pageKind}: sizing load done, TTI ${fmt(r.tti)} ms, `
            + `HTML+JS+CSS gzip -9 ${fmt(sizes[`${a}:${pageKind}`].code.gzip9 / 1024, 1)} KiB`);
        } catch (e) {
          failures.push(`${a} ${pageKind} (sizing): ${e.message.split('\n')[0]}`);
          log(failures.at(-1));
        }
      }
    }
    for (let round = 1; round <= RUNS; round++) {
      for (const [key, a, pageKind, mode] of kinds) {
        try {
          if (mode) await setLabWindowing(servers[a], mode);
          await reset(a, servers[a], nbText);
          const r = await load(targets(a, servers[a])[pageKind], { name: `bench-web-${a}-${pageKind}` });
          samples[key].push(r);
          if (r.errors.length) errors[key] = r.errors;
          log(`round ${round}/${RUNS} ${key}: shown ${fmt(r.shown)} ms, interactive ${fmt(r.tti)} ms`);
        } catch (e) {
          failures.push(`${key} round ${round}: ${e.message.split('\n')[0]}`);
          log(failures.at(-1));
        }
      }
    }
  } finally {
    for (const s of Object.values(servers)) {
      await s.api('GET', 'api/sessions').then((ss) => Promise.all(ss.map((x) => s.api('DELETE', `api/sessions/${x.id}`))))
        .catch(() => {});
      await s.stop();
    }
  }

  // ---- the table
  const med = (key, field) => median((samples[key] || []).map((r) => r[field]));
  const rows = [];
  const both = apps.includes('cnote') && apps.includes('jupyterlab');
  const row = (label, c, j, target = '', digits = 0, ratio = true) => {
    rows.push([label, fmt(c, digits), fmt(j, digits),
      ...(both ? [ratio && c !== null && j !== null && j > 0 ? (c / j).toFixed(2) : ''] : []), target]);
  };
  const m0 = LAB_MODES[0];
  row('app load (file list), interactive (ms)', med('cnote:tree', 'tti'), med('jupyterlab:tree', 'tti'));
  row(`${CELLS}-cell notebook, interactive (ms)`, med('cnote:notebook', 'tti'),
    med(`jupyterlab:notebook:${m0}`, 'tti'), '< 1000, ratio <= 0.33');
  row(`${CELLS}-cell notebook, last output shown (ms)`, med('cnote:notebook', 'shown'),
    med(`jupyterlab:notebook:${m0}`, 'shown'));
  row(`${CELLS}-cell notebook, key press answered after shown (ms)`,
    median((samples['cnote:notebook'] || []).map((r) => r.tti - r.shown)),
    median((samples[`jupyterlab:notebook:${m0}`] || []).map((r) => r.tti - r.shown)), '', 0, false);
  row('probe: time spent in the observer until shown (ms)', med('cnote:notebook', 'probeMs'),
    med(`jupyterlab:notebook:${m0}`, 'probeMs'), '', 1, false);
  if (apps.includes('jupyterlab')) {
    for (const m of LAB_MODES.slice(1)) {
      row(`${CELLS}-cell notebook, interactive, JupyterLab windowingMode ${m} (ms)`, med('cnote:notebook', 'tti'),
        med(`jupyterlab:notebook:${m}`, 'tti'), '< 1000, ratio <= 0.33');
    }
  }
  const kib = (k, which, f) => (sizes[k] ? sizes[k][which][f] / 1024 : null);
  row('first load (app), HTML+JS+CSS, gzip -9 (KiB)', kib('cnote:tree', 'code', 'gzip9'),
    kib('jupyterlab:tree', 'code', 'gzip9'), '< 250', 1);
  row('first load (app), HTML+JS+CSS, uncompressed (KiB)', kib('cnote:tree', 'code', 'bytes'),
    kib('jupyterlab:tree', 'code', 'bytes'), '', 1);
  row('first load (app), all responses, gzip -9 (KiB)', kib('cnote:tree', 'all', 'gzip9'),
    kib('jupyterlab:tree', 'all', 'gzip9'), '', 1);
  row('first load (app), bytes on the wire (KiB)', kib('cnote:tree', 'all', 'wire'),
    kib('jupyterlab:tree', 'all', 'wire'), '', 1);
  row('notebook page, HTML+JS+CSS, gzip -9 (KiB)', kib('cnote:notebook', 'code', 'gzip9'),
    kib('jupyterlab:notebook', 'code', 'gzip9'), '', 1);
  row('notebook page, all responses incl. the notebook, gzip -9 (KiB)', kib('cnote:notebook', 'all', 'gzip9'),
    kib('jupyterlab:notebook', 'all', 'gzip9'), '', 1);

  const n = Math.min(...kinds.map(([k]) => samples[k].length).filter((x) => x > 0), RUNS);
  const head = [`median of ${n} run${n === 1 ? '' : 's'}`, 'cnote', 'JupyterLab', ...(both ? ['ratio'] : []), 'target'];
  console.log();
  console.log(`| ${head.join(' | ')} |`);
  console.log(`|${'---|'.repeat(head.length)}`);
  for (const r of rows) console.log(`| ${r.join(' | ')} |`);
  console.log();
  const cnoteNb = med('cnote:notebook', 'tti');
  const labNb = LAB_MODES.map((m) => [m, med(`jupyterlab:notebook:${m}`, 'tti')]).filter(([, v]) => v);
  if (cnoteNb && labNb.length) {
    const [bestMode, best] = labNb.reduce((a, b) => (b[1] < a[1] ? b : a));
    console.log(`${CELLS}-cell notebook interactive: cnote ${(labNb[0][1] / cnoteNb).toFixed(1)}x faster than JupyterLab `
      + `(windowingMode ${labNb[0][0]}), ${(best / cnoteNb).toFixed(1)}x faster than its fastest mode measured (${bestMode})`);
  }
  let cpu = '';
  try {
    cpu = /model name\s*:\s*(.*)/.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'))[1];
  } catch {
    /* not Linux */
  }
  const chromiumVersion = await (async () => {
    const b = await launchBrowser();
    try {
      return b.context.browser()?.version() ?? '?';
    } finally {
      await b.close();
    }
  })().catch(() => '?');
  console.log(`${new Date().toISOString().slice(0, 10)}, ${os.type()} ${os.release()}, ${os.cpus().length} CPUs ${cpu}; `
    + `Chromium ${chromiumVersion}, JupyterLab ${await labVersion()}; notebook ${(nbText.length / 1024).toFixed(0)} KiB, `
    + `${CELLS} cells; a fresh browser profile per load; ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  for (const [k, errs] of Object.entries(errors)) {
    console.log(`note: ${k}: ${errs.length} console/page error(s), first: ${errs[0].slice(0, 300)}`);
  }
  for (const f of failures) console.log(`failed: ${f}`);
  for (const [a, why] of Object.entries(skipped)) console.log(`not measured: ${a}: ${why}`);
  if (opt.json) {
    fs.writeFileSync(opt.json, JSON.stringify({ runs: RUNS, samples, sizes, errors, failures, skipped }, null, 1));
  }
  return failures.length || Object.keys(skipped).length ? 1 : 0;
}

main().then((rc) => process.exit(rc), (e) => {
  log(`bench/web: ${e.stack || e}`);
  process.exit(1);
});
