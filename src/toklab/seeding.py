"""Seeded random streams per document, inside compiled loops.

Stochastic tokenizations (StochasTok, BPE-dropout) draw from one stream per document, derived
from ``(seed, key, document index)``, so an array is the same whether its documents are processed
in one pass, in chunks or in parallel. The stream is SplitMix64 (Steele, Lea and Flood, 2014):
a 64-bit counter passed through a bijective mixer, small enough to live in a numba loop's
registers. numba's own ``np.random`` has one global state per thread and cannot be re-seeded
per document cheaply, which is why the generator is written here.
"""

from __future__ import annotations

import hashlib

import numba
import numpy as np

_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)
_TWO_POW_53 = 9007199254740992.0


def stream_key(name: str) -> int:
    """A 64-bit key for a named stream (a subset's name): the first 8 bytes of its SHA-256."""
    return int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "little")


@numba.njit(cache=True, inline="always")
def mix(z: np.uint64) -> np.uint64:
    """SplitMix64's output function: a bijection of 64-bit words that spreads every bit."""
    z = (z ^ (z >> _S30)) * _MIX1
    z = (z ^ (z >> _S27)) * _MIX2
    return z ^ (z >> _S31)


@numba.njit(cache=True)
def document_state(seed: np.uint64, key: np.uint64, document: np.uint64) -> np.uint64:
    """The initial state of document ``document``'s stream under ``(seed, key)``."""
    return mix(mix(mix(seed + _GAMMA) ^ key) + document * _GAMMA)


@numba.njit(cache=True, inline="always")
def next_uniform(state: np.uint64) -> tuple[np.uint64, float]:
    """The next state and a float uniform in [0, 1) with 53 random bits."""
    state = state + _GAMMA
    return state, float(mix(state) >> _S11) / _TWO_POW_53


@numba.njit(cache=True, inline="always")
def next_below(state: np.uint64, n: np.int64) -> tuple[np.uint64, np.int64]:
    """The next state and an integer uniform in [0, n) (bias below n / 2^53)."""
    state, u = next_uniform(state)
    value = np.int64(u * n)
    return state, min(value, n - 1)
