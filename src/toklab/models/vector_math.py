"""Torch's CPU math, set up once per process before threads can race its setup.

The first transcendental function (cos, sin, exp, ...) that torch computes in a process, when it
splits the work over more than one CPU thread, does not always give the same numbers: the
library that computes these functions (MKL's vector math, on torch's x86 builds) sets itself up
on its first call, and a thread that computes its share while that setup is still under way
uses other code for that call. Measured with torch 2.13 on two threads: in about one process in
four, the second thread's half of the first call differs from the usual result, by up to 3e-5
(cos(1) came out 0.5403335 instead of 0.5403023); every later call agrees. Only the first call
is affected, whichever function it is, and a model's first forward computes RoPE's cosines: one
training run in several diverged from the others at its first step, so a rerun or a resumed run
(each a new process) did not reproduce its weights.

One call on one element runs on the calling thread alone and completes the setup, so every
later call, however many threads share it, gives the usual results.
"""

from __future__ import annotations

import functools

import torch


@functools.cache
def settle_vector_math() -> None:
    """Set up torch's CPU vector math on this thread, before any call that uses threads."""
    torch.cos(torch.zeros(1))
