"""Table assembly and CSV schema; the stats and tables scripts end to end on a small local corpus."""

from __future__ import annotations

import csv
import json
import math

import pytest

from tests.conftest import jsonl_corpus, run_script
from toklab.errors import DataError
from toklab.evaluation import tables, tfree_tables
from toklab.tokenizers.tokenizer_files import build_hf_tokenizer, save_tokenizer_files


def test_family_of():
    assert tables.family_of("bpe-32000") == "bpe"
    assert tables.family_of("bytespan-surprisal-combined-p30-seeding50-64000") == (
        "bytespan-surprisal-combined-p30-seeding50"
    )
    assert tables.family_of("tinystories/bpe-10000") == "bpe"
    assert tables.family_of("gpt2") == "gpt2"
    # variants of different sizes form one family
    assert tables.family_of("bpe-32000-stochastok0.1") == "bpe-stochastok0.1"
    assert tables.family_of("owt/bpe-500-chars") == "bpe-chars"
    assert tables.family_of("pretrained-gpt2-bpedropout0.1") == "pretrained-gpt2-bpedropout0.1"


def test_write_csv_orders_columns_and_formats(tmp_path):
    path = tmp_path / "t.csv"
    rows = [{"b": 1.0 / 3, "a": "x", "c": math.nan, "extra": 1}]
    assert tables.write_csv(path, ["a", "b", "c"], rows) == 1
    assert path.read_text() == "a,b,c\nx,0.333333,\n"
    with pytest.raises(DataError, match="lacks columns"):
        tables.write_csv(tmp_path / "u.csv", ["a", "z"], rows)
    assert not (tmp_path / "u.csv").exists()


def test_rows_carry_tokenizer_and_language():
    result = {
        "tokenizer": "bpe-500",
        "tokenizer_corpus": "other",
        "corpus": "demo",
        "subset": "tok_eval",
        "vocab_size": 500,
        "rows": [{"language": "en", "fertility": 1.5}, {"language": "all", "fertility": 1.5}],
    }
    stats = tables.tokenizer_stats_rows([result])
    assert [(r["tokenizer"], r["family"], r["language"]) for r in stats] == [
        ("bpe-500", "bpe", "en"),
        ("bpe-500", "bpe", "all"),
    ]
    compression = tables.compression_rows([result])
    assert compression[0]["tokenizer_corpus"] == "other" and compression[0]["subset"] == "tok_eval"


def test_read_benchmark(tmp_path):
    path = tmp_path / "b.tsv"
    path.write_text(
        "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
        "2.50\t0:00:02\t120.5\t300\t100\t110\t0\t1\t90\t2.2\n"
    )
    assert tables.read_benchmark(path) == {"s": 2.5, "max_rss": 120.5, "cpu_time": 2.2}
    row = tables.training_row("bpe-500", 500, 5_000_000, tables.read_benchmark(path))
    assert row["mb_per_s"] == pytest.approx(2.0)
    assert set(row) == set(tables.TRAINING_COLUMNS)
    path.write_text("s\tmax_rss\n")
    with pytest.raises(DataError, match="one benchmark record"):
        tables.read_benchmark(path)


def test_every_table_is_documented(repo):
    page = (repo / "docs" / "tables.md").read_text(encoding="utf-8")
    for columns in (
        tables.TOKENIZER_STATS_COLUMNS,
        tables.COMPRESSION_COLUMNS,
        tables.TRAINING_COLUMNS,
        tables.LM_COLUMNS,
        tables.LANGGAME_COLUMNS,
        tables.ADDITION_COLUMNS,
        tables.BENCHMARK_COLUMNS,
        tables.LM_HARNESS_COLUMNS,
        tfree_tables.FERTILITY_COLUMNS,
        tfree_tables.PARAMS_COLUMNS,
    ):
        for name in columns:
            assert f"`{name}`" in page, name


def run_stats(manifest, tokenizer, output, *extra: str, name: str = "x"):
    """tokenizer_stats.py on the tok_eval subset of the corpus ``c`` at ``manifest``."""
    return run_script(
        "tokenizer_stats.py",
        "--tokenizer", str(tokenizer), "--name", name, "--tokenizer-corpus", "c",
        "--manifest", str(manifest), "--corpus", "c", "--subset", "tok_eval",
        *extra, "--output", str(output),
    )  # fmt: skip


@pytest.fixture
def local_corpus(tmp_path):
    """A two-language local corpus with an evaluation subset, prepared by the data script."""
    lines = [{"text": f"the walked dogs {i} walking", "language": "english"} for i in range(20)] + [
        {"text": f"los perros caminan {i}", "language": "spanish"} for i in range(20)
    ]
    return jsonl_corpus(tmp_path, lines)


def test_stats_script_end_to_end(tmp_path, local_corpus):
    vocab = {i: bytes([i]) for i in range(256)} | {256: b"ed", 257: b"<|endoftext|>"}
    tokenizer_dir = tmp_path / "tok"
    save_tokenizer_files(tokenizer_dir, vocab, [(b"e", b"d")], ["<|endoftext|>"])
    gold = tmp_path / "english.csv"
    gold.write_text(",full_word,pt1,rest\n0,walked,walk,ed\n1,walked,walke,d\n", encoding="utf-8")
    output = tmp_path / "stats.json"
    result = run_stats(
        local_corpus,
        str(tokenizer_dir / "tokenizer.json"),
        str(output),
        "--gold",
        f"english={gold}",
        name="bpe-258",
    )
    assert result.returncode == 0, result.stderr
    rows = {r["language"]: r for r in json.loads(output.read_text())["rows"]}
    assert sorted(rows) == ["all", "english", "spanish"]
    # " walked" -> " ", w, a, l, k, ed: walk|ed is a token boundary, walke|d falls inside "ed"
    assert rows["english"]["morph_score"] == 0.5
    assert math.isnan(rows["spanish"]["morph_score"])
    assert (
        rows["all"]["total_words"]
        == rows["english"]["total_words"] + rows["spanish"]["total_words"]
    )
    # a vocabulary property on every row: A-Z and a-z pair up; <|endoftext|> is left out
    for row in rows.values():
        assert row["duplicate_tokens_count"] == 52
        assert row["duplicate_tokens"] == pytest.approx(52 / 257)
        assert row["duplicate_tokens_redundant"] == pytest.approx(26 / 257)
    table = tmp_path / "table.csv"
    result = run_script(
        "tables.py", "stats", "--table", "tokenizer_stats", str(output), "--output", str(table)
    )
    assert result.returncode == 0, result.stderr
    with table.open() as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == list(tables.TOKENIZER_STATS_COLUMNS)
        csv_rows = list(reader)
        assert [r["language"] for r in csv_rows] == ["english", "spanish", "all"]
        assert {r["duplicate_tokens"] for r in csv_rows} == {f"{52 / 257:.6g}"}
        assert {r["duplicate_tokens_count"] for r in csv_rows} == {"52"}
    compression = tmp_path / "compression.csv"
    result = run_script(
        "tables.py", "stats", "--table", "compression", str(output), "--output", str(compression)
    )
    assert result.returncode == 0, result.stderr
    with compression.open() as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == list(tables.COMPRESSION_COLUMNS)
        assert [(r["tokenizer_corpus"], r["language"]) for r in reader] == [
            ("c", "english"),
            ("c", "spanish"),
            ("c", "all"),
        ]
    unknown = run_script(
        "tables.py", "stats", "--table", "fertility", str(output), "--output", str(tmp_path / "x")
    )
    assert unknown.returncode == 2 and "fertility" in unknown.stderr
    assert not (tmp_path / "x").exists()


def test_training_table_script(tmp_path, local_corpus):
    vocab = {i: bytes([i]) for i in range(256)} | {256: b"<|endoftext|>"}
    tokenizer = build_hf_tokenizer(vocab, [], ["<|endoftext|>"])
    tokenizer.save(str(tmp_path / "t.json"))
    benchmark = tmp_path / "b.tsv"
    benchmark.write_text("s\tmax_rss\tcpu_time\n2.0\t120.5\t1.5\n")
    output = tmp_path / "training.csv"
    entry = ["--entry", "bpe-257", "tok_eval", str(tmp_path / "t.json"), str(benchmark)]
    common = ["--manifest", str(local_corpus), "--output", str(output)]
    result = run_script("tables.py", "training", *entry, *common)
    assert result.returncode == 0, result.stderr
    with output.open() as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == list(tables.TRAINING_COLUMNS)
        (row,) = reader
    training_bytes = json.loads(local_corpus.read_text())["subsets"]["tok_eval"]["bytes"]
    assert (row["tokenizer"], row["family"], row["vocab_size"]) == ("bpe-257", "bpe", "257")
    assert int(row["training_bytes"]) == training_bytes and row["wall_s"] == "2"
    output.unlink()
    entry[2] = "tok_train"
    bad = run_script("tables.py", "training", *entry, *common)
    assert bad.returncode == 1
    assert bad.stderr.strip().splitlines()[-1] == (
        f"Error: {local_corpus}: no subset 'tok_train' (tokenizer bpe-257)"
    )
    assert not output.exists()


def test_stats_script_errors(tmp_path, local_corpus):
    output = tmp_path / "stats.json"
    result = run_stats(local_corpus, tmp_path / "missing.json", output)
    assert result.returncode == 1 and "tokenizer file not found" in result.stderr
    assert not output.exists()


def test_stats_of_unknown_gold_language_is_an_error(tmp_path, local_corpus):
    tokenizer = build_hf_tokenizer({i: bytes([i]) for i in range(256)}, [])
    tokenizer.save(str(tmp_path / "t.json"))
    gold = tmp_path / "g.csv"
    gold.write_text("full_word,pt1,rest\nab,a,b\n", encoding="utf-8")
    result = run_stats(
        local_corpus,
        str(tmp_path / "t.json"),
        str(tmp_path / "o.json"),
        "--gold",
        f"german={gold}",
        name="x",
    )
    assert result.returncode == 1
    assert "gold morphology for ['german']" in result.stderr
