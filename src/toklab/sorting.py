"""Sorting where numpy's own set routines are slow."""

from __future__ import annotations

import numpy as np


def distinct(values: np.ndarray) -> np.ndarray:
    """The sorted distinct values of ``values`` (flattened): ``np.unique`` by sorting.

    ``np.unique`` without ``return_*`` arguments hashes since numpy 2.3, about 50x slower than a
    sort for half a million distinct int64 values on one core (0.6 s against 12 ms).
    """
    flat = np.asarray(values).reshape(-1)
    if flat.size < 2 or (flat[1:] > flat[:-1]).all():  # sorted and distinct already: one pass
        return flat.copy()
    flat = np.sort(flat)
    keep = np.empty(flat.size, dtype=bool)
    keep[0] = True
    np.not_equal(flat[1:], flat[:-1], out=keep[1:])
    return flat[keep]
