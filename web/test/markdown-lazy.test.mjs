// renderMarkdown while KaTeX is still loading (its own process, so KaTeX starts unloaded).
import { dom } from './dom-setup.mjs';
import { test } from 'node:test';
import assert from 'node:assert/strict';

const { renderMarkdown, katexState, loadMarkdown } = await import('../src/outputs/markdown.js');
const { document } = dom.window;

test('a render that waits for KaTeX does not overwrite a newer render of the same element', async () => {
    await loadMarkdown();
    const d = document.createElement('div');
    const old = renderMarkdown('old $x^2$', d);
    assert.equal(d.textContent, '', 'math waits for KaTeX');
    assert.deepEqual(katexState(), { requested: true, loaded: false });
    const now = renderMarkdown('new text', d);
    assert.equal(d.textContent.trim(), 'new text');
    await Promise.all([old, now]);
    assert.equal(d.textContent.trim(), 'new text');
    assert.equal(d.querySelector('.katex'), null);
    // and the KaTeX that was loaded meanwhile serves the next render synchronously
    assert.equal(katexState().loaded, true);
    const e = document.createElement('div');
    renderMarkdown('now $y$', e);
    assert.ok(e.querySelector('.katex'));
});

test('marked itself is loaded on the first render, not when the module is imported', async () => {
    // (this file's first test loaded it; a fresh import of the module graph is not possible in one
    // process, so check the chunk boundary: markdown.js must not import marked statically)
    const fs = await import('node:fs');
    const src = fs.readFileSync(new URL('../src/outputs/markdown.js', import.meta.url), 'utf8');
    assert.doesNotMatch(src, /^import[^;]*from 'marked'/m);
    assert.match(src, /import\('marked'\)/);
});
