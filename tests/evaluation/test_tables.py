"""Table assembly and CSV schema; the stats script end to end on a small local corpus."""

from __future__ import annotations

import csv
import json
import math

import pytest

from tests.test_scripts import run_script
from toklab.errors import DataError
from toklab.evaluation import tables
from toklab.tokenizers.hf import build_hf_tokenizer, save_tokenizer_files


def test_family_of():
    assert tables.family_of("bpe-32000") == "bpe"
    assert tables.family_of("bytespan-surprisal-combined-p30-seeding50-64000") == (
        "bytespan-surprisal-combined-p30-seeding50"
    )
    assert tables.family_of("tinystories/bpe-10000") == "bpe"
    assert tables.family_of("gpt2") == "gpt2"


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


def test_every_table_is_documented_in_the_readme(repo):
    readme = (repo / "README.md").read_text(encoding="utf-8")
    for columns in (
        tables.TOKENIZER_STATS_COLUMNS,
        tables.COMPRESSION_COLUMNS,
        tables.TRAINING_COLUMNS,
    ):
        for name in columns:
            assert f"`{name}`" in readme, name


@pytest.fixture
def local_corpus(tmp_path):
    """A two-language local corpus with an evaluation subset, prepared by the data script."""
    docs = tmp_path / "docs.jsonl"
    lines = [{"text": f"the walked dogs {i} walking", "language": "english"} for i in range(20)] + [
        {"text": f"los perros caminan {i}", "language": "spanish"} for i in range(20)
    ]
    docs.write_text("\n".join(json.dumps(x) for x in lines), encoding="utf-8")
    spec = {
        "source": {
            "type": "local",
            "format": "jsonl",
            "paths": [str(docs)],
            "language_column": "language",
        },
        "subsets": {"tok_eval": {}},
    }
    result = run_script(
        "prepare_corpus.py",
        "shards",
        "--corpus",
        "c",
        "--spec-json",
        json.dumps(spec),
        "--shards-dir",
        str(tmp_path / "shards"),
        "--manifest",
        str(tmp_path / "manifest.json"),
    )
    assert result.returncode == 0, result.stderr
    return tmp_path / "manifest.json"


def test_stats_script_end_to_end(tmp_path, local_corpus):
    vocab = {i: bytes([i]) for i in range(256)} | {256: b"ed", 257: b"<|endoftext|>"}
    tokenizer_dir = tmp_path / "tok"
    save_tokenizer_files(tokenizer_dir, vocab, [(b"e", b"d")], ["<|endoftext|>"])
    gold = tmp_path / "english.csv"
    gold.write_text(",full_word,pt1,rest\n0,walked,walk,ed\n1,walked,walke,d\n", encoding="utf-8")
    output = tmp_path / "stats.json"
    result = run_script(
        "tokenizer_stats.py",
        "evaluate",
        "--tokenizer",
        str(tokenizer_dir / "tokenizer.json"),
        "--name",
        "bpe-258",
        "--tokenizer-corpus",
        "c",
        "--manifest",
        str(local_corpus),
        "--corpus",
        "c",
        "--subset",
        "tok_eval",
        "--gold",
        f"english={gold}",
        "--output",
        str(output),
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
    table = tmp_path / "table.csv"
    result = run_script("tokenizer_stats.py", "stats-table", str(output), "--output", str(table))
    assert result.returncode == 0, result.stderr
    with table.open() as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == list(tables.TOKENIZER_STATS_COLUMNS)
        assert [r["language"] for r in reader] == ["english", "spanish", "all"]


def test_stats_script_errors(tmp_path, local_corpus):
    output = tmp_path / "stats.json"
    result = run_script(
        "tokenizer_stats.py",
        "evaluate",
        "--tokenizer",
        str(tmp_path / "missing.json"),
        "--name",
        "x",
        "--tokenizer-corpus",
        "c",
        "--manifest",
        str(local_corpus),
        "--corpus",
        "c",
        "--subset",
        "tok_eval",
        "--output",
        str(output),
    )
    assert result.returncode == 1 and "tokenizer file not found" in result.stderr
    assert not output.exists()


def test_stats_of_unknown_gold_language_is_an_error(tmp_path, local_corpus):
    tokenizer = build_hf_tokenizer({i: bytes([i]) for i in range(256)}, [])
    tokenizer.save(str(tmp_path / "t.json"))
    gold = tmp_path / "g.csv"
    gold.write_text("full_word,pt1,rest\nab,a,b\n", encoding="utf-8")
    result = run_script(
        "tokenizer_stats.py",
        "evaluate",
        "--tokenizer",
        str(tmp_path / "t.json"),
        "--name",
        "x",
        "--tokenizer-corpus",
        "c",
        "--manifest",
        str(local_corpus),
        "--corpus",
        "c",
        "--subset",
        "tok_eval",
        "--gold",
        f"german={gold}",
        "--output",
        str(tmp_path / "o.json"),
    )
    assert result.returncode == 1
    assert "gold morphology for ['german']" in result.stderr
