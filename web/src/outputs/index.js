/* Output rendering for the notebook: entry point of web/src/outputs/.
 *
 * API (what the notebook view calls):
 *
 *   new OutputArea(container, { displays, onChange, limits } = {})
 *       container: HTMLElement the area fills (gets class "output-area"; one div.output per
 *       output, with data-output-type and, for display_data/execute_result, data-mime).
 *       displays: the notebook's DisplayRegistry (one per notebook). onChange(): called after
 *       each change caused by handle()/clear() (marks the notebook dirty); not by setOutputs.
 *       limits: {maxChars = 100000, maxLines = 2000, tailLines, tailChars,
 *       maxRichChars = 2000000} (see text.js).
 *     .setOutputs(outputs)   nbformat 4 outputs array (text may be arrays of lines); renders now
 *     .handle(msg) -> bool   IOPub message {header:{msg_type}, content, ...}: stream,
 *                            display_data, execute_result, update_display_data, clear_output,
 *                            error. True if it was one of these. Renders at the next frame.
 *     .clear(wait = false)   clear now, or when the next output arrives
 *     .toJSON() -> outputs   nbformat 4 outputs for saving (unchanged loaded outputs verbatim)
 *     .length                number of outputs
 *     .flush()               render pending changes now (instead of at the next frame)
 *     .whenRendered() -> Promise   pending changes rendered, Markdown/LaTeX (KaTeX) included
 *     .dispose()             unregisters its display ids, stops pending renders
 *   new DisplayRegistry()    .register(id, output), .unregister(id, output), .count(id),
 *                            .update(id, data, metadata) -> number of outputs updated
 *   renderMarkdown(text, element) -> Promise   Markdown (+ math) -> element (sanitised).
 *                            Synchronous when there is no math or KaTeX is loaded already.
 *   renderLatex(text, element) -> Promise      a text/latex value -> element
 *   sanitizeHtml(html) -> string, sanitizeSvg(svg) -> string   (DOMPurify)
 *   ansiToHtml(text) -> string                 ANSI-coloured text -> escaped HTML (classes ansi-*)
 *   setKatexCss(url)         URL of katex.min.css, added as a <link> when KaTeX first loads;
 *                            default 'static/katex/katex.min.css' (relative to <base href>)
 *   loadKatex() -> Promise<katex>
 *   MIME_ORDER, DEFAULT_LIMITS
 *
 * Trust model: every output and Markdown cell is untrusted; nothing in them runs script (see
 * sanitize.js and mime.js). */

import './outputs.css';

export { OutputArea, DisplayRegistry } from './area.js';
export { renderMarkdown, renderLatex, setKatexCss, loadKatex, loadMarkdown } from './markdown.js';
export { sanitizeHtml, sanitizeSvg } from './sanitize.js';
export { ansiToHtml, DEFAULT_LIMITS } from './text.js';
export { MIME_ORDER } from './mime.js';
