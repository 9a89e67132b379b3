"""Addition problems: sums checked independently, reversed digits, the split, answer_found."""

from __future__ import annotations

import re

import pytest

from toklab.data.addition import format_problem, problems
from toklab.errors import ConfigError, DataError
from toklab.tasks.addition import answer_found, split_problem

PROBLEM = re.compile(r"\$([1-9]\d{2})\+(0|[1-9]\d{0,2})=(\d+)")


def parse(text: str) -> tuple[int, int, str]:
    match = PROBLEM.fullmatch(text)
    assert match, text
    return int(match.group(1)), int(match.group(2)), match.group(3)


def test_format_problem_examples():
    assert format_problem(123, 45) == "$123+45=861"
    assert format_problem(999, 999) == "$999+999=8991"
    assert format_problem(100, 0) == "$100+0=001"  # the reversed sum keeps its zeros


def test_small_split_counts_sums_and_disjointness():
    split = problems(7, train=2000, validation=200)
    assert sorted(split) == ["train", "validation"]
    assert len(split["train"]) == 2000 and len(split["validation"]) == 200
    for text in split["train"] + split["validation"]:
        a, b, answer = parse(text)
        assert 100 <= a <= 999 and 0 <= b <= 999
        assert int(answer[::-1]) == a + b  # the digits of the sum, least significant first
        assert len(answer) == len(str(a + b))
    assert not set(split["train"]) & set(split["validation"])
    assert len(set(split["train"])) == 2000


def test_full_split_covers_every_pair_once():
    split = problems(0)
    assert len(split["train"]) == 810_000 and len(split["validation"]) == 90_000
    pairs = {parse(text)[:2] for text in split["train"] + split["validation"]}
    assert len(pairs) == 900_000
    assert pairs == {(a, b) for a in range(100, 1000) for b in range(1000)}


def test_seed_determinism_and_prefixes():
    first = problems(3, train=500, validation=50)
    assert first == problems(3, train=500, validation=50)
    assert first != problems(4, train=500, validation=50)
    smaller = problems(3, train=100, validation=10)
    assert smaller["train"] == first["train"][:100]
    assert smaller["validation"] == first["train"][100:110]  # the next ones of the same shuffle
    assert problems(3, train=0, validation=5)["validation"] == first["train"][:5]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"train": 900_000, "validation": 1}, "900000"),
        ({"train": -1}, "non-negative"),
        ({"validation": 1.5}, "non-negative"),
    ],
)
def test_problem_count_errors(kwargs, match):
    with pytest.raises(ConfigError, match=match) as err:
        problems(0, **kwargs)
    assert "\n" not in str(err.value)


def test_seed_must_be_an_integer():
    with pytest.raises(ConfigError, match="seed"):
        problems(True, train=1, validation=1)


def test_split_problem():
    assert split_problem("$123+45=861") == ("$123+45=", "861")
    text = problems(1, train=20, validation=0)["train"][5]
    question, answer = split_problem(text)
    assert question + answer == text and question.endswith("=") and answer.isdigit()
    for bad in ("123+45=861", "$123+45=", "$12a+4=5", "$1+2=3 "):
        with pytest.raises(DataError, match="not an addition problem"):
            split_problem(bad)


def test_answer_found_searches_the_generated_text_only():
    assert answer_found("861", "861")
    assert answer_found(" 861$5+", "861")
    assert not answer_found("168", "861")
    assert not answer_found("", "861")
    # 123 + 198 = 321, reversed 123: the question holds the answer, the generation does not
    question, answer = split_problem(format_problem(123, 198))
    assert answer in question
    assert not answer_found("999", answer)
    with pytest.raises(ConfigError, match="non-empty"):
        answer_found("861", "")
