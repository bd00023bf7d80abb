"""Defaults for ``charsmith train FILE`` with no other flags, chosen from the data.

A user who passes only a file gets a model and schedule suited to its size and mode.
Explicit options always win; these only fill the gaps.
"""

from __future__ import annotations

from typing import Any

from charsmith.data import Corpus

__all__ = ["suggest"]


def suggest(corpus: Corpus) -> dict[str, Any]:
    """Model and training options for ``corpus`` (keys are ModelConfig/TrainConfig fields)."""
    n = corpus.train_chars
    if corpus.mode == "text":
        return dict(cell="lstm", hidden=256 if n < 300_000 else 384, layers=2, embed=64, dropout=0.1,
                    batch_size=32, seq_len=128, lr=3e-3, minutes=10.0, eval_every=200)
    small = n < 50_000
    return dict(cell="gru", hidden=128 if small else 256, layers=1, embed=32, dropout=0.1 if small else 0.0,
                batch_size=32 if small else 64, lr=3e-3, minutes=2.0 if small else 5.0, eval_every=100 if small else 200)
