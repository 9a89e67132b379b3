"""Multi-digit addition (Sims et al., 2025): three-digit sums written with their digits reversed.

Every ``n`` in ``[10^5, 10^6)`` stands for one problem: ``a = n // 1000`` (100-999) plus
``b = n % 1000`` (0-999, written without leading zeros), written ``$a+b=`` followed by the digits
of ``a + b`` in reverse order, least significant first: ``$123+45=861`` (123 + 45 = 168). The
900,000 problems are shuffled; the first 810,000 are the training set and the next 90,000 the
validation set, as in the original (``dataset_preprocessing/make_multi_digit_addition_dataset.py``
of ``anyasims/stochastok``), whose shuffle was unseeded; here it is seeded.

This is the corpus (the ``addition`` source of :mod:`toklab.data.sources`); the task's
questions, answers and their scoring are :mod:`toklab.tasks.addition`.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import numpy as np

from toklab.errors import ConfigError

#: The numbers that stand for problems: ``[FIRST, STOP)``.
FIRST, STOP = 10**5, 10**6
TOTAL = STOP - FIRST
TRAIN, VALIDATION = 810_000, 90_000


def format_problem(a: int, b: int) -> str:
    """``$a+b=`` followed by the digits of ``a + b`` reversed."""
    return f"${a}+{b}={str(a + b)[::-1]}"


def _check_count(value: object, what: str) -> int:
    if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < 0:
        raise ConfigError(f"{what} must be a non-negative integer, got {value!r}")
    return int(value)


def problems(seed: int, train: int = TRAIN, validation: int = VALIDATION) -> dict[str, list[str]]:
    """The ``train`` and ``validation`` problems (texts) of one seeded shuffle, disjoint.

    The 900,000 problems are shuffled with ``numpy.random.default_rng(seed)``; the first
    ``train`` are ``"train"``, the next ``validation`` are ``"validation"``. Smaller counts take
    prefixes of the same shuffle; more than 900,000 in all is a
    :class:`~toklab.errors.ConfigError`.
    """
    if not isinstance(seed, int | np.integer) or isinstance(seed, bool):
        raise ConfigError(f"the addition seed must be an integer, got {seed!r}")
    train = _check_count(train, "the number of training problems")
    validation = _check_count(validation, "the number of validation problems")
    if train + validation > TOTAL:
        raise ConfigError(
            f"there are {TOTAL} addition problems, asked for {train} + {validation} = "
            f"{train + validation}"
        )
    texts = list(itertools.islice(shuffled_problems(seed), train + validation))
    return {"train": texts[:train], "validation": texts[train:]}


def shuffled_problems(seed: int) -> Iterator[str]:
    """All 900,000 problems in the order of one seeded shuffle (``default_rng(seed)``)."""
    if not isinstance(seed, int | np.integer) or isinstance(seed, bool):
        raise ConfigError(f"the addition seed must be an integer, got {seed!r}")
    numbers = np.random.default_rng(seed).permutation(np.arange(FIRST, STOP, dtype=np.int64))
    a, b = np.divmod(numbers, 1000)
    for x, y in zip(a.tolist(), b.tolist(), strict=True):
        yield format_problem(x, y)
