// Unit tests of the notebook model (web/src/model.js): what is kept, what is written back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NotebookModel, exportC, firstHeading, newCellId } from '../src/model.js';

const jupyterlabNb = () => ({
  cells: [
    {
      cell_type: 'markdown',
      id: 'a1b2c3',
      metadata: { tags: ['intro'] },
      source: '# Title\n\nSome text',
      attachments: { 'x.png': { 'image/png': 'iVBORw0KGgo=' } },
    },
    {
      cell_type: 'code',
      execution_count: 3,
      id: 'd4e5f6',
      metadata: { collapsed: false, scrolled: true, 'custom-ext': { k: 1 } },
      outputs: [{ name: 'stdout', output_type: 'stream', text: 'hi\n' }],
      source: 'printf("hi\\n");',
    },
  ],
  metadata: {
    kernelspec: { display_name: 'C (cnote)', language: 'c', name: 'cnote' },
    language_info: { name: 'c', version: '11' },
    'unknown-tool': { keep: true },
  },
  nbformat: 4,
  nbformat_minor: 5,
});

test('a loaded notebook goes back unchanged when nothing was edited', () => {
  const nb = jupyterlabNb();
  const m = new NotebookModel(structuredClone(nb));
  assert.deepEqual(m.toJSON(), nb);
});

test('unknown keys of cells and notebook survive edits to source and outputs', () => {
  const m = new NotebookModel(jupyterlabNb());
  m.cells[1].source = 'int x = 1;';
  m.cells[1].executionCount = 7;
  const out = [{ output_type: 'execute_result', data: { 'text/plain': '1' }, metadata: {}, execution_count: 7 }];
  const j = m.toJSON((c) => (c === m.cells[1] ? out : undefined));
  assert.equal(j.cells[1].source, 'int x = 1;');
  assert.equal(j.cells[1].execution_count, 7);
  assert.deepEqual(j.cells[1].outputs, out);
  assert.deepEqual(j.cells[1].metadata, { collapsed: false, scrolled: true, 'custom-ext': { k: 1 } });
  assert.deepEqual(j.cells[0].attachments, { 'x.png': { 'image/png': 'iVBORw0KGgo=' } });
  assert.deepEqual(j.metadata['unknown-tool'], { keep: true });
  assert.equal(j.cells[0].id, 'a1b2c3');
});

test('sources given as arrays of lines are joined', () => {
  const nb = jupyterlabNb();
  nb.cells[1].source = ['int a;\n', 'int b;'];
  const m = new NotebookModel(nb);
  assert.equal(m.cells[1].source, 'int a;\nint b;');
});

test('new cells get nbformat 4.5 ids, and none in older minors', () => {
  const m = new NotebookModel(jupyterlabNb());
  const c = m.insert(1, m.newCell('code', 'x'));
  assert.match(c.id, /^[0-9a-f]{16}$/);
  assert.notEqual(c.id, m.newCell('code').id);
  const old = new NotebookModel({ cells: [{ cell_type: 'code', source: '', metadata: {}, outputs: [], execution_count: null }], metadata: {}, nbformat: 4, nbformat_minor: 4 });
  assert.equal(old.cells[0].id, null);
  assert.equal('id' in old.toJSON().cells[0], false);
  assert.equal(old.newCell('code').id, null);
  assert.match(newCellId(), /^[0-9a-f]{16}$/);
});

test('changing a cell type keeps source, id and metadata and drops code-only keys', () => {
  const m = new NotebookModel(jupyterlabNb());
  assert.equal(m.setType(1, 'markdown'), true);
  const j = m.toJSON().cells[1];
  assert.equal(j.cell_type, 'markdown');
  assert.equal(j.source, 'printf("hi\\n");');
  assert.equal(j.id, 'd4e5f6');
  assert.equal('outputs' in j, false);
  assert.equal('execution_count' in j, false);
  assert.equal(m.setType(1, 'markdown'), false);
  assert.equal(m.setType(1, 'bogus'), false);
  m.setType(1, 'code');
  const k = m.toJSON().cells[1];
  assert.deepEqual(k.outputs, []);
  assert.equal(k.execution_count, null);
});

test('move and remove keep the order right', () => {
  const m = new NotebookModel(jupyterlabNb());
  const ids = () => m.cells.map((c) => c.id);
  assert.equal(m.move(0, 1), true);
  assert.deepEqual(ids(), ['d4e5f6', 'a1b2c3']);
  assert.equal(m.move(1, 2), false);
  assert.equal(m.move(0, -1), false);
  assert.equal(m.remove(0).id, 'd4e5f6');
  assert.deepEqual(ids(), ['a1b2c3']);
});

test('nbformat 3 is refused with a clear message', () => {
  assert.throws(() => new NotebookModel({ nbformat: 3, worksheets: [] }), /nbformat 3 is not supported/);
});

test('export as C: code cells only, in order, magics commented out', () => {
  const m = new NotebookModel(jupyterlabNb());
  m.insert(2, m.newCell('code', '%timeit\nint z = 2;'));
  const c = exportC(m, 'demo.ipynb');
  assert.match(c, /^\/\* demo\.ipynb/);
  assert.ok(c.indexOf('printf("hi\\n");') < c.indexOf('int z = 2;'));
  assert.match(c, /\/\/ %timeit/);
  assert.doesNotMatch(c, /# Title/);
  assert.match(c, /cell 1 \[3\]/);
});

test('first heading of the markdown cells', () => {
  assert.equal(firstHeading(new NotebookModel(jupyterlabNb())), 'Title');
  assert.equal(firstHeading(new NotebookModel()), '');
});
