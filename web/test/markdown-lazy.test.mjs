// renderMarkdown while KaTeX is still loading (its own process, so KaTeX starts unloaded).
import { dom } from './dom-setup.mjs';
import { test } from 'node:test';
import assert from 'node:assert/strict';

const { renderMarkdown, katexState } = await import('../src/outputs/markdown.js');
const { document } = dom.window;

test('a render that waits for KaTeX does not overwrite a newer render of the same element', async () => {
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
