// main.js - the app's entry: picks the page from the URL (relative to the base URL) and
// loads it. The file browser is in the first load; the notebook view (CodeMirror and the
// output renderers) is a lazily loaded chunk, so the tree page stays small.
//   {base}, {base}tree/<dir>   -> tree.js showTree
//   {base}notebooks/<path>     -> notebook.js openNotebook
//   {base}admin                -> admin.js showAdmin (multi-user mode; a lazily loaded chunk)
// A ?token= in the address was already turned into the login cookie by the server; it is
// removed from the address bar so it does not end up in bookmarks or screenshots.
import './theme.css';
import './tree.css';
import './notebook.css';
import './outputs/outputs.css';
import './admin.css';
import { config, contents, kernelspecs } from './api.js';
import { showTree } from './tree.js';

function route() {
  let p = window.location.pathname;
  const base = config.baseUrl;
  if (p.startsWith(base)) p = p.slice(base.length);
  else if (`${p}/` === base) p = '';
  const dec = (s) =>
    s
      .split('/')
      .filter(Boolean)
      .map((x) => {
        try {
          return decodeURIComponent(x);
        } catch {
          return x;
        }
      })
      .join('/');
  if (p.startsWith('notebooks/')) return { page: 'notebook', path: dec(p.slice('notebooks/'.length)) };
  if (p === 'admin' || p === 'admin/') return { page: 'admin', path: '' };
  if (p === 'tree' || p.startsWith('tree/')) return { page: 'tree', path: dec(p.slice(4)) };
  return { page: 'tree', path: '' };
}

function dropToken() {
  const u = new URL(window.location.href);
  if (!u.searchParams.has('token')) return;
  u.searchParams.delete('token');
  window.history.replaceState(window.history.state, '', u.pathname + (u.search === '?' ? '' : u.search) + u.hash);
}

async function start() {
  dropToken();
  const app = document.getElementById('app');
  const r = route();
  try {
    if (r.page === 'notebook') {
      // the notebook and the kernelspecs are fetched while the notebook view's code loads
      const settle = (p) => p.then((v) => ({ v }), (e) => ({ e }));
      const prefetch = { model: settle(contents.get(r.path, { type: 'notebook' })), specs: settle(kernelspecs.get()) };
      const { openNotebook } = await import('./notebook.js');
      await openNotebook(app, r.path, prefetch);
    } else if (r.page === 'admin') {
      const { showAdmin } = await import('./admin.js');
      await showAdmin(app);
    } else {
      app.replaceChildren();
      const main = document.createElement('main');
      main.id = 'tree';
      app.append(main);
      await showTree(main, r.path);
    }
  } catch (e) {
    console.error(e);
    const box = document.createElement('div');
    box.className = 'banner error';
    box.setAttribute('role', 'alert');
    box.textContent = `cnote could not start: ${e && e.message ? e.message : e}`;
    app.replaceChildren(box);
    window.__cnoteReady = true;
  }
}

window.addEventListener('popstate', () => {
  if (route().page === 'tree' && document.body.dataset.page === 'tree') return; // tree.js handles it
  window.location.reload();
});

start();
