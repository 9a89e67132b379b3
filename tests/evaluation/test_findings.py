"""The findings table: each claim's computation on small fixed tables, and the claims file."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from toklab.errors import DataError
from toklab.evaluation import findings as f
from toklab.evaluation.findings import NO, NOISE, UNTESTABLE, YES, Evidence

REPO = Path(__file__).resolve().parents[2]
CLAIMS = REPO / "resources" / "paper_findings.yaml"


def evidence(curves=None, **tables) -> Evidence:
    as_text = {
        name: [{k: str(v) for k, v in row.items()} for row in rows] for name, rows in tables.items()
    }
    return Evidence(as_text, curves or {})


def stats_row(tokenizer, family, vocab, language, morph, scored=1000, duplicates=0.2):
    return {
        "tokenizer": tokenizer,
        "family": family,
        "vocab_size": vocab,
        "language": language,
        "morph_score": morph,
        "morph_scored_words": scored,
        "duplicate_tokens": duplicates,
    }


def test_the_claims_file_names_every_computation_and_paper():
    claims = f.read_claims(CLAIMS)
    assert list(claims) == list(f.CLAIMS)
    for claim in claims.values():
        assert claim["paper_value"] and claim["paper_source"] and claim["metric"]


def test_a_claim_without_computation_is_refused(tmp_path):
    path = tmp_path / "claims.yaml"
    path.write_text("papers: {p: x}\nclaims: {made_up: {paper: p}}\n")
    with pytest.raises(DataError, match="made_up"):
        f.read_claims(path)


def test_morphscore_above_bpe_beyond_the_noise():
    rows = [
        stats_row("bpe-1000", "bpe", 1000, "en", 0.50),
        stats_row("bytespan-a-1000", "bytespan-a", 1000, "en", 0.70),
        stats_row("bytespan-b-1000", "bytespan-b", 1000, "en", 0.60),
        stats_row("bpe-1000", "bpe", 1000, "all", ""),  # no gold data: not compared
    ]
    outcome = f.bytespan_morphscore(evidence(tokenizer_stats=rows))
    assert outcome.holds == YES
    assert "2 of 2" in outcome.detail
    assert "BPE 0.5; ByteSpan mean 0.65, best 0.7 (a)" in outcome.value
    # the same means over 20 gold words each: within the noise
    few = [{**r, "morph_scored_words": 20} for r in rows]
    assert f.bytespan_morphscore(evidence(tokenizer_stats=few)).holds == NOISE
    below = [stats_row("bpe-1000", "bpe", 1000, "en", 0.9), *rows[1:2]]
    assert f.bytespan_morphscore(evidence(tokenizer_stats=below)).holds == NO
    assert f.bytespan_morphscore(evidence()).holds == UNTESTABLE


def lm_row(tokenizer, family, bpb, model="m", **more):
    return {
        "tokenizer": tokenizer,
        "family": family,
        "model": model,
        "bits_per_byte": bpb,
        "val_loss": more.pop("val_loss", 1.0),
        "parameters": more.pop("parameters", 100),
        "non_embedding_parameters": more.pop("non_embedding_parameters", 50),
        **more,
    }


def test_bits_per_byte_parity_leaves_out_bytes_tfree_and_variants():
    rows = [
        lm_row("bpe-64000", "bpe", 0.82),
        lm_row("bytespan-x-64000", "bytespan-x", 0.83),
        lm_row("bytes", "bytes", 1.5),
        lm_row("bpe-64000-stochastok0.1", "bpe-stochastok0.1", 1.2),
        lm_row("tfree-8192-m10", "tfree", ""),
    ]
    outcome = f.bytespan_lm_parity(evidence(lm=rows))
    assert outcome.holds == YES and "spread 1.2%" in outcome.value
    rows[1]["bits_per_byte"] = 0.9
    assert f.bytespan_lm_parity(evidence(lm=rows)).holds == NO
    assert f.bytespan_lm_parity(evidence(lm=rows[:1])).holds == UNTESTABLE


def addition(training, step, evaluation, accuracy, samples=400, split="validation"):
    return {
        "training_tokenization": training,
        "step": step,
        "evaluation_tokenization": evaluation,
        "split": split,
        "samples": samples,
        "accuracy": accuracy,
    }


def test_addition_claims_read_the_last_step_of_the_held_out_split():
    rows = [
        addition("bpe-320", 100, "deterministic", 0.1),
        addition("bpe-320", 300, "deterministic", 0.45),
        addition("bpe-320", 300, "stochastok", 0.05),
        addition("bpe-320", 300, "chars", 0.0),
        addition("bpe-320", 300, "chars", 0.9, split="train"),
        addition("bpe-320-stochastok1", 300, "deterministic", 0.97),
        addition("bpe-320-stochastok1", 300, "stochastok", 0.95),
        addition("bpe-320-stochastok1", 300, "chars", 0.93),
    ]
    base = f.stochastok_addition_base(evidence(stochastok_addition=rows))
    assert base.holds == YES
    assert "own 0.45 (n=400); stochastok 0.05, chars 0 (mean 0.025)" in base.value
    robust = f.stochastok_addition_robust(evidence(stochastok_addition=rows))
    assert robust.holds == YES
    assert "bpe-320-stochastok1: lowest 0.93 (chars); bpe-320: lowest 0 (chars)" in robust.value
    # a base model that answers nothing did not learn: the failure shows nothing
    silent = [{**r, "accuracy": 0} for r in rows if r["training_tokenization"] == "bpe-320"]
    assert f.stochastok_addition_base(evidence(stochastok_addition=silent)).holds == NO
    assert f.stochastok_addition_robust(evidence(stochastok_addition=silent)).holds == UNTESTABLE


def test_langgame_and_benchmarks_compare_stochastok_with_the_base_model():
    langgame = [
        {"pretraining_tokenization": t, "step": s, "questions": 1000, "accuracy": a,
         "normalized_accuracy": (4 * a - 1) / 3}
        for t, s, a in [("bpe-1000", 0, 0.25), ("bpe-1000", 90, 0.7),
                        ("bpe-1000-stochastok0.1", 90, 0.95)]
    ]  # fmt: skip
    outcome = f.stochastok_langgame(evidence(stochastok_langgame=langgame))
    assert outcome.holds == YES and "step 90" in outcome.value
    benchmarks = [
        {"training_tokenization": t, "step": 10, "benchmark": b, "questions": 100, "accuracy": a}
        for t, a in [("bpe-1000", 0.30), ("bpe-1000-stochastok0.1", 0.28)]
        for b in ("arc_easy", "hellaswag")
    ]
    assert f.stochastok_benchmarks(evidence(stochastok_benchmarks=benchmarks)).holds == YES
    worse = [{**r, "accuracy": 0.05} if "stochastok" in r["training_tokenization"] else r
             for r in benchmarks]  # fmt: skip
    assert f.stochastok_benchmarks(evidence(stochastok_benchmarks=worse)).holds == NO


def test_tfree_claims():
    fertility = [
        {"language": "en", "tokenizer": "bpe-64000", "fertility": 1.4, "duplicate_tokens": 0.35},
        {"language": "en", "tokenizer": "tfree", "fertility": 1.16, "duplicate_tokens": 0},
        {"language": "de", "tokenizer": "bpe-64000", "fertility": 1.9, "duplicate_tokens": 0.35},
        {"language": "de", "tokenizer": "tfree", "fertility": 1.18, "duplicate_tokens": 0},
    ]
    outcome = f.tfree_fertility(evidence(tfree_fertility=fertility))
    assert outcome.holds == YES and "de: T-Free 1.18; bpe-64000 1.9" in outcome.value
    fertility[3]["fertility"] = 2.0
    assert f.tfree_fertility(evidence(tfree_fertility=fertility)).holds == NO
    # another corpus's tokenizers and pretrained ones are subword tokenizers too
    other = [
        {"language": "en", "tokenizer": "wiki/pretrained-mistral", "fertility": 1.397},
        {"language": "en", "tokenizer": "tfree-32000-m10-k2", "fertility": 1.163},
        {"language": "en", "tokenizer": "bytes", "fertility": 5.0},
    ]
    assert f.tfree_fertility(evidence(tfree_fertility=other)).value == (
        "en: T-Free 1.16; wiki/pretrained-mistral 1.4"
    )

    params = [
        {"preset": "1B", "v": 8192, "dense_vocab_size": 32000, "embedding_head_reduction": 0.74},
        {"preset": "1B", "v": 8192, "dense_vocab_size": 64000, "embedding_head_reduction": 0.875},
    ]
    outcome = f.tfree_parameters(evidence(tfree_params=params))
    assert outcome.holds == YES and outcome.value == "1B v=8192: -87.5% against 64,000"

    stats = [stats_row("bpe-500", "bpe", 500, "all", "", duplicates=0.1),
             stats_row("bpe-64000", "bpe", 64000, "all", "", duplicates=0.35),
             stats_row("pretrained-gpt2", "pretrained-gpt2", 50257, "all", "", duplicates=0.3)]  # fmt: skip
    outcome = f.tfree_duplicates(evidence(tokenizer_stats=stats, tfree_fertility=fertility))
    assert outcome.holds == YES and outcome.value == "bpe-64000 35.0%; T-Free 0.0%"


def test_next_word_accuracy_of_tfree_against_the_token_model_of_the_same_blocks():
    def row(tokenizer, family, accuracy, stderr, blocks):
        return lm_row(tokenizer, family, "", next_word_accuracy=accuracy,
                      next_word_stderr=stderr, next_word_items=1000,
                      non_embedding_parameters=blocks)  # fmt: skip

    rows = [row("tfree-8192", "tfree", 0.20, 0.013, 50), row("bpe-1000", "bpe", 0.21, 0.013, 50),
            row("bpe-big", "bpe", 0.40, 0.015, 99)]  # fmt: skip
    outcome = f.tfree_next_word(evidence(lm=rows))
    assert outcome.holds == YES and "bpe-1000 0.21" in outcome.value
    rows[0]["next_word_accuracy"] = "0.1"
    assert f.tfree_next_word(evidence(lm=rows)).holds == NO
    zeros = [{**r, "next_word_accuracy": "0", "next_word_stderr": "0"} for r in rows[:2]]
    assert f.tfree_next_word(evidence(lm=zeros)).holds == NOISE
    # 2 words of 500 each: not told apart from none
    few = [{**r, "next_word_accuracy": "0.004", "next_word_stderr": "0.0028"} for r in rows[:2]]
    assert f.tfree_next_word(evidence(lm=few)).holds == NOISE


def test_next_word_choices_are_preferred_and_judged_against_their_controls():
    def row(tokenizer, family, choice, control, blocks=50):
        return lm_row(tokenizer, family, "", next_word_accuracy="0", next_word_stderr="0",
                      next_word_items=500, non_embedding_parameters=blocks,
                      next_word_choice_accuracy=str(choice), next_word_choice_stderr="0.02",
                      next_word_choices="10",
                      next_word_choice_control=str(control))  # fmt: skip

    rows = [row("tfree-1024", "tfree", 0.45, 0.2), row("bpe-1000", "bpe", 0.47, 0.25)]
    outcome = f.tfree_next_word(evidence(lm=rows))
    assert outcome.holds == YES
    assert outcome.value == (
        "T-Free 0.45; bpe-1000 0.47 (of 10 candidates; after other contexts 0.2 and 0.25)"
    )
    assert "choice among candidates" in outcome.detail
    worse = [row("tfree-1024", "tfree", 0.35, 0.2), rows[1]]
    assert f.tfree_next_word(evidence(lm=worse)).holds == NO
    # each model about as good after another item's context: no signal, whatever the levels
    blind = [row("tfree-1024", "tfree", 0.32, 0.31), row("bpe-1000", "bpe", 0.41, 0.40)]
    outcome = f.tfree_next_word(evidence(lm=blind))
    assert outcome.holds == NOISE and "than with another" in outcome.detail
    # a token row without the choice measure: exact next words decide
    rows[1]["next_word_choice_accuracy"] = ""
    assert "of 10 candidates" not in f.tfree_next_word(evidence(lm=rows)).value


def test_cs336_bytes_per_token_against_the_quoted_values():
    rows = [
        {"tokenizer": "bpe-10000", "tokenizer_corpus": "tinystories", "corpus": "tinystories",
         "language": "all", "bytes_per_token": 4.1, "total_bytes": 10**9},
        {"tokenizer": "bpe-10000", "tokenizer_corpus": "tinystories", "corpus": "openwebtext",
         "language": "all", "bytes_per_token": 3.2, "total_bytes": 10**9},
    ]  # fmt: skip
    outcome = f.cs336_bytes_per_token(evidence(compression=rows))
    assert outcome.holds == YES and outcome.value == "bpe-10000 4.100 (quoted 4.058)"
    rows[0]["bytes_per_token"] = "3.5"
    assert f.cs336_bytes_per_token(evidence(compression=rows)).holds == NO


def test_delphi_claims_on_a_suite_and_on_learning_curves():
    suite = [lm_row("bpe-4096", "bpe", "", model=m, parameters=p, val_loss=v)
             for m, p, v in [("50k", 5e4, 3.9), ("1m", 1e6, 2.5), ("10m", 1e7, 1.9)]]  # fmt: skip
    outcome = f.delphi_loss_size(evidence(lm=suite))
    assert outcome.holds == YES and outcome.value.startswith("bpe-4096: 50k (50,000) 3.9")
    suite[2]["val_loss"] = "2.6"
    assert f.delphi_loss_size(evidence(lm=suite)).holds == NO

    curves = {"a": [{"step": 10, "loss": 5.0}, {"step": 50, "val_loss": 4.0},
                    {"step": 100, "val_loss": 4.1}, {"step": 150, "val_loss": 3.0}]}  # fmt: skip
    outcome = f.delphi_loss_checkpoints(evidence(curves))
    assert outcome.holds == YES and "(1 of 2 evaluations lower" in outcome.value
    curves["b"] = [{"step": 50, "val_loss": 2.0}, {"step": 100, "val_loss": 2.5}]
    assert f.delphi_loss_checkpoints(evidence(curves)).holds == NO


def test_the_table_has_every_claim_at_the_run_scale(tmp_path):
    table = tmp_path / "lm_x.csv"
    with open(table, "w", newline="") as handle:
        writer = csv.DictWriter(handle, ["tokenizer", "family", "model", "bits_per_byte"])
        writer.writeheader()
        writer.writerow({"tokenizer": "bpe-1", "family": "bpe", "model": "m", "bits_per_byte": 1})
    curve = tmp_path / "metrics.jsonl"
    curve.write_text(
        "\n".join(json.dumps({"step": s, "val_loss": v}) for s, v in [(1, 3.0), (2, 2.0)])
    )
    rows = f.findings_rows(
        f.read_claims(CLAIMS), f.evidence_from_files([("lm", table)], [("run", curve)]), "demo"
    )
    assert [row["claim_id"] for row in rows] == list(f.CLAIMS)
    assert {row["scale"] for row in rows} == {"demo"}
    assert {row["holds"] for row in rows} == {YES, UNTESTABLE}
    assert all(set(row) == set(f.FINDINGS_COLUMNS) for row in rows)


def test_the_committed_miniature_tables_are_current():
    """docs/miniature holds the miniature's tables in today's columns and claims."""
    from toklab.evaluation import tables

    folder = Path(__file__).resolve().parents[2] / "docs" / "miniature"
    for corpus in ("miniature", "additionmini"):
        with (folder / f"findings_{corpus}.csv").open(encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            rows = list(reader)
        assert reader.fieldnames == list(f.FINDINGS_COLUMNS)
        assert [r["claim_id"] for r in rows] == list(f.CLAIMS)
        assert {r["scale"] for r in rows} == {"miniature"}
    for corpus in ("miniature", "additionmini"):
        with (folder / f"lm_{corpus}.csv").open(encoding="utf-8") as handle:
            assert csv.DictReader(handle).fieldnames == list(tables.LM_COLUMNS)
