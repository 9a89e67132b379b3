import itertools
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from toklab.data.sources import invalid_utf8_error, open_source
from toklab.errors import ConfigError, DataError


def read(spec, corpus="c"):
    source = open_source(spec, corpus)
    return list(source.documents()), source.stats


def test_text_delimiter_strips_and_skips_empty(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("one story\n<|endoftext|>\ntwo <stories>\n<|endoftext|>\n\n<|endoftext|>three")
    docs, stats = read({"type": "local", "paths": [str(path)], "delimiter": "<|endoftext|>"})
    assert [d.text for d in docs] == ["one story", "two <stories>", "three"]
    assert [d.id for d in docs] == ["a.txt:0", "a.txt:1", "a.txt:3"]
    assert stats.skipped_empty_documents == 1


@pytest.mark.parametrize("block_bytes", [1, 2, 3, 5, 7, 64])
def test_text_blocks_do_not_change_documents(tmp_path, block_bytes):
    # Delimiters and multi-byte characters straddle block boundaries for small blocks.
    text = "héllo wörld\n\n\nsecond doc 🙂\n\nthird\n\n"
    path = tmp_path / "b.txt"
    path.write_text(text)
    spec = {"type": "local", "paths": [str(path)], "block_bytes": block_bytes}
    docs, _ = read(spec)
    assert [d.text for d in docs] == ["héllo wörld", "second doc 🙂", "third"]


def test_text_glob_and_constant_language(tmp_path):
    for name in ("b.txt", "a.txt"):
        (tmp_path / name).write_text(f"doc {name}")
    docs, _ = read({"type": "local", "paths": str(tmp_path / "*.txt"), "language": "english"})
    assert [(d.text, d.language) for d in docs] == [
        ("doc a.txt", "english"),
        ("doc b.txt", "english"),
    ]


def test_invalid_utf8_fails_with_byte_offset(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"fine\n\nbad \xff byte")
    with pytest.raises(DataError, match=r"bad.txt: invalid UTF-8 at byte offset 10"):
        read({"type": "local", "paths": [str(path)]})


def test_invalid_utf8_error_names_file_and_absolute_offset():
    try:
        b"ab\xffc".decode("utf-8")
    except UnicodeDecodeError as err:
        plain = invalid_utf8_error("f.txt", 100, err)
        hinted = invalid_utf8_error("f.txt", 100, err, "try this")
    assert isinstance(plain, DataError) and str(plain) == "f.txt: invalid UTF-8 at byte offset 102"
    assert str(hinted) == "f.txt: invalid UTF-8 at byte offset 102 (try this)"


def test_invalid_utf8_replaced_and_counted(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"ok \xef\xbf\xbd literal\n\nbad \xff\xfe and \xc3")
    docs, stats = read({"type": "local", "paths": [str(path)], "on_invalid_utf8": "replace"})
    assert docs[1].text == "bad \ufffd\ufffd and \ufffd"
    assert (
        stats.invalid_utf8_replacements == 3
    )  # the literal U+FFFD in the first doc is not counted


def test_jsonl_columns(tmp_path):
    path = tmp_path / "d.jsonl"
    rows = [
        {"text": "a b", "id": 7, "lang": "x"},
        {"text": "", "id": 8, "lang": "y"},
        {"text": "c", "id": 9, "lang": "y"},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    spec = {
        "type": "local",
        "format": "jsonl",
        "paths": [str(path)],
        "id_column": "id",
        "language_column": "lang",
    }
    docs, stats = read(spec)
    assert [tuple(d) for d in docs] == [("7", "a b", "x"), ("9", "c", "y")]
    assert stats.skipped_empty_documents == 1


def test_jsonl_errors(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"text": "a"}\n{not json}\n')
    with pytest.raises(DataError, match="line 2: invalid JSON"):
        read({"type": "local", "format": "jsonl", "paths": [str(path)]})
    path.write_text('{"body": "a"}\n')
    with pytest.raises(DataError, match="no text column 'text'"):
        read({"type": "local", "format": "jsonl", "paths": [str(path)]})


def write_parquet(path, n=10):
    table = pa.table(
        {
            "id": [f"r{i}" for i in range(n)],
            "text": [f"row {i} ü" for i in range(n)],
            "language": ["en" if i % 2 else "de" for i in range(n)],
        }
    )
    pq.write_table(table, path)
    return table


def test_parquet(tmp_path):
    write_parquet(tmp_path / "p.parquet")
    spec = {
        "type": "local",
        "format": "parquet",
        "paths": [str(tmp_path / "p.parquet")],
        "id_column": "id",
        "language_column": "language",
    }
    docs, _ = read(spec)
    assert docs[3] == ("r3", "row 3 ü", "en")
    assert len(docs) == 10
    with pytest.raises(DataError, match=r"missing column\(s\) \['body'\]"):
        read({**spec, "text_column": "body"})


@pytest.mark.parametrize("builder", ["parquet", "json"])
def test_hf_source_streams_local_files_through_datasets(tmp_path, builder):
    """The hf source's datasets.load_dataset(streaming=True) path, on local files."""
    table = write_parquet(tmp_path / "p.parquet")
    path = tmp_path / "p.parquet"
    if builder == "json":
        path = tmp_path / "p.jsonl"
        path.write_text("\n".join(json.dumps(r) for r in table.to_pylist()))
    spec = {
        "type": "hf",
        "dataset": builder,
        "data_files": str(path),
        "split": "train",
        "id_column": "id",
        "language_column": "language",
    }
    source = open_source(spec, "c")
    from datasets import IterableDataset

    assert isinstance(source.load(), IterableDataset)
    docs = list(source.documents())
    assert [tuple(d) for d in docs] == [
        (r["id"], r["text"], r["language"]) for r in table.to_pylist()
    ]


def test_hf_source_missing_column(tmp_path):
    write_parquet(tmp_path / "p.parquet")
    spec = {
        "type": "hf",
        "dataset": "parquet",
        "data_files": str(tmp_path / "p.parquet"),
        "text_column": "story",
    }
    with pytest.raises(DataError, match=r"no column\(s\) \['story'\]"):
        list(open_source(spec, "c").documents())


def test_hf_source_unreachable_dataset_is_a_clear_error(monkeypatch):
    import datasets

    def offline(*args, **kwargs):
        raise ConnectionError(
            "Couldn't reach 'nobody-has/this-dataset' on the Hub (LocalEntryNotFoundError)"
        )

    monkeypatch.setattr(datasets, "load_dataset", offline)
    spec = {"type": "hf", "dataset": "nobody-has/this-dataset"}
    with pytest.raises(
        DataError,
        match=r"cannot open Hugging Face dataset 'nobody-has/this-dataset' \(ConnectionError",
    ):
        list(open_source(spec, "c").documents())


def test_bad_specs(tmp_path):
    with pytest.raises(ConfigError, match="unknown source type 'ftp'"):
        open_source({"type": "ftp"}, "c")
    with pytest.raises(DataError, match="input file not found"):
        open_source({"type": "local", "paths": [str(tmp_path / "missing.txt")]}, "c")
    with pytest.raises(DataError, match="input file not found"):
        open_source({"type": "local", "paths": [str(tmp_path / "*.none")]}, "c")
    with pytest.raises(ConfigError, match="unknown local format 'csv'"):
        open_source({"type": "local", "format": "csv", "paths": ["x"]}, "c")
    with pytest.raises(ConfigError, match="unknown demo language"):
        open_source({"type": "demo", "languages": ["klingon"]}, "c")


def test_demo_is_deterministic_and_cycles_languages():
    first = list(itertools.islice(open_source({"type": "demo", "seed": 3}, "d").documents(), 6))
    again = list(itertools.islice(open_source({"type": "demo", "seed": 3}, "d").documents(), 6))
    other = list(itertools.islice(open_source({"type": "demo", "seed": 4}, "d").documents(), 6))
    assert first == again
    assert [d.text for d in first] != [d.text for d in other]
    assert [d.language for d in first] == ["agglutinative", "fusional"] * 3
