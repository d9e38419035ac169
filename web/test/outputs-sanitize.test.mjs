// Sanitising (web/src/outputs/sanitize.js) and what an OutputArea does with hostile outputs:
// no script may run, no handler survive, no javascript: link stay clickable.
import { dom } from './dom-setup.mjs';
import { test } from 'node:test';
import assert from 'node:assert/strict';

const { sanitizeHtml, sanitizeSvg } = await import('../src/outputs/sanitize.js');
const { OutputArea } = await import('../src/outputs/area.js');
const { document } = dom.window;

function fragment(html) {
    const div = document.createElement('div');
    div.innerHTML = html;
    return div;
}

const handlerAttrs = (root) =>
    [...root.querySelectorAll('*')].flatMap((e) => [...e.attributes].map((a) => a.name)).filter((n) => /^on/i.test(n));

test('sanitizeHtml removes scripts, handlers, javascript: URLs, forms and styles', () => {
    const dirty = `
        <p>keep <b>bold</b></p>
        <script>window.pwned = 1</script>
        <img src="x" onerror="window.pwned = 2">
        <a href="javascript:alert(1)">js</a>
        <a href=" JaVaScRiPt:alert(1)">js2</a>
        <a href="data:text/html,<script>alert(1)</script>">data</a>
        <iframe src="https://evil.example"></iframe>
        <object data="x.swf"></object><embed src="x.swf">
        <form action="https://evil.example/login"><input name="password"><button>Log in</button></form>
        <style>body { display: none }</style>
        <div style="color: red" onclick="alert(1)" onmouseover="alert(2)">styled</div>
        <svg><script>alert(3)</script><a xlink:href="javascript:alert(4)"><text>t</text></a></svg>
        <math><mi xlink:href="javascript:alert(5)">m</mi></math>
        <base href="https://evil.example/">
        <meta http-equiv="refresh" content="0;url=https://evil.example">
        <input autofocus onfocus="alert(6)">`;
    const clean = sanitizeHtml(dirty);
    const root = fragment(clean);
    assert.equal(root.querySelector('p b').textContent, 'bold');
    assert.equal(root.querySelector('div[style]').textContent, 'styled', 'inline styles are kept');
    for (const sel of ['script', 'iframe', 'object', 'embed', 'form', 'input', 'button', 'style', 'base', 'meta']) {
        assert.equal(root.querySelector(sel), null, `<${sel}> removed`);
    }
    assert.deepEqual(handlerAttrs(root), []);
    for (const a of root.querySelectorAll('a')) {
        const href = a.getAttribute('href') || a.getAttribute('xlink:href') || '';
        assert.ok(!/^\s*(javascript|data):/i.test(href), href);
    }
    assert.ok(!/javascript:/i.test(clean));
    assert.equal(dom.window.pwned, undefined);
});

test('ids and names are prefixed so an output cannot clobber globals or app ids', () => {
    const root = fragment(sanitizeHtml('<div id="kernel-status">x</div><img name="config" src="a.png">'));
    assert.equal(root.querySelector('div').id, 'user-content-kernel-status');
    assert.equal(root.querySelector('img').getAttribute('name'), 'user-content-config');
});

test('external links open in a new tab with noopener; in-app links stay', () => {
    const root = fragment(sanitizeHtml(
        '<a href="https://example.com/x">ext</a><a href="//cdn.example/x">proto</a>' +
            '<a href="other.ipynb" target="_top">rel</a><a href="http://localhost:8888/tree">same</a>' +
            '<a href="mailto:a@b.c">mail</a>',
    ));
    const [ext, proto, rel, same, mail] = root.querySelectorAll('a');
    for (const a of [ext, proto]) {
        assert.equal(a.getAttribute('target'), '_blank');
        assert.equal(a.getAttribute('rel'), 'noopener noreferrer');
    }
    for (const a of [rel, same, mail]) assert.equal(a.getAttribute('target'), null, a.outerHTML);
});

test('sanitizeSvg removes <script>, onload and foreignObject, keeps the drawing', () => {
    const dirty = `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">
<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" onload="alert(1)" width="10" height="10">
  <script>alert(2)</script>
  <rect width="10" height="10" fill="red" onclick="alert(3)"/>
  <animate attributeName="href" to="javascript:alert(4)"/>
  <a xlink:href="javascript:alert(5)"><text>t</text></a>
  <foreignObject><iframe src="javascript:alert(6)"></iframe></foreignObject>
</svg>`;
    const clean = sanitizeSvg(dirty);
    const root = fragment(clean);
    assert.ok(root.querySelector('svg rect[fill="red"]'), clean);
    assert.equal(root.querySelector('script'), null);
    assert.equal(root.querySelector('foreignObject, foreignobject, iframe'), null);
    assert.deepEqual(handlerAttrs(root), []);
    assert.ok(!/javascript:/i.test(clean), clean);
    assert.ok(!/alert\(1\)|alert\(3\)/.test(clean));
});

test('hostile text/html and SVG outputs are neutralised in the area', () => {
    const el = document.createElement('div');
    document.body.appendChild(el);
    const area = new OutputArea(el);
    const evilSvg = '<svg xmlns="http://www.w3.org/2000/svg" onload="window.pwned=1"><script>window.pwned=2</script></svg>';
    area.handle({ header: { msg_type: 'display_data' }, content: {
        data: { 'text/html': '<img src=x onerror="window.pwned=3"><script>window.pwned=4</script><a href="javascript:window.pwned=5">x</a>' },
        metadata: {},
    } });
    area.handle({ header: { msg_type: 'display_data' }, content: { data: { 'image/svg+xml': evilSvg }, metadata: {} } });
    area.flush();
    assert.equal(el.querySelector('script'), null);
    assert.equal(el.querySelector('svg'), null, 'SVG is shown as an image, never inline');
    assert.deepEqual(handlerAttrs(el), []);
    assert.equal(el.querySelector('a').getAttribute('href'), null);
    const img = el.querySelector('[data-mime="image/svg+xml"] img');
    assert.ok(img.getAttribute('src').startsWith('data:image/svg+xml'));
    assert.equal(dom.window.pwned, undefined);
});
