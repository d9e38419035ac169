// build.mjs - bundle the web app with esbuild into build/web (or the folder given as argv[2]).
//   build/web/index.html            the page (the server fills in __CNOTE_BASE__ and __CNOTE_CONFIG__)
//   build/web/static/app.js, app.css  the entry (ESM) and all CSS
//   build/web/static/chunks/*       lazily loaded code (the notebook view, KaTeX), hashed names
//   build/web/static/katex/         katex.min.css and its woff2 fonts (what modern browsers use)
// Every .js/.css/.svg/.html also gets a .gz next to it (gzip -9) that the server sends when
// the browser accepts gzip. Deterministic: the same sources give the same files.
import * as esbuild from 'esbuild';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const out = path.resolve(process.argv[2] || path.join(here, '..', 'build', 'web'));
const t0 = Date.now();
const tmp = `${out}.tmp-${process.pid}`;
fs.rmSync(tmp, { recursive: true, force: true });
fs.mkdirSync(path.join(tmp, 'static', 'katex', 'fonts'), { recursive: true });

const pkg = JSON.parse(fs.readFileSync(path.join(here, 'package.json'), 'utf8'));
const result = await esbuild.build({
  absWorkingDir: here,
  entryPoints: { app: 'src/main.js' },
  bundle: true,
  minify: !process.env.CNOTE_WEB_DEBUG, // CNOTE_WEB_DEBUG=1: readable output for profiling
  format: 'esm',
  splitting: true,
  target: ['es2020', 'chrome100', 'firefox100', 'safari15'],
  outdir: path.join(tmp, 'static'),
  chunkNames: 'chunks/[name]-[hash]',
  loader: { '.woff2': 'empty', '.woff': 'empty', '.ttf': 'empty' },
  define: { __CNOTE_VERSION__: JSON.stringify(pkg.version) },
  legalComments: 'none',
  metafile: true,
  logLevel: 'warning',
});

// KaTeX's stylesheet and woff2 fonts, loaded by the page only when math is first typeset
const katexDist = path.join(here, 'node_modules', 'katex', 'dist');
fs.copyFileSync(path.join(katexDist, 'katex.min.css'), path.join(tmp, 'static', 'katex', 'katex.min.css'));
for (const f of fs.readdirSync(path.join(katexDist, 'fonts'))) {
  if (f.endsWith('.woff2')) fs.copyFileSync(path.join(katexDist, 'fonts', f), path.join(tmp, 'static', 'katex', 'fonts', f));
}

for (const f of ['index.html', 'favicon.svg']) {
  const dst = f === 'index.html' ? path.join(tmp, f) : path.join(tmp, 'static', f);
  fs.copyFileSync(path.join(here, 'public', f), dst);
}

function walk(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? walk(p) : [p];
  });
}
let firstLoad = 0;
for (const f of walk(tmp)) {
  if (!/\.(js|css|svg|html|json)$/.test(f)) continue;
  const gz = zlib.gzipSync(fs.readFileSync(f), { level: 9 });
  // mtime 0 in the gzip header: the same input gives the same bytes
  fs.writeFileSync(`${f}.gz`, gz);
  const rel = path.relative(tmp, f);
  if (['index.html', 'static/app.js', 'static/app.css'].includes(rel)) firstLoad += gz.length;
}
fs.writeFileSync(path.join(tmp, 'meta.json'), JSON.stringify(result.metafile));

fs.rmSync(out, { recursive: true, force: true });
fs.renameSync(tmp, out);
console.log(`web: built ${path.relative(process.cwd(), out) || out} in ${Date.now() - t0} ms; first load (html+app.js+app.css) ${(firstLoad / 1024).toFixed(1)} KiB gzip`);
