import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from toklab.data.shards import iter_shard_batches, language_counts, open_shard, shard_languages
from toklab.errors import DataError


def shard(path, texts, languages=None):
    columns = {"id": [str(i) for i in range(len(texts))], "text": texts}
    if languages is not None:
        columns["language"] = languages
    pq.write_table(pa.table(columns), path)
    return path


def test_batches_in_order_with_languages_where_present(tmp_path):
    a = shard(tmp_path / "a.parquet", ["a0", "a1", "a2"], ["x", "y", "x"])
    b = shard(tmp_path / "b.parquet", ["b0", "b1"])
    batches = list(iter_shard_batches([a, b], batch_rows=2))
    assert batches == [
        (["a0", "a1"], ["x", "y"]),
        (["a2"], ["x"]),
        (["b0", "b1"], [None, None]),
    ]
    assert list(iter_shard_batches([a], batch_rows=5, languages=False)) == [
        (["a0", "a1", "a2"], [None, None, None])
    ]


def test_languages_and_counts(tmp_path):
    a = shard(tmp_path / "a.parquet", ["1", "2", "3"], ["z", "x", "z"])
    b = shard(tmp_path / "b.parquet", ["4"], ["y"])
    plain = shard(tmp_path / "plain.parquet", ["5"])
    assert shard_languages(a) == ["z", "x", "z"]
    assert shard_languages(plain) is None
    counts = language_counts([a, b])
    assert counts == {"x": 1, "y": 1, "z": 2} and list(counts) == ["x", "y", "z"]
    assert language_counts([a, plain]) is None
    assert language_counts([]) == {}


def test_unreadable_shard_is_named(tmp_path):
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"not parquet")
    for read in (
        open_shard,
        shard_languages,
        lambda path: list(iter_shard_batches([path])),
        lambda path: language_counts([path]),
    ):
        with pytest.raises(DataError, match=r"bad.parquet: not a readable parquet shard \("):
            read(bad)
