"""What the JavaScript targets (js, html) carry: the model's description, its weights as one
base64 blob, the known set, and the runtime (``_runtime.js``)."""

from __future__ import annotations

import base64
import json
from importlib import resources
from typing import Any

import numpy as np

from charsmith import __version__
from charsmith.errors import InputError
from charsmith.export._spec import known_hashes, weight_arrays
from charsmith.export._wasm import matvec_module

__all__ = ["check_model", "meta", "runtime_source", "weight_blob"]


def check_model(model: Any, fmt: str) -> None:
    """The runtimes handle every cell, layer count, embedding and category set charsmith
    trains; what they cannot express is a vocabulary whose characters do not round-trip
    through a JavaScript string one code point each."""
    chars = model.ckpt.vocab.chars
    if any(0xD800 <= ord(c) <= 0xDFFF for c in chars):
        raise InputError(f"the {fmt} format cannot express this model: its vocabulary holds lone surrogate code points")


def weight_blob(model: Any, dtype: str) -> tuple[bytes, list[list[Any]]]:
    """All parameters as one little-endian byte string, each at a 4-byte aligned offset, and
    the table [[name, shape, byte offset], ...] that finds them."""
    parts, table, offset = [], [], 0
    for name, a in weight_arrays(model, dtype).items():
        raw = a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()
        raw += b"\0" * (-len(raw) % 4)
        table.append([name, list(a.shape), offset])
        parts.append(raw)
        offset += len(raw)
    return b"".join(parts), table


def meta(model: Any, dtype: str, known: bool) -> tuple[dict[str, Any], str]:
    """The model's description for the runtime, and its weights in base64."""
    blob, table = weight_blob(model, dtype)
    cfg, cats = model.ckpt.model, model.ckpt.categories
    hashes = known_hashes(model) if known else None
    return {
        "version": __version__,
        "mode": model.mode,
        "chars": model.ckpt.vocab.chars,
        "lowercase": bool(model.lowercase),
        "cell": cfg.cell,
        "hidden": cfg.hidden,
        "layers": cfg.layers,
        "embed": cfg.embed,
        "categories": [] if cats is None else list(cats.names),
        "counts": [] if cats is None else list(cats.counts),
        "dtype": dtype,
        "tensors": table,
        "wasm": matvec_module(),
        "known": None if hashes is None else base64.b64encode(np.asarray(hashes, "<u4").tobytes()).decode("ascii"),
    }, base64.b64encode(blob).decode("ascii")


def runtime_source() -> str:
    return (resources.files("charsmith.export") / "_runtime.js").read_text(encoding="utf-8")


def js_literal(value: Any) -> str:
    """``value`` as a JavaScript literal: JSON, ASCII only, every "<" escaped (so no "</script>"
    or "<!--" inside a page's script can come from a model's characters or category names)."""
    return json.dumps(value, ensure_ascii=True).replace("<", "\\u003c")
