"""The engine's old name: what :mod:`charsmith.backend` now offers, for code written against
it. ``available()`` and ``status()`` describe the backend of the current context
(:func:`charsmith.backend.current`); ``threads()`` is its thread budget."""

from __future__ import annotations

from charsmith import backend

__all__ = ["available", "status", "threads"]


def available() -> bool:
    """True when the compiled kernels run this context's work."""
    return backend.current().compiled


def status() -> str:
    """One line: whether the compiled kernels are in use, or why not."""
    return backend.current().status


def threads() -> int:
    """The thread budget of this context's backend (1 for NumPy)."""
    return backend.current().threads
