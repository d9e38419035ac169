/* Renderers for mime bundles (the data of display_data / execute_result outputs): picks the
 * richest type present and renders only that one into the output's element, setting data-mime.
 *
 * Choices:
 * - image/svg+xml is shown as <img src="data:image/svg+xml,..."> of the SVG text, not inlined.
 *   An SVG used as an image runs no script, fires no handlers, loads nothing external and cannot
 *   touch the page's CSS or ids (inline SVGs of two plots with the same ids, as gnuplot and
 *   matplotlib write them, break each other's clip paths and gradients). JupyterLab does the same.
 *   sanitizeSvg() is there for inline use elsewhere.
 * - text/html goes through sanitizeHtml and sits in a container with CSS containment, so
 *   position:fixed in an output stays inside it.
 * - application/javascript is never run; a bundle with nothing else says so.
 * Does not keep state: OutputArea owns the model and calls renderBundle again on updates. */

import { TextBuffer, TextView } from './text.js';
import { sanitizeHtml } from './sanitize.js';
import { renderMarkdown, renderLatex } from './markdown.js';

export const MIME_ORDER = Object.freeze([
    'text/html',
    'image/svg+xml',
    'image/png',
    'image/jpeg',
    'image/gif',
    'text/markdown',
    'text/latex',
    'application/json',
    'text/plain',
]);

/* Values of text mime types may be arrays of lines in .ipynb files; JSON ones are objects. */
export function isJsonMime(mime) {
    return mime === 'application/json' || /\+json$/.test(mime);
}

export function textOf(v) {
    if (Array.isArray(v)) return v.join('');
    if (typeof v === 'string') return v;
    return v == null ? '' : String(v);
}

export function pickMime(data) {
    if (!data || typeof data !== 'object') return null;
    for (const m of MIME_ORDER) if (data[m] !== undefined && data[m] !== null) return m;
    for (const m of Object.keys(data)) if (isJsonMime(m)) return m;
    for (const m of Object.keys(data)) if (m.startsWith('text/') && m !== 'text/javascript') return m;
    return null;
}

function imageSize(img, metadata, mime) {
    const md = (metadata && (metadata[mime] || metadata)) || {};
    for (const k of ['width', 'height']) {
        const v = Number(md[k]);
        if (Number.isFinite(v) && v > 0) img.setAttribute(k, String(Math.round(v)));
    }
    if (md.unconfined) img.classList.add('unconfined');
}

function altText(data, mime) {
    const plain = data['text/plain'] !== undefined ? textOf(data['text/plain']).trim() : '';
    if (plain) return plain.length > 200 ? plain.slice(0, 199) + '\u2026' : plain;
    return mime === 'image/svg+xml' ? 'SVG image output' : `${mime.slice(6).toUpperCase()} image output`;
}

function jsonSummary(v) {
    if (Array.isArray(v)) return `JSON array (${v.length} item${v.length === 1 ? '' : 's'})`;
    if (v && typeof v === 'object') {
        const n = Object.keys(v).length;
        return `JSON object (${n} key${n === 1 ? '' : 's'})`;
    }
    return 'JSON value';
}

function askFirst(el, before, what, show) {
    const doc = el.ownerDocument;
    const n = doc.createElement('div');
    n.className = 'output-truncated';
    const msg = doc.createElement('span');
    msg.textContent = `Large output (${what}) not shown.`;
    const b = doc.createElement('button');
    b.type = 'button';
    b.textContent = 'Show it';
    b.addEventListener('click', () => {
        n.remove();
        show();
    });
    n.append(msg, b);
    el.insertBefore(n, before);
}

/* Render the bundle into el. ctx: {limits, track(promise)}. Returns {mime, view} where view is a
 * TextView for text renderers (so the area can drop it) or null. */
export function renderBundle(el, data, metadata, ctx) {
    data = data || {};
    const mime = pickMime(data);
    const doc = el.ownerDocument;
    if (!mime) {
        const keys = Object.keys(data);
        el.removeAttribute('data-mime');
        const note = doc.createElement('div');
        note.className = 'output-unsupported';
        note.textContent = keys.includes('application/javascript')
            ? 'JavaScript output is not run (outputs are sanitised).'
            : keys.length
              ? `No renderer for ${keys.join(', ')}.`
              : 'Empty output.';
        el.appendChild(note);
        return { mime: null, view: null };
    }
    el.dataset.mime = mime;
    const value = data[mime];
    switch (mime) {
        case 'text/html': {
            const div = doc.createElement('div');
            div.className = 'output-html';
            el.appendChild(div);
            const html = textOf(value);
            const show = () => {
                div.innerHTML = sanitizeHtml(html);
            };
            /* sanitising and laying out megabytes of HTML would stall the page: ask first */
            if (html.length > ctx.limits.maxRichChars) askFirst(el, div, `${(html.length / 1e6).toFixed(1)} MB of HTML`, show);
            else show();
            return { mime, view: null };
        }
        case 'image/svg+xml':
        case 'image/png':
        case 'image/jpeg':
        case 'image/gif': {
            const img = doc.createElement('img');
            const text = textOf(value);
            img.src =
                mime === 'image/svg+xml'
                    ? 'data:image/svg+xml;charset=utf-8,' + encodeURIComponent(text)
                    : `data:${mime};base64,` + text.replace(/\s+/g, '');
            img.alt = altText(data, mime);
            imageSize(img, metadata, mime);
            const div = doc.createElement('div');
            div.className = 'output-image';
            div.appendChild(img);
            el.appendChild(div);
            return { mime, view: null };
        }
        case 'text/markdown':
        case 'text/latex': {
            const div = doc.createElement('div');
            div.className = mime === 'text/markdown' ? 'output-markdown' : 'output-latex';
            el.appendChild(div);
            const p = (mime === 'text/markdown' ? renderMarkdown : renderLatex)(textOf(value), div).catch((e) => {
                div.textContent = textOf(value);
                div.title = String(e && e.message);
            });
            ctx.track?.(p);
            return { mime, view: null };
        }
        default:
            break;
    }
    if (isJsonMime(mime)) {
        let json;
        try {
            json = typeof value === 'string' ? JSON.stringify(JSON.parse(value), null, 2) : JSON.stringify(value, null, 2);
        } catch {
            json = textOf(value);
        }
        const details = doc.createElement('details');
        details.className = 'output-json';
        const summary = doc.createElement('summary');
        summary.textContent = jsonSummary(value);
        details.appendChild(summary);
        el.appendChild(details);
        const view = new TextView(details, new TextBuffer(json ?? 'undefined'), {
            limits: ctx.limits,
            ansi: false,
            filename: 'output.json',
        });
        view.update();
        return { mime, view };
    }
    /* text/plain and other text types: ANSI colours as JupyterLab does */
    const view = new TextView(el, new TextBuffer(textOf(value)), { limits: ctx.limits });
    view.update();
    return { mime, view };
}
