// OutputArea and DisplayRegistry (web/src/outputs/area.js): messages in, DOM and nbformat out.
import { dom, nextFrame } from './dom-setup.mjs';
import { test } from 'node:test';
import assert from 'node:assert/strict';

const { OutputArea, DisplayRegistry } = await import('../src/outputs/area.js');
const { document } = dom.window;

const msg = (msg_type, content) => ({ header: { msg_type }, parent_header: {}, metadata: {}, content });
const stream = (text, name = 'stdout') => msg('stream', { name, text });

function newArea(opts = {}) {
    const el = document.createElement('div');
    document.body.appendChild(el);
    let changes = 0;
    const area = new OutputArea(el, { onChange: () => changes++, ...opts });
    return { el, area, changes: () => changes };
}

const outs = (el) => [...el.querySelectorAll(':scope > div.output')];

test('stream chunks of the same name merge into one output; another name starts a new one', () => {
    const { el, area, changes } = newArea();
    assert.equal(area.handle(stream('a\n')), true);
    area.handle(stream('b\n'));
    area.handle(stream('err\n', 'stderr'));
    area.handle(stream('c\n'));
    area.flush();
    assert.equal(area.length, 3);
    const o = outs(el);
    assert.deepEqual(o.map((e) => e.dataset.outputType), ['stream', 'stream', 'stream']);
    assert.equal(o[0].textContent, 'a\nb\n');
    assert.ok(o[1].classList.contains('stream-stderr'));
    assert.ok(!o[0].classList.contains('stream-stderr'));
    assert.equal(o[2].textContent, 'c\n');
    assert.equal(changes(), 4);
    assert.deepEqual(area.toJSON(), [
        { output_type: 'stream', name: 'stdout', text: 'a\nb\n' },
        { output_type: 'stream', name: 'stderr', text: 'err\n' },
        { output_type: 'stream', name: 'stdout', text: 'c\n' },
    ]);
});

test("'\\r' overwrites the current line like a terminal; '\\r\\n' is a newline", () => {
    const { el, area } = newArea();
    area.handle(stream('start\n 10%\r'));
    area.handle(stream(' 20%\r 30%'));
    area.handle(stream('\r100%\ndone\r\n'));
    area.handle(stream('ab\rX\n'));
    area.flush();
    const text = 'start\n100%\ndone\nXb\n';
    assert.equal(outs(el)[0].textContent, text);
    assert.equal(area.toJSON()[0].text, text);
});

test("a progress bar that is still running shows its latest state", () => {
    const { el, area } = newArea();
    area.handle(stream('[#   ]\r'));
    area.flush();
    assert.equal(outs(el)[0].textContent, '[#   ]');
    area.handle(stream('[##  ]\r'));
    area.flush();
    assert.equal(outs(el)[0].textContent, '[##  ]');
    assert.equal(area.toJSON()[0].text, '[##  ]');
});

test('ANSI colours become spans with classes, and HTML in text is escaped', () => {
    const { el, area } = newArea();
    area.handle(stream('\x1b[1;31merror:\x1b[0m <img src=x onerror=alert(1)> & <script>x</script>\n'));
    area.flush();
    const pre = outs(el)[0].querySelector('pre');
    const span = pre.querySelector('span.ansi-red-fg');
    assert.ok(span, pre.innerHTML);
    assert.equal(span.textContent, 'error:');
    assert.match(span.getAttribute('style') || '', /font-weight:bold/);
    assert.equal(pre.querySelector('img'), null);
    assert.equal(pre.querySelector('script'), null);
    assert.match(pre.textContent, /<img src=x onerror=alert\(1\)> & <script>x<\/script>/);
    assert.ok(!pre.textContent.includes('\x1b'));
});

test('an ANSI colour set in one chunk carries into the next chunk', () => {
    const { el, area } = newArea();
    area.handle(stream('\x1b[32mgreen '));
    area.handle(stream('still\n\x1b[0mplain\n'));
    area.flush();
    const spans = [...outs(el)[0].querySelectorAll('.ansi-green-fg')];
    assert.equal(spans.map((s) => s.textContent).join(''), 'green still\n');
    assert.equal(outs(el)[0].textContent, 'green still\nplain\n');
});

test('OSC 8 hyperlinks from the compiler open safely in a new tab', () => {
    const { el, area } = newArea();
    area.handle(stream('see \x1b]8;;https://gcc.gnu.org/x\x07-Wunused\x1b]8;;\x07\n', 'stderr'));
    area.flush();
    const a = outs(el)[0].querySelector('a');
    assert.equal(a.getAttribute('href'), 'https://gcc.gnu.org/x');
    assert.equal(a.target, '_blank');
    assert.equal(a.rel, 'noopener noreferrer');
});

test('rendering is batched: nothing until the next frame, then once for many messages', async () => {
    const { el, area } = newArea();
    for (let i = 0; i < 500; i++) area.handle(stream(`line ${i}\n`));
    assert.equal(outs(el).length, 0, 'rendered synchronously');
    await nextFrame();
    await nextFrame();
    assert.equal(outs(el).length, 1);
    assert.equal(outs(el)[0].textContent.split('\n').length, 501);
    // later chunks are appended to the rendered text, the element stays the same
    const first = outs(el)[0].querySelector('pre');
    area.handle(stream('more\n'));
    await nextFrame();
    await nextFrame();
    assert.equal(outs(el)[0].querySelector('pre'), first);
    assert.ok(first.textContent.endsWith('line 499\nmore\n'));
});

test('clear() empties at once; clear(true) waits for the next output and holds the height', () => {
    const { el, area, changes } = newArea();
    area.handle(stream('old\n'));
    area.handle(msg('display_data', { data: { 'text/plain': 'old display' }, metadata: {} }));
    area.flush();
    // jsdom has no layout: give the area a height to hold
    el.getBoundingClientRect = () => ({ height: 120, width: 100, top: 0, left: 0, bottom: 120, right: 100 });
    assert.equal(area.handle(msg('clear_output', { wait: true })), true);
    area.flush();
    assert.equal(area.length, 2, 'cleared before the next output');
    assert.equal(outs(el).length, 2);
    assert.equal(el.style.minHeight, '120px');
    assert.equal(area.toJSON().length, 2);

    area.handle(stream('new\n'));
    assert.equal(area.length, 1);
    assert.equal(outs(el).length, 2, 'old outputs stay on screen until the new one is drawn');
    area.flush();
    assert.deepEqual(outs(el).map((e) => e.textContent), ['new\n']);
    assert.equal(el.style.minHeight, '');
    assert.deepEqual(area.toJSON(), [{ output_type: 'stream', name: 'stdout', text: 'new\n' }]);

    const before = changes();
    area.clear();
    assert.equal(area.length, 0);
    assert.equal(outs(el).length, 0);
    assert.equal(changes(), before + 1);
});

test('clear_output(wait) then a stream of the same name starts fresh, not merged', () => {
    const { el, area } = newArea();
    area.handle(stream('1\n'));
    area.handle(msg('clear_output', { wait: true }));
    area.handle(stream('2\n'));
    area.flush();
    assert.deepEqual(area.toJSON(), [{ output_type: 'stream', name: 'stdout', text: '2\n' }]);
    assert.equal(outs(el)[0].textContent, '2\n');
});

test('update_display_data updates every output with that display_id, in every area', () => {
    const displays = new DisplayRegistry();
    const A = newArea({ displays });
    const B = newArea({ displays });
    const shown = (id, text) =>
        msg('display_data', { data: { 'text/plain': text }, metadata: {}, transient: { display_id: id } });
    A.area.handle(shown('bar', 'progress 0%'));
    A.area.handle(shown('other', 'untouched'));
    B.area.handle(shown('bar', 'progress 0% (copy)'));
    A.area.flush();
    B.area.flush();
    assert.equal(displays.count('bar'), 2);
    const bBefore = B.changes();
    // the update arrives through the area of the cell that is running now (A)
    assert.equal(
        A.area.handle(msg('update_display_data', {
            data: { 'text/html': '<b>50%</b>', 'text/plain': '50%' },
            metadata: { updated: true },
            transient: { display_id: 'bar' },
        })),
        true,
    );
    A.area.flush();
    B.area.flush();
    assert.equal(B.changes(), bBefore + 1, 'the other cell is marked changed too');
    for (const { el } of [A, B]) {
        const o = outs(el)[0];
        assert.equal(o.dataset.mime, 'text/html');
        assert.equal(o.querySelector('b').textContent, '50%');
    }
    assert.equal(outs(A.el)[1].textContent, 'untouched');
    assert.deepEqual(B.area.toJSON(), [{
        output_type: 'display_data',
        data: { 'text/html': '<b>50%</b>', 'text/plain': '50%' },
        metadata: { updated: true },
    }]);
    // update_display_data adds no output
    assert.equal(A.area.length, 2);
    // a cleared or disposed area no longer receives updates
    B.area.dispose();
    A.area.clear();
    assert.equal(displays.count('bar'), 0);
    assert.equal(displays.update('bar', { 'text/plain': 'x' }, {}), 0);
});

test('each mime type renders to the expected element, the richest one only', async () => {
    const png = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';
    const cases = [
        [{ 'text/html': '<table><tr><td>1</td></tr></table>', 'text/plain': 'x' }, 'text/html', (o) => o.querySelector('.output-html table td')],
        [{ 'image/svg+xml': '<svg xmlns="http://www.w3.org/2000/svg"><circle r="3"/></svg>', 'text/plain': 'fig' }, 'image/svg+xml',
            (o) => o.querySelector('img[src^="data:image/svg+xml"]')],
        [{ 'image/png': png, 'text/plain': '<Figure>' }, 'image/png', (o) => o.querySelector(`img[src="data:image/png;base64,${png}"]`)],
        [{ 'image/jpeg': '/9j/4AAQ' }, 'image/jpeg', (o) => o.querySelector('img[src^="data:image/jpeg;base64,"]')],
        [{ 'image/gif': 'R0lGODlh' }, 'image/gif', (o) => o.querySelector('img[src^="data:image/gif;base64,"]')],
        [{ 'text/markdown': '**bold** text', 'text/plain': 'x' }, 'text/markdown', (o) => o.querySelector('.output-markdown strong')],
        [{ 'text/latex': '$$x^2$$', 'text/plain': 'x' }, 'text/latex', (o) => o.querySelector('.output-latex .katex-display')],
        [{ 'application/json': { a: [1, 2] }, 'text/plain': 'x' }, 'application/json',
            (o) => !o.querySelector('details').open && o.querySelector('details pre').textContent.includes('"a": [')],
        [{ 'text/plain': 'just \x1b[34mtext\x1b[0m' }, 'text/plain', (o) => o.querySelector('pre .ansi-blue-fg')],
    ];
    for (const [data, mime, check] of cases) {
        const { el, area } = newArea();
        area.handle(msg('display_data', { data, metadata: {} }));
        await area.whenRendered();
        const o = outs(el)[0];
        assert.equal(o.dataset.outputType, 'display_data');
        assert.equal(o.dataset.mime, mime, JSON.stringify(data));
        assert.ok(check(o), `${mime}: ${o.innerHTML.slice(0, 300)}`);
        // only one representation is rendered
        if (mime !== 'text/plain') assert.equal(o.querySelector('pre.output-text:not(details pre)'), null, mime);
    }
});

test('images get alt text and honour width/height metadata', () => {
    const { el, area } = newArea();
    area.handle(msg('display_data', {
        data: { 'image/png': 'iVBORw0KGgo=\n', 'text/plain': '<Figure size 640x480 with 1 Axes>' },
        metadata: { 'image/png': { width: 320, height: 240 } },
    }));
    area.handle(msg('display_data', { data: { 'image/svg+xml': ['<svg xmlns="http://www.w3.org/2000/svg">', '</svg>'] }, metadata: { width: 50 } }));
    area.flush();
    const [a, b] = outs(el).map((o) => o.querySelector('img'));
    assert.equal(a.alt, '<Figure size 640x480 with 1 Axes>');
    assert.equal(a.getAttribute('width'), '320');
    assert.equal(a.getAttribute('height'), '240');
    assert.equal(a.getAttribute('src'), 'data:image/png;base64,iVBORw0KGgo=');
    assert.equal(b.alt, 'SVG image output');
    assert.equal(b.getAttribute('width'), '50');
    assert.equal(decodeURIComponent(b.getAttribute('src').split(',')[1]), '<svg xmlns="http://www.w3.org/2000/svg"></svg>');
});

test('execute_result keeps execution_count; outputs keep metadata; no transient is saved', () => {
    const { el, area } = newArea();
    area.handle(msg('execute_result', {
        execution_count: 7,
        data: { 'text/plain': '42' },
        metadata: { tag: 'x' },
        transient: { display_id: 'd1' },
    }));
    area.flush();
    assert.equal(outs(el)[0].dataset.outputType, 'execute_result');
    assert.equal(outs(el)[0].textContent, '42');
    assert.deepEqual(area.toJSON(), [
        { output_type: 'execute_result', execution_count: 7, data: { 'text/plain': '42' }, metadata: { tag: 'x' } },
    ]);
});

test('error: coloured traceback, ename/evalue shown when the traceback lacks them', () => {
    const { el, area } = newArea();
    area.handle(msg('error', {
        ename: 'CompileError',
        evalue: "In[3]:2:5: 'y' undeclared",
        traceback: ["\x1b[1mIn[3]:2:5:\x1b[0m \x1b[1;31merror\x1b[0m: 'y' undeclared", '    2 |   y = 1;'],
    }));
    area.handle(msg('error', { ename: 'SIGSEGV', evalue: 'bad', traceback: ['\x1b[1;31mSIGSEGV\x1b[0m: bad'] }));
    area.flush();
    const [a, b] = outs(el);
    assert.equal(a.dataset.outputType, 'error');
    assert.equal(a.querySelector('.output-error-header').textContent, "CompileError: In[3]:2:5: 'y' undeclared");
    assert.equal(a.querySelector('pre .ansi-red-fg').textContent, 'error');
    assert.equal(a.querySelector('pre').textContent, "In[3]:2:5: error: 'y' undeclared\n    2 |   y = 1;");
    assert.equal(b.querySelector('.output-error-header'), null, 'no duplicate of the traceback');
    assert.equal(b.textContent, 'SIGSEGV: bad');
    assert.deepEqual(area.toJSON()[1], { output_type: 'error', ename: 'SIGSEGV', evalue: 'bad', traceback: ['\x1b[1;31mSIGSEGV\x1b[0m: bad'] });
});

test('toJSON round trip of JupyterLab outputs: unknown keys kept, arrays of lines accepted', () => {
    const fromLab = [
        { name: 'stdout', output_type: 'stream', text: ['hello\n', 'world\n'] },
        {
            data: { 'image/png': 'iVBORw0KGgo=\n', 'text/plain': ['<Figure size 640x480', ' with 1 Axes>'] },
            metadata: { needs_background: 'light' },
            output_type: 'display_data',
        },
        {
            data: { 'application/json': { a: 1 }, 'text/plain': ['{', "'a': 1}"] },
            execution_count: 3,
            metadata: { 'application/json': { expanded: false, root: 'root' } },
            output_type: 'execute_result',
            x_custom: { keep: [1, 2] },
        },
        { ename: 'ZeroDivisionError', evalue: 'division by zero', output_type: 'error', traceback: ['a', 'b'] },
        { output_type: 'future_type', payload: 1 },
    ];
    const { el, area, changes } = newArea();
    area.setOutputs(structuredClone(fromLab));
    assert.equal(changes(), 0, 'loading is not a change');
    assert.equal(area.length, 5);
    const o = outs(el);
    assert.equal(o[0].textContent, 'hello\nworld\n');
    assert.equal(o[1].querySelector('img').alt, '<Figure size 640x480 with 1 Axes>');
    assert.equal(o[2].dataset.mime, 'application/json');
    assert.match(o[4].textContent, /Unsupported output type: future_type/);
    const saved = area.toJSON();
    assert.equal(JSON.stringify(saved), JSON.stringify(fromLab), 'byte-identical, key order included');
    // deep copies: changing what toJSON returned changes nothing inside
    saved[0].text.push('x');
    assert.deepEqual(area.toJSON()[0].text, ['hello\n', 'world\n']);
});

test('a loaded stream that gets more text is saved merged, other keys kept in place', () => {
    const { area } = newArea();
    area.setOutputs([{ name: 'stdout', output_type: 'stream', text: ['a\n', 'b'], extra: true }]);
    area.handle(stream('c\n'));
    assert.equal(area.length, 1);
    assert.equal(JSON.stringify(area.toJSON()), JSON.stringify([{ name: 'stdout', output_type: 'stream', text: 'a\nbc\n', extra: true }]));
});

test('handle() ignores messages that are not outputs', () => {
    const { area } = newArea();
    assert.equal(area.handle(msg('status', { execution_state: 'busy' })), false);
    assert.equal(area.handle(msg('execute_input', { code: 'x' })), false);
    assert.equal(area.length, 0);
});

test('JSON values stored as strings and bundles with only JavaScript render without running anything', () => {
    const { el, area } = newArea();
    area.handle(msg('display_data', { data: { 'application/vnd.custom+json': '{"k": 1}' }, metadata: {} }));
    area.handle(msg('display_data', { data: { 'application/javascript': 'window.hacked = 1' }, metadata: {} }));
    area.flush();
    const [a, b] = outs(el);
    assert.equal(a.dataset.mime, 'application/vnd.custom+json');
    assert.match(a.querySelector('pre').textContent, /"k": 1/);
    assert.equal(b.dataset.mime, undefined);
    assert.match(b.textContent, /not run/);
    assert.equal(dom.window.hacked, undefined);
});

test('HTML larger than maxRichChars waits for a click before it is sanitised and shown', () => {
    const { el, area } = newArea({ limits: { maxRichChars: 1000 } });
    area.handle(msg('display_data', { data: { 'text/html': '<p>row</p>'.repeat(500) }, metadata: {} }));
    area.flush();
    const o = outs(el)[0];
    assert.equal(o.querySelector('p'), null);
    const b = o.querySelector('.output-truncated button');
    assert.equal(b.textContent, 'Show it');
    b.click();
    assert.equal(o.querySelectorAll('.output-html p').length, 500);
    assert.equal(o.querySelector('.output-truncated'), null);
});
