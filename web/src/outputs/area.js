/* The output area of one code cell: the model of its outputs (nbformat 4) and their DOM.
 * Takes outputs from a loaded notebook (setOutputs) or from IOPub messages (handle), gives them
 * back for saving (toJSON). Rendering is batched: handle() only updates the model and marks the
 * output; the DOM is updated at most once per animation frame per area (requestAnimationFrame,
 * with a timer as fallback for hidden tabs), so a kernel that streams thousands of messages a
 * second costs one bounded render per frame.
 *
 * What it keeps for saving: outputs loaded from a file and not changed since are given back as
 * they came (every key, arrays of lines included), so a notebook re-saves byte-identical.
 * Changed or new outputs are written in nbformat's key order; transient fields never are.
 *
 * Does not route messages: the notebook view passes only messages whose parent is this cell's
 * execute_request. A DisplayRegistry, one per notebook, links display ids to outputs in every
 * area for update_display_data. */

import { TextBuffer, TextView, resolveLimits, stripAnsi } from './text.js';
import { renderBundle, textOf } from './mime.js';

const clone = (v) => (v === undefined ? undefined : structuredClone(v));

/* display_id -> the outputs showing it, in any area of the notebook. */
export class DisplayRegistry {
    constructor() {
        this._map = new Map();
    }
    register(id, output) {
        let set = this._map.get(id);
        if (!set) this._map.set(id, (set = new Set()));
        set.add(output);
    }
    unregister(id, output) {
        const set = this._map.get(id);
        if (!set) return;
        set.delete(output);
        if (!set.size) this._map.delete(id);
    }
    /* Number of outputs showing display_id. */
    count(id) {
        return this._map.get(id)?.size ?? 0;
    }
    /* Replace data and metadata of every output showing display_id. Returns how many. */
    update(id, data, metadata) {
        const set = this._map.get(id);
        if (!set) return 0;
        for (const out of [...set]) out.area._updateDisplay(out, data, metadata);
        return set.size;
    }
}

/* One output: its model fields, the object it was loaded from (raw), its element and view. */
class Output {
    constructor(area, type) {
        this.area = area;
        this.type = type;
        this.raw = null; /* the loaded nbformat object, or null for outputs from the kernel */
        this.changed = true; /* differs from raw */
        this.el = null;
        this.view = null; /* TextView of its text, if any */
        this.rebuild = false;
        this.displayId = null;
    }
}

function newOutput(area, type, c) {
    const o = new Output(area, type);
    switch (type) {
        case 'stream':
            o.name = typeof c.name === 'string' ? c.name : 'stdout';
            o.buf = new TextBuffer(textOf(c.text));
            break;
        case 'execute_result':
            o.executionCount = c.execution_count ?? null;
        /* fall through */
        case 'display_data':
            o.data = clone(c.data) || {};
            o.metadata = clone(c.metadata) || {};
            break;
        case 'error':
            o.ename = String(c.ename ?? '');
            o.evalue = String(c.evalue ?? '');
            o.traceback = Array.isArray(c.traceback) ? c.traceback.map(String) : [];
            break;
        default:
            break;
    }
    return o;
}

function outputJSON(o) {
    if (o.raw && !o.changed) return clone(o.raw);
    const j = o.raw ? clone(o.raw) : { output_type: o.type };
    switch (o.type) {
        case 'stream':
            j.name = o.name;
            j.text = o.buf.toString();
            break;
        case 'execute_result':
            j.execution_count = o.executionCount;
        /* fall through */
        case 'display_data':
            j.data = clone(o.data);
            j.metadata = clone(o.metadata);
            break;
        case 'error':
            j.ename = o.ename;
            j.evalue = o.evalue;
            j.traceback = o.traceback.slice();
            break;
        default:
            break;
    }
    return j;
}

export class OutputArea {
    /* container: the element to fill. displays: the notebook's DisplayRegistry (a private one if
     * absent). onChange(): called after every change of the outputs from the kernel (not by
     * setOutputs). limits: {maxChars, maxLines, tailLines, tailChars, maxRichChars}. */
    constructor(container, { displays, onChange, limits } = {}) {
        this.node = container;
        this.doc = container.ownerDocument;
        container.classList.add('output-area');
        this._displays = displays || new DisplayRegistry();
        this._onChange = typeof onChange === 'function' ? onChange : () => {};
        this._limits = resolveLimits(limits);
        this._outputs = [];
        this._dirty = new Set();
        this._stale = []; /* elements of outputs cleared by clear(true), removed at the next render */
        this._clearNext = false;
        this._holdHeight = false;
        this._frame = 0;
        this._timer = 0;
        this._pending = new Set(); /* async renders (Markdown, LaTeX) in flight */
        this._disposed = false;
    }

    get length() {
        return this._outputs.length;
    }

    /* nbformat 4 outputs (e.g. from a loaded .ipynb). Replaces everything and renders now. */
    setOutputs(outputs) {
        this._reset();
        this._dropStale();
        this._release();
        for (const j of Array.isArray(outputs) ? outputs : []) {
            if (!j || typeof j !== 'object') continue;
            const o = newOutput(this, String(j.output_type), j);
            o.raw = clone(j);
            o.changed = false;
            this._outputs.push(o);
            this._render(o);
        }
    }

    /* An IOPub message. Returns true if it was an output message (handled). */
    handle(msg) {
        if (this._disposed || !msg) return false;
        const type = msg.header?.msg_type ?? msg.msg_type;
        const c = msg.content || {};
        switch (type) {
            case 'stream':
                this._stream(typeof c.name === 'string' ? c.name : 'stdout', textOf(c.text));
                return true;
            case 'display_data':
            case 'execute_result':
            case 'error':
                this._add(newOutput(this, type, c), c.transient?.display_id);
                return true;
            case 'update_display_data': {
                const id = c.transient?.display_id;
                if (id != null) this._displays.update(String(id), c.data, c.metadata);
                return true;
            }
            case 'clear_output':
                this.clear(!!c.wait);
                return true;
            default:
                return false;
        }
    }

    /* Clear now, or (wait) when the next output arrives: until then the old outputs stay, and the
     * area keeps its height until the new output is drawn, so nothing jumps. */
    clear(wait = false) {
        if (wait) {
            if (!this._outputs.length) return;
            this._clearNext = true;
            const h = this.node.getBoundingClientRect?.().height || 0;
            if (h > 0) this.node.style.minHeight = `${h}px`;
            this._holdHeight = true;
            return;
        }
        const had = this._outputs.length > 0;
        this._reset();
        this._dropStale();
        this._release();
        if (had) this._onChange();
    }

    /* nbformat 4 outputs for saving. */
    toJSON() {
        return this._outputs.map(outputJSON);
    }

    /* Render pending changes now instead of at the next frame. */
    flush() {
        this._cancelFrame();
        if (this._disposed) return;
        this._dropStale();
        for (const o of this._dirty) this._render(o);
        this._dirty.clear();
        if (!this._clearNext) this._release();
    }

    /* Resolves once pending changes are rendered, Markdown and LaTeX included. */
    async whenRendered() {
        this.flush();
        while (this._pending.size) await Promise.all([...this._pending]);
    }

    dispose() {
        this._cancelFrame();
        this._reset();
        this._dropStale();
        this._release();
        this._disposed = true;
    }

    /* ---- internals ---- */

    _reset() {
        for (const o of this._outputs) {
            if (o.displayId != null) this._displays.unregister(o.displayId, o);
            if (o.el) this._stale.push(o.el);
        }
        this._outputs = [];
        this._dirty.clear();
        this._clearNext = false;
    }

    _dropStale() {
        for (const el of this._stale) el.remove();
        this._stale = [];
    }

    _release() {
        if (this._holdHeight) {
            this.node.style.minHeight = '';
            this._holdHeight = false;
        }
    }

    _beforeOutput() {
        if (this._clearNext) this._reset(); /* old elements go at the next render, not before */
    }

    _stream(name, text) {
        this._beforeOutput();
        const last = this._outputs[this._outputs.length - 1];
        if (last && last.type === 'stream' && last.name === name) {
            last.buf.write(text);
            last.changed = true;
            this._mark(last);
        } else {
            const o = newOutput(this, 'stream', { name, text });
            this._outputs.push(o);
            this._mark(o);
        }
        this._onChange();
    }

    _add(o, displayId) {
        this._beforeOutput();
        if (displayId != null) {
            o.displayId = String(displayId);
            this._displays.register(o.displayId, o);
        }
        this._outputs.push(o);
        this._mark(o);
        this._onChange();
    }

    _updateDisplay(o, data, metadata) {
        o.data = clone(data) || {};
        o.metadata = clone(metadata) || {};
        o.changed = true;
        o.rebuild = true;
        this._mark(o);
        this._onChange();
    }

    _mark(o) {
        this._dirty.add(o);
        if (this._frame || this._timer) return;
        const win = this.doc.defaultView || globalThis;
        const run = () => this.flush();
        if (typeof win.requestAnimationFrame === 'function') this._frame = win.requestAnimationFrame(run);
        /* rAF does not fire in background tabs; the timer keeps the DOM from lagging far behind */
        this._timer = win.setTimeout(run, 250);
    }

    _cancelFrame() {
        const win = this.doc.defaultView || globalThis;
        if (this._frame) win.cancelAnimationFrame?.(this._frame);
        if (this._timer) win.clearTimeout(this._timer);
        this._frame = 0;
        this._timer = 0;
    }

    _render(o) {
        if (!this._outputs.includes(o)) return; /* cleared meanwhile */
        if (o.el && !o.rebuild) {
            o.view?.update();
            return;
        }
        let el = o.el;
        if (!el) {
            el = o.el = this.doc.createElement('div');
            this.node.appendChild(el);
        } else {
            el.replaceChildren();
            el.removeAttribute('data-mime');
        }
        o.rebuild = false;
        o.view = null;
        el.className = `output output-${o.type.replace(/[^a-z_]/g, '')}`;
        el.dataset.outputType = o.type;
        const ctx = { limits: this._limits, track: (p) => this._track(p) };
        switch (o.type) {
            case 'stream':
                if (/^[a-z]+$/.test(o.name)) el.classList.add(`stream-${o.name}`);
                el.dataset.name = o.name;
                o.view = new TextView(el, o.buf, { limits: this._limits, filename: `${o.name}.txt` });
                o.view.update();
                break;
            case 'display_data':
            case 'execute_result':
                o.view = renderBundle(el, o.data, o.metadata, ctx).view;
                break;
            case 'error':
                this._renderError(o, el);
                break;
            default: {
                const note = this.doc.createElement('div');
                note.className = 'output-unsupported';
                note.textContent = `Unsupported output type: ${o.type}`;
                el.appendChild(note);
            }
        }
    }

    _renderError(o, el) {
        const tb = o.traceback.join('\n');
        /* kernels usually repeat "ename: evalue" in the traceback; show it only when they don't */
        if (o.ename && !stripAnsi(tb).includes(o.ename)) {
            const head = this.doc.createElement('div');
            head.className = 'output-error-header';
            const name = this.doc.createElement('strong');
            name.textContent = o.ename;
            head.append(name, o.evalue ? `: ${o.evalue}` : '');
            el.appendChild(head);
        }
        if (tb) {
            o.view = new TextView(el, new TextBuffer(tb), { limits: this._limits, filename: 'traceback.txt' });
            o.view.update();
        }
    }

    _track(p) {
        this._pending.add(p);
        p.finally(() => this._pending.delete(p));
    }
}
