"""``html``: one page that generates names (or continues a text) offline, opened from disk.

The page carries the web page's controls that apply without a server: how many, temperature,
starts with, length, style or blend (models with categories), seed, keeping names of the data
set (with ``known``), a shortlist and its download; for text models a prompt to continue.
"""

from __future__ import annotations

import html
import re
from importlib import resources
from pathlib import Path
from typing import Any

from charsmith._fileio import atomic_write_text
from charsmith.export._bundle import check_model, js_literal, meta, runtime_source

__all__ = ["check", "export", "page"]

_SLOT = re.compile(r"__(TITLE|RUNTIME|META|WEIGHTS)__")


def check(model: Any) -> None:
    check_model(model, "html")


def page(model: Any, dtype: str, known: bool, title: str) -> str:
    """The page's text."""
    m, weights = meta(model, dtype, known)
    values = {"TITLE": html.escape(title), "RUNTIME": runtime_source(), "META": js_literal(m),
              "WEIGHTS": js_literal(weights)}
    template = (resources.files("charsmith.export") / "_page.html").read_text(encoding="utf-8")
    return _SLOT.sub(lambda match: values[match.group(1)], template)


def export(model: Any, out: Path, *, dtype: str = "float32", known: bool = False) -> list[Path]:
    check(model)
    title = (out.name[: -len(out.suffix)] if out.suffix else out.name) + " generator"
    atomic_write_text(out, page(model, dtype, known, title))
    return [out]
