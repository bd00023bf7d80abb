"""Corpus.batches(part=(rank, world)): each process reads its share of every global batch."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_names

from charsmith._corpus import make_corpus


@pytest.mark.parametrize("mode,batch", [("lines", 10), ("text", 6), ("lines", 2)])
def test_shares_make_the_global_batch(mode: str, batch: int) -> None:
    names = make_names(150)
    text = "\n".join(names) if mode == "lines" else " ".join(names)
    c = make_corpus(text, mode=mode, lowercase=False, val_fraction=0.1, rng=np.random.default_rng(0))
    world = 3
    whole = c.batches(batch, 16, seed=4)
    parts = [c.batches(batch, 16, seed=4, part=(r, world)) for r in range(world)]
    for _ in range(40):  # more than an epoch of the lines (135 items in batches of 10)
        (b, fresh), shares = next(whole), [next(p) for p in parts]
        assert all(f == fresh for _, f in shares)
        real = [s for s, _ in shares if s.mask.any()]
        assert all(s.total == b.n_chars and s.rows == len(b.ids) for s, _ in shares)
        assert all(s.ids.shape[1] == b.ids.shape[1] for s, _ in shares)  # as wide as the global batch
        for field in ("ids", "targets", "mask"):
            np.testing.assert_array_equal(np.concatenate([getattr(s, field) for s in real]), getattr(b, field))
        if batch < world:  # a process without a row of its own reads one masked-out row
            assert any(not s.mask.any() and s.ids.shape[0] == 1 for s, _ in shares)
