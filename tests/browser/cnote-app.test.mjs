// cnote's own web app, end to end: headless Chromium (playwright-core) against a real
// cnote-server and the real C kernel. One server and one browser for the file; the tests run
// in order and build on each other (the notebook made by the first is used by the next).
// Screenshots of the key screens go to build/artifacts/app-*.png (also on failure).
//
// What is checked: login page and token; the file browser (create, rename, delete, upload,
// running badge); a notebook: cells that print, draw an SVG plot, display HTML and a matrix,
// fail to compile, read stdin (password masked), loop forever and get interrupted; the
// keyboard model; completion and inspection; save, reload, everything still there;
// checkpoints; export; a notebook written by JupyterLab re-saved byte-identical; kill -9 of
// the kernel (restart seen, next cell works); a network drop (reconnect, no output lost);
// typing stays responsive while a cell streams 50 MB; no script runs from an output;
// axe-core finds nothing serious or critical in light and dark themes; a base URL behind a
// reverse proxy (a small Node proxy in this file, forwarding requests and WebSocket upgrades).

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { createRequire } from 'node:module';

import { ROOT, startCnote, launchBrowser, screenshot, sleep, waitFor } from './harness.mjs';

const require = createRequire(import.meta.url);
const AXE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const FIXTURE = path.join(ROOT, 'tests', 'data', 'jupyterlab-written.ipynb');

let srv;
let br;
let page;

function link(p) {
  return `${srv.url}${p}`;
}

async function ready(p = page) {
  await p.waitForFunction(() => window.__cnoteReady === true, null, { timeout: 60_000 });
}

async function idle(p = page, timeout = 60_000) {
  await p.waitForSelector('#kernel-status[data-state="idle"]', { timeout });
}

// the index-th cell's locator (0-based)
function cell(i) {
  return page.locator('#notebook .cell').nth(i);
}

// Put `code` into the selected cell (edit mode) and run it with Shift-Enter; returns the cell.
async function runNew(code, { wait = true } = {}) {
  const n = await page.locator('#notebook .cell').count();
  const last = cell(n - 1);
  const src = await last.evaluate((c) => window.cnote.views.get(c.dataset.cellId).cell.source);
  let target = last;
  if (src.trim()) {
    await last.click();
    await page.keyboard.press('Escape');
    await page.keyboard.press('b');
    target = cell(n);
  }
  await target.locator('.editor').click();
  await page.keyboard.insertText(code);
  await page.keyboard.press('Shift+Enter');
  if (wait) await target.locator('.prompt', { hasText: /\[\d+\]/ }).waitFor({ timeout: 60_000 });
  return target;
}

// an item of the toolbar's More menu
async function menu(action) {
  await page.locator('#more-actions').click();
  await page.locator(`#more-menu [data-action="${action}"]`).click();
}

async function axe(p, name) {
  await p.addScriptTag({ content: AXE });
  const r = await p.evaluate(async () => {
    const res = await window.axe.run(document, { resultTypes: ['violations'] });
    return res.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) }));
  });
  const bad = r.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(bad, [], `${name}: axe-core serious/critical findings:\n${JSON.stringify(bad, null, 1)}`);
  return r;
}

async function kernelPid(kid) {
  const out = execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' });
  for (const line of out.split('\n')) {
    if (line.includes(kid) && /cnote-kernel/.test(line)) return Number(line.trim().split(/\s+/)[0]);
  }
  return 0;
}

// A minimal reverse proxy on its own port, as nginx would be configured (docs/user-guide.md):
// requests and WebSocket upgrades forwarded to the server, path kept, Host set to the proxy's
// own, X-Forwarded-For/-Host/-Proto added. The browser only ever talks to the proxy.
function startProxy(target) {
  const t = new URL(target);
  const fwd = (req) => ({
    ...req.headers,
    'x-forwarded-for': req.socket.remoteAddress,
    'x-forwarded-host': req.headers.host,
    'x-forwarded-proto': 'http',
  });
  const seen = { http: 0, upgrade: 0 };
  const server = http.createServer((req, res) => {
    seen.http++;
    const up = http.request({ host: t.hostname, port: t.port, method: req.method, path: req.url, headers: fwd(req) }, (r) => {
      res.writeHead(r.statusCode, r.headers);
      r.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  server.on('upgrade', (req, sock, head) => {
    seen.upgrade++;
    const up = net.connect(Number(t.port), t.hostname, () => {
      const h = fwd(req);
      up.write(`${req.method} ${req.url} HTTP/1.1\r\n${Object.entries(h).map(([k, v]) => `${k}: ${v}`).join('\r\n')}\r\n\r\n`);
      if (head.length) up.write(head);
      up.pipe(sock);
      sock.pipe(up);
    });
    up.on('error', () => sock.destroy());
    sock.on('error', () => up.destroy());
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve({ url: `http://127.0.0.1:${server.address().port}`, seen, close: () => server.close() })),
  );
}

describe('cnote web app', { timeout: 420_000 }, () => {
  before(async () => {
    srv = await startCnote({ token: 'e2e-token', args: ['--autosave-seconds', '0'] });
    // bypassCSP: axe-core is injected as an inline script, and without the server's CSP the
    // "no script from an output runs" checks test the sanitiser alone
    br = await launchBrowser({ viewport: { width: 1280, height: 900 }, launch: { bypassCSP: true } });
    page = br.page;
  });

  after(async () => {
    if (page) await screenshot(page, 'app-last');
    if (br) await br.close();
    if (srv) await srv.stop();
    if (br && br.pageErrors.length) console.log(br.pageErrors.join('\n'));
  });

  it('asks for the token on the login page, then shows the file browser', async () => {
    await page.goto(srv.url);
    await page.waitForSelector('body[data-page="login"]');
    await screenshot(page, 'app-login');
    await axe(page, 'login');
    await page.getByLabel(/token/i).fill('wrong');
    await page.keyboard.press('Enter');
    await page.waitForSelector('[role="alert"]');
    await page.getByLabel(/token/i).fill(srv.token);
    await page.keyboard.press('Enter');
    await page.waitForSelector('body[data-page="tree"]');
    await ready();
    await axe(page, 'tree');
  });

  it('file browser: new folder, upload, rename, delete; token from the URL is dropped', async () => {
    await page.goto(link(`tree?token=${srv.token}`));
    await ready();
    assert.doesNotMatch(page.url(), /token=/);
    await page.getByRole('button', { name: 'New folder' }).click();
    await page.waitForSelector('tr.item[data-type="directory"]');
    const dirPath = await page.locator('tr.item[data-type="directory"]').first().getAttribute('data-path');
    assert.ok(fs.statSync(path.join(srv.root, dirPath)).isDirectory());
    await page.setInputFiles('input[type="file"]', { name: 'data.txt', mimeType: 'text/plain', buffer: Buffer.from('1 2 3\n') });
    await page.waitForSelector('tr.item[data-path="data.txt"]');
    assert.equal(fs.readFileSync(path.join(srv.root, 'data.txt'), 'utf8'), '1 2 3\n');
    await page.getByRole('button', { name: 'Rename data.txt' }).click();
    const input = page.getByLabel('New name');
    await input.fill('numbers.txt');
    await input.press('Enter');
    await page.waitForSelector('tr.item[data-path="numbers.txt"]');
    assert.ok(fs.existsSync(path.join(srv.root, 'numbers.txt')));
    await page.getByRole('button', { name: 'Delete numbers.txt' }).click();
    await page.locator('dialog').getByRole('button', { name: 'Delete' }).click();
    await page.waitForSelector('tr.item[data-path="numbers.txt"]', { state: 'detached' });
    assert.ok(!fs.existsSync(path.join(srv.root, 'numbers.txt')));
    await screenshot(page, 'app-tree');
  });

  it('creates a C notebook from the file browser and runs cells that print, plot, display and fail', async () => {
    const kernel = page.locator('select#new-kernel');
    assert.equal(await kernel.inputValue(), 'cnote');
    await page.getByRole('button', { name: 'New notebook' }).click();
    await page.waitForSelector('body[data-page="notebook"]', { timeout: 30_000 });
    await ready();
    await idle();
    const c1 = await runNew('for (int i = 0; i < 3; i++) printf("line %d\\n", i);');
    await assert.doesNotReject(c1.locator('.output[data-output-type="stream"]', { hasText: 'line 2' }).waitFor());
    assert.match(await c1.locator('.timing').innerText(), /done in/);
    const c2 = await runNew(
      'display_svg("<svg xmlns=\\"http://www.w3.org/2000/svg\\" width=\\"200\\" height=\\"100\\"><polyline points=\\"0,90 50,40 100,60 150,10\\" fill=\\"none\\" stroke=\\"blue\\"/><script>window.__pwned=1</script></svg>");',
    );
    await c2.locator('.output[data-mime="image/svg+xml"]').waitFor();
    // cnote.h's own plots and matrix table
    const c2b = await runNew('double xs[50], ys[50];\nfor (int i = 0; i < 50; i++) { xs[i] = i / 10.0; ys[i] = xs[i] * xs[i]; }\nplot_line(xs, ys, 50, "squares");\ndouble mm[4] = {1, 2, 3, 4.5};\ndisplay_matrix(mm, 2, 2);');
    await c2b.locator('.output[data-mime="image/svg+xml"] img').waitFor();
    const svgSrc = await c2b.locator('.output[data-mime="image/svg+xml"] img').getAttribute('src');
    assert.match(svgSrc, /^data:image\/svg\+xml/);
    await c2b.locator('.output[data-mime="text/html"] td', { hasText: '4.5' }).waitFor();
    const c3 = await runNew(
      [
        'double m[2][3] = {{1, 2, 3}, {4, 5, 6}};',
        'display_html("<b>bold</b><img src=x onerror=\\"window.__pwned=2\\"><script>window.__pwned=3</script>");',
        'char t[512]; int o = sprintf(t, "<table class=\\"matrix\\">");',
        'for (int r = 0; r < 2; r++) { o += sprintf(t + o, "<tr>"); for (int c = 0; c < 3; c++) o += sprintf(t + o, "<td>%g</td>", m[r][c]); o += sprintf(t + o, "</tr>"); }',
        'sprintf(t + o, "</table>"); display_html(t);',
      ].join('\n'),
    );
    await c3.locator('.output[data-mime="text/html"] table td', { hasText: '6' }).waitFor();
    assert.equal(await c3.locator('.output[data-mime="text/html"] b').innerText(), 'bold');
    await sleep(300);
    assert.equal(await page.evaluate(() => window.__pwned), undefined, 'no script from an output may run');
    // a display updated in place by id, and clear_output(wait) replacing the old output
    const c3b = await runNew('display_html_id("progress", "<i>step 0</i>");\nupdate_display_html("progress", "<i>step 9</i>");');
    await c3b.locator('.output[data-mime="text/html"] i', { hasText: 'step 9' }).waitFor();
    assert.doesNotMatch(await c3b.locator('.outputs').innerText(), /step 0/);
    const c3c = await runNew('printf("old\\n"); fflush(stdout); clear_output(1); printf("new\\n");');
    await c3c.locator('.outputs', { hasText: 'new' }).waitFor();
    assert.doesNotMatch(await c3c.locator('.outputs').innerText(), /old/);
    const c4 = await runNew('int x = ;');
    await c4.locator('.output[data-output-type="error"], .output.stream-stderr, .output[data-output-type="stream"]').first().waitFor();
    assert.match(await c4.locator('.outputs').innerText(), /error/i);
    const c5 = await runNew('6 * 7');
    await c5.locator('.output[data-output-type="execute_result"]', { hasText: '42' }).waitFor();
    await screenshot(page, 'app-notebook');
  });

  it('reads stdin and interrupts an endless loop', async () => {
    const c = await runNew('char name[64]; printf("name? "); fflush(stdout); scanf("%63s", name); printf("hello %s\\n", name);', { wait: false });
    const input = c.locator('.stdin input');
    await input.waitFor({ timeout: 60_000 });
    await input.fill('ada');
    await input.press('Enter');
    await c.locator('.outputs', { hasText: 'hello ada' }).waitFor();
    await c.locator('.prompt', { hasText: /\[\d+\]/ }).waitFor();
    const loop = await runNew('volatile unsigned long spin = 0; for (;;) spin++;', { wait: false });
    await page.waitForSelector('#kernel-status[data-state="busy"]');
    await loop.locator('.timing', { hasText: 'running' }).waitFor();
    await page.getByRole('button', { name: 'Interrupt kernel' }).click();
    await loop.locator('.prompt', { hasText: /\[\d+\]/ }).waitFor({ timeout: 30_000 });
    await idle();
    const after = await runNew('printf("alive\\n");');
    await after.locator('.outputs', { hasText: 'alive' }).waitFor();
  });

  it('keyboard model: A, B, M, Y, DD, Z, arrows, Esc/Enter', async () => {
    const count = () => page.locator('#notebook .cell').count();
    await cell(0).click();
    await page.keyboard.press('Escape');
    const n0 = await count();
    await page.keyboard.press('a');
    assert.equal(await count(), n0 + 1);
    assert.ok(await cell(0).evaluate((e) => e.classList.contains('selected')));
    await page.keyboard.press('m');
    assert.ok(await cell(0).evaluate((e) => e.classList.contains('markdown-cell')));
    await page.keyboard.press('Enter');
    await page.keyboard.insertText('# Results\n\nThe area is $\\pi r^2$.');
    await page.keyboard.press('Shift+Enter');
    await cell(0).locator('.markdown-rendered h1', { hasText: 'Results' }).waitFor();
    await cell(0).locator('.markdown-rendered .katex').waitFor({ timeout: 15_000 });
    await cell(0).click();
    await page.keyboard.press('Escape');
    await page.keyboard.press('b');
    assert.equal(await count(), n0 + 2);
    await page.keyboard.press('d');
    await page.keyboard.press('d');
    assert.equal(await count(), n0 + 1);
    await page.keyboard.press('z');
    assert.equal(await count(), n0 + 2);
    await page.keyboard.press('ArrowUp');
    assert.ok(await cell(0).evaluate((e) => e.classList.contains('selected')));
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('y');
    assert.ok(await cell(1).evaluate((e) => e.classList.contains('code-cell')));
    await page.keyboard.press('d');
    await page.keyboard.press('d');
    assert.equal(await count(), n0 + 1);
    // move a cell down and back with the toolbar
    const ids = () => page.locator('#notebook .cell').evaluateAll((cs) => cs.map((c) => c.dataset.cellId));
    await cell(0).click();
    await page.keyboard.press('Escape');
    const before = await ids();
    await page.getByRole('button', { name: 'Move cell down' }).click();
    const moved = await ids();
    assert.deepEqual(moved.slice(0, 2), [before[1], before[0]]);
    await page.getByRole('button', { name: 'Move cell up' }).click();
    assert.deepEqual(await ids(), before);
  });

  it('completes on Tab and inspects on Shift-Tab', async () => {
    const n = await page.locator('#notebook .cell').count();
    await cell(n - 1).click();
    await page.keyboard.press('Escape');
    await page.keyboard.press('b');
    await cell(n).locator('.editor').click();
    await page.keyboard.insertText('prin');
    await page.keyboard.press('Tab');
    await page.locator('.cm-tooltip-autocomplete', { hasText: 'printf' }).waitFor({ timeout: 15_000 });
    await page.keyboard.press('Escape');
    await page.keyboard.insertText('tf');
    await page.keyboard.press('Shift+Tab');
    await page.locator('.inspect-tooltip').waitFor({ timeout: 15_000 });
    assert.match(await page.locator('.inspect-tooltip').innerText(), /printf/);
    await screenshot(page, 'app-completion');
    await page.keyboard.press('Escape');
    await page.keyboard.press('d');
    await page.keyboard.press('d');
  });

  it('saves with Ctrl-S, and after a reload every cell and output is still there', async () => {
    const before = await page.evaluate(() => JSON.stringify(window.cnote.toJSON().cells.map((c) => [c.cell_type, c.source, (c.outputs || []).length])));
    const name = await page.locator('#nb-name').innerText();
    assert.equal(await page.locator('#dirty').isVisible(), true);
    await page.keyboard.press('Control+s');
    await page.locator('#save-status', { hasText: /Saved/ }).waitFor();
    assert.equal(await page.locator('#dirty').isVisible(), false);
    const onDisk = JSON.parse(fs.readFileSync(path.join(srv.root, name), 'utf8'));
    // a notebook made here is valid nbformat 4 for Jupyter's own validator
    execFileSync(path.join(ROOT, '.venv', 'bin', 'python'), ['-c', 'import nbformat, sys; nbformat.validate(nbformat.read(sys.argv[1], 4))', path.join(srv.root, name)]);
    assert.ok(onDisk.cells.some((c) => (c.outputs || []).some((o) => o.data && o.data['image/svg+xml'])));
    const cps = await srv.api('GET', `api/contents/${encodeURIComponent(name)}/checkpoints`);
    assert.equal(cps.length, 1);
    await page.reload();
    await ready();
    const afterReload = await page.evaluate(() => JSON.stringify(window.cnote.toJSON().cells.map((c) => [c.cell_type, c.source, (c.outputs || []).length])));
    assert.equal(afterReload, before);
    await page.locator('.output[data-mime="image/svg+xml"]').first().waitFor();
    await page.locator('.output', { hasText: 'hello ada' }).waitFor();
  });

  it('reverts to the checkpoint, exports .ipynb and .c', async () => {
    const n = await page.locator('#notebook .cell').count();
    await cell(n - 1).click();
    await page.keyboard.press('Escape');
    await page.keyboard.press('b');
    assert.equal(await page.locator('#notebook .cell').count(), n + 1);
    await menu('revert');
    await page.locator('dialog').getByRole('button', { name: 'Revert' }).click();
    await page.locator('#save-status', { hasText: 'Reverted' }).waitFor();
    assert.equal(await page.locator('#notebook .cell').count(), n);
    // run all above the third cell (the Markdown and the first code cell: later ones read stdin
    // or loop forever), then clear all outputs, then get them back from the checkpoint
    await cell(2).click();
    await page.keyboard.press('Escape');
    await menu('run-above');
    await page.waitForFunction(() => window.cnote.running.size > 0 || document.querySelector('#kernel-status').dataset.state === 'busy', null, { timeout: 10_000 }).catch(() => {});
    await page.waitForFunction(() => window.cnote.running.size === 0, null, { timeout: 60_000 });
    await idle();
    assert.match(await cell(1).locator('.outputs').innerText(), /line 2/);
    await menu('clear-all');
    assert.equal(await page.locator('#notebook .output').count(), 0);
    await menu('revert');
    await page.locator('dialog').getByRole('button', { name: 'Revert' }).click();
    await page.locator('.output[data-mime="image/svg+xml"]').first().waitFor();
    const [dl] = await Promise.all([page.waitForEvent('download'), menu('export-c')]);
    const cfile = fs.readFileSync(await dl.path(), 'utf8');
    assert.match(dl.suggestedFilename(), /\.c$/);
    assert.match(cfile, /printf\("line %d\\n", i\);/);
    const [dl2] = await Promise.all([page.waitForEvent('download'), menu('export-ipynb')]);
    const nb = JSON.parse(fs.readFileSync(await dl2.path(), 'utf8'));
    assert.equal(nb.nbformat, 4);
    assert.ok(nb.cells.length >= 5);
  });

  it('sees the kernel die (kill -9) and restart; the next cell works', async () => {
    const kid = await page.evaluate(() => window.cnote.kernel.id);
    const pid = await kernelPid(kid);
    assert.ok(pid > 0, 'kernel process found');
    const c = await runNew('#include <unistd.h>\nfor (int i = 0; i < 100; i++) { printf("tick %d\\n", i); fflush(stdout); usleep(100000); }', { wait: false });
    await c.locator('.outputs', { hasText: 'tick 3' }).waitFor({ timeout: 30_000 });
    process.kill(pid, 'SIGKILL');
    await page.locator('#banners', { hasText: /died|restart/i }).waitFor({ timeout: 30_000 });
    await idle(page, 60_000);
    await page.locator('#banners', { hasText: 'The kernel was restarted' }).waitFor();
    assert.equal(await page.locator('#banners', { hasText: 'being restarted' }).count(), 0);
    await page.evaluate(() => window.scrollTo(0, 0));
    await screenshot(page, 'app-kernel-restarted');
    const next = await runNew('printf("after restart\\n");');
    await next.locator('.outputs', { hasText: 'after restart' }).waitFor();
  });

  it('reconnects after a network drop without losing output that arrived meanwhile', async () => {
    const c = await runNew('#include <unistd.h>\nfor (int i = 0; i < 30; i++) { printf("r%02d\\n", i); fflush(stdout); usleep(100000); }', { wait: false });
    await c.locator('.outputs', { hasText: 'r03' }).waitFor({ timeout: 30_000 });
    await page.evaluate(() => window.cnote.kernel.ws.close(4000, 'test drop'));
    await c.locator('.prompt', { hasText: /\[\d+\]/ }).waitFor({ timeout: 60_000 });
    const text = await c.locator('.outputs').innerText();
    const got = text.match(/r\d\d/g);
    assert.deepEqual(got, Array.from({ length: 30 }, (_, i) => `r${String(i).padStart(2, '0')}`));
  });

  it('keeps typing responsive while a cell streams 50 MB', async () => {
    const c = await runNew('char line[1025]; memset(line, \'x\', 1023); line[1023] = \'\\n\'; line[1024] = 0; for (int i = 0; i < 51200; i++) fputs(line, stdout);', { wait: false });
    await c.locator('.output[data-output-type="stream"]').waitFor({ timeout: 30_000 });
    // a markdown cell above to type into while the output streams
    await cell(0).locator('.markdown-rendered').dblclick();
    const lags = [];
    let whileRunning = 0;
    for (let i = 0; i < 20; i++) {
      const t = await page.evaluate(
        () =>
          new Promise((resolve) => {
            const ed = document.querySelector('.cell.editing .cm-content');
            const t0 = performance.now();
            const obs = new MutationObserver(() => {
              obs.disconnect();
              resolve(performance.now() - t0);
            });
            obs.observe(ed, { childList: true, subtree: true, characterData: true });
            window.cnote.current.editor.dispatch(window.cnote.current.editor.state.replaceSelection('k'));
          }),
      );
      const k0 = Date.now();
      await page.keyboard.type('q');
      lags.push(Math.max(t, Date.now() - k0));
      if (await c.evaluate((e) => e.classList.contains('running'))) whileRunning++;
      await sleep(50);
    }
    lags.sort((a, b) => a - b);
    const median = lags[lags.length >> 1];
    console.log(`typing while streaming 50 MB: median ${median.toFixed(0)} ms, max ${lags[lags.length - 1].toFixed(0)} ms, ${whileRunning} of 20 keys while the cell ran`);
    assert.ok(median < 250, `typing lag median ${median} ms`);
    assert.ok(whileRunning >= 5, `only ${whileRunning} key presses while the output streamed`);
    await c.locator('.prompt', { hasText: /\[\d+\]/ }).waitFor({ timeout: 180_000 });
    // all of it arrived, or the server's bounded per-client queue dropped some stdout and said
    // so on stderr (issue 4's back-pressure: a browser slower than the kernel)
    const outs = await c.evaluate((e) => window.cnote.views.get(e.dataset.cellId).area.toJSON());
    const stdout = outs.filter((o) => o.name === 'stdout').reduce((n, o) => n + o.text.length, 0);
    const stderr = outs.filter((o) => o.name === 'stderr').map((o) => o.text).join('');
    console.log(`50 MB cell: ${stdout} bytes of stdout shown${stderr ? `; stderr: ${stderr.trim()}` : ''}`);
    if (stdout !== 51200 * 1024) {
      assert.match(stderr, /output dropped: this client is not reading fast enough/);
      // the 32 MiB limit counts whole framed messages (headers, JSON, escapes), so the text
      // that fits in it is a little less: at least 95 % of it
      assert.ok(stdout >= (32 << 20) * 0.95, `about the queue limit arrived (${stdout})`);
    }
    await c.locator('.outputs button', { hasText: /show/i }).first().waitFor();
    await c.locator('.outputs button', { hasText: /show/i }).first().scrollIntoViewIfNeeded();
    await screenshot(page, 'app-big-output');
    await page.keyboard.press('Escape');
    await page.evaluate(() => {
      const p = window.cnote;
      p.clearOutputs([...p.views.values()].filter((v) => v.area && v.area.length && v.root.querySelector('.outputs button')));
    });
  });

  it('opens a notebook written by JupyterLab and re-saves it byte-identical', async () => {
    const orig = fs.readFileSync(FIXTURE);
    fs.writeFileSync(path.join(srv.root, 'from-lab.ipynb'), orig);
    await page.goto(link('notebooks/from-lab.ipynb'));
    await ready();
    const outs = await page.locator('.output').count();
    assert.ok(outs >= 3, `outputs rendered: ${outs}`);
    await page.locator('#notebook .cell').first().click();
    await page.keyboard.press('Escape');
    // touch the document without changing it, so saving is not a no-op
    await page.evaluate(() => window.cnote.changed());
    await page.keyboard.press('Control+s');
    await page.locator('#save-status', { hasText: /Saved/ }).waitFor();
    const saved = fs.readFileSync(path.join(srv.root, 'from-lab.ipynb'));
    assert.equal(saved.toString('utf8'), orig.toString('utf8'));
    await screenshot(page, 'app-jupyterlab-notebook');
  });

  it('changes the kernel (the JupyterLab notebook runs on python3, then on cnote)', async () => {
    await page.goto(link('notebooks/from-lab.ipynb'));
    await ready();
    await idle();
    assert.equal(await page.locator('#kernel-select').inputValue(), 'python3');
    let c = await runNew('print(sum(range(10)))');
    await c.locator('.outputs', { hasText: '45' }).waitFor();
    // a password prompt is masked, and so is its echo
    c = await runNew('import getpass\nsecret = getpass.getpass("Password: ")\nprint(len(secret), secret[::-1].upper())', { wait: false });
    const pw = c.locator('.stdin input');
    await pw.waitFor({ timeout: 30_000 });
    assert.equal(await pw.getAttribute('type'), 'password');
    await pw.fill('abc');
    await pw.press('Enter');
    await c.locator('.outputs', { hasText: '3 CBA' }).waitFor();
    assert.doesNotMatch(await c.innerText(), /abc/);
    await page.locator('#kernel-select').selectOption('cnote');
    await idle();
    const sessions = await srv.api('GET', 'api/sessions');
    assert.equal(sessions.find((x) => x.path === 'from-lab.ipynb').kernel.name, 'cnote');
    c = await runNew('printf("%d\\n", 6 * 9);');
    await c.locator('.outputs', { hasText: '54' }).waitFor();
    assert.equal(await page.evaluate(() => window.cnote.model.metadata.kernelspec.name), 'cnote');
    // leave it unsaved: reloading asks first
    let asked = null;
    page.once('dialog', (d) => {
      asked = d.type();
      d.accept();
    });
    await page.reload();
    assert.equal(asked, 'beforeunload');
    await ready();
  });

  it('shows a clear error when saving fails and keeps the notebook in the page', async () => {
    await page.evaluate(() => window.cnote.changed());
    fs.rmSync(path.join(srv.root, 'from-lab.ipynb'));
    fs.mkdirSync(path.join(srv.root, 'from-lab.ipynb'));
    await page.keyboard.press('Control+s');
    // something else is at the path now, newer than what was loaded: the page asks first
    await page.locator('dialog', { hasText: 'changed on disk' }).getByRole('button', { name: 'Overwrite' }).click();
    await page.locator('#banners [role="alert"]', { hasText: /Saving failed/ }).waitFor();
    assert.ok((await page.locator('#notebook .cell').count()) > 0);
    assert.equal(await page.locator('#dirty').isVisible(), true);
    fs.rmdirSync(path.join(srv.root, 'from-lab.ipynb'));
    await page.locator('#banners [role="alert"]').getByRole('button', { name: 'Retry' }).click();
    await page.locator('#save-status', { hasText: /Saved/ }).waitFor();
    assert.equal(await page.locator('#dirty').isVisible(), false);
    assert.equal(fs.readFileSync(path.join(srv.root, 'from-lab.ipynb'), 'utf8'), fs.readFileSync(FIXTURE, 'utf8'));
  });

  it('passes axe-core in light and dark themes', async () => {
    await page.goto(link('notebooks/from-lab.ipynb'));
    await ready();
    await axe(page, 'notebook light');
    await page.emulateMedia({ colorScheme: 'dark' });
    await axe(page, 'notebook dark');
    await screenshot(page, 'app-notebook-dark');
    await page.emulateMedia({ colorScheme: 'light' });
  });

  it('works under a base URL behind a reverse proxy; autosave, restart and run all, shutdown', async () => {
    const s2 = await startCnote({ token: 'base-token', baseUrl: '/cnote/', args: ['--autosave-seconds', '1'] });
    const proxy = await startProxy(s2.url);
    try {
      assert.match(s2.url, /\/cnote\/$/);
      await s2.api('POST', 'api/contents', { type: 'notebook' });
      // through the reverse proxy only
      await page.goto(`${proxy.url}/cnote/notebooks/Untitled.ipynb?token=${s2.token}`);
      await ready();
      await idle();
      const c = await runNew('printf("under a base url\\n");');
      await c.locator('.outputs', { hasText: 'under a base url' }).waitFor();
      // autosave (1 s here) writes the output without Ctrl-S
      await page.locator('#save-status', { hasText: 'Autosaved' }).waitFor({ timeout: 10_000 });
      const nb = await s2.api('GET', 'api/contents/Untitled.ipynb');
      assert.match(JSON.stringify(nb.content.cells), /under a base url/);
      await runNew('int twice(int v) { return 2 * v; }');
      await runNew('twice(21)');
      // restart and run all: the three cells run again in order, numbered from 1
      await page.evaluate(() => {
        window.__sawRunning = false;
        const t = setInterval(() => {
          if (window.cnote.running.size) window.__sawRunning = true;
          if (window.__sawRunning && !window.cnote.running.size) clearInterval(t);
        }, 5);
      });
      await menu('restart-run');
      await page.locator('dialog').getByRole('button', { name: 'Restart and run all' }).click();
      await page.waitForFunction(() => window.__sawRunning && window.cnote.running.size === 0, null, { timeout: 60_000 });
      assert.deepEqual(await page.locator('#notebook .code-cell .prompt').allInnerTexts(), ['[1]:', '[2]:', '[3]:', '[ ]:']);
      await cell(2).locator('.output[data-output-type="execute_result"]', { hasText: '42' }).waitFor();
      // shut down, then start a new kernel from the banner
      await menu('shutdown');
      await page.waitForSelector('#kernel-status[data-state="dead"]');
      assert.deepEqual(await s2.api('GET', 'api/sessions'), []);
      await page.locator('#banners').getByRole('button', { name: 'Start kernel' }).click();
      await idle();
      const c2 = await runNew('printf("new kernel\\n");');
      await c2.locator('.outputs', { hasText: 'new kernel' }).waitFor();
      assert.ok(page.url().startsWith(`${proxy.url}/cnote/`));
      assert.ok(proxy.seen.http > 10 && proxy.seen.upgrade >= 2, JSON.stringify(proxy.seen));
    } finally {
      proxy.close();
      await s2.stop();
    }
  });

  it('had no page errors', () => {
    assert.deepEqual(br.pageErrors, []);
  });
});
