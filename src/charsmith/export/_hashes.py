"""The known set an export ships: the sorted uint32 FNV-1a hashes of the model's data set.

A checkpoint keeps only 64-bit BLAKE2b hashes of its items, so the export's 32-bit hashes
come from the items themselves: :func:`charsmith.export.with_known_items` leaves them on the
model under ``info[KNOWN_INFO_KEY]``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from charsmith.errors import InputError

__all__ = ["KNOWN_INFO_KEY", "known_hashes"]

KNOWN_INFO_KEY = "export_known_fnv1a32"


def known_hashes(model: Any) -> np.ndarray:
    hashes = model.ckpt.info.get(KNOWN_INFO_KEY)
    if hashes is None:
        raise InputError("`known` needs the training items: a checkpoint keeps only 64-bit BLAKE2b hashes of its "
                         "items, not the items; pass the training file as `known`", param="known")
    return np.asarray(hashes, dtype=np.uint32)
