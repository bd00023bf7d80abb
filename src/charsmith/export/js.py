"""``js``: one ES module (browsers, Node, Deno, Bun, bundlers) with the weights inlined, and
its TypeScript declarations beside it (``NAME.d.ts``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from charsmith import __version__
from charsmith._fileio import atomic_write_text
from charsmith.export._bundle import check_model, js_literal, meta, runtime_source

__all__ = ["check", "export", "outputs", "source"]

HEADER = """\
// {name}: a charsmith {what} generator (charsmith {version}, {cell} x{layers}, hidden {hidden}, {dtype}).
// Self-contained ES module: no dependencies, no network. Works in browsers, Node, Deno, Bun, bundlers.
//
{usage}
//
// Every target of charsmith's export follows one sampling specification (charsmith's docs/export.md):
// the same seed gives the same items. Made by `charsmith export` (see its docs/export.md).
"""

USAGE_LINES = """\
//   import {{ sample, score }} from "./{name}";
//   sample({{ n: 5, temperature: 0.8, seed: 1 }});     // options: n, temperature, topK, topP, prefix,
//                                                    //   minLen, maxLen, category, seed, allowKnown, unique
//   score("{example}");  // {{ item, logprob, nChars, natsPerChar, bitsPerChar }}"""

USAGE_TEXT = """\
//   import {{ complete, score }} from "./{name}";
//   complete("To be", 200, {{ temperature: 0.8, seed: 1 }});   // the prompt and 200 more characters
//   score("To be");  // {{ item, logprob, nChars, natsPerChar, bitsPerChar }}"""

DTS = """\
// TypeScript declarations for {name} (a charsmith generator).
export type Category = string | Record<string, number>;
export interface SampleOptions {{
  n?: number; temperature?: number; topK?: number; topP?: number; prefix?: string;
  minLen?: number; maxLen?: number; category?: Category; seed?: number; allowKnown?: boolean; unique?: boolean;
}}
export interface CompleteOptions {{ temperature?: number; topK?: number; topP?: number; seed?: number; }}
export interface Score {{ item: string; logprob: number; nChars: number; natsPerChar: number; bitsPerChar: number; }}
export interface Info {{
  mode: "lines" | "text"; cell: string; hidden: number; layers: number; chars: string; categories: string[];
  lowercase: boolean; dtype: "float32" | "float16"; engine: "webassembly" | "javascript"; knownItems: number;
  charsmith: string;
}}
export declare function sample(options?: SampleOptions): string[];
export declare function score(item: string, options?: {{ category?: Category }}): Score;
export declare function complete(prompt?: string, length?: number, options?: CompleteOptions): string;
export declare const info: Info;
declare const generator: {{ sample: typeof sample; score: typeof score; complete: typeof complete; info: Info }};
export default generator;
"""


def check(model: Any) -> None:
    check_model(model, "js")


def outputs(out: Path) -> list[Path]:
    """The module and its declarations: NAME.js -> NAME.d.ts, NAME.mjs -> NAME.d.mts."""
    return [out, out.with_name(_stem(out) + (".d.mts" if out.suffix == ".mjs" else ".d.ts"))]


def _stem(out: Path) -> str:
    return out.name[: -len(out.suffix)] if out.suffix in (".js", ".mjs") else out.name


def header(model: Any, name: str, dtype: str) -> str:
    cfg = model.ckpt.model
    text = model.mode == "text"
    usage = USAGE_TEXT.format(name=name) if text else USAGE_LINES.format(name=name, example=_example(model))
    return HEADER.format(name=name, what="text" if text else "name", version=__version__, cell=cfg.cell,
                         layers=cfg.layers, hidden=cfg.hidden, dtype=dtype, usage=usage)


def _example(model: Any) -> str:
    """An item to show score() with: the model's own first draw (seeded)."""
    return str(model.sample(1, seed=0, allow_known=True).samples[0])


def source(model: Any, dtype: str, known: bool, name: str) -> str:
    """The module's text."""
    m, weights = meta(model, dtype, known)
    return (header(model, name, dtype) + runtime_source()
            + f"\nconst generator = makeGenerator({js_literal(m)},\n  {js_literal(weights)});\n"
            + "export const { sample, score, complete, info } = generator;\nexport default generator;\n")


def export(model: Any, out: Path, *, dtype: str = "float32", known: bool = False) -> list[Path]:
    check(model)
    js, dts = outputs(out)
    atomic_write_text(js, source(model, dtype, known, js.name))
    atomic_write_text(dts, DTS.format(name=js.name))
    return [js, dts]
