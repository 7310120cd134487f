// The CodeMirror 6 editor: basic set-up, a syntax mode picked by the language's name (the
// small stream-parser modes of @codemirror/legacy-modes: one grammar each would triple the
// bundle), Tab to indent (Escape then Tab leaves the editor) and Ctrl/Cmd+Enter to run.
import { indentWithTab } from "@codemirror/commands";
import { StreamLanguage } from "@codemirror/language";
import { c, cpp, csharp, java, kotlin, objectiveC, scala } from "@codemirror/legacy-modes/mode/clike";
import { commonLisp } from "@codemirror/legacy-modes/mode/commonlisp";
import { d } from "@codemirror/legacy-modes/mode/d";
import { go } from "@codemirror/legacy-modes/mode/go";
import { groovy } from "@codemirror/legacy-modes/mode/groovy";
import { haskell } from "@codemirror/legacy-modes/mode/haskell";
import { javascript, typescript } from "@codemirror/legacy-modes/mode/javascript";
import { lua } from "@codemirror/legacy-modes/mode/lua";
import { oCaml } from "@codemirror/legacy-modes/mode/mllike";
import { pascal } from "@codemirror/legacy-modes/mode/pascal";
import { python } from "@codemirror/legacy-modes/mode/python";
import { r } from "@codemirror/legacy-modes/mode/r";
import { ruby } from "@codemirror/legacy-modes/mode/ruby";
import { rust } from "@codemirror/legacy-modes/mode/rust";
import { scheme } from "@codemirror/legacy-modes/mode/scheme";
import { shell } from "@codemirror/legacy-modes/mode/shell";
import { Compartment, Prec } from "@codemirror/state";
import { EditorView, keymap } from "@codemirror/view";
import { basicSetup } from "codemirror";

import { family } from "./starters.js";

const MODES = {
  Python: python, C: c, "C++": cpp, "C#": csharp, "Objective-C": objectiveC, Java: java,
  Kotlin: kotlin, Scala: scala, Groovy: groovy, JavaScript: javascript, TypeScript: typescript,
  Rust: rust, Go: go, Bash: shell, Ruby: ruby, Lua: lua, Haskell: haskell, Pascal: pascal,
  R: r, "Common Lisp": commonLisp, Scheme: scheme, Racket: scheme, D: d, OCaml: oCaml,
};

export function createEditor(parent, { onRun, onChange }) {
  const mode = new Compartment();
  const view = new EditorView({
    parent,
    extensions: [
      Prec.highest(keymap.of([{ key: "Mod-Enter", run: () => { onRun(); return true; } }])),
      basicSetup,
      keymap.of([indentWithTab]),
      mode.of([]),
      EditorView.contentAttributes.of({ "aria-label": "Source code" }),
      EditorView.updateListener.of((update) => { if (update.docChanged) onChange(); }),
    ],
  });
  return {
    get text() { return view.state.doc.toString(); },
    set text(value) {
      view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: value } });
    },
    setLanguage(name) {
      const parser = MODES[family(name)];
      view.dispatch({ effects: mode.reconfigure(parser ? StreamLanguage.define(parser) : []) });
    },
  };
}
