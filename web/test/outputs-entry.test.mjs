// The entry point web/src/outputs/index.js: loads (its CSS import stubbed, see dom-setup.mjs)
// and exports the API the notebook view uses.
import './dom-setup.mjs';
import { test } from 'node:test';
import assert from 'node:assert/strict';

const api = await import('../src/outputs/index.js');

test('index.js exports the output API', () => {
    for (const name of ['OutputArea', 'DisplayRegistry', 'renderMarkdown', 'renderLatex', 'sanitizeHtml',
        'sanitizeSvg', 'ansiToHtml', 'setKatexCss', 'loadKatex', 'MIME_ORDER', 'DEFAULT_LIMITS']) {
        assert.ok(api[name], name);
    }
    assert.equal(api.renderMarkdown.constructor.name, 'AsyncFunction');
    assert.deepEqual(api.MIME_ORDER, ['text/html', 'image/svg+xml', 'image/png', 'image/jpeg', 'image/gif',
        'text/markdown', 'text/latex', 'application/json', 'text/plain']);
    assert.equal(api.DEFAULT_LIMITS.maxChars, 100000);
    assert.equal(api.DEFAULT_LIMITS.maxLines, 2000);
    const proto = api.OutputArea.prototype;
    for (const m of ['setOutputs', 'handle', 'clear', 'toJSON', 'dispose', 'flush', 'whenRendered']) {
        assert.equal(typeof proto[m], 'function', m);
    }
    assert.ok(Object.getOwnPropertyDescriptor(proto, 'length').get);
    assert.equal(api.ansiToHtml('\x1b[31m<r>\x1b[0m'), '<span class="ansi-red-fg">&lt;r&gt;</span>');
});
