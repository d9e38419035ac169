// editor.js - the CodeMirror 6 set-up of a cell: C/C++ highlighting (or plain text for
// Markdown), bracket matching and auto-closing, indentation, history, and the Jupyter keys
// handed to the notebook through `keys` (Shift-Enter, Ctrl-Enter, Alt-Enter, Esc, Ctrl-S, Tab
// for completion or indent, Shift-Tab for inspection, Up/Down at the edges to leave the cell).
import { EditorView, keymap, drawSelection, highlightSpecialChars } from '@codemirror/view';
import { EditorState, Compartment, Prec } from '@codemirror/state';
import { bracketMatching, indentOnInput, syntaxHighlighting, indentUnit } from '@codemirror/language';
import { classHighlighter } from '@lezer/highlight';
import { defaultKeymap, history, historyKeymap, indentMore, indentLess } from '@codemirror/commands';
import {
  autocompletion,
  startCompletion,
  closeBrackets,
  closeBracketsKeymap,
  completionKeymap,
  completionStatus,
  acceptCompletion,
} from '@codemirror/autocomplete';
import { cpp } from '@codemirror/lang-cpp';

const langConf = new Compartment();

// identifier (or member access) right before the cursor: Tab completes there, else indents
function wordBefore(state) {
  const pos = state.selection.main.head;
  if (!state.selection.main.empty) return false;
  const line = state.doc.lineAt(pos);
  return /[\w$#.>:]$/.test(line.text.slice(0, pos - line.from)) && /\w/.test(line.text.slice(0, pos - line.from));
}

// keys: {run(mode), escape(), save(), complete(ctx) -> CompletionResult|null, inspect(view), leave(dir)}
export function createEditor(parent, { doc, language, keys, onChange, label }) {
  const jupyterKeys = Prec.highest(
    keymap.of([
      { key: 'Shift-Enter', run: () => (keys.run('advance'), true) },
      { key: 'Mod-Enter', run: () => (keys.run('stay'), true) },
      { key: 'Alt-Enter', run: () => (keys.run('insert'), true) },
      {
        key: 'Escape',
        run: (v) => {
          if (completionStatus(v.state)) return false;
          keys.escape();
          return true;
        },
      },
      { key: 'Mod-s', run: () => (keys.save(), true), preventDefault: true },
      {
        key: 'Tab',
        run: (v) => {
          if (completionStatus(v.state) === 'active') return acceptCompletion(v);
          if (wordBefore(v.state)) return startCompletion(v);
          return indentMore(v);
        },
      },
      {
        key: 'Shift-Tab',
        run: (v) => {
          if (!v.state.selection.main.empty) return indentLess(v);
          keys.inspect(v);
          return true;
        },
      },
      {
        key: 'ArrowUp',
        run: (v) => {
          const s = v.state.selection.main;
          if (!s.empty || v.state.doc.lineAt(s.head).number !== 1 || completionStatus(v.state)) return false;
          // a wrapped first line: only its first visual row leaves the cell
          if (v.moveVertically(s, false).head !== s.head && v.moveVertically(s, false).head !== 0) return false;
          return keys.leave(-1);
        },
      },
      {
        key: 'ArrowDown',
        run: (v) => {
          const s = v.state.selection.main;
          if (!s.empty || v.state.doc.lineAt(s.head).number !== v.state.doc.lines || completionStatus(v.state)) return false;
          const end = v.state.doc.length;
          if (v.moveVertically(s, true).head !== s.head && v.moveVertically(s, true).head !== end) return false;
          return keys.leave(1);
        },
      },
    ]),
  );
  const extensions = [
    jupyterKeys,
    history(),
    drawSelection(),
    highlightSpecialChars(),
    EditorState.allowMultipleSelections.of(false),
    indentUnit.of('    '),
    indentOnInput(),
    bracketMatching(),
    closeBrackets(),
    syntaxHighlighting(classHighlighter),
    autocompletion({ override: [keys.complete], activateOnTyping: false, icons: false }),
    keymap.of([...closeBracketsKeymap, ...completionKeymap, ...historyKeymap, ...defaultKeymap]),
    EditorView.lineWrapping,
    langConf.of(language === 'c' ? cpp() : []),
    EditorView.contentAttributes.of({ 'aria-label': label || 'Cell source' }),
    EditorView.updateListener.of((u) => {
      if (u.docChanged) onChange(u.state.doc.toString());
    }),
  ];
  return new EditorView({ parent, state: EditorState.create({ doc, extensions }) });
}

export function setLanguage(view, language) {
  view.dispatch({ effects: langConf.reconfigure(language === 'c' ? cpp() : []) });
}

export function setDoc(view, text) {
  view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } });
}
