"""Fixtures of the trainer tests: a real signal delivered in the middle of a run."""

from __future__ import annotations

import pytest

from tests.helpers import signal_at_batch as _signal_at_batch


@pytest.fixture
def signal_at_batch():
    """``with signal_at_batch(SamplerClass, n[, signum][, before=f]): train(...)``."""
    return _signal_at_batch
