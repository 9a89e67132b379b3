"""Multi-digit addition as a task: a problem's question and answer, and whether a model found it.

The problems themselves (``$a+b=`` and the reversed sum, the seeded 810k/90k split) are the
corpus of :mod:`toklab.data.addition`.
"""

from __future__ import annotations

import re

from toklab.errors import ConfigError, DataError

_PROBLEM = re.compile(r"(\$(\d+)\+(\d+)=)(\d+)")


def split_problem(text: str) -> tuple[str, str]:
    """The question (``$a+b=``) and the answer (the sum's digits reversed) of a problem text."""
    match = _PROBLEM.fullmatch(text)
    if match is None:
        raise DataError(f"not an addition problem ($a+b= then digits): {text!r}")
    return match.group(1), match.group(4)


def answer_found(generated: str, answer: str) -> bool:
    """Whether ``answer`` occurs in ``generated``, the text the model produced after the question.

    A substring test, as in the original evaluation (``evals/generation_evaluator_math.py``),
    but on the generated text alone: the original searched the decoded prompt as well, so a
    problem whose reversed sum appears in its question (``$123+198=123``) counted as solved
    whatever the model produced.
    """
    if not answer:
        raise ConfigError("answer_found needs a non-empty answer")
    return answer in generated
