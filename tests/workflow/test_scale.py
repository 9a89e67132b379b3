"""Planned epochs (toklab.workflow.scale): each LM's training tokens against its subset's.

A small fixed config checks the arithmetic; every experiment config must give each LM's
planned epochs, and an LM that repeats its data more than ``MAX_UNSTATED_EPOCHS`` times must
say why (``repeat_data``), so that repeating data is a visible choice, not an accident.
"""

from __future__ import annotations

import copy

import pytest
import yaml

from tests.conftest import run_script
from tests.workflow.conftest import CONFIGS, PRESETS, load_config, validated
from toklab.errors import ConfigError
from toklab.workflow.checks import check_config
from toklab.workflow.scale import (
    MAX_UNSTATED_EPOCHS,
    bytes_per_token,
    epochs_table,
    planned_epochs,
    subset_bytes,
)

EXPERIMENTS = sorted(name for name in CONFIGS if name != "demo")

SMALL_TRAINING = {"seq_len": 100, "micro_batch_size": 10, "max_steps": 1000}


def small_config() -> dict:
    """One corpus: 10,000 documents of 2,000 bytes on average, an LM and a byte LM."""
    return {
        "corpora": {
            "web": {
                "source": {"type": "local", "paths": ["web.txt"]},
                "subsets": {
                    "tok_train": {"documents": 1000},  # 2,000,000 bytes
                    "validation": {"bytes": 500000},
                    "lm_train": {},  # the rest: 17,500,000 bytes
                },
                "scale": {
                    "documents": 10000,
                    "bytes": 20_000_000,
                    "bytes_per_token": {"bpe-1000": 4.0},
                    "source": "made up for the test",
                },
                "bpe": {"subset": "tok_train", "vocab_sizes": [1000]},
                "byte_level": {},
                "bytelm": {
                    "train_subset": "validation",
                    "training": {**SMALL_TRAINING, "batch_size": 10},
                    "extraction": {"context": 128, "stride": 64},
                    "repeat_data": "a byte LM on its small subset",
                },
                "tokenized": {
                    "tokenizers": ["bpe-1000", "bpe-1000-stochastok0.1"],
                    "subsets": ["lm_train", "validation"],
                },
                "lm": {
                    "tokenizers": ["bpe-1000", "bpe-1000-stochastok0.1"],
                    "models": {"small": {"training": {**SMALL_TRAINING, "batch_size": 40}}},
                },
            }
        }
    }


def rows_of(config: dict) -> dict[tuple[str, str], object]:
    return {(row.tokenization, row.model): row for row in planned_epochs(validated(config))}


def test_small_config_planned_epochs():
    rows = rows_of(small_config())
    assert list(rows) == [
        ("bpe-1000", "small"),
        ("bpe-1000-stochastok0.1", "small"),
        ("bytes", "bytelm"),
    ]
    lm = rows[("bpe-1000", "small")]
    assert (lm.key, lm.train_subset, lm.basis) == ("lm.models.small", "lm_train", "tokens")
    assert (lm.steps, lm.batch_size, lm.seq_len) == (1000, 40, 100)
    assert lm.planned_tokens == 1000 * 40 * 100
    assert lm.subset_bytes == 20_000_000 - 1000 * 2000 - 500_000
    assert lm.subset_tokens == 17_500_000 / 4.0
    assert lm.epochs == pytest.approx(4_000_000 / 4_375_000)
    assert lm.repeat_data is None and not lm.unstated_repeats
    # a StochasTok variant takes its tokenizer's bytes per token (an upper bound on epochs)
    assert rows[("bpe-1000-stochastok0.1", "small")].epochs == lm.epochs
    # the byte LM: one token per byte, twice over its 500,000 bytes, and says why
    byte_lm = rows[("bytes", "bytelm")]
    assert (byte_lm.key, byte_lm.subset_tokens, byte_lm.epochs) == ("bytelm", 500_000, 2.0)
    assert byte_lm.repeat_data == "a byte LM on its small subset"
    assert not byte_lm.unstated_repeats


def test_repeating_without_a_reason_is_flagged():
    config = small_config()
    del config["corpora"]["web"]["bytelm"]["repeat_data"]
    byte_lm = rows_of(config)[("bytes", "bytelm")]
    assert byte_lm.epochs == 2.0 > MAX_UNSTATED_EPOCHS and byte_lm.unstated_repeats


def test_max_epochs_sets_the_epochs():
    config = small_config()
    training = config["corpora"]["web"]["lm"]["models"]["small"]["training"]
    training["max_epochs"] = 3
    row = rows_of(config)[("bpe-1000", "small")]
    assert (row.basis, row.epochs) == ("max_epochs", 3.0)
    assert row.planned_tokens == 3 * 17_500_000 / 4.0
    assert row.steps == int(row.planned_tokens // (40 * 100))


def test_undeclared_sizes_leave_epochs_unknown():
    config = small_config()
    del config["corpora"]["web"]["scale"]
    row = rows_of(config)[("bpe-1000", "small")]
    assert (row.subset_bytes, row.subset_tokens, row.epochs) == (None, None, None)
    assert row.planned_tokens == 4_000_000 and not row.unstated_repeats
    # the byte LM's subset is sized in bytes: its epochs need no scale block
    assert rows_of(config)[("bytes", "bytelm")].epochs == 2.0


def test_subset_bytes_per_language_limit_and_own_sources():
    corpus = {
        "source": {"type": "hf", "dataset": "d", "limit": {"bytes": 5000}},
        "languages": ["a", "b"],
        "subsets": {
            "x": {"bytes": 100},
            "y": {"documents": 10},
            "own": {"documents": 5, "source": {"type": "hf", "dataset": "e"}},
            "z": {},
        },
        "scale": {"documents": 100, "bytes": 10_000, "source": "a card"},
    }
    assert subset_bytes(corpus, "x") == 2 * 100
    assert subset_bytes(corpus, "y") == 2 * 10 * 100
    assert subset_bytes(corpus, "own") is None  # scale describes the main source only
    assert subset_bytes(corpus, "z") == 5000 - 200 - 2000  # capped by the source's limit
    with pytest.raises(ConfigError, match="no subset 'w'"):
        subset_bytes(corpus, "w")


def test_bytes_per_token_of_variants_and_other_corpora():
    corpus = {"scale": {"bytes_per_token": {"other/bpe-1000": 4.5, "chars": 1.0}}}
    assert bytes_per_token(corpus, "bytes") == 1.0
    assert bytes_per_token(corpus, "other/bpe-1000-bpedropout0.1") == 4.5
    assert bytes_per_token(corpus, "other/bpe-1000-chars") is None  # chars: its own value
    assert bytes_per_token(corpus, "bpe-1000") is None


def test_scale_names_only_trained_tokenizations():
    check_config(validated(small_config()), presets=PRESETS)
    config = small_config()
    config["corpora"]["web"]["scale"]["bytes_per_token"]["bpe-2000"] = 4.0
    with pytest.raises(ConfigError, match=r"scale\.bytes_per_token names 'bpe-2000'"):
        check_config(validated(config), presets=PRESETS)


def test_table_lists_every_row():
    rows = planned_epochs(validated(small_config()))
    table = epochs_table(rows).splitlines()
    assert len(table) == 2 + len(rows)
    assert (
        "| web | small | bpe-1000 | lm_train | 1,000 x 40 x 100 | 4M | 17.5M | 4.38M | 0.91 |"
        in (table[2])
    )


# ---------------------------------------------------------------------------------------------
# The experiment configs


@pytest.fixture(scope="module", params=EXPERIMENTS)
def experiment_rows(request) -> list:
    return planned_epochs(load_config(request.param))


def test_every_experiment_lm_has_planned_epochs(experiment_rows):
    assert experiment_rows, "an experiment config without LMs"
    for row in experiment_rows:
        assert row.epochs is not None, (
            f"{row.corpus} {row.key} on {row.tokenization}: declare scale"
        )


def test_repeating_data_is_a_stated_choice(experiment_rows):
    """Above MAX_UNSTATED_EPOCHS, the LM's block says why (repeat_data)."""
    for row in experiment_rows:
        assert not row.unstated_repeats, (
            f"{row.corpus} {row.key} on {row.tokenization} plans {row.epochs:.1f} epochs of "
            f"{row.train_subset}: size the subset up or state repeat_data"
        )


def test_repeat_data_is_stated_only_where_data_repeats(experiment_rows):
    for row in experiment_rows:
        if row.repeat_data:
            assert row.epochs > 1, f"{row.corpus} {row.key}: repeat_data at {row.epochs:.2f}"


def test_bytespan_lms_see_under_one_epoch_as_the_authors():
    """ByteSpan's subword LMs: 50,000 x 128 x 2,048 tokens on 16M documents, under one epoch."""
    rows = planned_epochs(load_config("bytespan_fineweb"))
    subword = [row for row in rows if row.key == "lm.models.fw57M-tied"]
    assert len(subword) == 7
    for row in subword:
        assert (row.steps, row.batch_size, row.seq_len) == (50_000, 128, 2048)
        assert 0.5 < row.epochs < 1
    byte_lm = next(row for row in rows if row.key == "bytelm")
    assert (byte_lm.batch_size, byte_lm.train_subset) == (64, "bytelm_train")


def test_script_prints_the_table(tmp_path):
    path = CONFIGS["cs336_tinystories"]
    result = run_script("planned_epochs.py", str(path))
    assert result.returncode == 0, result.stderr
    assert "| tinystories | cs336-17M | bpe-10000 | train | 40,000 x 32 x 256 |" in result.stdout
    bad = tmp_path / "bad.yaml"
    config = copy.deepcopy(small_config())
    config["corpora"]["web"]["scale"]["bytes"] = 0
    bad.write_text(yaml.safe_dump(config))
    failed = run_script("planned_epochs.py", str(bad))
    assert failed.returncode == 1
    assert (
        failed.stderr.strip()
        .splitlines()[-1]
        .startswith(f"Error: {bad}: corpus 'web': scale.bytes")
    )
