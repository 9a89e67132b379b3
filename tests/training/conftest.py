"""Fixtures of the trainer tests: a real signal delivered in the middle of a run."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest


@contextmanager
def _signal_at_batch(
    sampler_class: type,
    call: int,
    signum: int = signal.SIGTERM,
    before: Callable[[], None] | None = None,
) -> Iterator[None]:
    """Within the block, ``sampler_class.batch`` raises ``signum`` at its ``call``-th call.

    The signal comes just before that call's batch is made (after ``before()``, if given), so
    the trainer finishes the step it is in, checkpoints and exits; the patch is undone on exit.
    """
    original = sampler_class.batch
    calls = 0

    def batch_then_signal(self, first, size):
        nonlocal calls
        calls += 1
        if calls == call:
            if before is not None:
                before()
            signal.raise_signal(signum)
        return original(self, first, size)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sampler_class, "batch", batch_then_signal)
        yield


@pytest.fixture
def signal_at_batch():
    """``with signal_at_batch(SamplerClass, n[, signum][, before=f]): train(...)``."""
    return _signal_at_batch
