"""Export a model as a self-contained generator: ``js``, ``html``, ``csharp``, ``onnx``.

    >>> import charsmith
    >>> from charsmith.export import export
    >>> export(charsmith.load("dinosaurs"), "dinos.js", format="js")   # dinos.js and dinos.d.ts

Every format follows one sampling specification (docs/export.md; in code,
:mod:`charsmith.export._spec`): the same seed gives the same items in every target. A format
module has ``export(model, out, *, dtype, known) -> list[Path]`` (atomic writes, the files
written) and ``check(model)`` (raises if the format cannot express the model); it is
imported only when used.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from charsmith._labelled import read_labelled
from charsmith._novelty import is_known
from charsmith._reading import read_text, split_lines
from charsmith.errors import CharsmithWarning, InputError
from charsmith.export._spec import DTYPES, KNOWN_INFO_KEY, check_dtype, fnv1a32, network
from charsmith.netmix import network_part

__all__ = ["DTYPES", "FORMATS", "SIZE_WARNING", "check", "export", "outputs", "with_known_items"]

FORMATS = {"js": "charsmith.export.js", "html": "charsmith.export.html", "csharp": "charsmith.export.csharp",
           "onnx": "charsmith.export.onnx"}
MB = 1 << 20
SIZE_WARNING = {"js": 50 * MB, "html": 50 * MB, "csharp": 50 * MB, "onnx": 200 * MB}  # past these: a warning


def _module(fmt: str) -> ModuleType:
    if fmt not in FORMATS:
        raise InputError(f"unknown export `format` {fmt!r}; choose one of {', '.join(FORMATS)}", param="format")
    try:
        return importlib.import_module(FORMATS[fmt])
    except ModuleNotFoundError as e:
        if e.name != FORMATS[fmt]:
            raise
        raise InputError(f"format {fmt} is not available in this charsmith; choose another `format`: "
                         f"{', '.join(f for f in FORMATS if _exists(f))}", param="format") from None


def _exists(fmt: str) -> bool:
    return importlib.util.find_spec(FORMATS[fmt]) is not None


def outputs(fmt: str, out: str | os.PathLike[str]) -> list[Path]:
    """The files ``fmt`` writes for ``out`` (a format with more than one file names them)."""
    mod = _module(fmt)
    return list(mod.outputs(Path(out))) if hasattr(mod, "outputs") else [Path(out)]


def check(model: Any, fmt: str, dtype: str = "float32") -> None:
    """Raise InputError (or the format's own error) unless ``fmt`` can express ``model`` in ``dtype``."""
    check_dtype(dtype)
    network(model)
    _module(fmt).check(model)


def export(model: Any, out: str | os.PathLike[str], *, format: str, dtype: str = "float32",
           known: bool | str | os.PathLike[str] | Sequence[str] = False, force: bool = False) -> list[Path]:
    """Write ``model`` as a ``format`` generator at ``out``; return the files written.

    ``dtype``: "float32", or "float16" for half the size. ``known``: ship the hashes of the
    data set's items so the generator skips them; the items are a file of them (one per
    line, or a folder of category files) or a list: a checkpoint keeps only 64-bit hashes of
    its items, from which the export's 32-bit ones cannot be made. ``force`` replaces files
    that exist; without it they raise InputError and nothing is written. A file larger than
    makes sense for the format warns (CharsmithWarning) with its size.
    """
    mod = _module(format)
    model = _network_of(model)
    check(model, format, dtype)
    targets = outputs(format, out)
    existing = [str(p) for p in targets if p.exists()]
    if existing and not force:
        raise InputError(f"{' and '.join(existing)} already {'exists' if len(existing) == 1 else 'exist'}; "
                         "replace with `force`, or choose another `out`", param="out")
    folder = Path(out).parent
    if not folder.is_dir():
        raise InputError(f"the folder {folder} does not exist; create it, or choose another `out`", param="out")
    if known is not False:
        model = with_known_items(model, _known_items(model, known))
    written = list(mod.export(model, Path(out), dtype=dtype, known=known is not False))
    size = sum(p.stat().st_size for p in written)
    if size > SIZE_WARNING[format]:
        warnings.warn(f"the {format} export is {size / MB:.1f} MB, more than {SIZE_WARNING[format] // MB} MB makes "
                      "sense for it; float16 weights halve it, a smaller model shrinks it", CharsmithWarning,
                      stacklevel=2)
    return written


def _network_of(model: Any) -> Any:
    """A mixture of one network and an n-gram model (``mix_order``) as its network, with a
    CharsmithWarning (the n-gram tables do not export); any other model as it is."""
    part = network_part(model.ckpt)
    if part is model.ckpt:
        return model
    warnings.warn("this model is a network mixed with an n-gram model; the export writes the network alone (its "
                  "samples and scores are the network's, as with `mix_order=0`)", CharsmithWarning, stacklevel=3)
    return dataclasses.replace(model, ckpt=part)


def _known_items(model: Any, known: bool | str | os.PathLike[str] | Sequence[str]) -> list[str]:
    _check_lines(model)
    if known is True:
        raise InputError("`known` needs the training items: a checkpoint keeps only 64-bit BLAKE2b hashes of its "
                         "items, not the items; pass the training file as `known=FILE`", param="known")
    if isinstance(known, (str, os.PathLike)):
        path = Path(known)
        if path.is_dir():
            return read_labelled(path, lowercase=model.lowercase).items
        return split_lines(read_text(path), lowercase=model.lowercase, source=str(path))
    return [s.lower() if model.lowercase else s for s in known]  # type: ignore[union-attr]


def _check_lines(model: Any) -> None:
    if model.mode != "lines":
        raise InputError("`known` is for models of list items; this model learned running text", param="known")


def with_known_items(model: Any, items: Sequence[str]) -> Any:
    """``model`` carrying the FNV-1a hashes of ``items`` for an export (see ``_spec.known_hashes``).
    The items must be the model's own data: InputError names how many the checkpoint does not know."""
    _check_lines(model)
    if model.ckpt.known is not None:
        unknown = int(np.count_nonzero(~is_known(list(items), model.ckpt.known)))
        if unknown:
            raise InputError(f"{unknown} of the {len(items)} `known` items are not in this model's data set; "
                             "pass the file the model was trained on", param="known")
    hashes = np.unique(np.fromiter((fnv1a32(s) for s in items), dtype=np.uint32, count=len(items)))
    return dataclasses.replace(model, ckpt=dataclasses.replace(model.ckpt, info={**model.ckpt.info,
                                                                                KNOWN_INFO_KEY: hashes}))
