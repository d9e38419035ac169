// The benchmark's notebook: 200 cells with outputs, the same bytes on every run.
//
// makeNotebook() returns the nbformat 4.5 JSON text of a C notebook (kernelspec cnote) shaped
// like a working data notebook: one Markdown cell in eight (headings, lists, inline and display
// math), the rest code cells of 4-14 lines of C, each with a stream output of 2-8 lines; every
// 10th code cell also shows an HTML table (display_data, 12 rows x 6 columns), every 20th a PNG
// plot (560x360, about 55 KB), every 25th an SVG plot (a 160-point polyline), every 15th an
// execute_result (text/plain), and two cells end in an error (compiler message with ANSI colour).
// The last cell is a code cell whose stream output ends with LAST_OUTPUT_MARKER: the benchmark
// waits for that text. No kernel is needed: nothing is executed, outputs are stored.
//
// Run directly to write the file: node bench/web/notebook.mjs out.ipynb

import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';

export const CELLS = 200;
export const LAST_OUTPUT_MARKER = 'bench: all 200 cells done';

// mulberry32: a small seeded PRNG, so the notebook is the same on every run
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ------------------------------------------------------------------------------------------
// PNG: an RGB image, filter 0 per row, zlib; CRC-32 for the chunks

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}

function png(width, height, pixel) {
  const raw = Buffer.alloc((width * 3 + 1) * height);
  let o = 0;
  for (let y = 0; y < height; y++) {
    raw[o++] = 0;
    for (let x = 0; x < width; x++) {
      const [r, g, b] = pixel(x, y);
      raw[o++] = r;
      raw[o++] = g;
      raw[o++] = b;
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', zlib.deflateSync(raw, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

// A scatter plot with a fitted curve and grid lines, like a matplotlib PNG of that size: points
// coloured along a colour map with a soft (antialiased-looking) edge, so it compresses like one.
function plotPng(seed) {
  const r = rng(seed);
  const W = 560;
  const H = 360;
  const img = new Uint8Array(W * H * 3).fill(255);
  const f = (x) => 180 + 110 * Math.sin((x / W) * Math.PI * (2 + (seed % 3))) * Math.exp(-x / 800);
  const put = (x, y, c, a) => {
    if (x < 0 || y < 0 || x >= W || y >= H) return;
    const o = (y * W + x) * 3;
    for (let k = 0; k < 3; k++) img[o + k] = Math.round(img[o + k] * (1 - a) + c[k] * a);
  };
  for (let x = 50; x < W - 10; x++) {
    for (let y = 10; y < H - 40; y++) {
      if ((x - 50) % 90 === 0 || (H - 40 - y) % 64 === 0) put(x, y, [225, 225, 225], 1);
    }
  }
  for (let i = 0; i < 700; i++) {
    const cx = 50 + r() * (W - 70);
    const cy = f(cx) + (r() - 0.5) * 90;
    const t = (cx - 50) / (W - 70);
    const c = [Math.round(68 + 180 * t), Math.round(1 + 200 * Math.sin(t * Math.PI)), Math.round(84 + 80 * (1 - t))];
    for (let dy = -4; dy <= 4; dy++) for (let dx = -4; dx <= 4; dx++) {
      const d = Math.hypot(dx + (cx % 1), dy + (cy % 1));
      if (d < 3.6) put(Math.floor(cx) + dx, Math.floor(cy) + dy, c, Math.min(1, 3.6 - d) * 0.7);
    }
  }
  for (let x = 50; x < W - 10; x += 0.25) {
    const y = f(x);
    put(Math.floor(x), Math.floor(y), [214, 39, 40], 1 - (y % 1));
    put(Math.floor(x), Math.floor(y) + 1, [214, 39, 40], y % 1);
  }
  for (let x = 50; x < W - 10; x++) put(x, H - 40, [0, 0, 0], 1);
  for (let y = 10; y <= H - 40; y++) put(50, y, [0, 0, 0], 1);
  return png(W, H, (x, y) => {
    const o = (y * W + x) * 3;
    return [img[o], img[o + 1], img[o + 2]];
  }).toString('base64');
}

function plotSvg(seed) {
  const r = rng(seed);
  const points = [];
  let v = 100;
  for (let i = 0; i < 160; i++) {
    v += (r() - 0.5) * 12;
    points.push(`${(20 + i * 2.5).toFixed(1)},${Math.max(10, Math.min(190, v)).toFixed(1)}`);
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="440" height="220" viewBox="0 0 440 220">\n`
    + `<rect width="440" height="220" fill="#fff"/>\n`
    + `<g stroke="#ddd">${[40, 80, 120, 160].map((y) => `<line x1="20" x2="420" y1="${y}" y2="${y}"/>`).join('')}</g>\n`
    + `<polyline fill="none" stroke="#1f77b4" stroke-width="1.5" points="${points.join(' ')}"/>\n`
    + `<text x="24" y="212" font-family="sans-serif" font-size="11">random walk, seed ${seed}</text>\n`
    + `</svg>\n`;
}

function htmlTable(r, n) {
  const cols = ['id', 'name', 'mean', 'stddev', 'min', 'max'];
  const rows = [];
  for (let i = 0; i < 12; i++) {
    const mean = r() * 100;
    rows.push(`<tr><th>${i}</th><td>${n * 100 + i}</td><td>sample_${n}_${i}</td><td>${mean.toFixed(3)}</td>`
      + `<td>${(r() * 10).toFixed(3)}</td><td>${(mean - r() * 20).toFixed(3)}</td><td>${(mean + r() * 20).toFixed(3)}</td></tr>`);
  }
  return `<table class="dataframe" border="1">\n<thead><tr><th></th>${cols.map((c) => `<th>${c}</th>`).join('')}</tr></thead>\n`
    + `<tbody>\n${rows.join('\n')}\n</tbody>\n</table>\n<p>12 rows x 6 columns</p>\n`;
}

const C_SNIPPETS = [
  (n) => [`double xs_${n}[64];`, `for (int i = 0; i < 64; i++)`, `    xs_${n}[i] = sin(i * 0.1) * ${n};`,
    `double s = 0;`, `for (int i = 0; i < 64; i++)`, `    s += xs_${n}[i];`, `printf("sum %d = %f\\n", ${n}, s);`],
  (n) => [`struct point { double x, y; };`, `static double dist_${n}(struct point a, struct point b)`, `{`,
    `    return hypot(a.x - b.x, a.y - b.y);`, `}`, `printf("%.3f\\n", dist_${n}((struct point){0, 0}, (struct point){3, ${n}}));`],
  (n) => [`int counts_${n}[10] = {0};`, `for (int i = 0; i < 1000; i++)`, `    counts_${n}[(i * 7919 + ${n}) % 10]++;`,
    `for (int i = 0; i < 10; i++)`, `    printf("bucket %d: %d\\n", i, counts_${n}[i]);`],
  (n) => [`/* running mean of the samples loaded above */`, `double mean_${n} = 0;`, `int k = 0;`,
    `for (int i = 0; i < 100; i++) {`, `    double x = (i % 13) * 0.5 + ${n};`, `    mean_${n} += (x - mean_${n}) / ++k;`, `}`,
    `printf("mean %.4f after %d samples\\n", mean_${n}, k);`],
];

function lines(arr) {
  // nbformat's multiline strings: a list of lines, each but the last ending in "\n"
  return arr.map((l, i) => (i < arr.length - 1 ? `${l}\n` : l));
}

export function makeNotebook() {
  const r = rng(20261129);
  const cells = [];
  let count = 0;
  let codeNo = 0;
  for (let i = 0; i < CELLS; i++) {
    const id = `bench-${String(i).padStart(3, '0')}`;
    const last = i === CELLS - 1;
    if (i % 8 === 0 && !last) {
      const sec = i / 8 + 1;
      const src = [`## ${sec}. Section ${sec}: fitting the samples`, '',
        `We fit $y = a \\sin(b x) e^{-x/\\tau}$ to the ${20 + sec} samples of run ${sec}, minimising`, '',
        `$$\\sum_{i=1}^{n} \\left(y_i - a \\sin(b x_i) e^{-x_i/\\tau}\\right)^2$$`, '',
        `- step ${sec}.1: load the data`, `- step ${sec}.2: compute the **means** and the *spread*`,
        `- step ${sec}.3: plot, see the \`plot_${sec}\` output below`];
      cells.push({ cell_type: 'markdown', id, metadata: {}, source: lines(src) });
      continue;
    }
    codeNo++;
    count++;
    const snippet = C_SNIPPETS[codeNo % C_SNIPPETS.length](codeNo);
    const extra = Math.floor(r() * 6);
    const src = [...snippet];
    for (let k = 0; k < extra; k++) src.push(`printf("step %d\\n", ${k});`);
    const outputs = [];
    const nlines = 2 + Math.floor(r() * 7);
    const text = [];
    for (let k = 0; k < nlines; k++) text.push(`cell ${codeNo} line ${k}: value ${(r() * 1000).toFixed(4)}`);
    if (last) text.push(LAST_OUTPUT_MARKER);
    outputs.push({ name: 'stdout', output_type: 'stream', text: text.map((t) => `${t}\n`) });
    if (!last) {
      if (codeNo % 10 === 0) {
        outputs.push({ data: { 'text/html': lines(htmlTable(r, codeNo).split('\n')), 'text/plain': [`<table ${codeNo}: 12 rows x 6 columns>`] },
          metadata: {}, output_type: 'display_data' });
      }
      if (codeNo % 20 === 0) {
        outputs.push({ data: { 'image/png': plotPng(codeNo), 'text/plain': [`<plot ${codeNo}, 560x360>`] },
          metadata: {}, output_type: 'display_data' });
      }
      if (codeNo % 25 === 0) {
        outputs.push({ data: { 'image/svg+xml': lines(plotSvg(codeNo).split('\n')), 'text/plain': [`<svg plot ${codeNo}>`] },
          metadata: {}, output_type: 'display_data' });
      }
      if (codeNo % 15 === 0) {
        outputs.push({ data: { 'text/plain': [`(double) ${(r() * 100).toFixed(6)}`] }, execution_count: count,
          metadata: {}, output_type: 'execute_result' });
      }
      if (codeNo === 57 || codeNo === 131) {
        outputs.push({ ename: 'CompileError', evalue: 'cell did not compile', output_type: 'error',
          traceback: [`\u001b[1mcell_${codeNo}.c:3:5:\u001b[0m \u001b[1;31merror:\u001b[0m use of undeclared identifier '\u001b[1mxs\u001b[0m'`,
            `    3 |     xs[i] = sin(i * 0.1);`, `      |     \u001b[1;31m^~\u001b[0m`] });
      }
    }
    cells.push({ cell_type: 'code', execution_count: count, id, metadata: {}, outputs, source: lines(src) });
  }
  const nb = {
    cells,
    metadata: {
      kernelspec: { display_name: 'C (cnote)', language: 'c', name: 'cnote' },
      language_info: { file_extension: '.c', mimetype: 'text/x-csrc', name: 'c' },
    },
    nbformat: 4,
    nbformat_minor: 5,
  };
  return JSON.stringify(nb, null, 1) + '\n';
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const out = process.argv[2] || 'bench.ipynb';
  fs.writeFileSync(out, makeNotebook());
  console.log(`${out}: ${fs.statSync(out).size} bytes`);
}
