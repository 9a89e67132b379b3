"""The one timing rule of the benchmarks: the fastest wall time of a few calls."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def fastest(
    function: Callable[[], T], repeats: int = 3, *, warm_up: bool = False
) -> tuple[float, T]:
    """The fastest wall time in seconds of ``repeats`` calls of ``function``, and its last result.

    ``warm_up`` makes one untimed call first (compilation, caches, the allocator).
    """
    if warm_up:
        function()
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return min(times), result
