import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from toklab.data.byte_corpus import ByteCorpus, byte_corpus_paths, write_byte_corpus
from toklab.errors import DataError
from toklab.io import read_json
from toklab.pretokenization import pretoken_start_flags


def shards_of(tmp_path, texts, per_shard=3):
    paths = []
    for i in range(0, max(len(texts), 1), per_shard):
        path = tmp_path / f"part-{i:05d}.parquet"
        chunk = texts[i : i + per_shard]
        pq.write_table(pa.table({"id": [str(j) for j in range(len(chunk))], "text": chunk}), path)
        paths.append(path)
    return paths


TEXTS = [
    "Hello world!",
    "héllo  wörld\n\nsecond 🙂 line",
    "x",
    "it's 42 o'clock",
    "  lead",
    "last.",
]


def test_round_trip_and_flags(tmp_path):
    meta = write_byte_corpus(shards_of(tmp_path, TEXTS), tmp_path / "sub")
    corpus = ByteCorpus(tmp_path / "sub")
    assert len(corpus) == len(TEXTS) == meta["num_documents"]
    assert corpus.num_bytes == sum(len(t.encode()) for t in TEXTS) == meta["num_bytes"]
    assert corpus.bytes.tobytes() == "".join(TEXTS).encode()
    for i, text in enumerate(TEXTS):
        assert corpus.document_text(i) == text
        np.testing.assert_array_equal(corpus.document_pretoken_start(i), pretoken_start_flags(text))
        assert corpus.document_pretoken_start(i)[0] == 1
    assert corpus.offsets.dtype == np.dtype("<i8")
    assert meta["prefix_space"] is False and meta["languages"] is None


@settings(max_examples=25, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=40), min_size=1, max_size=12))
def test_parallel_output_equals_serial(tmp_path_factory, texts):
    tmp_path = tmp_path_factory.mktemp("bc")
    shards = shards_of(tmp_path, texts, per_shard=2)
    serial = write_byte_corpus(shards, tmp_path / "serial")
    corpus = ByteCorpus(tmp_path / "serial")
    assert [corpus.document_text(i) for i in range(len(corpus))] == texts
    expected = np.concatenate([pretoken_start_flags(t) for t in texts])
    np.testing.assert_array_equal(corpus.pretoken_start, expected)
    assert serial["sha256"]["bin"]


def test_workers_do_not_change_output(tmp_path):
    texts = [f"doc {i}: " + "wörd " * (i % 5) for i in range(3000)]
    shards = shards_of(tmp_path, texts, per_shard=1000)
    one = write_byte_corpus(shards, tmp_path / "one", workers=1)
    two = write_byte_corpus(shards, tmp_path / "two", workers=2)
    assert one == two
    for suffix in ("bin", "idx", "pretok"):
        assert (
            byte_corpus_paths(tmp_path / "one")[suffix].read_bytes()
            == byte_corpus_paths(tmp_path / "two")[suffix].read_bytes()
        )
    assert read_json(tmp_path / "one.meta.json") == one


def test_corrupt_files_are_reported(tmp_path):
    write_byte_corpus(shards_of(tmp_path, TEXTS), tmp_path / "sub")
    paths = byte_corpus_paths(tmp_path / "sub")
    paths["pretok"].write_bytes(paths["pretok"].read_bytes()[:-1])
    with pytest.raises(DataError, match=r"sub.pretok: \d+ flags for \d+ bytes"):
        ByteCorpus(tmp_path / "sub")
    write_byte_corpus(shards_of(tmp_path, TEXTS), tmp_path / "sub")
    paths["idx"].write_bytes(paths["idx"].read_bytes()[:-3])
    with pytest.raises(DataError, match="corrupt index"):
        ByteCorpus(tmp_path / "sub")
    write_byte_corpus(shards_of(tmp_path, TEXTS), tmp_path / "sub")
    paths["bin"].write_bytes(paths["bin"].read_bytes() + b"extra")
    with pytest.raises(DataError, match="index ends at"):
        ByteCorpus(tmp_path / "sub")
    paths["meta.json"].unlink()
    with pytest.raises(DataError, match="byte corpus file not found"):
        ByteCorpus(tmp_path / "sub")


def test_unreadable_shard(tmp_path):
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"not parquet at all")
    with pytest.raises(DataError, match="not a readable parquet shard"):
        write_byte_corpus([bad], tmp_path / "sub")
    assert not any(tmp_path.glob("sub.*"))


def test_meta_counts_languages_of_the_shards(tmp_path):
    paths = []
    for i, languages in enumerate((["fusional", "agglutinative"], ["fusional"])):
        path = tmp_path / f"lang-{i}.parquet"
        texts = [f"text {j}" for j in range(len(languages))]
        pq.write_table(pa.table({"id": texts, "text": texts, "language": languages}), path)
        paths.append(path)
    meta = write_byte_corpus(paths, tmp_path / "sub")
    assert meta["languages"] == {"agglutinative": 1, "fusional": 2}
    assert list(meta["languages"]) == ["agglutinative", "fusional"]
    mixed = write_byte_corpus([*paths, *shards_of(tmp_path, TEXTS)], tmp_path / "mixed")
    assert mixed["languages"] is None  # one shard has no language column


def test_bin_sha256_comes_from_the_meta(tmp_path, monkeypatch):
    from toklab.data import byte_corpus as module
    from toklab.io import sha256_file, write_json

    meta = write_byte_corpus(shards_of(tmp_path, TEXTS), tmp_path / "sub")
    expected = sha256_file(tmp_path / "sub.bin")
    assert meta["sha256"]["bin"] == expected

    def no_hashing(path):
        raise AssertionError(f"{path} was hashed again")

    monkeypatch.setattr(module, "sha256_file", no_hashing)
    assert ByteCorpus(tmp_path / "sub").bin_sha256 == expected
    monkeypatch.undo()
    del meta["sha256"]
    write_json(tmp_path / "sub.meta.json", meta)
    assert ByteCorpus(tmp_path / "sub").bin_sha256 == expected  # hashed: the meta has none
