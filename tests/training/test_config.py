"""Every numeric training field has a range, refused in one line when the config is built."""

from __future__ import annotations

import dataclasses
import json
import re
import typing

import pytest

from tests.workflow.conftest import load_config
from toklab.errors import ConfigError
from toklab.training.config import Range, TrainConfig, load_train_config
from toklab.workflow.checks import check_config


def numeric_fields(cls: type, prefix: str = "") -> list[tuple[str, dataclasses.Field]]:
    """``(dotted key, field)`` of every field whose values are numbers (or lists of them)."""
    found = []
    hints = typing.get_type_hints(cls)
    for item in dataclasses.fields(cls):
        kind = hints[item.name]
        if dataclasses.is_dataclass(kind):
            found += numeric_fields(kind, f"{prefix}{item.name}.")
            continue
        leaves = set(typing.get_args(kind)) or {kind}
        if leaves & {int, float} or any(set(typing.get_args(x)) & {int, float} for x in leaves):
            found.append((prefix + item.name, item))
    return found


def outside(allowed: Range) -> float:
    """A value just outside ``allowed``: below it, or above it when it has no lower bound."""
    if allowed.low is not None:
        return allowed.low - 1 if allowed.low_included else allowed.low
    return allowed.high + 1 if allowed.high_included else allowed.high


FIELDS = numeric_fields(TrainConfig)


def test_every_numeric_field_has_a_range():
    assert len(FIELDS) >= 20
    assert [key for key, item in FIELDS if "range" not in item.metadata] == []


@pytest.mark.parametrize(("key", "item"), FIELDS, ids=[key for key, _ in FIELDS])
def test_a_value_out_of_range_is_one_line_naming_key_and_range(key, item):
    allowed = item.metadata["range"]
    bad = outside(allowed)
    default = item.default if item.default is not dataclasses.MISSING else item.default_factory()
    if isinstance(default, list | tuple):
        bad = [bad] if isinstance(default, list) else [bad, *default[1:]]
    elif isinstance(default, int) or default is None:
        bad = int(bad)
    with pytest.raises(ConfigError) as error:
        load_train_config([], [f"{key}={json.dumps(bad)}"])
    message = str(error.value)
    assert message.startswith(f"{key}: ") and str(allowed) in message and "\n" not in message

    # the same value in the workflow config stops the parse-time checks with the same line
    config = load_config("demo")
    config["corpora"]["demo"]["bytelm"]["training"][key] = bad
    with pytest.raises(ConfigError, match=re.escape(f"bytelm.training: {message}")):
        check_config(config)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (["optim.lr=nan"], "optim.lr: nan is not a number (must be > 0)"),
        (["max_steps=50"], "optim.warmup_steps + optim.decay_steps: 100 + 0 exceed max_steps 50"),
        (
            ["max_steps=100", "optim.warmup_steps=50", "optim.decay_steps=60"],
            "50 + 60 exceed max_steps 100",
        ),
        (["batch_size=6", "micro_batch_size=4"], "batch_size: 6 is not a multiple of"),
        (["optim.schedule=linear"], "optim.schedule: 'linear' is not one of cosine, wsd"),
    ],
)
def test_relations_between_fields(settings, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_train_config([], settings)


def test_epochs_leave_the_schedule_check_to_the_run():
    assert load_train_config([], ["max_epochs=2", "max_steps=1"]).max_epochs == 2
