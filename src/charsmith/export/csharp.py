"""The ``csharp`` export: one ``.cs`` file, a class with ``Sample``, ``Score`` and ``Complete``
for Unity, Godot .NET and MonoGame (C# 4 and the .NET base library only).

The class is named after the file (``Dinosaurs.cs`` -> ``Charsmith.Dinosaurs``). Its weights
are the model's arrays in :func:`charsmith.model.param_shapes` order, each row-major and
little-endian in ``dtype`` (float32 or float16), widened to double when the class loads. Up to
:data:`EMBED_LIMIT` bytes they are embedded in the file as base64; above it (a C# assembly's
string heap holds at most 16 MB) they go to ``<Name>.bytes`` beside it, which the class reads
from a byte array (in Unity, a TextAsset's ``bytes``).

The C# code follows charsmith's sampling specification (float64 arithmetic, xoshiro128**,
inverse-CDF draws), so a seed gives the same items as the other exports; see the file's header
and docs/export_csharp_onnx.md.
"""

from __future__ import annotations

import base64
import re
import string
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

import charsmith
from charsmith import model as M
from charsmith._fileio import atomic_write_bytes, atomic_write_text
from charsmith.errors import InputError
from charsmith.export._csharp_source import SOURCE
from charsmith.export._spec import known_hashes as _known_hashes
from charsmith.export._spec import network

if TYPE_CHECKING:
    from charsmith.api import CharModel

__all__ = ["EMBED_LIMIT", "check", "class_name", "export", "outputs", "weight_bytes", "write"]

EMBED_LIMIT = 4_000_000  # weight bytes embedded as base64 (5.3 M characters, 10.7 MB of the 16 MB string heap)
DTYPES = {"float32": "<f4", "float16": "<f2"}
CELLS = {"rnn": 0, "lstm": 1, "gru": 2}
_CHUNK = 65536  # base64 characters per string literal (a multiple of 4: each decodes on its own)


def check(model: CharModel) -> None:
    """Raise InputError if the csharp export cannot express ``model``."""
    cfg = network(model)
    if cfg.cell not in CELLS:
        raise InputError(f"the csharp export writes rnn, lstm and gru networks; this model's cell is {cfg.cell!r}")
    if any(0xD800 <= ord(c) <= 0xDFFF for c in model.ckpt.vocab.chars):
        raise InputError("the csharp format cannot express this model: its vocabulary holds lone surrogate code "
                         "points, which a C# string cannot hold as one character")


def outputs(out: Path) -> list[Path]:
    """The files the export may write: the class file, and the weights beside it (written only
    above EMBED_LIMIT, but an old one there is not silently replaced either)."""
    return [out, out.with_name(class_name(out) + ".bytes")]


def class_name(out: Path) -> str:
    """The C# class name for the file ``out``: its stem in PascalCase (``dino-names.cs`` ->
    ``DinoNames``), prefixed with ``Model`` if that starts with a digit or is empty."""
    parts = [p for p in re.split(r"[^0-9A-Za-z]+", out.stem) if p]
    name = "".join(p[0].upper() + p[1:] for p in parts)
    return name if name and not name[0].isdigit() else "Model" + name


def weight_bytes(model: CharModel, dtype: str) -> bytes:
    """The weights as the C# class reads them: each array of :func:`charsmith.model.param_shapes`
    in order, row-major, little-endian ``dtype``."""
    if dtype not in DTYPES:
        raise InputError(f"`dtype` must be one of {', '.join(DTYPES)}, got {dtype!r}", param="dtype")
    params = model.ckpt.params
    chunks = []
    for name in M.param_shapes(network(model)):
        a = np.ascontiguousarray(params[name], dtype=np.float64)
        out = a.astype(DTYPES[dtype])
        if not np.isfinite(out).all():
            raise InputError(f"weight {name} has values beyond {dtype}'s range (largest {np.abs(a).max():g}); "
                             "export with `dtype=float32`", param="dtype")
        chunks.append(out.tobytes())
    return b"".join(chunks)


def export(model: CharModel, out: Path, *, dtype: str = "float32", known: bool = False) -> list[Path]:
    """Write ``model`` as the C# class file ``out`` (and ``<Name>.bytes`` beside it when the
    weights are above :data:`EMBED_LIMIT`); return the files written. ``known``: ship the
    training items' hashes, so ``Sample`` skips them."""
    hashes = _known_hashes(model) if known else None
    return write(model, Path(out), dtype=dtype, known_hashes=hashes)


def write(model: CharModel, out: Path, *, dtype: str = "float32", known_hashes: np.ndarray | None = None) -> list[Path]:
    """:func:`export` with the known set given as sorted uint32 FNV-1a hashes (or None)."""
    check(model)
    data = weight_bytes(model, dtype)
    name = class_name(out)
    beside = out.with_name(name + ".bytes") if len(data) > EMBED_LIMIT else None
    source = render(model, name, data, dtype, known_hashes, beside)
    written = []
    if beside is not None:
        atomic_write_bytes(beside, data)
        written.append(beside)
    atomic_write_text(out, source)
    written.append(out)
    return written


def _cs_string(s: str) -> str:
    """``s`` as a C# string literal, ASCII only (other characters as UTF-16 escapes)."""
    out = []
    for ch in s:
        if ch in '"\\':
            out.append("\\" + ch)
        elif 32 <= ord(ch) < 127:
            out.append(ch)
        else:
            units = ch.encode("utf-16-le", "surrogatepass")
            out.extend(f"\\u{int.from_bytes(units[i:i + 2], 'little'):04x}" for i in range(0, len(units), 2))
    return '"' + "".join(out) + '"'


def describe(model: CharModel) -> str:
    cfg = network(model)
    parts = [f"{cfg.cell} x{cfg.layers}, hidden {cfg.hidden}"]
    if cfg.embed:
        parts.append(f"embed {cfg.embed}")
    parts.append(f"{cfg.vocab_size} symbols")
    if cfg.categories:
        parts.append(f"{cfg.categories} categories")
    parts.append("running text" if model.mode == "text" else "list items")
    source = model.ckpt.info.get("source") if model.ckpt.info else None
    return ", ".join(parts) + (f", trained on {source}" if source else "")


def render(model: CharModel, name: str, data: bytes, dtype: str, known_hashes: np.ndarray | None,
           beside: Path | None) -> str:
    """The C# source of class ``name`` for ``model`` with the weight bytes ``data``."""
    cfg, ckpt = network(model), model.ckpt
    cats = ckpt.categories
    hashes = np.zeros(0, dtype="<u4") if known_hashes is None else np.unique(np.asarray(known_hashes, dtype="<u4"))
    b64 = base64.b64encode(data).decode("ascii") if beside is None else ""
    chunks = [b64[i : i + _CHUNK] for i in range(0, len(b64), _CHUNK)]
    example = "" if cats is None else f', category: "{cats.names[0]}"'
    letter = next((c for c in ckpt.vocab.chars if c.isalpha()), "")  # a prompt for a text model's example
    beside_name = beside.name if beside is not None else f"{name}.bytes"
    fields = {
        "Class": name,
        "version": charsmith.__version__,
        "describe": describe(model),
        "dtype": dtype,
        "weights_where": (f"{len(data):,} bytes in {beside.name} beside this file (too many to embed)"
                          if beside is not None else f"{len(data):,} bytes embedded below as base64"),
        "beside_note": f" but its weights, {beside_name}" if beside is not None else "",
        "beside_snippet": (f"  // with {beside_name} imported as a TextAsset:\n//         // "
                           f"generator = new {name}(weightsAsset.bytes);" if beside is not None else ""),
        "beside_name": beside_name,
        "usage_lines": (f"//             Debug.Log(generator.Complete({_cs_string(letter)}, 200, temperature: 0.8));"
                        if model.mode == "text" else
                        f"//             foreach (string name in generator.Sample(5, temperature: 0.8{example}))\n"
                        "//                 Debug.Log(name);"),
        "known_note": (f"{hashes.size:,} hashes of the training items (FNV-1a 32-bit, {4 * hashes.size:,} bytes); "
                       "Sample skips them unless skipKnown is false" if hashes.size else
                       "none shipped (export with the known items to skip them)"),
        "cell": str(CELLS[cfg.cell]),
        "gates": str({"rnn": 1, "lstm": 4, "gru": 3}[cfg.cell]),
        "V": str(cfg.vocab_size), "H": str(cfg.hidden), "L": str(cfg.layers), "E": str(cfg.embed),
        "K": str(cfg.categories), "C": str(cfg.cat_embed),
        "text": "true" if model.mode == "text" else "false",
        "lower": "true" if model.lowercase else "false",
        "half": "true" if dtype == "float16" else "false",
        "nbytes": str(len(data)),
        "vocab": ", ".join(str(ord(c)) for c in ckpt.vocab.chars),
        "cat_names": "" if cats is None else ", ".join(_cs_string(n) for n in cats.names),
        "cat_counts": "" if cats is None else ", ".join(f"{c}.0" for c in cats.counts),
        "known": base64.b64encode(hashes.tobytes()).decode("ascii"),
        "weights": ",\n".join(f'            "{c}"' for c in chunks),
    }
    return string.Template(SOURCE).substitute(fields)
