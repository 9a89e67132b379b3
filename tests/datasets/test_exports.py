"""Exports of token arrays: Delphi parquet samples, nanoGPT/StochasTok .bin, CS336 .npy."""

from __future__ import annotations

from collections import deque
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import byte_corpus
from tests.helpers import byte_level_bpe
from toklab.datasets import delphi
from toklab.datasets.cs336 import export_cs336
from toklab.datasets.delphi import delphi_samples, export_delphi, sample_count
from toklab.datasets.nanogpt import TerminatedStream, export_nanogpt
from toklab.datasets.token_array import TokenArray, tokenize_corpus
from toklab.errors import ConfigError, DataError

SPECIALS = ["<bos>", "<eos>", "<|endoftext|>"]
TEXTS = [
    "the other day, the weather was rather hot.",
    "a",
    "",
    "🙃 héllo there\nthe end",
    "another one: the theatre, the thermos, the 3 others",
    "x y z",
]


# ---------------------------------------------------------------------------------------------
# Fixtures: a real byte-level BPE, a byte corpus and its token array


@pytest.fixture(scope="module")
def tokenizer_json(tmp_path_factory) -> Path:
    merges = [(b"t", b"h"), (b"th", b"e"), (b" ", b"the"), (b"e", b"r"), (b" ", b"a")]
    return byte_level_bpe(tmp_path_factory.mktemp("tokenizer"), merges, SPECIALS)


@pytest.fixture(scope="module")
def hf(tokenizer_json):
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(tokenizer_json))


def special_id(hf, token: str) -> int:
    token_id = hf.token_to_id(token)
    assert token_id is not None
    return token_id


@pytest.fixture(scope="module")
def array(tmp_path_factory, tokenizer_json) -> TokenArray:
    root = tmp_path_factory.mktemp("array")
    corpus = byte_corpus(root, TEXTS)
    tokenize_corpus(tokenizer_json, corpus, root / "tokens")
    return TokenArray.open(root / "tokens")


def memory_array(docs: list[list[int]], vocab_size: int = 64, dtype: str = "<u2") -> TokenArray:
    """A token array held in memory (no files), for property tests and bad inputs."""
    lengths = [len(doc) for doc in docs]
    offsets = np.zeros(len(docs) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    tokens = np.array([t for doc in docs for t in doc], dtype=dtype)
    meta = {"dtype": np.dtype(dtype).name, "vocab_size": vocab_size, "tokenizer_sha256": "0" * 64}
    return TokenArray(Path("memory"), tokens, offsets, meta)


def documents_of(array: TokenArray) -> list[list[int]]:
    return [array.document(i).tolist() for i in range(len(array))]


def split_at(ids: list[int], separator: int) -> list[list[int]]:
    """The pieces of ``ids`` each ended by ``separator`` (a trailing unended piece is dropped)."""
    pieces, current = [], []
    for token in ids:
        if token == separator:
            pieces.append(current)
            current = []
        else:
            current.append(token)
    return pieces


def decode_all(hf, pieces: list[list[int]]) -> list[str]:
    return [hf.decode(piece, skip_special_tokens=False) for piece in pieces]


def test_fixture_array_round_trips(array, hf):
    assert len(array) == len(TEXTS) and array.tokens.dtype == np.uint16
    assert decode_all(hf, documents_of(array)) == TEXTS
    assert array.num_tokens < sum(len(t.encode()) for t in TEXTS)  # the merges did something


# ---------------------------------------------------------------------------------------------
# The terminated stream


def brute_stream(docs: list[list[int]], eos: int) -> list[int]:
    return [t for doc in docs for t in [*doc, eos]]


docs_strategy = st.lists(st.lists(st.integers(3, 63), max_size=12), min_size=1, max_size=10)


@settings(max_examples=200, deadline=None)
@given(docs=docs_strategy, data=st.data())
def test_stream_slices_match_brute_force(docs, data):
    stream = TerminatedStream(memory_array(docs), eos_id=1)
    expected = brute_stream(docs, 1)
    assert len(stream) == len(expected) and stream.documents == len(docs)
    start = data.draw(st.integers(0, len(expected)))
    stop = data.draw(st.integers(start, len(expected)))
    piece = stream.slice(start, stop)
    assert piece.dtype == np.uint16 and piece.tolist() == expected[start:stop]
    chunk = data.draw(st.integers(1, 8))
    assert np.concatenate(list(stream.chunks(chunk))).tolist() == expected


def test_stream_rejects_out_of_range_slices():
    stream = TerminatedStream(memory_array([[5, 6]]), eos_id=1)
    with pytest.raises(IndexError):
        stream.slice(0, 4)
    with pytest.raises(ConfigError, match="chunk_tokens"):
        next(stream.chunks(0))


# ---------------------------------------------------------------------------------------------
# Delphi: a brute-force re-implementation of its deque algorithm (from the notes' description)


def brute_delphi(
    docs: list[list[int]], seq_len: int, bos: int, eos: int, batch: int, keep_tail: bool
) -> list[list[int]]:
    """Delphi's samples: a deque of document ids + EOS, ``[bos] + (seq_len - 2 popped) + [peek]``.

    With ``keep_tail`` False this is Delphi itself: top the deque up to ``seq_len`` ids a batch of
    documents at a time, make one sample per refill, stop once every document has been read (and
    stop early where a short last refill would raise ``IndexError``). With ``keep_tail`` True every
    sample the ids allow is made.
    """
    queue: deque[int] = deque()
    samples: list[list[int]] = []

    def sample() -> list[int]:
        out = [bos]
        for _ in range(seq_len - 2):
            out.append(queue.popleft())
        out.append(queue[0])
        return out

    if keep_tail:
        for doc in docs:
            queue.extend([*doc, eos])
        while len(queue) >= seq_len - 1:
            samples.append(sample())
        return samples
    index = 0
    while index < len(docs):
        while len(queue) < seq_len and index < len(docs):
            for doc in docs[index : index + batch]:
                queue.extend([*doc, eos])
            index += batch
        try:
            samples.append(sample())
        except IndexError:
            break
    return samples


@settings(max_examples=300, deadline=None)
@given(docs=docs_strategy, seq_len=st.integers(3, 16), batch=st.integers(1, 4))
def test_delphi_samples_match_brute_force(docs, seq_len, batch):
    stream = TerminatedStream(memory_array(docs), eos_id=1)
    count = sample_count(len(stream), seq_len)
    ours = delphi_samples(stream, seq_len, 0, 0, count)
    assert ours.shape == (count, seq_len) and ours.dtype == np.int64
    assert ours.tolist() == brute_delphi(docs, seq_len, 0, 1, batch, keep_tail=True)
    original = brute_delphi(docs, seq_len, 0, 1, batch, keep_tail=False)
    assert ours[: len(original)].tolist() == original  # Delphi's samples are the first ones
    # Every block of rows is the same rows.
    if count:
        first = count // 2
        np.testing.assert_array_equal(
            delphi_samples(stream, seq_len, 0, first, count), ours[first:]
        )
    # Only a tail shorter than the stride is left out.
    covered = (count - 1) * (seq_len - 2) + seq_len - 1 if count else 0
    assert 0 <= len(stream) - covered < (seq_len - 2 if count else seq_len - 1)


def test_delphi_drops_less_than_delphi_itself():
    # Notes, section 7: after the last batch of documents Delphi makes one sample and drops the
    # rest of its buffer; with a long last document that is several samples.
    docs = [[3 + i] * n for i, n in enumerate([12, 9, 15, 7, 40])]
    original = brute_delphi(docs, 11, 0, 1, 2, keep_tail=False)
    ours = brute_delphi(docs, 11, 0, 1, 2, keep_tail=True)
    assert len(original) == 6 and len(ours) == 9 and ours[:6] == original


def unsample(samples: list[list[int]]) -> list[int]:
    """The stream the samples cover: drop every BOS and each sample's overlap token."""
    stream = list(samples[0][1:])
    for sample in samples[1:]:
        assert sample[1] == stream[-1]
        stream.extend(sample[2:])
    return stream


def read_split(out_dir: Path, split: str, cache: Path, **kwargs):
    import datasets

    files = sorted(str(p) for p in out_dir.glob(f"{split}-*.parquet"))
    return datasets.load_dataset(
        "parquet", data_files={split: files}, split=split, cache_dir=str(cache), **kwargs
    )


@pytest.fixture
def offline(monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.mark.parametrize("seq_len", [3, 5, 8])
def test_delphi_export_loads_and_round_trips(tmp_path, array, hf, offline, seq_len):
    import datasets

    bos, eos = special_id(hf, "<bos>"), special_id(hf, "<eos>")
    out = tmp_path / "delphi"
    meta = export_delphi(array, out, "train", seq_len, bos, eos, chunk_size=4)

    stream_tokens = array.num_tokens + len(array)
    samples = sample_count(stream_tokens, seq_len)
    names = [f"train-{i:05d}.parquet" for i in range(-(-samples // 4))]
    assert sorted(p.name for p in out.iterdir()) == sorted([*names, "meta.json"])
    assert meta["files"] == names and meta["samples"] == samples and meta["seq_len"] == seq_len
    assert (meta["bos_id"], meta["eos_id"]) == (bos, eos)
    assert meta["tokenizer_sha256"] == array.meta["tokenizer_sha256"]
    assert meta["stream_tokens"] == stream_tokens and meta["documents"] == len(array)
    assert [pq.ParquetFile(out / n).metadata.num_rows for n in names][:-1] == [4] * (len(names) - 1)

    loaded = read_split(out, "train", tmp_path / "cache")
    rows = loaded["tokens"]
    # The column is typed as Delphi's Dataset.from_dict types it, and reads the same way.
    assert loaded.features == datasets.Dataset.from_dict({"tokens": rows}).features
    assert len(rows) == samples and all(len(r) == seq_len and r[0] == bos for r in rows)
    assert all(rows[i][1] == rows[i - 1][-1] for i in range(1, len(rows)))
    stream = TerminatedStream(array, eos)
    assert rows == delphi_samples(stream, seq_len, bos, 0, samples).tolist()
    assert rows == brute_delphi(documents_of(array), seq_len, bos, eos, 50, keep_tail=True)

    # BOS and overlaps out, split at EOS: the documents, up to the dropped tail.
    covered = unsample(rows)
    assert len(covered) + meta["dropped_tokens"] == stream_tokens
    assert covered == stream.slice(0, len(covered)).tolist()
    pieces = split_at(covered, eos)
    assert pieces == documents_of(array)[: len(pieces)]
    assert decode_all(hf, pieces) == TEXTS[: len(pieces)]
    if seq_len == 3:  # stride 1: nothing is dropped
        assert meta["dropped_tokens"] == 0 and decode_all(hf, pieces) == TEXTS


def test_delphi_export_reads_like_delphis_trainer(tmp_path, array, hf, offline):
    import datasets

    bos, eos = special_id(hf, "<bos>"), special_id(hf, "<eos>")
    meta = export_delphi(array, tmp_path / "d", "validation", 6, bos, eos)
    features = datasets.Features({"tokens": datasets.Sequence(datasets.Value("int32"))})
    loaded = read_split(tmp_path / "d", "validation", tmp_path / "cache", features=features)
    assert loaded.features == features and str(loaded.data.schema.field("tokens").type) == (
        "list<item: int32>"
    )
    matrix = loaded.with_format("numpy")[:]["tokens"]
    assert matrix.shape == (meta["samples"], 6) and (matrix[:, 0] == bos).all()
    # A directory of one split loads by name, meta.json beside the parquet files.
    by_dir = datasets.load_dataset(
        str(tmp_path / "d"), split="validation", cache_dir=str(tmp_path / "cache")
    )
    assert by_dir["tokens"] == matrix.tolist()


def test_delphi_export_is_deterministic_and_row_grouped(tmp_path, array, hf, monkeypatch):
    bos, eos = special_id(hf, "<bos>"), special_id(hf, "<eos>")
    export_delphi(array, tmp_path / "a", "train", 5, bos, eos, chunk_size=7)
    export_delphi(array, tmp_path / "b", "train", 5, bos, eos, chunk_size=7)
    for path in (tmp_path / "a").iterdir():
        assert path.read_bytes() == (tmp_path / "b" / path.name).read_bytes()
    monkeypatch.setattr(delphi, "ROW_GROUP_TOKENS", 10)  # two rows of 5 per group
    export_delphi(array, tmp_path / "c", "train", 5, bos, eos, chunk_size=7)
    first = pq.ParquetFile(tmp_path / "c" / "train-00000.parquet")
    groups = [first.metadata.row_group(i).num_rows for i in range(first.num_row_groups)]
    assert groups == [2, 2, 2, 1]
    for name in ("train-00000.parquet", "train-00001.parquet"):
        a, c = (pq.read_table(tmp_path / d / name) for d in ("a", "c"))
        assert a.equals(c) and a.schema == delphi.SCHEMA


def test_delphi_export_replaces_the_directory(tmp_path, array, hf):
    out = tmp_path / "d"
    out.mkdir()
    (out / "stale.parquet").write_bytes(b"old")
    export_delphi(array, out, "train", 4, special_id(hf, "<bos>"), special_id(hf, "<eos>"))
    assert not (out / "stale.parquet").exists() and (out / "meta.json").is_file()


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"seq_len": 2}, ConfigError, "seq_len: 2 is too short"),
        ({"seq_len": 1}, ConfigError, "seq_len"),
        ({"seq_len": 4.0}, ConfigError, "seq_len"),
        ({"chunk_size": 0}, ConfigError, "chunk_size"),
        ({"split": "train/x"}, ConfigError, "split"),
        ({"split": ""}, ConfigError, "split"),
        ({"bos_id": 64}, ConfigError, r"bos_id: token id 64 is outside .*\(0\.\.63\)"),
        ({"eos_id": -1}, ConfigError, "eos_id"),
        ({"eos_id": True}, ConfigError, "eos_id"),
        ({"seq_len": 10}, DataError, r"memory: 8 tokens .* too few for one sample of seq_len 10"),
    ],
)
def test_delphi_bad_input(tmp_path, kwargs, error, message):
    array = memory_array([[5, 6, 7], [8, 9, 10]])  # a stream of 8 ids
    args = {"split": "train", "seq_len": 4, "bos_id": 0, "eos_id": 1, "chunk_size": 10} | kwargs
    out = tmp_path / "d"
    with pytest.raises(error, match=message):
        export_delphi(array, out, **args)
    assert list(tmp_path.iterdir()) == []


def test_exports_refuse_an_empty_array(tmp_path):
    empty = memory_array([])
    with pytest.raises(DataError, match="memory: the token array has no documents"):
        export_delphi(empty, tmp_path / "d", "train", 4, 0, 1)
    with pytest.raises(DataError, match="no documents"):
        export_nanogpt(empty, tmp_path / "x.bin", 1)
    with pytest.raises(DataError, match="no documents"):
        export_cs336(empty, tmp_path / "x.npy", 1)
    assert list(tmp_path.iterdir()) == []


def test_delphi_failure_leaves_no_partial_output(tmp_path, monkeypatch):
    array = memory_array([[5, 6, 7, 8]] * 10)
    out = tmp_path / "d"
    out.mkdir()
    (out / "train-00000.parquet").write_bytes(b"previous")
    calls = []

    def failing(*args):
        calls.append(args)
        if len(calls) > 2:
            raise OSError("disk full")
        return delphi_samples(*args)

    monkeypatch.setattr(delphi, "delphi_samples", failing)
    with pytest.raises(OSError, match="disk full"):
        export_delphi(array, out, "train", 4, 0, 1, chunk_size=3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]
    assert [p.name for p in out.iterdir()] == ["train-00000.parquet"]
    assert (out / "train-00000.parquet").read_bytes() == b"previous"


# ---------------------------------------------------------------------------------------------
# nanoGPT / StochasTok .bin and CS336 .npy


def test_nanogpt_round_trips(tmp_path, array, hf):
    eot = special_id(hf, "<|endoftext|>")
    out = tmp_path / "train.bin"
    info = export_nanogpt(array, out, eot)
    assert info == {"tokens": array.num_tokens + len(array), "documents": len(array)}
    data = np.memmap(out, dtype=np.uint16, mode="r")
    assert len(data) == info["tokens"] and data[-1] == eot
    assert np.count_nonzero(data == eot) == len(array)
    pieces = split_at(data.tolist(), eot)
    assert pieces == documents_of(array)
    assert decode_all(hf, pieces) == TEXTS
    assert data.tolist() == brute_stream(documents_of(array), eot)
    # Written in pieces of any size, the file is the same.
    export_nanogpt(array, tmp_path / "small.bin", eot, chunk_tokens=3)
    assert (tmp_path / "small.bin").read_bytes() == out.read_bytes()


def test_cs336_matches_np_save_and_round_trips(tmp_path, array, hf):
    eot = special_id(hf, "<|endoftext|>")
    out = tmp_path / "valid.npy"
    info = export_cs336(array, out, eot, chunk_tokens=5)
    assert info == {"tokens": array.num_tokens + len(array), "documents": len(array)}
    expected = np.array(brute_stream(documents_of(array), eot), dtype=np.uint16)
    np.save(tmp_path / "reference.npy", expected)
    assert out.read_bytes() == (tmp_path / "reference.npy").read_bytes()
    data = np.load(out, mmap_mode="r")
    assert isinstance(data, np.memmap) and data.dtype == np.uint16 and data.shape == expected.shape
    assert data[-1] == eot  # the separator follows every document, the last one too
    assert decode_all(hf, split_at(data.tolist(), eot)) == TEXTS
    export_nanogpt(array, tmp_path / "nanogpt.bin", eot)
    assert data.tobytes() == (tmp_path / "nanogpt.bin").read_bytes()


@pytest.mark.parametrize("export", [export_nanogpt, export_cs336], ids=["nanogpt", "cs336"])
def test_flat_exports_bad_input(tmp_path, export):
    out = tmp_path / "out"
    big = memory_array([[5, 70_000]], vocab_size=70_001, dtype="<u4")
    with pytest.raises(
        DataError, match=r"memory: a vocabulary of 70001 tokens does not fit .*uint16"
    ):
        export(big, out, 1)
    small = memory_array([[5, 6]])
    with pytest.raises(ConfigError, match=r"(eos|separator)_id: token id 64 is outside"):
        export(small, out, 64)
    with pytest.raises(ConfigError, match="must be an integer"):
        export(small, out, "1")
    assert list(tmp_path.iterdir()) == []


def test_flat_exports_keep_the_largest_uint16_id(tmp_path):
    top = memory_array([[65_535, 3], [], [65_534]], vocab_size=65_536)
    export_nanogpt(top, tmp_path / "x.bin", 65_535)
    export_cs336(top, tmp_path / "x.npy", 65_535)
    expected = [65_535, 3, 65_535, 65_535, 65_534, 65_535]
    assert np.fromfile(tmp_path / "x.bin", dtype="<u2").tolist() == expected
    assert np.load(tmp_path / "x.npy").tolist() == expected
