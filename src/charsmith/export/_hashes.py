"""Placeholder for the shared novelty hashes (h18a's package decides where they come from)."""

from __future__ import annotations

from typing import Any

import numpy as np

from charsmith.errors import InputError


def known_hashes(model: Any) -> np.ndarray:
    raise InputError("known: not available yet")
