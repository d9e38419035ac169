// Make tests/data/jupyterlab-written.ipynb: a notebook written by real JupyterLab, not by us.
//
// Starts JupyterLab from .venv (tests/browser/harness.mjs; --LabApp.expose_app_in_browser so
// the page's `window.jupyterapp` can be driven), opens it in headless Chromium, creates a new
// notebook with the python3 kernel (ipykernel) through JupyterLab's own commands, puts cells into
// its shared model as a user's typing would, runs them all with "Run All Cells", saves with
// "Save" (JupyterLab's frontend serialises, jupyter_server's contents manager writes the file)
// and copies the file here. Cell ids, outputs and metadata are what JupyterLab and ipykernel
// produced; nothing is edited afterwards. See jupyterlab-written.README.md.
//
// Run (after scripts/run-browser.sh has installed tests/browser/node_modules):
//   node tests/data/make_jupyterlab_written.mjs [out.ipynb]

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { launchBrowser, screenshot, startJupyterLab, waitFor, withTimeout } from '../browser/harness.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const OUT = process.argv[2] || path.join(HERE, 'jupyterlab-written.ipynb');

// The cells as a user would type them. The last code cell fails, so "Run All Cells" ends there.
const CELLS = [
  { cell_type: 'markdown', source: '# A notebook written by JupyterLab\n\nMarkdown with **bold**, *italics*, `code`, a [link](https://jupyter.org),\ninline math $e^{i\\pi} + 1 = 0$ and display math:\n\n$$\\int_0^1 x^2\\,dx = \\frac{1}{3}$$\n\n- a list\n- with unicode: é, 日本語, ✓' },
  { cell_type: 'code', source: 'import sys\nprint("hello from ipykernel")\nprint("to stderr", file=sys.stderr)\nprint("\\x1b[31mred\\x1b[0m and \\x1b[1;32mbold green\\x1b[0m")' },
  { cell_type: 'code', source: '6 * 7', metadata: { tags: ['answer'] } },
  { cell_type: 'code', source: 'for i in range(3):\n    print(f"line {i}")\nprint("10%\\r50%\\r100%")' },
  { cell_type: 'code', source: [
    'import base64, struct, zlib',
    'from IPython.display import HTML, JSON, Image, Markdown, Math, SVG, display',
    '',
    'def png(w, h):',
    '    rows = b"".join(b"\\0" + bytes(v for x in range(w) for v in (x * 255 // w, y * 255 // h, 128)) for y in range(h))',
    '    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))',
    '    return (b"\\x89PNG\\r\\n\\x1a\\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))',
    '            + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b""))',
    '',
    'display(Image(data=png(24, 16), width=48))',
    'display(HTML("<table><tr><th>x</th><th>x²</th></tr>" + "".join(f"<tr><td>{i}</td><td>{i*i}</td></tr>" for i in range(4)) + "</table>"))',
    'display(SVG(\'<svg xmlns="http://www.w3.org/2000/svg" width="60" height="20"><rect width="60" height="20" fill="teal"/></svg>\'))',
    'display(Markdown("*markdown* from the kernel"), Math(r"\\sqrt{2}"), JSON({"a": [1, 2, 3], "b": None}))',
  ].join('\n') },
  { cell_type: 'code', source: 'class Matrix:\n    def _repr_html_(self):\n        return "<b>2x2</b> [[1, 0], [0, 1]]"\n    def __repr__(self):\n        return "Matrix([[1, 0], [0, 1]])"\nMatrix()' },
  { cell_type: 'raw', source: 'raw cell: \\LaTeX{} for nbconvert', metadata: { format: 'text/latex' } },
  { cell_type: 'code', source: 'print("before the error")\n1 / 0', metadata: { tags: ['raises-exception'], cnote_fixture: { note: 'custom cell metadata' } } },
];

async function main() {
  const lab = await startJupyterLab({
    token: 'fixture-token',
    args: ['--LabApp.expose_app_in_browser=True'],
    // no "rename the untitled file?" dialog on the first save
    settings: { '@jupyterlab/docmanager-extension:plugin': { renameUntitledFileOnSave: false } },
  });
  const b = await launchBrowser({ timeoutMs: 60_000 });
  try {
    const { page } = b;
    await page.goto(`${lab.url}lab?token=${lab.token}`);
    await page.waitForFunction(() => window.jupyterapp && window.jupyterapp.started, null, { timeout: 90_000 });
    await withTimeout('JupyterLab restored', 60_000, page.evaluate(() => window.jupyterapp.restored));

    const nbPath = await withTimeout('a new notebook with a kernel', 90_000, page.evaluate(async (cells) => {
      const app = window.jupyterapp;
      const panel = await app.commands.execute('notebook:create-new', { kernelName: 'python3' });
      await panel.context.ready;
      await panel.sessionContext.ready;
      const nb = panel.content.model.sharedModel;
      nb.transact(() => {
        nb.insertCells(nb.cells.length, cells.map((c) => ({ metadata: {}, ...c })));
        nb.deleteCell(0); // the empty cell a new notebook starts with
        nb.setMetadata('cnote_fixture', { made_by: 'tests/data/make_jupyterlab_written.mjs' });
      });
      window.__fixturePanel = panel;
      return panel.context.path;
    }, CELLS));

    // the kernel answers, then Run All Cells (stops at the failing last cell)
    await waitFor('the python3 kernel to be idle', 60_000, () => page.evaluate(
      () => window.__fixturePanel.sessionContext.session?.kernel?.status === 'idle'));
    await withTimeout('Run All Cells', 60_000,
      page.evaluate(() => window.jupyterapp.commands.execute('notebook:run-all-cells')));
    const nCode = CELLS.filter((c) => c.cell_type === 'code').length;
    await waitFor('every code cell to have run', 60_000, () => page.evaluate((n) => {
      const p = window.__fixturePanel;
      const cells = p.content.model.sharedModel.cells.filter((c) => c.cell_type === 'code');
      return p.sessionContext.session.kernel.status === 'idle'
        && cells.length === n && cells.every((c) => c.execution_count !== null && c.outputs.length > 0);
    }, nCode));

    await withTimeout('Save', 30_000, page.evaluate(() => window.jupyterapp.commands.execute('docmanager:save')));
    await waitFor('the notebook to be saved', 30_000,
      () => page.evaluate(() => !window.__fixturePanel.context.model.dirty));
    await screenshot(page, 'jupyterlab-written-fixture');
    const text = fs.readFileSync(path.join(lab.root, nbPath), 'utf8');
    fs.writeFileSync(OUT, text);
    console.log(`${OUT}: ${text.length} bytes, written by JupyterLab as ${nbPath}`);
    if (b.errors.length) console.log(`browser errors:\n${b.errors.join('\n')}`);
  } catch (e) {
    await screenshot(b.page, 'jupyterlab-written-fixture-failed');
    const state = await b.page.evaluate(() => JSON.stringify(window.__fixturePanel?.content.model.sharedModel.cells
      .map((c) => [c.cell_type, c.execution_count, c.outputs?.length]))).catch((x) => String(x));
    e.message += `\ncells [type, execution_count, outputs]: ${state}\nbrowser errors: ${b.errors.join('\n')}`;
    throw e;
  } finally {
    await b.close();
    await lab.stop();
  }
}

main().then(() => process.exit(0), (e) => {
  console.error(e.stack || e);
  process.exit(1);
});
