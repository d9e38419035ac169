// TextBuffer / TextView (web/src/outputs/text.js) and long outputs in an OutputArea:
// '\r' and '\b', bounded rendering, "Show all", and that appending stays cheap.
import { dom } from './dom-setup.mjs';
import { test } from 'node:test';
import assert from 'node:assert/strict';

const { TextBuffer, stripAnsi } = await import('../src/outputs/text.js');
const { OutputArea } = await import('../src/outputs/area.js');
const { document } = dom.window;

const msg = (msg_type, content) => ({ header: { msg_type }, parent_header: {}, metadata: {}, content });
const stream = (text, name = 'stdout') => msg('stream', { name, text });

function newArea(limits) {
    const el = document.createElement('div');
    document.body.appendChild(el);
    return { el, area: new OutputArea(el, { limits }) };
}

test('TextBuffer: \\r, \\b and chunk boundaries', () => {
    const cases = [
        [['abc\rX'], 'Xbc'],
        [['abc\r', '\n'], 'abc\n'],
        [['a\r\nb'], 'a\nb'],
        [['12345\r', 'ab', 'c\n'], 'abc45\n'],
        [['abc\b\bX\n'], 'aX\n'],
        [['x\b\b\by'], 'y'],
        [['one\ntwo\rTWO\nthree'], 'one\nTWO\nthree'],
        [['\x1b[31', 'mred\x1b[0m\n'], '\x1b[31mred\x1b[0m\n'],
    ];
    for (const [chunks, want] of cases) {
        const b = new TextBuffer();
        for (const c of chunks) b.write(c);
        assert.equal(b.toString(), want, JSON.stringify(chunks));
        assert.equal(b.length, want.length);
    }
    const b = new TextBuffer('a\nb\nc');
    assert.equal(b.committedNewlines, 2);
    assert.equal(b.lineCount, 3);
});

test('TextBuffer.readCommitted and tail read pieces without the whole text', () => {
    const b = new TextBuffer();
    for (let i = 0; i < 100; i++) b.write(`line ${i}\n`);
    b.write('partial');
    const all = b.toString();
    b.write('!'); // toString joined the pieces: reading still works afterwards
    assert.equal(b.readCommitted(0, 7), 'line 0\n');
    assert.equal(b.readCommitted(all.indexOf('line 50'), 8), 'line 50\n');
    const t = b.tail(3, 1000);
    assert.equal(t.text, 'line 98\nline 99\npartial!');
    assert.equal(t.start, b.length - t.text.length);
    assert.equal(t.newlines, 2);
    const t2 = b.tail(1000, 12);
    assert.equal(t2.text, ' 99\npartial!');
    const c = new TextBuffer('a\nb\nc\n');
    assert.equal(c.tail(2, 100).text, 'b\nc\n');
    assert.equal(c.tail(2, 100, 4).text, 'c\n', 'not before minStart');
});

test('stripAnsi removes colour, cursor and hyperlink sequences', () => {
    assert.equal(stripAnsi('\x1b[1;31mred\x1b[0m \x1b[K\x1b]8;;http://x\x07link\x1b]8;;\x07'), 'red link');
});

test('long output is truncated to a head, a notice with a real "Show all" button, and a tail', () => {
    const { el, area } = newArea({ maxLines: 100, maxChars: 100000, tailLines: 5 });
    let text = '';
    for (let i = 0; i < 1000; i++) text += `line ${i}\n`;
    area.handle(stream(text));
    area.flush();
    const out = el.querySelector('.output');
    const pres = out.querySelectorAll('pre');
    assert.equal(pres.length, 2);
    assert.equal(pres[0].textContent.split('\n').length - 1, 100, 'head has maxLines lines');
    assert.ok(pres[0].textContent.startsWith('line 0\n'));
    assert.equal(pres[1].textContent, 'line 995\nline 996\nline 997\nline 998\nline 999\n');
    const notice = out.querySelector('.output-truncated');
    assert.match(notice.textContent, /Output truncated: 895 lines \(.*\) hidden\./);
    const button = [...notice.querySelectorAll('button')].find((b) => b.textContent === 'Show all');
    assert.ok(button, 'a Show all button');
    assert.equal(button.type, 'button');
    assert.equal(button.tabIndex, 0, 'reachable by keyboard');
    // the model keeps everything
    assert.equal(area.toJSON()[0].text, text);

    // more text while truncated: the notice counts it and the tail follows
    area.handle(stream('the end\n'));
    area.flush();
    assert.match(notice.textContent, /896 lines/);
    assert.ok(out.querySelector('.output-tail').textContent.endsWith('line 999\nthe end\n'));

    button.click();
    assert.equal(out.querySelector('.output-truncated'), null);
    assert.equal(out.querySelectorAll('pre').length, 1);
    assert.equal(out.querySelector('pre').textContent, text + 'the end\n');
    // after "Show all", new text is appended as it comes
    area.handle(stream('after\n'));
    area.flush();
    assert.ok(out.querySelector('pre').textContent.endsWith('the end\nafter\n'));
});

test('maxChars bounds one enormous line too', () => {
    const { el, area } = newArea({ maxChars: 1000, maxLines: 2000 });
    area.handle(stream('x'.repeat(50000)));
    area.flush();
    const out = el.querySelector('.output');
    const rendered = [...out.querySelectorAll('pre')].reduce((n, p) => n + p.textContent.length, 0);
    assert.ok(rendered <= 1000 + 200, `rendered ${rendered} characters`);
    assert.match(out.querySelector('.output-truncated').textContent, /Output truncated: .*characters hidden/);
});

test('"Show all" of a very large output shows plain text without ANSI processing', () => {
    const { el, area } = newArea({ maxLines: 10, maxRichChars: 5000 });
    let text = '';
    for (let i = 0; i < 1000; i++) text += `\x1b[32mline ${i}\x1b[0m\n`;
    area.handle(stream(text));
    area.flush();
    const out = el.querySelector('.output');
    assert.ok(out.querySelector('pre .ansi-green-fg'), 'the head has colours');
    out.querySelector('.output-show-all').click();
    const pre = out.querySelector('pre');
    assert.equal(pre.querySelector('span.ansi-green-fg'), null);
    assert.equal(pre.textContent, stripAnsi(text));
    const notice = out.querySelector('.output-truncated');
    assert.match(notice.textContent, /plain text/);
    assert.ok(notice.querySelector('.output-download'), 'download stays offered');
    assert.equal(notice.querySelector('.output-show-all'), null);
});

test('Download saves the whole text without escape sequences', () => {
    const { el, area } = newArea({ maxLines: 2 });
    area.handle(stream('\x1b[31ma\x1b[0m\nb\nc\nd\n'));
    area.flush();
    const win = dom.window;
    let blob = null;
    let clicked = null;
    let revoked = null;
    let later = null;
    const saved = { create: win.URL.createObjectURL, click: win.HTMLAnchorElement.prototype.click, setTimeout: win.setTimeout };
    win.URL.createObjectURL = (b) => ((blob = b), 'blob:x');
    win.URL.revokeObjectURL = (u) => (revoked = u);
    win.setTimeout = (f) => (later = f);
    win.HTMLAnchorElement.prototype.click = function () {
        clicked = this.download;
    };
    try {
        el.querySelector('.output-download').click();
    } finally {
        win.URL.createObjectURL = saved.create;
        win.HTMLAnchorElement.prototype.click = saved.click;
        win.setTimeout = saved.setTimeout;
    }
    assert.equal(clicked, 'stdout.txt');
    later();
    assert.equal(revoked, 'blob:x', 'the object URL is released');
    return blob.text().then((t) => assert.equal(t, 'a\nb\nc\nd\n'));
});

test('50 MB in 5000 messages: appending stays O(chunk) and each frame renders a bounded amount', () => {
    const { el, area } = newArea();
    const chunk = ('0123456789'.repeat(9) + 'abcdefghi\n').repeat(100); // 10 000 chars, 100 lines
    const t0 = performance.now();
    let worstFlush = 0;
    for (let i = 0; i < 5000; i++) {
        area.handle(stream(chunk));
        if (i % 50 === 0) {
            const f = performance.now();
            area.flush();
            worstFlush = Math.max(worstFlush, performance.now() - f);
        }
    }
    area.flush();
    const total = performance.now() - t0;
    const out = el.querySelector('.output');
    const rendered = [...out.querySelectorAll('pre')].reduce((n, p) => n + p.textContent.length, 0);
    assert.ok(rendered <= 100000 + 20000 + 200, `rendered ${rendered} characters`);
    assert.match(out.querySelector('.output-truncated').textContent, /Output truncated: 49[0-9],[0-9]{3} lines/);
    // generous bounds for a slow CI machine: an O(total) append would take minutes here
    assert.ok(total < 15000, `50 MB took ${total.toFixed(0)} ms`);
    assert.ok(worstFlush < 1000, `worst frame ${worstFlush.toFixed(0)} ms`);
    const saved = area.toJSON()[0].text;
    assert.equal(saved.length, 50e6);
});

test('a progress bar rewritten 10 000 times stays one line and cheap', () => {
    const { el, area } = newArea();
    const t0 = performance.now();
    for (let i = 0; i <= 10000; i++) area.handle(stream(`\r${String(i).padStart(6)} / 10000`));
    area.handle(stream('\n'));
    area.flush();
    assert.ok(performance.now() - t0 < 5000);
    assert.equal(el.querySelector('pre').textContent, ' 10000 / 10000\n');
});
