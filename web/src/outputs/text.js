/* Terminal-like text for outputs: a TextBuffer holds the text (the model of a stream output, or
 * the text of a text/plain value, a traceback or a JSON dump) and applies '\r' and '\b' as it is
 * written; a TextView shows a bounded part of a buffer in a <pre>, with ANSI colours (ansi_up,
 * HTML escaped), and a "Show all" button when it had to leave text out.
 *
 * Costs: TextBuffer.write is O(chunk) (plus the current line when a '\r' rewrites it); the
 * committed text is an array of pieces joined only when someone asks for the whole string.
 * TextView.update renders only what is new since the last update while the head has room, then
 * only a bounded tail, so a 50 MB stream costs the same per frame as a 50 KB one.
 * Does not schedule anything itself: OutputArea calls update() at most once per frame. */

import { AnsiUp } from 'ansi_up';

/* A line longer than this with the cursor at its end is committed as it stands: a later '\r' then
 * only rewrites what follows. Keeps the mutable current line (re-rendered every frame) small. */
const SOFT_LINE = 1 << 16;
const CONTROL = /[\r\b]/;

export const DEFAULT_LIMITS = Object.freeze({
    maxChars: 100000, /* characters rendered in the head of one output */
    maxLines: 2000, /* lines rendered in the head of one output */
    tailLines: 0, /* lines of the tail shown under the notice; 0: maxLines / 10 */
    tailChars: 0, /* 0: maxChars / 5 */
    maxRichChars: 2000000, /* "Show all" above this shows plain text, without ANSI processing */
});

export function resolveLimits(limits) {
    const l = { ...DEFAULT_LIMITS, ...(limits || {}) };
    l.maxChars = Math.max(1, l.maxChars | 0);
    l.maxLines = Math.max(1, l.maxLines | 0);
    if (!(l.tailLines > 0)) l.tailLines = Math.max(1, Math.floor(l.maxLines / 10));
    if (!(l.tailChars > 0)) l.tailChars = Math.max(1, Math.floor(l.maxChars / 5));
    return Object.freeze(l);
}

/* Number of '\n' in s[from, to). */
export function countNewlines(s, from = 0, to = s.length) {
    let n = 0;
    for (let i = s.indexOf('\n', from); i >= 0 && i < to; i = s.indexOf('\n', i + 1)) n++;
    return n;
}

/* CSI (colours, cursor moves, erase), OSC (hyperlinks, titles) and two-byte escapes. */
// eslint-disable-next-line no-control-regex
const ANSI_RE = /\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]/g;
export function stripAnsi(s) {
    return s.indexOf('\x1b') < 0 ? s : s.replace(ANSI_RE, '');
}

export class TextBuffer {
    constructor(text) {
        this._chunks = []; /* committed text, in order; ends at a '\n' except after a soft commit */
        this._len = 0; /* committed characters */
        this._nl = 0; /* '\n' in the committed text */
        this._cur = ''; /* the line being written: '\r' and '\b' may still change it */
        this._col = 0; /* cursor position in _cur */
        this._pend = null; /* committed pieces of the write in progress */
        this.version = 0; /* bumped by every write that changed something */
        if (text) this.write(text);
    }

    get length() {
        return this._len + this._cur.length;
    }
    get committedLength() {
        return this._len;
    }
    get committedNewlines() {
        return this._nl;
    }
    get current() {
        return this._cur;
    }
    /* Lines as a reader counts them: a final line without '\n' counts. */
    get lineCount() {
        return this._nl + (this._cur.length ? 1 : 0);
    }

    write(s) {
        if (typeof s !== 'string' || s.length === 0) return;
        this.version++;
        this._pend = [];
        if (!CONTROL.test(s)) {
            const last = s.lastIndexOf('\n');
            if (last < 0) {
                this._put(s);
            } else {
                const first = s.indexOf('\n');
                this._put(s.slice(0, first));
                this._pend.push(this._cur + s.slice(first, last + 1));
                this._cur = s.slice(last + 1);
                this._col = this._cur.length;
                this._soft();
            }
        } else {
            const re = /[\r\n\b]/g;
            let at = 0;
            for (let m = re.exec(s); m; m = re.exec(s)) {
                this._put(s.slice(at, m.index));
                const c = s.charCodeAt(m.index);
                if (c === 10) {
                    this._pend.push(this._cur + '\n');
                    this._cur = '';
                    this._col = 0;
                } else if (c === 13) {
                    this._col = 0; /* '\r\n' works out: the '\n' commits the whole line */
                } else if (this._col > 0) {
                    /* '\b' erases the character before the cursor, as JupyterLab does */
                    this._cur = this._cur.slice(0, this._col - 1) + this._cur.slice(this._col);
                    this._col--;
                }
                at = m.index + 1;
            }
            this._put(s.slice(at));
        }
        const pend = this._pend;
        this._pend = null;
        if (pend.length) this._commit(pend.length === 1 ? pend[0] : pend.join(''));
    }

    /* Write text without control characters at the cursor (overwriting, as a terminal does). */
    _put(seg) {
        if (!seg) return;
        if (this._col === this._cur.length) {
            this._cur += seg;
        } else {
            this._cur = this._cur.slice(0, this._col) + seg + this._cur.slice(this._col + seg.length);
        }
        this._col += seg.length;
        this._soft();
    }

    _soft() {
        if (this._cur.length > SOFT_LINE && this._col === this._cur.length) {
            this._pend.push(this._cur);
            this._cur = '';
            this._col = 0;
        }
    }

    _commit(piece) {
        this._chunks.push(piece);
        this._len += piece.length;
        this._nl += countNewlines(piece);
    }

    /* The whole text. Joins the pieces once and keeps the result, so saving twice costs once. */
    toString() {
        if (this._chunks.length > 1) this._chunks = [this._chunks.join('')];
        return (this._chunks.length ? this._chunks[0] : '') + this._cur;
    }

    /* Committed text from offset `from`, at most `max` characters. Walks back from the end, so it
     * is cheap for the recent text a view has not rendered yet. */
    readCommitted(from, max = Infinity) {
        const chunks = this._chunks;
        let end = this._len;
        let i = chunks.length - 1;
        if (from >= end || max <= 0) return '';
        while (i > 0 && end - chunks[i].length > from) end -= chunks[i--].length;
        let start = end - chunks[i].length;
        let need = Math.min(max, this._len - from);
        const parts = [];
        for (let pos = from; need > 0 && i < chunks.length; i++) {
            const c = chunks[i];
            const a = pos - start;
            const take = Math.min(c.length - a, need);
            parts.push(a === 0 && take === c.length ? c : c.slice(a, a + take));
            need -= take;
            pos += take;
            start += c.length;
        }
        return parts.length === 1 ? parts[0] : parts.join('');
    }

    /* The last `lines` lines (at most `chars` characters) of the text, not starting before
     * `minStart`. Returns {text, start, newlines}: start is the offset of text in the whole. */
    tail(lines, chars, minStart = 0) {
        const low = Math.max(minStart, this.length - chars, 0);
        /* a '\n' that ends the whole text ends the last line rather than starting one */
        let need = lines + (this._cur.length ? 0 : 1);
        let start = low;
        let end = this._len;
        search: for (let i = this._chunks.length - 1; i >= 0 && end > low; i--) {
            const c = this._chunks[i];
            const cs = end - c.length;
            for (let pos = c.length - 1; pos >= 0; ) {
                const j = c.lastIndexOf('\n', pos);
                if (j < 0 || cs + j < low) break;
                if (--need === 0) {
                    start = cs + j + 1;
                    break search;
                }
                pos = j - 1;
            }
            end = cs;
        }
        const text =
            start < this._len ? this.readCommitted(start) + this._cur : this._cur.slice(start - this._len);
        return { text, start, newlines: countNewlines(text) };
    }
}

/* ---- rendering ------------------------------------------------------------------------- */

function newAnsi() {
    const au = new AnsiUp();
    au.use_classes = true; /* palette from outputs.css, with contrast in both themes */
    au.escape_html = true;
    au.faintStyle = 'font-weight:lighter'; /* opacity would break colour contrast */
    return au;
}

/* ansi_up keeps the colour state across calls; the current line is rendered by a second
 * instance that starts from the first one's state, so re-rendering it does not disturb it. */
const ANSI_STATE = ['fg', 'bg', 'bold', 'faint', 'italic', 'underline', '_buffer'];
function copyAnsiState(from, to) {
    for (const k of ANSI_STATE) to[k] = from[k];
}

/* ansi_up only creates <a href> for OSC 8 hyperlinks with http(s) URLs (escaped); they open in
 * a new tab without access to this page. Every other '<' in its output is escaped. */
function ansiHtml(au, text) {
    const html = au.ansi_to_html(text);
    return html.indexOf('<a ') < 0
        ? html
        : html.replaceAll('<a href=', '<a target="_blank" rel="noopener noreferrer" href=');
}

export function ansiToHtml(text) {
    return ansiHtml(newAnsi(), text);
}

const nf = new Intl.NumberFormat('en-US');
function formatSize(chars) {
    if (chars < 10000) return `${nf.format(chars)} characters`;
    if (chars < 1e6) return `${(chars / 1e3).toFixed(0)} K characters`;
    return `${(chars / 1e6).toFixed(1)} M characters`;
}

export class TextView {
    /* host: element to fill; buf: a TextBuffer; opts: {limits (resolved), ansi = true,
     * filename = 'output.txt'} */
    constructor(host, buf, opts) {
        this.host = host;
        this.buf = buf;
        this.limits = opts.limits;
        this.ansi = opts.ansi !== false;
        this.filename = opts.filename || 'output.txt';
        const doc = host.ownerDocument;
        this.doc = doc;
        this.pre = doc.createElement('pre');
        this.pre.className = 'output-text';
        this.cur = doc.createElement('span');
        this.cur.className = 'output-cur';
        this.pre.appendChild(this.cur);
        host.appendChild(this.pre);
        this.au = newAnsi();
        this.auCur = null;
        this.mode = 'head'; /* 'head': bounded; 'all': everything with ANSI; 'plain': everything as text */
        this.done = 0; /* committed offset rendered into the head */
        this.headLines = 0;
        this.full = false; /* the head is full: new text goes to the tail */
        this.lastCur = null;
        this.tailVersion = -1;
        this.notice = null;
        this.msg = null;
        this.tailPre = null;
    }

    /* Render what changed since the last call. */
    update() {
        const buf = this.buf;
        const lim = this.limits;
        if (this.mode !== 'head') {
            if (buf.committedLength > this.done) {
                this._append(buf.readCommitted(this.done));
                this.done = buf.committedLength;
            }
            this._renderCur(buf.current);
            return;
        }
        if (!this.full) {
            const avail = buf.committedLength - this.done;
            if (avail > 0) {
                const room = lim.maxChars - this.done;
                const text = buf.readCommitted(this.done, Math.min(avail, room));
                let cut = text.length;
                const roomLines = lim.maxLines - this.headLines;
                let n = 0;
                for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) {
                    if (++n === roomLines) {
                        cut = i + 1;
                        break;
                    }
                }
                if (cut < avail) this.full = true;
                const part = cut === text.length ? text : text.slice(0, cut);
                this._append(part);
                this.done += cut;
                this.headLines += countNewlines(part);
            }
            if (!this.full) {
                const cur = buf.current;
                if (cur.length > lim.maxChars - this.done || (cur && this.headLines >= lim.maxLines)) {
                    this.full = true;
                } else {
                    this._renderCur(cur);
                }
            }
            if (this.full) this._renderCur('');
        }
        if (this.full) this._renderTail();
    }

    _append(text) {
        if (!text) return;
        if (this.ansi && this.mode !== 'plain') {
            this.cur.insertAdjacentHTML('beforebegin', ansiHtml(this.au, text));
        } else {
            const t = this.mode === 'plain' ? stripAnsi(text) : text;
            this.pre.insertBefore(this.doc.createTextNode(t), this.cur);
        }
    }

    _renderCur(cur) {
        if (cur === this.lastCur) return;
        this.lastCur = cur;
        if (!cur) {
            this.cur.textContent = '';
        } else if (this.ansi && this.mode !== 'plain') {
            if (!this.auCur) this.auCur = newAnsi();
            copyAnsiState(this.au, this.auCur);
            this.cur.innerHTML = ansiHtml(this.auCur, cur);
        } else {
            this.cur.textContent = this.mode === 'plain' ? stripAnsi(cur) : cur;
        }
    }

    _renderTail() {
        const buf = this.buf;
        if (this.tailVersion === buf.version) return;
        this.tailVersion = buf.version;
        const t = buf.tail(this.limits.tailLines, this.limits.tailChars, this.done);
        const hiddenChars = t.start - this.done;
        const hiddenLines = Math.max(0, buf.committedNewlines - this.headLines - t.newlines);
        if (hiddenChars > 0) {
            this._ensureNotice();
            const what =
                hiddenLines > 0
                    ? `${nf.format(hiddenLines)} line${hiddenLines === 1 ? '' : 's'} (${formatSize(hiddenChars)})`
                    : formatSize(hiddenChars);
            this.msg.textContent = `Output truncated: ${what} hidden.`;
        }
        if (!this.tailPre) {
            this.tailPre = this.doc.createElement('pre');
            this.tailPre.className = 'output-text output-tail';
            this.host.appendChild(this.tailPre);
        }
        if (!t.text) this.tailPre.textContent = '';
        else if (this.ansi) this.tailPre.innerHTML = ansiToHtml(t.text);
        else this.tailPre.textContent = t.text;
    }

    _ensureNotice() {
        if (this.notice) return;
        const doc = this.doc;
        const n = doc.createElement('div');
        n.className = 'output-truncated';
        this.msg = doc.createElement('span');
        this.msg.className = 'output-truncated-msg';
        const all = doc.createElement('button');
        all.type = 'button';
        all.className = 'output-show-all';
        all.textContent = 'Show all';
        all.addEventListener('click', () => this.expand());
        const dl = doc.createElement('button');
        dl.type = 'button';
        dl.className = 'output-download';
        dl.textContent = 'Download';
        dl.addEventListener('click', () => this.download());
        n.append(this.msg, all, dl);
        this.pre.after(n);
        this.notice = n;
        this.showAll = all;
    }

    /* Show everything: with ANSI up to limits.maxRichChars, as plain text above. Text that arrives
     * later is appended as it comes. */
    expand() {
        if (this.mode !== 'head') return;
        const buf = this.buf;
        this.mode = this.ansi && buf.length > this.limits.maxRichChars ? 'plain' : 'all';
        this.pre.replaceChildren(this.cur);
        this.au = newAnsi();
        this.lastCur = null;
        this.done = 0;
        this.full = false;
        if (this.tailPre) this.tailPre.remove();
        this.tailPre = null;
        this.update();
        if (this.mode === 'plain') {
            this.showAll.remove();
            this.msg.textContent = `Showing all ${formatSize(buf.length)} as plain text, without colours.`;
        } else if (this.notice) {
            this.notice.remove();
            this.notice = null;
        }
        /* the focused button went away: keep keyboard users where they were */
        this.pre.tabIndex = -1;
        this.pre.focus?.({ preventScroll: true });
    }

    download() {
        const win = this.doc.defaultView;
        const blob = new win.Blob([stripAnsi(this.buf.toString())], { type: 'text/plain;charset=utf-8' });
        const url = win.URL.createObjectURL(blob);
        const a = this.doc.createElement('a');
        a.href = url;
        a.download = this.filename;
        a.hidden = true;
        this.host.appendChild(a);
        a.click();
        a.remove();
        win.setTimeout(() => win.URL.revokeObjectURL(url), 10000); /* the download has started by then */
    }
}
