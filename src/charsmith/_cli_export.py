"""``charsmith export``: write a model as a self-contained generator (js, html, csharp, onnx).

    charsmith export MODEL --format FORMAT --out PATH [--force] [--dtype float16] [--known FILE]

Parses, calls :func:`charsmith.export.export`, prints what it wrote; errors and the size
warning come from the library (the CLI prints them as one line each).
"""

from __future__ import annotations

import argparse
from typing import Any, TextIO

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    from charsmith.export import DTYPES, FORMATS

    e = sub.add_parser("export", help="write a model as a generator for the web, Node, C# or ONNX",
                       description="Write MODEL (a bundled model or a checkpoint directory) as a self-contained "
                                   "generator: js (an ES module and its .d.ts), html (one page that works from disk), "
                                   "csharp (one .cs file), onnx (one step of the network). See docs/export.md.")
    e.add_argument("model", help="a bundled model name or a checkpoint directory")
    e.add_argument("--format", required=True, metavar="FORMAT", help=f"one of {', '.join(FORMATS)}")
    e.add_argument("--out", required=True, help="the file to write (js also writes NAME.d.ts beside it)")
    e.add_argument("--force", action="store_true", help="replace files that exist")
    e.add_argument("--dtype", default="float32", choices=DTYPES, help="weights' precision (float16: half the size)")
    e.add_argument("--known", metavar="FILE", nargs="?", const=True,
                   help="ship hashes of the data set's items (the training FILE, or folder of category files) so "
                        "the generator skips them")


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from charsmith.api import load
    from charsmith.export import export

    model = load(args.model)
    written = export(model, args.out, format=args.format, dtype=args.dtype,
                     known=args.known or False, force=args.force)
    for path in written:
        print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)", file=out)
    return 0
