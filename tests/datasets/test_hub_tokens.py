"""Datasets of token ids (StochasTok's rows of ids, Delphi's samples) imported as token arrays.

The datasets are local parquet directories in the published layouts, opened by the same
``datasets.load_dataset(..., streaming=True)`` call that reads a Hub repo.
"""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.conftest import byte_corpus, run_script
from tests.helpers import byte_level_bpe
from toklab.datasets import hub_tokens
from toklab.datasets.delphi import export_delphi
from toklab.datasets.hub_tokens import TokenSource, import_token_dataset
from toklab.datasets.token_array import TokenArray, token_array_paths, tokenize_corpus
from toklab.errors import ConfigError, DataError

SPECIALS = ["<bos>", "<eos>"]
TEXTS = [
    "the other day, the weather was rather hot.",
    "a",
    "🙃 héllo there\nthe end",
    "another one: the theatre, the thermos, the 3 others",
    "x y z",
    "the last one, with a few more words than the others in it",
]


@pytest.fixture(scope="module")
def tokenizer_json(tmp_path_factory) -> Path:
    merges = [(b"t", b"h"), (b"th", b"e"), (b" ", b"the"), (b"e", b"r")]
    return byte_level_bpe(tmp_path_factory.mktemp("tokenizer"), merges, SPECIALS)


@pytest.fixture(scope="module")
def hf(tokenizer_json):
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(tokenizer_json))


@pytest.fixture(scope="module")
def docs(hf) -> list[list[int]]:
    return [hf.encode(text, add_special_tokens=False).ids for text in TEXTS]


def write_rows(directory: Path, split: str, column: str, rows, kind=None, files: int = 1) -> None:
    """A Hub-style dataset directory: ``data/{split}-0000i-of-0000n.parquet`` files."""
    data = directory / "data"
    data.mkdir(parents=True, exist_ok=True)
    per_file = -(-len(rows) // files)
    for i in range(files):
        part = rows[i * per_file : (i + 1) * per_file]
        table = pa.table({column: pa.array(part, type=kind), "len": [len(r or []) for r in part]})
        pq.write_table(table, data / f"{split}-{i:05d}-of-{files:05d}.parquet")


@pytest.fixture
def stochastok_dataset(tmp_path, docs, hf) -> Path:
    """StochasTok's layout: splits train and val, column ``ids``, EOS after every document."""
    eos = hf.token_to_id("<eos>")
    root = tmp_path / "openwebtext-tokenized"
    write_rows(root, "train", "ids", [[*d, eos] for d in docs], files=2)
    write_rows(root, "val", "ids", [[*d, eos] for d in docs[:2]])
    return root


def documents(prefix: Path) -> list[list[int]]:
    array = TokenArray.open(prefix)
    return [array.document(i).tolist() for i in range(len(array))]


def nothing_at(prefix: Path) -> bool:
    return not any(p.exists() for p in token_array_paths(prefix).values()) and not list(
        prefix.parent.glob(f".{prefix.name}*")
    )


def test_rows_of_documents_with_trailing_eos(stochastok_dataset, tokenizer_json, docs, tmp_path):
    source = TokenSource(str(stochastok_dataset), "ids", split="train", trailing_eos=True)
    meta = import_token_dataset(source, tokenizer_json, tmp_path / "out" / "train", batch_rows=4)
    assert documents(tmp_path / "out" / "train") == docs
    array = TokenArray.open(tmp_path / "out" / "train")
    array.check_tokenizer(tokenizer_json)
    assert array.num_bytes == sum(len(t.encode()) for t in TEXTS)
    assert meta["dtype"] == "uint16" and meta["vocab_size"] == 262
    assert meta["imported"]["rows"] == len(docs) and meta["imported"]["eos_id"] == 261
    # the other split, and a cap on documents
    source = TokenSource(str(stochastok_dataset), "ids", split="val", trailing_eos=True)
    import_token_dataset(source, tokenizer_json, tmp_path / "out" / "val")
    assert documents(tmp_path / "out" / "val") == docs[:2]
    source = TokenSource(str(stochastok_dataset), "ids", split="train", trailing_eos=True)
    import_token_dataset(source, tokenizer_json, tmp_path / "cap", max_documents=3, batch_rows=2)
    assert documents(tmp_path / "cap") == docs[:3]


def test_rows_kept_whole_without_trailing_eos(tmp_path, tokenizer_json, docs):
    write_rows(
        tmp_path / "d", "train", "tokens", [*docs[:2], [], docs[2]], kind=pa.list_(pa.int32())
    )
    source = TokenSource(str(tmp_path / "d"), "tokens")
    meta = import_token_dataset(source, tokenizer_json, tmp_path / "t")
    assert documents(tmp_path / "t") == [*docs[:2], docs[2]]
    assert meta["imported"]["skipped_empty_documents"] == 1


@pytest.mark.parametrize("seq_len", [5, 16, 64])
def test_delphi_samples_back_to_documents(tmp_path, tokenizer_json, hf, docs, seq_len):
    """toklab's Delphi export (Delphi's samples) imports back to the documents it covers."""
    corpus = byte_corpus(tmp_path / "corpus", TEXTS)
    tokenize_corpus(tokenizer_json, corpus, tmp_path / "tokens")
    bos, eos = hf.token_to_id("<bos>"), hf.token_to_id("<eos>")
    export = tmp_path / "delphi"
    meta = export_delphi(TokenArray.open(tmp_path / "tokens"), export, "train", seq_len, bos, eos,
                         chunk_size=3)  # fmt: skip
    source = TokenSource("parquet", "tokens", layout="delphi",
                         data_files={"train": str(export / "*.parquet")})  # fmt: skip
    imported = import_token_dataset(source, tokenizer_json, tmp_path / "back", batch_rows=2)
    stream = [t for d in docs for t in [*d, eos]]
    covered = len(stream) - meta["dropped_tokens"]
    complete = stream[:covered].count(eos)
    assert documents(tmp_path / "back") == docs[:complete]
    assert imported["imported"]["dropped_tokens"] == covered - len(
        [t for d in docs[:complete] for t in [*d, eos]]
    )
    assert imported["imported"]["rows"] == meta["samples"]


def test_delphi_stream_across_batches():
    stream = hub_tokens.DelphiStream(bos_id=0, eos_id=1, where="w")
    # samples of 4: <bos> and a window of 3 over the stream 5 6 1 7 1 8 8 1 9, stride 2
    rows = [[0, 5, 6, 1], [0, 1, 7, 1], [0, 1, 8, 8], [0, 8, 1, 9]]
    out = []
    for batch in ([rows[0]], rows[1:3], [rows[3]]):
        ids = np.array([t for r in batch for t in r])
        offsets = np.cumsum([0] + [len(r) for r in batch])
        tokens, doc_offsets = stream.feed(ids, offsets)
        out += [tokens[a:b].tolist() for a, b in pairwise(doc_offsets.tolist())]
    assert out == [[5, 6], [7], [8, 8]]
    assert stream.pending.tolist() == [9]


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (
            [[1, 261], [3, 999]],
            "row 1 has token id 999, which is not in the tokenizer's vocabulary",
        ),
        ([[1, -4]], "row 0 has token id -4"),
        ([[1, 2, 261], [3, 4]], "row 1 does not end with the EOS id 261"),
        ([[261], []], "row 1 does not end with the EOS id 261"),
        ([[1, 261], None], "row 1 is missing (null)"),
        ([[1, None, 261]], "row 0 has a missing (null) id"),
    ],
)
def test_bad_rows_are_one_line_errors(tmp_path, tokenizer_json, rows, message):
    write_rows(tmp_path / "d", "train", "ids", rows, kind=pa.list_(pa.int64()))
    source = TokenSource(str(tmp_path / "d"), "ids", trailing_eos=True)
    with pytest.raises(DataError) as err:
        import_token_dataset(source, tokenizer_json, tmp_path / "out" / "t", batch_rows=1)
    assert message in str(err.value) and "\n" not in str(err.value)
    assert "split 'train' column 'ids'" in str(err.value)
    assert nothing_at(tmp_path / "out" / "t")


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([[260, 5, 6, 261], [5, 261, 7, 8]], "row 1 starts with id 5, not the BOS id 260"),
        ([[260, 5, 6, 261], [260, 7, 8, 9]], "row 1 does not repeat the last id"),
        ([[260, 5]], "row 0 has 2 ids"),
        ([[260, 5, 6, 7]], "no documents to import (1 rows)"),
    ],
)
def test_bad_delphi_samples(tmp_path, tokenizer_json, rows, message):
    write_rows(tmp_path / "d", "train", "tokens", rows)
    source = TokenSource(str(tmp_path / "d"), "tokens", layout="delphi")
    with pytest.raises(DataError) as err:
        import_token_dataset(source, tokenizer_json, tmp_path / "t")
    assert message in str(err.value)
    assert nothing_at(tmp_path / "t")


def test_missing_column_split_and_wrong_type(stochastok_dataset, tmp_path, tokenizer_json):
    cases = [
        (TokenSource(str(stochastok_dataset), "tokens"), "no such column (has ids, len)"),
        (TokenSource(str(stochastok_dataset), "len"), "holds int64, not lists of token ids"),
        (TokenSource(str(stochastok_dataset), "ids", split="test"), "cannot open it"),
        (TokenSource(str(tmp_path / "none"), "ids"), "cannot open it"),
    ]
    for source, message in cases:
        with pytest.raises(DataError) as err:
            import_token_dataset(source, tokenizer_json, tmp_path / "t")
        assert message in str(err.value) and "\n" not in str(err.value)
        assert nothing_at(tmp_path / "t")


def test_tokens_the_tokenizer_lacks(stochastok_dataset, tmp_path, tokenizer_json):
    source = TokenSource(str(stochastok_dataset), "ids", trailing_eos=True, eos_token="</s>")
    with pytest.raises(ConfigError, match="eos_token '</s>' is not a token of it"):
        import_token_dataset(source, tokenizer_json, tmp_path / "t")
    with pytest.raises(ConfigError, match="unknown layout 'chunks'"):
        TokenSource("x", "ids", layout="chunks")
    # a tokenizer without an EOS role: the error says how to name one
    (tmp_path / "plain").mkdir()
    plain = byte_level_bpe(tmp_path / "plain", [], [])
    source = TokenSource(str(stochastok_dataset), "ids", trailing_eos=True)
    with pytest.raises(DataError, match=r"has no EOS token \(name it with eos_token\)$"):
        import_token_dataset(source, plain, tmp_path / "t")


def test_unreachable_hub_is_one_line(monkeypatch, tmp_path, tokenizer_json):
    def unreachable(repo_id, revision):
        raise ConnectionError("Failed to resolve 'huggingface.co'\n(more detail)")

    monkeypatch.setattr(hub_tokens, "hub_commit", unreachable)
    source = TokenSource("anyasims/openwebtext-tokenized", "ids", revision="main")
    assert source.is_hub_repo()
    with pytest.raises(DataError) as err:
        import_token_dataset(source, tokenizer_json, tmp_path / "t")
    assert str(err.value) == (
        "dataset 'anyasims/openwebtext-tokenized' at revision 'main': cannot resolve it on the "
        "Hugging Face Hub (ConnectionError: Failed to resolve 'huggingface.co')"
    )
    assert nothing_at(tmp_path / "t")


def test_hub_revision_is_resolved_and_pinned(monkeypatch, stochastok_dataset, tmp_path,
                                             tokenizer_json):  # fmt: skip
    """A Hub repo is streamed at the commit its revision resolves to, recorded in the meta."""
    calls = []
    monkeypatch.setattr(hub_tokens, "hub_commit", lambda repo, rev: calls.append(rev) or "c0ffee")
    import datasets

    real = datasets.load_dataset

    def load(path, **kwargs):
        calls.append(kwargs.get("revision"))
        return real(str(stochastok_dataset), **{k: v for k, v in kwargs.items() if k != "revision"})

    monkeypatch.setattr(datasets, "load_dataset", load)
    source = TokenSource("anyasims/openwebtext-tokenized", "ids", revision="v1", trailing_eos=True)
    meta = import_token_dataset(source, tokenizer_json, tmp_path / "t")
    assert calls == ["v1", "c0ffee"]
    assert meta["imported"]["commit"] == "c0ffee" and meta["imported"]["revision"] == "v1"


def test_script(stochastok_dataset, tmp_path, tokenizer_json, docs):
    common = ["--tokenizer", str(tokenizer_json), "--column", "ids", "--trailing-eos"]
    result = run_script("import_tokens.py", "--dataset", str(stochastok_dataset), "--split", "val",
                        *common, "--output-prefix", str(tmp_path / "val"))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert documents(tmp_path / "val") == docs[:2]
    # the Hub is offline for the tests' subprocesses: one line, exit 1, nothing written
    result = run_script("import_tokens.py", "--dataset", "nobody/nothing", "--split", "train",
                        *common, "--output-prefix", str(tmp_path / "hub"))  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "nobody/nothing" in result.stderr
    assert nothing_at(tmp_path / "hub")
