// model.js - the notebook document (nbformat 4) without any DOM.
//
// A loaded notebook keeps every cell's JSON object as it came from the contents API, and only
// source, outputs and execution_count are replaced when the notebook is saved; keys this app
// does not know (metadata, attachments, ids, future fields) go back unchanged, so a notebook
// written by JupyterLab re-saves byte-identical (the server writes nbformat's own JSON).
// Cell ids follow nbformat 4.5: kept when present, created for new cells when the notebook's
// nbformat_minor is 5 or more.

export const CELL_TYPES = ['code', 'markdown', 'raw'];

let seq = 0;

export function newCellId() {
  const r = globalThis.crypto && crypto.getRandomValues ? crypto.getRandomValues(new Uint32Array(2)) : [Math.random() * 2 ** 32, seq++];
  return (r[0].toString(16) + r[1].toString(16)).padStart(16, '0').slice(0, 16);
}

function joinSource(s) {
  if (Array.isArray(s)) return s.join('');
  return typeof s === 'string' ? s : '';
}

export function emptyNotebook(kernelspec) {
  const nb = { cells: [], metadata: {}, nbformat: 4, nbformat_minor: 5 };
  if (kernelspec) nb.metadata.kernelspec = kernelspec;
  return nb;
}

export class Cell {
  constructor(json, nb) {
    this.json = json; // the original object (its source/outputs are not read after load)
    this.type = CELL_TYPES.includes(json.cell_type) ? json.cell_type : 'raw';
    this.source = joinSource(json.source);
    this.executionCount = json.execution_count ?? null;
    this.outputs = Array.isArray(json.outputs) ? json.outputs : [];
    this.id = typeof json.id === 'string' ? json.id : null;
    if (!this.id && nb.minor >= 5) this.id = newCellId();
    this.key = this.id || `c${++seq}`; // stable key for the view
  }

  // outputsJSON: the current outputs (the view's OutputArea.toJSON()), or undefined for the loaded ones
  toJSON(outputsJSON) {
    const j = { ...this.json };
    j.cell_type = this.type;
    j.source = this.source;
    if (!j.metadata || typeof j.metadata !== 'object') j.metadata = {};
    if (this.id) j.id = this.id;
    if (this.type === 'code') {
      j.execution_count = this.executionCount ?? null;
      j.outputs = outputsJSON !== undefined ? outputsJSON : this.outputs;
    } else {
      delete j.execution_count;
      delete j.outputs;
    }
    return j;
  }
}

export class NotebookModel {
  constructor(content) {
    const c = content && typeof content === 'object' ? content : emptyNotebook();
    if (c.nbformat !== undefined && c.nbformat !== 4) {
      throw new Error(`nbformat ${c.nbformat} is not supported (only nbformat 4)`);
    }
    this.json = { ...c };
    this.minor = Number.isInteger(c.nbformat_minor) ? c.nbformat_minor : 5;
    this.metadata = c.metadata && typeof c.metadata === 'object' ? c.metadata : {};
    this.cells = (Array.isArray(c.cells) ? c.cells : []).map((j) => new Cell(j, this));
  }

  newCell(type = 'code', source = '') {
    const json = { cell_type: type, metadata: {}, source };
    if (type === 'code') {
      json.execution_count = null;
      json.outputs = [];
    }
    const cell = new Cell(json, this);
    if (!cell.id && this.minor >= 5) cell.id = newCellId();
    return cell;
  }

  insert(index, cell) {
    this.cells.splice(Math.max(0, Math.min(index, this.cells.length)), 0, cell);
    return cell;
  }

  remove(index) {
    return this.cells.splice(index, 1)[0];
  }

  move(from, to) {
    if (to < 0 || to >= this.cells.length || from === to) return false;
    const [c] = this.cells.splice(from, 1);
    this.cells.splice(to, 0, c);
    return true;
  }

  // change a cell's type in place (keeps source, id and metadata; outputs go when it stops being code)
  setType(index, type) {
    const cell = this.cells[index];
    if (!cell || cell.type === type || !CELL_TYPES.includes(type)) return false;
    cell.type = type;
    if (type !== 'code') {
      cell.outputs = [];
      cell.executionCount = null;
    }
    return true;
  }

  index(cell) {
    return this.cells.indexOf(cell);
  }

  // nbformat 4 JSON; outputsOf(cell) gives a code cell's current outputs (or undefined)
  toJSON(outputsOf = () => undefined) {
    return {
      ...this.json,
      metadata: this.metadata,
      nbformat: 4,
      nbformat_minor: this.minor,
      cells: this.cells.map((c) => c.toJSON(c.type === 'code' ? outputsOf(c) : undefined)),
    };
  }
}

// The notebook's code cells as one C source file (the "export as .c" download). Magics and
// %%cuda cells are kept as comments so the file stays valid C.
export function exportC(model, name = 'notebook') {
  const lines = [`/* ${name}: the code cells of a cnote notebook */`, ''];
  let n = 0;
  for (const cell of model.cells) {
    if (cell.type !== 'code') continue;
    n++;
    lines.push(`/* ---- cell ${n}${cell.executionCount != null ? ` [${cell.executionCount}]` : ''} ---- */`);
    const cellMagic = /^\s*%%/.test(cell.source);
    for (const line of cell.source.split('\n')) {
      lines.push(cellMagic || /^\s*%/.test(line) ? `// ${line}` : line);
    }
    lines.push('');
  }
  return lines.join('\n');
}

// Markdown cells' text for the outline and titles: the first heading, if any.
export function firstHeading(model) {
  for (const c of model.cells) {
    if (c.type !== 'markdown') continue;
    const m = /^#{1,6}\s+(.+)$/m.exec(c.source);
    if (m) return m[1].trim();
  }
  return '';
}
