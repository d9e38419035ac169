/* Markdown and LaTeX rendering: marked (GFM) with math tokens ($..$, $$..$$, \(..\), \[..\],
 * \begin{env}..\end{env}) typeset by KaTeX, then DOMPurify (sanitize.js). KaTeX (~80 KB gzip) is
 * loaded with import('katex') the first time a text really contains math, never before; its CSS
 * is added as a <link> at that moment (setKatexCss). Math is found by marked's own lexer
 * (inline/block extensions), so dollars inside code spans and code blocks stay text.
 *
 * Used by markdown cells (the notebook view) and by text/markdown and text/latex outputs. Completes
 * synchronously only once marked is loaded (after the first render). */

import { sanitizeHtml } from './sanitize.js';

let katex = null;
let katexLoading = null;
let katexRequested = false;
let katexCss = 'static/katex/katex.min.css';

/* URL of katex.min.css (relative to the page's <base>), or null to add no stylesheet. */
export function setKatexCss(url) {
    katexCss = url;
}

/* For tests and diagnostics: whether KaTeX was asked for and whether it is loaded. */
export function katexState() {
    return { requested: katexRequested, loaded: katex !== null };
}

export function loadKatex() {
    if (katex) return Promise.resolve(katex);
    if (!katexLoading) {
        katexRequested = true;
        katexLoading = import('katex').then(
            (m) => {
                katex = m.default || m;
                addKatexCss();
                return katex;
            },
            (e) => {
                katexLoading = null; /* try again next time (a network hiccup) */
                throw e;
            },
        );
    }
    return katexLoading;
}

function addKatexCss() {
    const doc = globalThis.document;
    if (!katexCss || !doc || !doc.head || doc.querySelector('link[data-katex-css]')) return;
    const link = doc.createElement('link');
    link.rel = 'stylesheet';
    link.href = katexCss;
    link.dataset.katexCss = '';
    doc.head.appendChild(link);
}

function escapeHtml(s) {
    return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}

/* ---- finding math ------------------------------------------------------------------------ */

const DISPLAY_DOLLARS = /^\$\$([\s\S]+?)\$\$/;
const INLINE_DOLLAR = /^\$((?:\\[\s\S]|[^\\$])+?)\$/;
const PAREN = /^\\\(([\s\S]+?)\\\)/;
const BRACKET = /^\\\[([\s\S]+?)\\\]/;
const ENV = /^\\begin\{([a-zA-Z]+\*?)\}[\s\S]*?\\end\{\1\}/;

/* Math at the start of src: {raw, tex, display} or null. Inline $..$ follows pandoc's rule so
 * prices stay text: no space after the opening $, none before the closing one, no digit after
 * it, no blank line inside. */
export function matchMath(src) {
    const c0 = src.charCodeAt(0);
    let m;
    if (c0 === 36 /* $ */) {
        if (src.charCodeAt(1) === 36) {
            m = DISPLAY_DOLLARS.exec(src);
            return m && m[1].trim() ? { raw: m[0], tex: m[1], display: true } : null;
        }
        m = INLINE_DOLLAR.exec(src);
        if (!m) return null;
        const tex = m[1];
        if (/^\s/.test(tex) || /\s$/.test(tex) || /\n\s*\n/.test(tex)) return null;
        const after = src.charCodeAt(m[0].length);
        if (after >= 48 && after <= 57) return null;
        return { raw: m[0], tex, display: false };
    }
    if (c0 !== 92 /* \ */) return null;
    if ((m = PAREN.exec(src))) return { raw: m[0], tex: m[1], display: false };
    if ((m = BRACKET.exec(src))) return { raw: m[0], tex: m[1], display: true };
    if ((m = ENV.exec(src))) return { raw: m[0], tex: m[0], display: true };
    return null;
}

const MATH_START = /\$|\\\(|\\\[|\\begin\{/;

export function typeset(tex, display, raw) {
    if (!katex) return `<span class="math-raw">${escapeHtml(raw ?? tex)}</span>`;
    const html = katex.renderToString(tex, {
        displayMode: display,
        throwOnError: false,
        errorColor: 'var(--error-fg, #b00020)',
        strict: 'ignore',
        trust: false,
        maxExpand: 1000,
    });
    /* DOMPurify drops <semantics>/<annotation> but keeps their text, which would put the TeX
     * source inside the MathML that screen readers read: remove the annotation first */
    return html.replace(/<annotation encoding="application\/x-tex">[^<]*<\/annotation>/g, '');
}

const mathExtensions = [
    {
        name: 'mathBlock',
        level: 'block',
        tokenizer(src) {
            const m = /^ {0,3}(?=\$\$|\\\[|\\begin\{)/.exec(src);
            if (!m) return undefined;
            const r = matchMath(src.slice(m[0].length));
            if (!r || !r.display) return undefined;
            const rest = /^[ \t]*(?:\n+|$)/.exec(src.slice(m[0].length + r.raw.length));
            if (!rest) return undefined;
            return { type: 'mathBlock', raw: m[0] + r.raw + rest[0], tex: r.tex, display: true, src: r.raw };
        },
        renderer(t) {
            return `<div class="math-block">${typeset(t.tex, true, t.src)}</div>\n`;
        },
    },
    {
        name: 'mathInline',
        level: 'inline',
        start(src) {
            const i = src.search(MATH_START);
            return i < 0 ? undefined : i;
        },
        tokenizer(src) {
            const r = matchMath(src);
            if (!r) return undefined;
            return { type: 'mathInline', raw: r.raw, tex: r.tex, display: r.display };
        },
        renderer(t) {
            return typeset(t.tex, t.display, t.raw);
        },
    },
];

/* marked builds its rule tables when its module is evaluated (tens of ms): it is imported on
 * the first render, not with the notebook view, so opening a notebook does not wait for it */
let md = null;
let mdLoading = null;
export function loadMarkdown() {
    if (!mdLoading) mdLoading = import('marked').then(({ Marked }) => (md = makeMarked(Marked)));
    return mdLoading;
}

function makeMarked(Marked) {
    const m = new Marked({ gfm: true, breaks: false });
    m.use(markedOptions);
    return m;
}

const markedOptions = {
    extensions: mathExtensions,
    renderer: {
        /* GFM task lists: marked writes <input type=checkbox>, which the sanitiser drops (and
         * which would be an unlabelled control); a symbol with a label says the same */
        checkbox({ checked }) {
            return checked
                ? '<span class="md-task" role="img" aria-label="done">\u2611</span> '
                : '<span class="md-task" role="img" aria-label="not done">\u2610</span> ';
        },
    },
};

const renders = new WeakMap(); /* element -> number of its latest render (late results lose) */

/* Render Markdown into element (replacing its content). Once marked is loaded, completes synchronously when the text
 * has no math or KaTeX is already loaded; otherwise after KaTeX is loaded (raw TeX if that
 * fails). */
export async function renderMarkdown(text, element) {
    const seq = (renders.get(element) || 0) + 1;
    renders.set(element, seq);
    const src = Array.isArray(text) ? text.join('') : String(text ?? '');
    if (!md) {
        await loadMarkdown();
        if (renders.get(element) !== seq) return;
    }
    const tokens = md.lexer(src);
    if (!katex) {
        let math = false;
        if (MATH_START.test(src)) {
            md.walkTokens(tokens, (t) => {
                if (t.type === 'mathInline' || t.type === 'mathBlock') math = true;
            });
        }
        if (math) {
            try {
                await loadKatex();
            } catch {
                /* shown as raw TeX */
            }
            if (renders.get(element) !== seq) return;
        }
    }
    element.innerHTML = sanitizeHtml(md.parser(tokens));
    element.classList.add('rendered-markdown');
}

/* Split text into text and math parts (for text/latex values). */
export function splitMath(text) {
    const parts = [];
    const re = /\\\$|\$|\\\(|\\\[|\\begin\{/g;
    let last = 0;
    for (let m = re.exec(text); m; m = re.exec(text)) {
        if (m[0] === '\\$') continue;
        const r = matchMath(text.slice(m.index));
        if (!r) continue;
        if (m.index > last) parts.push({ text: text.slice(last, m.index) });
        parts.push({ tex: r.tex, display: r.display, raw: r.raw });
        last = m.index + r.raw.length;
        re.lastIndex = last;
    }
    if (last < text.length) parts.push({ text: text.slice(last) });
    return parts;
}

/* Render a text/latex value: math between delimiters typeset (a value that is all one formula,
 * or has no delimiters at all, is display math as in Jupyter), the rest as text. */
export async function renderLatex(text, element) {
    const seq = (renders.get(element) || 0) + 1;
    renders.set(element, seq);
    const src = (Array.isArray(text) ? text.join('') : String(text ?? '')).trim();
    let parts = splitMath(src);
    if (!parts.some((p) => p.tex !== undefined)) parts = [{ tex: src, display: true, raw: src }];
    if (!katex) {
        try {
            await loadKatex();
        } catch {
            /* shown as raw TeX */
        }
        if (renders.get(element) !== seq) return;
    }
    const html = parts
        .map((p) => (p.tex !== undefined ? typeset(p.tex, p.display, p.raw) : escapeHtml(p.text)))
        .join('');
    element.innerHTML = sanitizeHtml(html);
}
