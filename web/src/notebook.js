// notebook.js - the notebook page: cells, Jupyter's keyboard model, the kernel, saving.
//
// The document is a NotebookModel (model.js); each cell has a CellView holding its DOM, its
// editor (CodeMirror, created when the cell first comes near the viewport, so a 200-cell
// notebook opens fast) and, for code cells, an OutputArea (outputs/). The page talks to one
// kernel through a session on the notebook's path (api.js sessions, kernel.js Kernel).
// Command mode: the selected cell has focus; edit mode: its editor has focus. Keys follow
// JupyterLab (see docs/user-guide.md for the list).

import * as api from './api.js';
import { h as el } from './dom.js';
import { Kernel } from './kernel.js';
import { NotebookModel, Cell, exportC } from './model.js';
import { OutputArea, DisplayRegistry, renderMarkdown } from './outputs/index.js';
import { createEditor, setLanguage } from './editor.js';
import { addUserBar } from './account.js';
import { watchLaunch, LaunchBanner, launchApi, podSummary, eventsDetails } from './launch.js';

const STATE_TEXT = {
  idle: 'Idle',
  busy: 'Busy',
  starting: 'Starting',
  restarting: 'Restarting',
  dead: 'Dead',
  disconnected: 'Disconnected',
  unknown: 'Connecting',
  none: 'No kernel',
};

function fmtElapsed(ms) {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`;
  const m = Math.floor(ms / 60000);
  return `${m} min ${Math.round((ms % 60000) / 1000)} s`;
}

function download(name, text, type) {
  const blob = new Blob([text], { type });
  const a = el('a', { href: URL.createObjectURL(blob), download: name });
  document.body.append(a);
  a.click();
  setTimeout(() => {
    URL.revokeObjectURL(a.href);
    a.remove();
  }, 1000);
}

// A modal question; resolves to the chosen button's value (or null on Esc).
function ask(title, text, buttons) {
  return new Promise((resolve) => {
    const d = el('dialog', { 'aria-labelledby': 'dlg-title' });
    const actions = el('div', { class: 'actions' });
    let value = null;
    for (const b of buttons) {
      actions.append(
        el('button', {
          type: 'button',
          class: b.primary ? 'primary' : '',
          text: b.label,
          onclick: () => {
            value = b.value;
            d.close();
          },
        }),
      );
    }
    d.append(el('h2', { id: 'dlg-title', text: title }), el('p', { text }), actions);
    d.addEventListener('close', () => {
      d.remove();
      resolve(value);
    });
    document.body.append(d);
    d.showModal();
    const primary = actions.querySelector('.primary') || actions.querySelector('button');
    if (primary) primary.focus();
  });
}

function askText(title, label, value) {
  return new Promise((resolve) => {
    const d = el('dialog', { 'aria-labelledby': 'dlg-title' });
    const input = el('input', { type: 'text', id: 'dlg-input', value });
    const form = el('form', { method: 'dialog' });
    let result = null;
    form.append(
      el('h2', { id: 'dlg-title', text: title }),
      el('label', { for: 'dlg-input', text: label }),
      el('div', {}, input),
      el(
        'div',
        { class: 'actions' },
        el('button', { type: 'button', text: 'Cancel', onclick: () => d.close() }),
        el('button', { type: 'submit', class: 'primary', text: 'OK' }),
      ),
    );
    form.addEventListener('submit', () => {
      result = input.value;
    });
    d.append(form);
    d.addEventListener('close', () => {
      d.remove();
      resolve(result);
    });
    document.body.append(d);
    d.showModal();
    input.focus();
    input.select();
  });
}

class CellView {
  constructor(nb, cell) {
    this.nb = nb;
    this.cell = cell;
    this.editor = null;
    this.area = null;
    this.rendered = cell.type === 'markdown';
    this.runToken = null;
    this.root = el('div', { class: 'cell', tabindex: '-1', 'data-cell-id': cell.key, role: 'group' });
    this.prompt = el('div', { class: 'prompt', 'aria-hidden': 'true' });
    this.editorBox = el('div', { class: 'editor' });
    this.staticSrc = el('pre', { class: 'static-src' });
    this.editorBox.append(this.staticSrc);
    this.mdBox = el('div', { class: 'markdown-rendered' });
    this.timing = el('div', { class: 'timing', 'aria-live': 'off' });
    this.outputsBox = el('div', { class: 'outputs' });
    this.stdinBox = el('div', { class: 'stdin-box' });
    const body = el('div', { class: 'cell-body' }, this.editorBox, this.mdBox, this.timing, this.outputsBox, this.stdinBox);
    this.root.append(this.prompt, body);
    this.root.addEventListener('mousedown', () => nb.select(this, { focus: false }));
    this.root.addEventListener('focusin', (e) => {
      if (nb.current !== this) nb.select(this, { focus: false });
      nb.setMode(this.editor && this.editor.dom.contains(e.target) ? 'edit' : 'command');
    });
    this.mdBox.addEventListener('dblclick', () => nb.edit(this));
    this.staticSrc.addEventListener('click', () => nb.edit(this));
    this.applyType();
  }

  applyType() {
    const t = this.cell.type;
    this.root.classList.toggle('code-cell', t === 'code');
    this.root.classList.toggle('markdown-cell', t === 'markdown');
    this.root.classList.toggle('raw-cell', t === 'raw');
    this.updateLabel();
    if (t === 'code' && !this.area) {
      this.area = new OutputArea(this.outputsBox, { displays: this.nb.displays, onChange: () => this.nb.changed() });
      this.area.setOutputs(this.cell.outputs);
    } else if (t !== 'code' && this.area) {
      this.area.dispose();
      this.area = null;
      this.outputsBox.replaceChildren();
    }
    this.setPrompt();
    if (this.editor) setLanguage(this.editor, this.language());
    this.staticSrc.textContent = this.cell.source || ' ';
    if (t === 'markdown' && this.rendered) {
      // while a notebook opens, Markdown is rendered in idle time (visible cells first): its
      // text shows meanwhile
      if (this.nb.opening) this.pendingMd();
      else this.renderMd();
    } else this.showSource();
  }

  updateLabel() {
    const i = this.nb.model.index(this.cell) + 1;
    const kind = { code: 'Code', markdown: 'Markdown', raw: 'Raw' }[this.cell.type];
    this.root.setAttribute('aria-label', `${kind} cell ${i}`);
  }

  // C/C++ highlighting for code cells of a C kernel (or an unknown one); other languages plain
  language() {
    return this.cell.type === 'code' && this.nb.codeLanguage() === 'c' ? 'c' : 'text';
  }

  setPrompt(text) {
    if (this.cell.type !== 'code') {
      this.prompt.textContent = '';
      return;
    }
    const n = text !== undefined ? text : this.cell.executionCount ?? ' ';
    this.prompt.textContent = `[${n}]:`;
  }

  ensureEditor() {
    if (this.editor) return this.editor;
    this.editor = createEditor(this.editorBox, {
      doc: this.cell.source,
      language: this.language(),
      label: `Cell ${this.nb.model.index(this.cell) + 1} source`,
      onChange: (text) => {
        this.cell.source = text;
        this.nb.changed();
      },
      keys: {
        run: (how) => this.nb.runKey(this, how),
        escape: () => this.nb.command(this),
        save: () => this.nb.save({ checkpoint: true }),
        complete: (ctx) => this.nb.complete(ctx),
        inspect: (view) => this.nb.inspect(this, view),
        leave: (dir) => this.nb.leaveEditor(this, dir),
      },
    });
    this.staticSrc.remove();
    return this.editor;
  }

  showSource() {
    this.mdBox.hidden = true;
    this.editorBox.hidden = false;
  }

  pendingMd() {
    this.mdPending = true;
    this.root.classList.add('rendered');
    this.editorBox.hidden = true;
    this.mdBox.hidden = false;
    this.mdBox.classList.add('md-pending');
    this.mdBox.textContent = this.cell.source;
    this.nb.defer(this, 'md', false);
  }

  async renderMd() {
    this.mdPending = false;
    this.mdBox.classList.remove('md-pending');
    this.rendered = true;
    this.root.classList.add('rendered');
    this.editorBox.hidden = true;
    this.mdBox.hidden = false;
    const src = this.cell.source.trim() ? this.cell.source : '*Empty Markdown cell: double-click or press Enter to edit.*';
    try {
      await renderMarkdown(src, this.mdBox);
    } catch (e) {
      this.mdBox.textContent = `Markdown could not be rendered: ${e.message}`;
    }
  }

  unrender() {
    this.rendered = false;
    this.root.classList.remove('rendered');
    this.showSource();
  }

  focusEditor() {
    const v = this.ensureEditor();
    v.focus();
  }

  dispose() {
    if (this.editor) this.editor.destroy();
    if (this.area) this.area.dispose();
    this.root.remove();
  }
}

class NotebookPage {
  constructor(app, path) {
    this.app = app;
    this.path = path;
    this.name = path.split('/').pop();
    this.views = new Map(); // cell.key -> CellView
    this.current = null;
    this.mode = 'command';
    this.changes = 0;
    this.savedChanges = 0;
    this.saving = null;
    this.lastModified = null;
    this.kernel = new Kernel();
    this.session = null;
    this.pod = null; // the kernel's "launch" when it runs in a Kubernetes pod
    this.specs = null;
    this.displays = new DisplayRegistry();
    this.deleted = [];
    this.clipboard = [];
    this.lastKey = { key: '', t: 0 };
    this.running = new Set();
  }

  // ---- page frame ----
  buildFrame() {
    document.body.dataset.page = 'notebook';
    this.dirtyEl = el('span', { id: 'dirty', class: 'dirty', hidden: true, title: 'Unsaved changes' }, el('span', { 'aria-hidden': 'true', text: '●' }), el('span', { class: 'sr-only', text: 'Unsaved changes' }));
    this.nameBtn = el('button', { type: 'button', id: 'nb-name', class: 'nb-name', title: 'Rename notebook', onclick: () => this.rename() });
    this.saveStatus = el('span', { id: 'save-status', class: 'save-status', role: 'status' });
    this.kernelSelect = el('select', { id: 'kernel-select', onchange: () => this.changeKernel(this.kernelSelect.value) });
    this.statusEl = el('span', { id: 'kernel-status', class: 'kernel-status', role: 'status', 'data-state': 'unknown' }, el('span', { class: 'dot', 'aria-hidden': 'true' }), el('span', { class: 'text', text: STATE_TEXT.unknown }));
    // a kernel in a Kubernetes pod: its pod's log
    this.logBtn = el('button', { type: 'button', id: 'kernel-log', class: 'kernel-log', hidden: true, title: "View the kernel pod's log", text: 'View log', onclick: () => this.viewLog() });
    const header = el(
      'header',
      { class: 'app-header' },
      el('a', { class: 'brand', href: api.appLink('tree', this.path.split('/').slice(0, -1).join('/')), title: 'Files', text: 'cnote' }),
      this.nameBtn,
      this.dirtyEl,
      this.saveStatus,
      el('span', { class: 'grow' }),
      el('label', { for: 'kernel-select', class: 'kernel-label', text: 'Kernel' }),
      this.kernelSelect,
      this.statusEl,
      this.logBtn,
    );
    const B = (label, text, fn, extra = {}) => el('button', { type: 'button', 'aria-label': label, title: extra.title || label, text, onclick: fn, ...extra.attrs });
    this.typeSelect = el(
      'select',
      { id: 'cell-type', 'aria-label': 'Cell type', onchange: () => this.setType(this.typeSelect.value) },
      el('option', { value: 'code', text: 'Code' }),
      el('option', { value: 'markdown', text: 'Markdown' }),
      el('option', { value: 'raw', text: 'Raw' }),
    );
    this.moreBtn = el('button', {
      type: 'button',
      id: 'more-actions',
      'aria-haspopup': 'menu',
      'aria-expanded': 'false',
      'aria-controls': 'more-menu',
      text: 'More ▾',
      onclick: () => this.toggleMenu(),
    });
    const items = [
      ['run-above', 'Run all above'],
      ['run-below', 'Run selected and below'],
      ['clear-cell', 'Clear cell output'],
      ['clear-all', 'Clear all outputs'],
      ['restart-run', 'Restart kernel and run all'],
      ['shutdown', 'Shut down kernel'],
      ['revert', 'Revert to checkpoint'],
      ['export-ipynb', 'Download .ipynb'],
      ['export-c', 'Download .c source'],
    ];
    this.moreMenu = el(
      'div',
      { id: 'more-menu', class: 'menu', role: 'menu', 'aria-label': 'More actions', hidden: true },
      ...items.map(([v, label]) =>
        el('button', {
          type: 'button',
          role: 'menuitem',
          tabindex: '-1',
          'data-action': v,
          text: label,
          onclick: () => {
            this.toggleMenu(false);
            this.more(v);
          },
        }),
      ),
    );
    this.moreMenu.addEventListener('keydown', (e) => {
      const btns = [...this.moreMenu.querySelectorAll('button')];
      const i = btns.indexOf(document.activeElement);
      if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
        e.preventDefault();
        btns[(i + (e.key === 'ArrowDown' ? 1 : btns.length - 1)) % btns.length].focus();
      } else if (e.key === 'Escape' || e.key === 'Tab') {
        e.preventDefault();
        this.toggleMenu(false);
        this.moreBtn.focus();
      }
    });
    document.addEventListener('mousedown', (e) => {
      if (!this.moreMenu.hidden && !this.moreMenu.contains(e.target) && e.target !== this.moreBtn) this.toggleMenu(false);
    });
    const toolbar = el(
      'div',
      { class: 'toolbar', role: 'toolbar', 'aria-label': 'Notebook actions' },
      B('Save and checkpoint', 'Save', () => this.save({ checkpoint: true })),
      B('Insert cell below', '+', () => this.insert(1)),
      B('Delete cell', 'Delete', () => this.deleteCells()),
      B('Move cell up', '↑', () => this.moveCell(-1)),
      B('Move cell down', '↓', () => this.moveCell(1)),
      B('Run cell', '▶ Run', () => this.current && this.runKey(this.current, 'advance')),
      B('Run all cells', 'Run all', () => this.runRange(0, this.model.cells.length)),
      B('Interrupt kernel', '■ Interrupt', () => this.interrupt()),
      B('Restart kernel', '↻ Restart', () => this.restart()),
      this.typeSelect,
      el('span', { class: 'menu-wrap' }, this.moreBtn, this.moreMenu),
    );
    this.banners = el('div', { id: 'banners', 'aria-live': 'polite' });
    this.main = el('main', { id: 'notebook', 'aria-label': 'Notebook' });
    this.app.replaceChildren(header, toolbar, this.banners, this.main);
    addUserBar(header, { page: 'notebook' }); // multi-user mode: name, Admin, tokens, Log out
    this.main.addEventListener('keydown', (e) => this.commandKey(e));
    document.addEventListener('keydown', (e) => {
      // focus fell to the page itself (a click on plain text): command keys still work
      if (e.target === document.body) this.commandKey(e);
      if ((e.ctrlKey || e.metaKey) && !e.shiftKey && !e.altKey && e.key.toLowerCase() === 's') {
        e.preventDefault();
        this.save({ checkpoint: true });
      }
    });
    window.addEventListener('beforeunload', (e) => {
      if (this.dirty()) {
        e.preventDefault();
        e.returnValue = '';
      }
    });
    // editors for cells near the viewport (and their Markdown first), made in idle time
    this.observer =
      'IntersectionObserver' in window
        ? new IntersectionObserver(
            (entries) => {
              for (const en of entries) {
                if (!en.isIntersecting) continue;
                const v = this.viewOf(en.target);
                if (v) this.defer(v, v.cell.type === 'markdown' ? 'md' : 'editor', true);
                this.observer.unobserve(en.target);
              }
            },
            { rootMargin: '800px 0px' },
          )
        : null;
    this.urgentQ = [];
    this.idleQ = [];
  }

  // Work that can wait for an idle moment, so that opening a big notebook leaves the page
  // answering keys: CodeMirror editors ('editor') and Markdown rendering ('md'); urgent items
  // (cells near the viewport) go first, a few milliseconds per idle slot.
  defer(view, kind, urgent) {
    (urgent ? this.urgentQ : this.idleQ).push([view, kind]);
    this.pump();
  }

  pump() {
    if (this.pumping) return;
    this.pumping = true;
    const run = (dl) => {
      this.pumping = false;
      const t0 = performance.now();
      while (this.urgentQ.length || this.idleQ.length) {
        if (dl.timeRemaining() < 2 && !(dl.didTimeout && performance.now() - t0 < 8)) break;
        const [v, kind] = (this.urgentQ.length ? this.urgentQ : this.idleQ).shift();
        if (!v.root.isConnected) continue;
        if (kind === 'editor' && v.cell.type !== 'markdown') v.ensureEditor();
        else if (kind === 'md' && v.mdPending && v.cell.type === 'markdown') v.renderMd();
      }
      if (this.urgentQ.length || this.idleQ.length) this.pump();
    };
    if (window.requestIdleCallback) window.requestIdleCallback(run, { timeout: 300 });
    else setTimeout(() => run({ timeRemaining: () => 8, didTimeout: true }), 16);
  }

  banner(kind, text, actions = [], key) {
    if (key) {
      const old = this.banners.querySelector(`[data-key="${key}"]`);
      if (old) old.remove();
    }
    const b = el('div', { class: `banner ${kind}`, role: kind === 'error' ? 'alert' : 'status', 'data-key': key }, el('span', { class: 'grow', text }));
    for (const a of actions) b.append(el('button', { type: 'button', text: a.label, onclick: () => (a.run(), b.remove()) }));
    b.append(el('button', { type: 'button', 'aria-label': 'Dismiss', text: '×', onclick: () => b.remove() }));
    this.banners.append(b);
    return b;
  }

  clearBanner(key) {
    const b = this.banners.querySelector(`[data-key="${key}"]`);
    if (b) b.remove();
  }

  setTitle() {
    this.nameBtn.textContent = this.name;
    document.title = `${this.dirty() ? '● ' : ''}${this.name} - cnote`;
  }

  codeLanguage() {
    const md = this.model ? this.model.metadata : {};
    const lang = ((md.language_info && md.language_info.name) || (md.kernelspec && md.kernelspec.language) || 'c').toLowerCase();
    return /^(c|c\+\+|cpp|cuda)$/.test(lang) ? 'c' : lang;
  }

  // ---- document state ----
  dirty() {
    return this.changes !== this.savedChanges;
  }

  changed() {
    this.changes++;
    this.dirtyEl.hidden = false;
    this.setTitle();
  }

  markSaved(at) {
    this.savedChanges = at;
    this.dirtyEl.hidden = !this.dirty();
    this.setTitle();
  }

  // prefetched: {e} or {v} of the contents GET started by main.js, used once
  async load(prefetched) {
    const m = prefetched ? await unwrap(prefetched) : await api.contents.get(this.path, { type: 'notebook' });
    this.lastModified = m.last_modified;
    this.model = new NotebookModel(m.content);
    this.renderAll();
  }

  renderAll() {
    for (const v of this.views.values()) v.dispose();
    this.views.clear();
    this.displays = new DisplayRegistry();
    if (!this.model.cells.length) this.model.insert(0, this.model.newCell('code'));
    const frag = document.createDocumentFragment();
    this.urgentQ = [];
    this.idleQ = [];
    this.opening = true;
    for (const cell of this.model.cells) frag.append(this.makeView(cell).root);
    this.opening = false;
    this.main.replaceChildren(frag);
    for (const v of this.views.values()) if (this.observer) this.observer.observe(v.root);
    this.select(this.views.get(this.model.cells[0].key), { focus: false });
    this.changes = this.savedChanges = 0;
    this.dirtyEl.hidden = true;
    this.setTitle();
  }

  makeView(cell) {
    const v = new CellView(this, cell);
    this.views.set(cell.key, v);
    return v;
  }

  viewOf(node) {
    const c = node.closest && node.closest('.cell');
    return c ? this.views.get(c.dataset.cellId) : null;
  }

  relabel() {
    for (const v of this.views.values()) v.updateLabel();
  }

  // ---- selection and modes ----
  select(view, { focus = true } = {}) {
    if (!view) return;
    if (this.current && this.current !== view) {
      this.current.root.classList.remove('selected', 'editing');
      this.current.root.tabIndex = -1;
      if (this.current.cell.type === 'markdown' && !this.current.rendered) this.current.renderMd();
    }
    this.current = view;
    view.root.classList.add('selected');
    view.root.tabIndex = 0;
    this.typeSelect.value = view.cell.type;
    if (focus) {
      this.setMode('command');
      view.root.focus({ preventScroll: true });
      view.root.scrollIntoView({ block: 'nearest' });
    }
  }

  setMode(mode) {
    this.mode = mode;
    if (this.current) this.current.root.classList.toggle('editing', mode === 'edit');
    this.main.classList.toggle('edit-mode', mode === 'edit');
  }

  edit(view) {
    this.select(view, { focus: false });
    if (view.cell.type === 'markdown') view.unrender();
    this.setMode('edit');
    view.focusEditor();
  }

  command(view) {
    this.closeTooltip();
    this.select(view);
  }

  leaveEditor(view, dir) {
    const i = this.model.index(view.cell) + dir;
    const next = this.model.cells[i];
    if (!next) return false;
    const nv = this.views.get(next.key);
    this.edit(nv);
    const ed = nv.ensureEditor();
    const pos = dir < 0 ? ed.state.doc.length : 0;
    ed.dispatch({ selection: { anchor: pos } });
    return true;
  }

  move(dir) {
    if (!this.current) return;
    const i = this.model.index(this.current.cell) + dir;
    if (i < 0 || i >= this.model.cells.length) return;
    this.select(this.views.get(this.model.cells[i].key));
  }

  commandKey(e) {
    if (this.mode === 'edit' || !this.current) return;
    const t = e.target;
    if (t.closest && (t.closest('.cm-editor') || t.closest('input, select, textarea, button, a, [contenteditable], .stdin-box, dialog'))) return;
    const k = e.key;
    const mod = e.ctrlKey || e.metaKey;
    const now = Date.now();
    const twice = this.lastKey.key === k && now - this.lastKey.t < 800;
    this.lastKey = { key: k, t: now };
    let handled = true;
    if (k === 'Enter' && e.shiftKey) this.runKey(this.current, 'advance');
    else if (k === 'Enter' && mod) this.runKey(this.current, 'stay');
    else if (k === 'Enter' && e.altKey) this.runKey(this.current, 'insert');
    else if (k === 'Enter') this.edit(this.current);
    else if (mod || e.altKey) handled = false;
    else if (k === 'ArrowUp' || k === 'k') this.move(-1);
    else if (k === 'ArrowDown' || k === 'j') this.move(1);
    else if (k === 'a') this.insert(0);
    else if (k === 'b') this.insert(1);
    else if (k === 'd' && twice) {
      this.deleteCells();
      this.lastKey = { key: '', t: 0 };
    } else if (k === 'z') this.undoDelete();
    else if (k === 'm') this.setType('markdown');
    else if (k === 'y') this.setType('code');
    else if (k === 'r') this.setType('raw');
    else if (k === 'c') this.copy();
    else if (k === 'x') this.copy(true);
    else if (k === 'v') this.paste();
    else if (k === 'i' && twice) this.interrupt();
    else if (k === '0' && twice) this.restart();
    else if (k === 's') this.save({ checkpoint: true });
    else if (k === 'd' || k === 'i' || k === '0') handled = true;
    else handled = false;
    if (handled) e.preventDefault();
  }

  // ---- editing the cell list ----
  insert(after, type = 'code') {
    const i = this.current ? this.model.index(this.current.cell) + after : this.model.cells.length;
    const cell = this.model.insert(i, this.model.newCell(type));
    const v = this.makeView(cell);
    const ref = this.model.cells[i + 1];
    this.main.insertBefore(v.root, ref ? this.views.get(ref.key).root : null);
    this.relabel();
    this.changed();
    this.select(v);
    return v;
  }

  deleteCells() {
    if (!this.current) return;
    const i = this.model.index(this.current.cell);
    const cell = this.model.remove(i);
    const v = this.views.get(cell.key);
    this.deleted.push({ index: i, json: cell.toJSON(v.area ? v.area.toJSON() : undefined) });
    v.dispose();
    this.views.delete(cell.key);
    if (!this.model.cells.length) this.main.append(this.makeView(this.model.insert(0, this.model.newCell('code'))).root);
    this.relabel();
    this.changed();
    this.select(this.views.get(this.model.cells[Math.min(i, this.model.cells.length - 1)].key));
  }

  restoreCell(index, json) {
    const cell = this.model.insert(index, new Cell(json, this.model));
    const v = this.makeView(cell);
    const ref = this.model.cells[index + 1];
    this.main.insertBefore(v.root, ref ? this.views.get(ref.key).root : null);
    if (this.observer) this.observer.observe(v.root);
    return v;
  }

  undoDelete() {
    const d = this.deleted.pop();
    if (!d) return;
    const v = this.restoreCell(d.index, d.json);
    this.relabel();
    this.changed();
    this.select(v);
  }

  copy(cut = false) {
    if (!this.current) return;
    const v = this.current;
    this.clipboard = [v.cell.toJSON(v.area ? v.area.toJSON() : undefined)];
    if (cut) this.deleteCells();
  }

  paste() {
    if (!this.clipboard.length) return;
    let i = this.current ? this.model.index(this.current.cell) + 1 : this.model.cells.length;
    let last = null;
    for (const j of this.clipboard) {
      const copy = structuredClone(j);
      delete copy.id;
      last = this.restoreCell(i++, copy);
    }
    this.relabel();
    this.changed();
    this.select(last);
  }

  moveCell(dir) {
    if (!this.current) return;
    const i = this.model.index(this.current.cell);
    if (!this.model.move(i, i + dir)) return;
    const v = this.current;
    const ref = this.model.cells[i + dir + 1];
    this.main.insertBefore(v.root, ref ? this.views.get(ref.key).root : null);
    this.relabel();
    this.changed();
    this.select(v);
  }

  setType(type) {
    if (!this.current) return;
    const v = this.current;
    if (!this.model.setType(this.model.index(v.cell), type)) return;
    v.rendered = type === 'markdown' && this.mode !== 'edit' ? false : v.rendered;
    v.applyType();
    this.changed();
    this.typeSelect.value = type;
  }

  toggleMenu(open = this.moreMenu.hidden) {
    this.moreMenu.hidden = !open;
    this.moreBtn.setAttribute('aria-expanded', String(open));
    if (open) this.moreMenu.querySelector('button').focus();
  }

  async more(what) {
    const i = this.current ? this.model.index(this.current.cell) : 0;
    if (what === 'run-above') this.runRange(0, i);
    else if (what === 'run-below') this.runRange(i, this.model.cells.length);
    else if (what === 'clear-cell') this.clearOutputs([this.current]);
    else if (what === 'clear-all') this.clearOutputs([...this.views.values()]);
    else if (what === 'restart-run') this.restart({ runAll: true });
    else if (what === 'shutdown') this.shutdown();
    else if (what === 'revert') this.revert();
    else if (what === 'export-ipynb') download(this.name, `${JSON.stringify(this.toJSON(), null, 1)}\n`, 'application/x-ipynb+json');
    else if (what === 'export-c') download(this.name.replace(/\.ipynb$/i, '') + '.c', exportC(this.model, this.name), 'text/x-csrc');
  }

  clearOutputs(views) {
    for (const v of views) {
      if (!v || !v.area) continue;
      v.area.clear();
      v.cell.executionCount = null;
      v.setPrompt();
      v.timing.textContent = '';
    }
    this.changed();
  }

  toJSON() {
    return this.model.toJSON((c) => {
      const v = this.views.get(c.key);
      return v && v.area ? v.area.toJSON() : undefined;
    });
  }

  // ---- running ----
  runKey(view, how) {
    this.runCell(view);
    const i = this.model.index(view.cell);
    if (how === 'stay') {
      if (this.mode === 'edit' && view.cell.type === 'markdown') this.select(view);
      return;
    }
    if (how === 'insert' || (how === 'advance' && i === this.model.cells.length - 1)) {
      this.select(view, { focus: false });
      const nv = this.insert(1);
      this.edit(nv);
      return;
    }
    this.select(this.views.get(this.model.cells[i + 1].key));
  }

  runRange(from, to) {
    for (const cell of this.model.cells.slice(from, to)) this.runCell(this.views.get(cell.key));
  }

  runCell(view) {
    const cell = view.cell;
    if (cell.type === 'markdown') {
      view.renderMd();
      return;
    }
    if (cell.type !== 'code') return;
    if (!this.kernel.id && cell.source.trim()) {
      this.banner('error', 'No kernel is running: start one with Restart.', [], 'nokernel');
      return;
    }
    view.area.clear();
    view.stdinBox.replaceChildren();
    if (!cell.source.trim()) {
      cell.executionCount = null;
      view.setPrompt();
      view.timing.textContent = '';
      this.changed();
      return;
    }
    this.noteLanguage();
    view.setPrompt('*');
    view.timing.textContent = 'queued';
    view.timing.classList.remove('failed');
    view.root.classList.add('running');
    let started = 0;
    const token = {};
    view.runToken = token;
    this.running.add(view);
    const fut = this.kernel.execute(cell.source, {
      onIOPub: (msg) => {
        if (view.runToken !== token) return;
        const t = msg.header.msg_type;
        if (t === 'status' && msg.content.execution_state === 'busy' && !started) {
          started = performance.now();
          view.timing.textContent = 'running…';
        } else if (t === 'execute_input') {
          if (!started) started = performance.now();
        } else view.area.handle(msg);
      },
      onStdin: (msg) => this.stdin(view, msg),
    });
    fut.done.then(
      (reply) => {
        if (view.runToken !== token) return;
        this.running.delete(view);
        view.root.classList.remove('running');
        view.stdinBox.replaceChildren();
        const c = reply.content || {};
        cell.executionCount = c.execution_count ?? null;
        view.setPrompt(c.status === 'aborted' ? ' ' : undefined);
        const ms = started ? performance.now() - started : 0;
        view.timing.textContent = c.status === 'aborted' ? 'not run (an earlier cell failed)' : `${c.status === 'ok' ? 'done' : 'failed'} in ${fmtElapsed(ms)}`;
        view.timing.classList.toggle('failed', c.status !== 'ok');
        view.timing.title = `finished ${new Date().toLocaleTimeString()}`;
        this.changed();
      },
      (err) => {
        if (view.runToken !== token) return;
        this.running.delete(view);
        view.root.classList.remove('running');
        view.stdinBox.replaceChildren();
        view.setPrompt(' ');
        view.timing.textContent = `stopped: ${err.message}`;
        view.timing.classList.add('failed');
      },
    );
  }

  // language_info from the kernel goes into the notebook's metadata when cells run
  noteLanguage() {
    const li = this.kernel.info && this.kernel.info.language_info;
    if (!li) return;
    const cur = this.model.metadata.language_info;
    if (!cur || cur.name !== li.name || cur.version !== li.version) {
      this.model.metadata.language_info = li;
      this.changed();
    }
  }

  stdin(view, msg) {
    const c = msg.content || {};
    const id = `stdin-${msg.header.msg_id}`;
    const input = el('input', { id, type: c.password ? 'password' : 'text', autocomplete: 'off', spellcheck: 'false' });
    const box = el('div', { class: 'stdin' }, el('label', { for: id, text: c.prompt || 'Input:' }), input);
    view.stdinBox.replaceChildren(box);
    input.addEventListener('keydown', (e) => {
      if (e.key !== 'Enter') return;
      e.preventDefault();
      e.stopPropagation();
      const value = input.value;
      this.kernel.inputReply(value, msg.header);
      box.replaceChildren(el('span', { class: 'stdin-done', text: `${c.prompt || ''}${c.password ? '••••••' : value}` }));
    });
    input.focus();
  }

  async interrupt() {
    if (!this.kernel.id) return;
    try {
      await api.kernels.interrupt(this.kernel.id);
    } catch (e) {
      this.banner('error', `Interrupt failed: ${api.errorText(e)}`);
    }
  }

  stopRunning(why) {
    this.kernel.abortAll(why);
    for (const v of this.running) {
      v.runToken = null;
      v.root.classList.remove('running');
      v.setPrompt(' ');
      v.timing.textContent = `stopped: ${why}`;
      v.stdinBox.replaceChildren();
    }
    this.running.clear();
  }

  async restart({ runAll = false, confirm = true } = {}) {
    if (!this.session) {
      await this.startSession();
      if (runAll) this.runRange(0, this.model.cells.length);
      return;
    }
    if (confirm) {
      const ok = await ask('Restart the kernel?', runAll ? 'All variables are lost, then every cell runs again.' : 'All variables are lost.', [
        { label: 'Cancel', value: false },
        { label: runAll ? 'Restart and run all' : 'Restart', value: true, primary: true },
      ]);
      if (!ok) return;
    }
    this.setStatus('restarting');
    const watch = this.watchLaunch({ kernelId: this.kernel.id });
    try {
      await api.kernels.restart(this.kernel.id);
    } catch (e) {
      this.endLaunch(watch);
      this.launchFailed(watch, this.banner('error', `Restart failed: ${api.errorText(e)}`));
      return;
    }
    this.endLaunch(watch);
    this.notePod();
    this.stopRunning('the kernel was restarted');
    this.kernel.requestInfo();
    if (runAll) this.runRange(0, this.model.cells.length);
  }

  async shutdown() {
    if (!this.session) return;
    try {
      await api.sessions.remove(this.session.id);
    } catch (e) {
      this.banner('error', `Shutting down failed: ${api.errorText(e)}`);
      return;
    }
    this.stopRunning('the kernel was shut down');
    this.session = null;
    this.kernel.close();
    this.kernel.id = null;
    this.pod = null;
    this.logBtn.hidden = true;
    this.setStatus('none');
    this.banner('info', 'The kernel is shut down.', [{ label: 'Start kernel', run: () => this.restart() }], 'kernel');
  }

  // ---- kernel ----
  setStatus(state) {
    this.statusEl.dataset.state = state === 'none' ? 'dead' : state;
    this.statusEl.querySelector('.text').textContent = STATE_TEXT[state] || state;
    const pod = podSummary(this.pod);
    this.statusEl.title = `Kernel: ${STATE_TEXT[state] || state}${pod ? ` (${pod})` : ''}`;
  }

  // ---- kernels in Kubernetes pods (models with "launch") ----
  // While a start or restart is pending, its launch's stage and events show in a banner.
  watchLaunch(opts) {
    const b = new LaunchBanner();
    const w = watchLaunch({
      ...opts,
      onUpdate: (u) => {
        if (u.launch.stage === 'ready') return; // a restart's old pod, before the new one
        this.pod = u.launch;
        this.setStatus(this.statusEl.dataset.state);
        b.update(u);
        if (!b.root.isConnected) {
          this.clearBanner('launch');
          this.banners.append(b.root);
        }
      },
    });
    w.banner = b;
    return w;
  }

  endLaunch(w) {
    w.stop();
    w.banner.root.remove();
  }

  // a failed launch's events go with its error banner
  launchFailed(w, banner) {
    const ev = w.last && w.last.progress && w.last.progress.events;
    if (ev && ev.length && banner) banner.querySelector('.grow').append(eventsDetails(ev));
  }

  // what the server says of the connected kernel's pod (tooltip, "View log")
  async notePod() {
    const id = this.kernel.id;
    let m = null;
    try {
      m = id ? await launchApi.get(id) : null;
    } catch {
      /* the tooltip just says less */
    }
    if (id !== this.kernel.id) return;
    this.pod = (m && m.launch) || null;
    this.logBtn.hidden = !this.pod;
    this.setStatus(this.statusEl.dataset.state);
  }

  async viewLog() {
    const id = this.kernel.id;
    if (!id) return;
    const pre = el('pre', { class: 'kernel-log-text', tabindex: '0', text: 'Loading…' });
    const d = el(
      'dialog',
      { class: 'log-dialog', 'aria-labelledby': 'log-title' },
      el('h2', { id: 'log-title', text: `Kernel pod log${this.pod && this.pod.pod ? `: ${this.pod.pod}` : ''}` }),
      pre,
      el(
        'div',
        { class: 'actions' },
        el('a', { href: launchApi.logUrl(id), target: '_blank', rel: 'noopener', text: 'Open in a new tab' }),
        el('button', { type: 'button', class: 'primary', text: 'Close', onclick: () => d.close() }),
      ),
    );
    d.addEventListener('close', () => d.remove());
    document.body.append(d);
    d.showModal();
    try {
      const text = await launchApi.log(id);
      pre.textContent = text || '(the log is empty)';
      pre.scrollTop = pre.scrollHeight;
    } catch (e) {
      pre.textContent = `The log could not be read: ${api.errorText(e)}`;
    }
  }

  // a dead kernel's banner says why, when the server knows (a deleted pod, OOMKilled, ...)
  async explainDeath(banner) {
    const id = this.kernel.id;
    let m;
    try {
      m = await launchApi.get(id);
    } catch {
      return;
    }
    if (!m || !m.reason || !banner.isConnected || id !== this.kernel.id) return;
    banner.querySelector('.grow').textContent = `The kernel is dead: ${m.reason}`;
  }

  specName() {
    const ks = this.model.metadata.kernelspec;
    const want = ks && ks.name;
    if (want && this.specs.kernelspecs[want]) return want;
    if (want) this.banner('info', `The kernel "${want}" named by this notebook is not available here; using "${this.specs.default}".`, [], 'nospec');
    return this.specs.default;
  }

  fillKernelSelect(current) {
    this.kernelSelect.replaceChildren(
      ...Object.values(this.specs.kernelspecs).map((k) => el('option', { value: k.name, text: (k.spec && k.spec.display_name) || k.name, selected: k.name === current })),
    );
  }

  async startSession(name) {
    const kname = name || this.specName();
    this.setStatus('starting');
    // kernels that exist already are not this start's (a pod kernel's POST waits for its pod)
    let before = null;
    try {
      before = new Set((await launchApi.list()).map((k) => k.id));
    } catch {
      /* then any starting pod kernel may be ours */
    }
    const watch = this.watchLaunch({ before });
    try {
      this.session = await api.sessions.create({ path: this.path, name: this.name, kernelName: kname });
    } catch (e) {
      this.endLaunch(watch);
      this.pod = null;
      this.setStatus('dead');
      const b = this.banner('error', `The kernel could not start: ${api.errorText(e)}`, [{ label: 'Try again', run: () => this.startSession(name) }], 'kernel');
      this.launchFailed(watch, b);
      return false;
    }
    this.endLaunch(watch);
    this.clearBanner('kernel');
    this.fillKernelSelect(this.session.kernel.name);
    this.kernel.connect(this.session.kernel.id);
    this.notePod();
    return true;
  }

  async changeKernel(name) {
    const spec = this.specs.kernelspecs[name];
    if (!spec) return;
    this.stopRunning('the kernel was changed');
    if (this.session) {
      try {
        this.session = await api.sessions.patch(this.session.id, { kernel: { name } });
        this.kernel.connect(this.session.kernel.id);
        this.notePod();
      } catch (e) {
        this.banner('error', `Changing the kernel failed: ${api.errorText(e)}`);
        return;
      }
    } else if (!(await this.startSession(name))) return;
    this.model.metadata.kernelspec = { name, display_name: spec.spec.display_name, language: spec.spec.language };
    delete this.model.metadata.language_info;
    for (const v of this.views.values()) if (v.editor) setLanguage(v.editor, v.language());
    this.changed();
  }

  wireKernel() {
    const k = this.kernel;
    let prev = 'unknown';
    k.addEventListener('status', (e) => {
      const st = e.detail.state;
      this.setStatus(st);
      if (st === 'restarting' && prev !== 'restarting' && this.running.size) {
        this.stopRunning('the kernel died and is restarting');
        this.banner('error', 'The kernel died and is being restarted; running cells were stopped.', [], 'died');
      } else if (st === 'restarting') this.banner('info', 'The kernel is restarting.', [], 'died');
      else if (st === 'dead') {
        this.stopRunning('the kernel died');
        this.explainDeath(this.banner('error', 'The kernel is dead and could not be restarted.', [{ label: 'Start a new kernel', run: () => this.newKernel() }], 'died'));
      } else if (prev === 'restarting' && (st === 'idle' || st === 'starting' || st === 'busy')) {
        this.clearBanner('died');
        this.banner('info', 'The kernel was restarted; its variables are gone.', [], 'restarted');
        k.requestInfo();
      }
      prev = st;
    });
    k.addEventListener('connection', (e) => {
      if (e.detail.state === 'disconnected') this.banner('info', 'Connection to the kernel lost; reconnecting…', [], 'conn');
      else if (e.detail.state === 'connected') this.clearBanner('conn');
    });
    k.addEventListener('gone', () => {
      this.stopRunning('the kernel is gone');
      this.session = null;
      this.banner('error', 'The kernel no longer exists on the server.', [{ label: 'Start a new kernel', run: () => this.newKernel() }], 'died');
    });
  }

  async newKernel() {
    this.clearBanner('died');
    if (this.session) {
      try {
        await api.sessions.remove(this.session.id);
      } catch {
        /* it may be gone already */
      }
      this.session = null;
    }
    await this.startSession();
  }

  // ---- completion and inspection ----
  async complete(ctx) {
    if (!this.kernel.id) return null;
    const code = ctx.state.doc.toString();
    let r;
    try {
      r = await this.kernel.complete(code, ctx.pos);
    } catch {
      return null;
    }
    if (ctx.aborted || r.status !== 'ok' || !r.matches || !r.matches.length) return null;
    const types = {};
    const meta = r.metadata && r.metadata._jupyter_types_experimental;
    if (Array.isArray(meta)) for (const t of meta) if (t && t.text) types[t.text] = t.type;
    return {
      from: r.cursor_start,
      to: r.cursor_end,
      options: r.matches.map((m) => ({ label: m, type: types[m] || undefined, detail: types[m] || undefined })),
      validFor: /^[\w$]*$/,
    };
  }

  closeTooltip() {
    if (this.tooltip) {
      this.tooltip.remove();
      this.tooltip = null;
    }
  }

  async inspect(view, ed) {
    this.closeTooltip();
    if (!this.kernel.id) return;
    const pos = ed.state.selection.main.head;
    let r;
    try {
      r = await this.kernel.inspect(ed.state.doc.toString(), pos, 0);
    } catch (e) {
      r = { status: 'error', evalue: e.message };
    }
    const text = r.status === 'ok' && r.found ? (r.data && (r.data['text/plain'] || r.data['text/markdown'])) || '' : 'No documentation found.';
    const coords = ed.coordsAtPos(pos);
    const tip = el('div', { class: 'inspect-tooltip', role: 'tooltip', id: 'inspect-tooltip' }, el('pre', { text: String(text).replace(/\x1b\[[0-9;]*m/g, '') }));
    document.body.append(tip);
    if (coords) {
      tip.style.left = `${Math.max(4, Math.min(coords.left, window.innerWidth - 520))}px`;
      tip.style.top = `${coords.bottom + window.scrollY + 4}px`;
    }
    this.tooltip = tip;
    ed.contentDOM.setAttribute('aria-describedby', 'inspect-tooltip');
    const close = () => {
      ed.contentDOM.removeAttribute('aria-describedby');
      this.closeTooltip();
      ed.dom.removeEventListener('keydown', close, true);
      document.removeEventListener('mousedown', close, true);
    };
    ed.dom.addEventListener('keydown', close, true);
    document.addEventListener('mousedown', close, true);
  }

  // ---- saving ----
  save({ checkpoint = false, auto = false } = {}) {
    if (this.saving) {
      if (auto) return this.saving;
      return this.saving.then(() => (this.dirty() || checkpoint ? this.save({ checkpoint }) : true));
    }
    this.saving = this.doSave({ checkpoint, auto }).finally(() => {
      this.saving = null;
    });
    return this.saving;
  }

  async doSave({ checkpoint, auto }) {
    const at = this.changes;
    const content = this.toJSON();
    this.saveStatus.textContent = 'Saving…';
    try {
      const disk = await api.contents.get(this.path, { content: false });
      if (this.lastModified && disk.last_modified && Date.parse(disk.last_modified) > Date.parse(this.lastModified) + 500) {
        if (auto) {
          this.saveStatus.textContent = 'Autosave paused: the file changed on disk';
          return false;
        }
        const ok = await ask('The file changed on disk', 'Someone else saved this notebook after you opened it. Overwrite their version?', [
          { label: 'Cancel', value: false },
          { label: 'Overwrite', value: true, primary: true },
        ]);
        if (!ok) {
          this.saveStatus.textContent = 'Not saved';
          return false;
        }
      }
    } catch (e) {
      if (!(e instanceof api.ApiError) || e.status !== 404) {
        return this.saveFailed(e);
      }
    }
    try {
      const saved = await api.contents.save(this.path, { type: 'notebook', format: 'json', content });
      this.lastModified = saved.last_modified;
      this.markSaved(at);
      this.clearBanner('save');
      const t = new Date().toLocaleTimeString();
      if (checkpoint) {
        try {
          await api.contents.createCheckpoint(this.path);
        } catch (e) {
          this.saveStatus.textContent = `Saved at ${t}, without checkpoint`;
          this.banner('error', `The notebook was saved, but the checkpoint failed: ${api.errorText(e)}`, [], 'save');
          return true;
        }
      }
      this.saveStatus.textContent = `${checkpoint ? 'Saved with checkpoint' : auto ? 'Autosaved' : 'Saved'} at ${t}`;
      return true;
    } catch (e) {
      return this.saveFailed(e);
    }
  }

  saveFailed(e) {
    this.saveStatus.textContent = 'Save failed';
    this.banner('error', `Saving failed: ${api.errorText(e)}. Your notebook is still open here; nothing was lost. Try again.`, [{ label: 'Retry', run: () => this.save() }], 'save');
    return false;
  }

  async revert() {
    let cps;
    try {
      cps = await api.contents.checkpoints(this.path);
    } catch (e) {
      this.banner('error', `Could not list checkpoints: ${api.errorText(e)}`);
      return;
    }
    if (!cps || !cps.length) {
      this.banner('info', 'This notebook has no checkpoint yet (Ctrl-S saves one).', [], 'revert');
      return;
    }
    const cp = cps[cps.length - 1];
    const ok = await ask('Revert to checkpoint?', `The notebook goes back to the checkpoint of ${new Date(cp.last_modified).toLocaleString()}. Changes since then are lost.`, [
      { label: 'Cancel', value: false },
      { label: 'Revert', value: true, primary: true },
    ]);
    if (!ok) return;
    try {
      await api.contents.restoreCheckpoint(this.path, cp.id);
      await this.load();
      this.saveStatus.textContent = 'Reverted to checkpoint';
    } catch (e) {
      this.banner('error', `Revert failed: ${api.errorText(e)}`);
    }
  }

  async rename() {
    const name = await askText('Rename notebook', 'New name', this.name);
    if (!name || name === this.name) return;
    const dir = this.path.includes('/') ? this.path.slice(0, this.path.lastIndexOf('/') + 1) : '';
    const target = dir + (name.endsWith('.ipynb') ? name : `${name}.ipynb`);
    try {
      const m = await api.contents.rename(this.path, target);
      this.path = m.path;
      this.name = m.name;
      if (this.session) this.session = await api.sessions.patch(this.session.id, { path: m.path, name: m.name });
      window.history.replaceState(null, '', api.appLink('notebooks', m.path));
      this.setTitle();
    } catch (e) {
      this.banner('error', `Rename failed: ${api.errorText(e)}`);
    }
  }

  startAutosave() {
    const s = api.config.autosaveSeconds;
    if (!s || s <= 0) return;
    setInterval(() => {
      if (this.dirty() && !this.saving) this.save({ auto: true });
    }, s * 1000);
  }
}

async function unwrap(p) {
  const r = await p;
  if (r.e) throw r.e;
  return r.v;
}

export async function openNotebook(app, path, prefetch = null) {
  const page = new NotebookPage(app, path);
  window.cnote = page;
  page.buildFrame();
  page.nameBtn.textContent = page.name;
  page.setTitle();
  let specs;
  try {
    [specs] = await Promise.all([prefetch ? unwrap(prefetch.specs) : api.kernelspecs.get(), page.load(prefetch && prefetch.model)]);
  } catch (e) {
    page.main.replaceChildren(el('div', { class: 'banner error', role: 'alert', text: `This notebook could not be opened: ${api.errorText(e)}` }));
    window.__cnoteReady = true;
    return page;
  }
  page.specs = specs;
  page.fillKernelSelect(page.specName());
  page.wireKernel();
  page.startAutosave();
  page.select(page.current, { focus: true });
  const ready = page.startSession().then(
    () =>
      new Promise((resolve) => {
        if (page.kernel.info) return resolve();
        const t = setTimeout(resolve, 15000);
        page.kernel.addEventListener('info', () => (clearTimeout(t), resolve()), { once: true });
      }),
  );
  await ready;
  window.__cnoteReady = true;
  return page;
}
