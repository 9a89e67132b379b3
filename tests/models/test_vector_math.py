"""Every process computes a model's first transcendental function the same way.

Torch's CPU vector math sets itself up on its first call; a second thread computing its share of
that call meanwhile gets other numbers, in about one process in four on two threads, unless
``toklab.models`` has set the math up first (:mod:`toklab.models.vector_math`). Fresh processes
are the only way to see a first call.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import pytest
import torch

import toklab.models  # noqa: F401  (this process's math is set up, as every toklab process's)

#: A first call as RoPE's: enough elements that both threads compute a share.
FIRST_CALL = """
import hashlib, sys, torch
import toklab.models
x = torch.arange(16384, dtype=torch.float32) / 256
sys.stdout.write(hashlib.sha256(x.cos().numpy().tobytes()).hexdigest())
"""
#: Processes to start: with one in four wrong, all twelve right by chance is about 3 %.
PROCESSES = 12


def test_the_first_parallel_cos_of_every_process_is_the_usual_one():
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("the race needs two CPU threads")
    x = torch.arange(16384, dtype=torch.float32) / 256
    usual = hashlib.sha256(x.cos().numpy().tobytes()).hexdigest()
    environment = {**os.environ, "OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2"}
    firsts = [
        subprocess.run(
            [sys.executable, "-c", FIRST_CALL],
            env=environment,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for _ in range(PROCESSES)
    ]
    assert firsts == [usual] * PROCESSES
