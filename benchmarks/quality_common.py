"""Helpers of the quality benchmarks.

``benchmarks/QUALITY.md`` is shared by several scripts: each owns one ``## heading`` section.
``write_section`` replaces that section (or appends it), leaving the others as they are;
``quality.py`` owns the part before the first ``##``. ``parse_option`` reads ``--set KEY=VALUE``.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["parse_option", "sections_after_head", "write_section"]


def _split(text: str) -> tuple[str, list[tuple[str, str]]]:
    """(the part before the first '## ' heading, [(heading, body), ...])."""
    parts = ("\n" + text).split("\n## ")
    head, sections = parts[0].lstrip("\n"), []
    for part in parts[1:]:
        heading, _, body = part.partition("\n")
        sections.append((heading.strip(), body.strip("\n")))
    return head, sections


def sections_after_head(path: Path) -> str:
    """The '## ' sections of ``path`` as text ('' if none or no file), for the owner of the head."""
    if not path.is_file():
        return ""
    _, sections = _split(path.read_text(encoding="utf-8"))
    return "".join(f"\n## {h}\n\n{b}\n" for h, b in sections)


def write_section(path: Path, heading: str, body: str) -> None:
    """Replace (or append) the section ``## heading`` of ``path`` with ``body``."""
    head, sections = _split(path.read_text(encoding="utf-8")) if path.is_file() else ("", [])
    body = body.strip("\n")
    if any(h == heading for h, _ in sections):
        sections = [(h, body if h == heading else b) for h, b in sections]
    else:
        sections.append((heading, body))
    text = head.rstrip("\n") + "\n" + "".join(f"\n## {h}\n\n{b}\n" for h, b in sections)
    path.write_text(text, encoding="utf-8")


def parse_option(text: str) -> tuple[str, object]:
    """"hidden=384" -> ("hidden", 384): an int, else a float, else the string."""
    key, _, value = text.partition("=")
    for kind in (int, float):
        try:
            return key, kind(value)
        except ValueError:
            pass
    return key, value
