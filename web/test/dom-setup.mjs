// Shared setup for unit tests that need a DOM: a jsdom window installed as the globals the app
// code and DOMPurify use, and a loader hook that turns `import './x.css'` into an empty module
// (esbuild bundles CSS; Node cannot import it). Import this module first, then import modules
// that import CSS with a dynamic import().
import { JSDOM } from 'jsdom';
import { register } from 'node:module';

export const dom = new JSDOM('<!doctype html><html><head><base href="/"></head><body></body></html>', {
    url: 'http://localhost:8888/notebooks/a.ipynb',
    pretendToBeVisual: true, // requestAnimationFrame
});

const win = dom.window;
for (const name of ['window', 'document', 'Node', 'Element', 'HTMLElement', 'DocumentFragment',
    'DOMParser', 'NodeFilter', 'requestAnimationFrame', 'cancelAnimationFrame']) {
    if (!(name in globalThis) || name === 'window' || name === 'document') {
        globalThis[name] = typeof win[name] === 'function' && /^[a-z]/.test(name) ? win[name].bind(win) : win[name];
    }
}

register(
    'data:text/javascript,' +
        encodeURIComponent(`
export async function load(url, context, next) {
    if (url.endsWith('.css')) return { format: 'module', source: '', shortCircuit: true };
    return next(url, context);
}`),
);

// Wait for the next animation frame (jsdom: ~16 ms timer).
export function nextFrame() {
    return new Promise((resolve) => win.requestAnimationFrame(() => resolve()));
}
