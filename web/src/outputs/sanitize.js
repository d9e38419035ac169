/* Sanitising of HTML and SVG that comes from notebooks and kernels (DOMPurify). The trust model:
 * nothing in an output or a Markdown cell runs script; every notebook is untrusted. So: no
 * <script>, no event handler attributes, no javascript:/data: links, no <style> (it would restyle
 * the whole app), no forms or inputs (a fake login form is phishing), no <base>/<meta>/<link>,
 * no autofocus; ids and names get a "user-content-" prefix so an output cannot clobber globals
 * (window.x) or the app's own ids. External links open in a new tab with rel="noopener
 * noreferrer". Used by the output renderers and renderMarkdown; does not render anything itself.
 *
 * DOMPurify needs a window: the first call binds a private instance (its hooks do not leak into
 * other users of DOMPurify) to globalThis.window. */

import DOMPurify from 'dompurify';

let purify = null;

const HTML_CONFIG = Object.freeze({
    FORBID_TAGS: ['style', 'form', 'input', 'button', 'textarea', 'select', 'option', 'optgroup',
        'base', 'link', 'meta', 'dialog'],
    FORBID_ATTR: ['action', 'formaction', 'autofocus', 'srcdoc'],
    SANITIZE_NAMED_PROPS: true,
});

const SVG_CONFIG = Object.freeze({
    USE_PROFILES: { svg: true, svgFilters: true },
    FORBID_TAGS: ['style'],
});

function isExternal(href, win) {
    if (href.startsWith('//')) return true;
    if (!/^[a-z][a-z0-9+.-]*:/i.test(href)) return false; /* relative: stays in the app */
    try {
        const u = new URL(href, win.document.baseURI);
        return (u.protocol === 'http:' || u.protocol === 'https:') && u.origin !== win.location.origin;
    } catch {
        return false;
    }
}

function instance() {
    if (purify) return purify;
    const win = globalThis.window;
    if (!win || !win.document) throw new Error('sanitize: no window (DOMPurify needs a DOM)');
    purify = DOMPurify(win);
    purify.addHook('afterSanitizeAttributes', (node) => {
        if (node.nodeName !== 'A' && node.nodeName !== 'a' && node.nodeName !== 'AREA') return;
        const href = node.getAttribute('href');
        if (href && isExternal(href.trim(), win)) {
            node.setAttribute('target', '_blank');
            node.setAttribute('rel', 'noopener noreferrer');
        } else {
            node.removeAttribute('target');
        }
    });
    return purify;
}

/* Untrusted HTML (text/html outputs, Markdown after marked) -> safe HTML string. */
export function sanitizeHtml(html) {
    return instance().sanitize(String(html ?? ''), HTML_CONFIG);
}

/* Untrusted SVG -> a safe SVG string for inline use (scripts, handlers, foreignObject, external
 * references gone). Note: the output renderer itself shows SVG through an <img> (see mime.js). */
export function sanitizeSvg(svg) {
    const s = String(svg ?? '')
        .replace(/^\s*<\?xml[^>]*\?>/i, '')
        .replace(/<!DOCTYPE[^>[]*(\[[^\]]*\])?[^>]*>/i, '');
    return instance().sanitize(s, SVG_CONFIG);
}
