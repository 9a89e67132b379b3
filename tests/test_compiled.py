"""toklab.compiled: the prefetch intrinsic and reference-count-free leaves."""

from __future__ import annotations

import numba
import numpy as np
import pytest

from toklab.compiled import leaf, prefetch


@leaf
def _dot(a, b, start, stop):  # a leaf: reads arrays, allocates none
    total = 0.0
    for i in range(start, stop):
        total += a[i] * b[i]
    return total


@numba.njit
def _gather(values, order, ahead):
    """Sum values[order[j]], prefetching ``ahead`` positions later when ahead > 0."""
    total = 0
    for j in range(len(order)):
        if ahead and j + ahead < len(order):
            prefetch(values, order[j + ahead])
        total += values[order[j]]
    return total


@numba.njit
def _windows(a, b, width):
    """Leaves called in a loop from a compiled function that does count references."""
    out = np.empty(len(a) - width + 1)
    for i in range(len(out)):
        out[i] = _dot(a, b, i, i + width)
    return out


def test_prefetch_changes_no_result():
    rng = np.random.default_rng(0)
    values = rng.integers(0, 1000, 100_000).astype(np.uint8)
    order = rng.integers(0, len(values), 10_000)
    expected = int(values[order].astype(np.int64).sum())
    assert _gather(values, order, 0) == _gather(values, order, 16) == expected


def test_leaves_compute_as_python_does_inside_compiled_loops():
    rng = np.random.default_rng(1)
    a, b = rng.random(50), rng.random(50)
    expected = [float(a[i : i + 5] @ b[i : i + 5]) for i in range(46)]
    assert np.allclose(_windows(a, b, 5), expected)


def test_a_leaf_that_allocates_does_not_compile():
    @leaf
    def doubled_sum(a):
        return (a * 2).sum()  # a new array, even a temporary one

    with pytest.raises(numba.core.errors.NumbaError, match="NRT required"):
        doubled_sum(np.arange(4.0))
