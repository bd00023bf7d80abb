"""Helpers of the quality benchmarks.

``benchmarks/QUALITY.md`` is shared by several scripts, each owning one top-level ``# heading``
section (``quality.py`` the first; a section runs to the next ``# `` line). ``write_section``
replaces one section, or appends it, leaving the others as they are. ``parse_option`` reads
``--set KEY=VALUE``.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["parse_option", "write_section"]


def _sections(text: str) -> list[tuple[str, str]]:
    """[(heading, the section's text including its heading line), ...] in order."""
    out: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        if line.startswith("# ") or not out:
            out.append((line[2:].strip() if line.startswith("# ") else "", []))
        out[-1][1].append(line)
    return [(h, "\n".join(lines).strip("\n")) for h, lines in out]


def write_section(path: Path, heading: str, body: str) -> None:
    """Replace (or append) the section ``# heading`` of ``path`` with that heading and ``body``."""
    sections = _sections(path.read_text(encoding="utf-8")) if path.is_file() else []
    new = f"# {heading}\n\n{body.strip()}"
    if any(h == heading for h, _ in sections):
        sections = [(h, new if h == heading else t) for h, t in sections]
    else:
        sections.append((heading, new))
    path.write_text("\n\n".join(t for _, t in sections) + "\n", encoding="utf-8")


def parse_option(text: str) -> tuple[str, object]:
    """"hidden=384" -> ("hidden", 384): an int, else a float, else the string."""
    key, _, value = text.partition("=")
    for kind in (int, float):
        try:
            return key, kind(value)
        except ValueError:
            pass
    return key, value
