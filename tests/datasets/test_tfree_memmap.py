"""T-Free's MemoryMap and AlignedMMap, written from byte corpora.

The readers here follow only the format description (notes B3): ``.bin`` items, ``.idx``
``[start, length]`` pairs, ``.meta.json`` with dtype, index_dtype and document_count; the aligned
map's uint32 item ids, uint16 lengths and uint64 absolute offsets, one entry per chunk.
"""

from __future__ import annotations

import json
import random
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import byte_corpus
from toklab.datasets.tfree_memmap import write_aligned_memory_map, write_memory_map
from toklab.errors import ConfigError, DataError

SPLIT = b" .,!?"

# ---------------------------------------------------------------------------------------------
# Readers from the format description, and an independent checker of the cutting rule


def read_memory_map(prefix: Path) -> tuple[dict, list[bytes]]:
    meta = json.loads(Path(f"{prefix}.meta.json").read_text())
    data = np.fromfile(f"{prefix}.bin", dtype=meta["dtype"])
    index = np.fromfile(f"{prefix}.idx", dtype=meta["index_dtype"]).reshape(-1, 2)
    assert len(index) == meta["document_count"]
    return meta, [data[start : start + length].tobytes() for start, length in index]


def read_aligned(prefix: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    items = np.fromfile(f"{prefix}.indices.bin", dtype=np.uint32)
    lengths = np.fromfile(f"{prefix}.lengths.bin", dtype=np.uint16)
    offsets = np.fromfile(f"{prefix}.offsets.bin", dtype=np.uint64)
    assert len(items) == len(lengths) == len(offsets)
    return items, offsets.astype(np.int64), lengths.astype(np.int64)


def word_spans(doc: bytes) -> list[tuple[int, int]]:
    """Words of a document: cut right before every split character."""
    cuts = [0, *(i for i in range(1, len(doc)) if doc[i] in SPLIT), len(doc)]
    return [(a, b) for a, b in pairwise(cuts) if b > a]


def first_word_length(doc: bytes, start: int) -> int:
    end = start + 1
    while end < len(doc) and doc[end] not in SPLIT:
        end += 1
    return end - start


def check_aligned(
    docs: list[bytes], mm_prefix: Path, prefix: Path, max_bytes: int, tolerance: int, summary: dict
) -> list[int]:
    """Assert every documented property of the aligned map; return the items' byte totals."""
    data = Path(f"{mm_prefix}.bin").read_bytes()
    items, offsets, lengths = read_aligned(prefix)
    doc_starts = np.cumsum([0, *map(len, docs)])
    assert items[0] == 0 and set(np.diff(items.astype(np.int64)).tolist()) <= {0, 1}
    assert np.all(np.diff(offsets) > 0), "chunks are in corpus order"
    assert np.all(lengths >= 1)

    kept = np.zeros(len(data), dtype=bool)
    item_chunks: list[list[tuple[int, int, int]]] = [[] for _ in range(int(items[-1]) + 1)]
    for item, offset, length in zip(
        items.tolist(), offsets.tolist(), lengths.tolist(), strict=True
    ):
        d = int(np.searchsorted(doc_starts, offset, side="right")) - 1
        start, end = int(doc_starts[d]), int(doc_starts[d + 1])
        assert start <= offset and offset + length <= end, "a chunk lies inside one document"
        local = offset - start
        chunk = data[offset : offset + length]
        assert chunk == docs[d][local : local + length]
        chunk.decode("utf-8")
        assert offset == start or data[offset] in SPLIT, "a chunk starts at a cut"
        assert offset + length == end or data[offset + length] in SPLIT, "cut before a split char"
        assert not kept[offset : offset + length].any()
        kept[offset : offset + length] = True
        item_chunks[item].append((d, local, length))

    totals = [sum(length for _, _, length in chunks) for chunks in item_chunks]
    for k, chunks in enumerate(item_chunks):
        b"".join(docs[d][a : a + n] for d, a, n in chunks).decode("utf-8")
        assert totals[k] <= max_bytes
        if k + 1 < len(totals) and totals[k] < max_bytes - tolerance:
            d, local, _ = item_chunks[k + 1][0]  # closed early: the next word did not fit
            assert first_word_length(docs[d], local) > max_bytes - totals[k]

    # Nothing is lost but words longer than max_bytes.
    dropped = np.zeros(len(data), dtype=bool)
    for d, doc in enumerate(docs):
        for a, b in word_spans(doc):
            if b - a > max_bytes:
                dropped[doc_starts[d] + a : doc_starts[d] + b] = True
    np.testing.assert_array_equal(kept, ~dropped)

    assert summary == {
        "items": len(totals),
        "chunks": len(items),
        "short_items": sum(total < max_bytes - tolerance for total in totals),
        "bytes_kept": int(kept.sum()),
        "bytes_dropped": int(dropped.sum()),
        "words_dropped": sum(b - a > max_bytes for doc in docs for a, b in word_spans(doc)),
    }
    return totals


def outputs(directory: Path, name: str = "out") -> list[str]:
    """Files whose names mention ``name``, temporary siblings included."""
    return sorted(p.name for p in directory.iterdir() if name in p.name)


# ---------------------------------------------------------------------------------------------
# Text: words of at most ``word_bytes`` bytes, a split character before each but the first

LETTERS = [*"abcdefghijklmnopqrstuvwxyz", "é", "ж", "中", "🙂", "\n"]
SEPARATORS = [" ", " ", " ", " ", ", ", ". ", "! ", "? ", "."]


def random_text(rng: random.Random, words: int, word_bytes: int) -> str:
    out = []
    for i in range(words):
        word = ""
        target = rng.randint(1, word_bytes - 1)
        while True:
            letter = rng.choice(LETTERS)
            if len((word + letter).encode()) > target:
                break
            word += letter
        out.append((rng.choice(SEPARATORS) if i else "") + (word or "a"))
    return "".join(out)


def random_texts(seed: int, count: int, max_words: int, word_bytes: int) -> list[str]:
    rng = random.Random(seed)
    texts = [random_text(rng, rng.randint(0, max_words), word_bytes) for _ in range(count)]
    return [*texts, "", "x", "tiny.", random_text(rng, 4 * max_words, word_bytes)]


# ---------------------------------------------------------------------------------------------
# MemoryMap


def test_memory_map_reads_back_every_document(tmp_path):
    texts = ["Hello world!", "", "héllo wörld 🙂, zweite Zeile\n", "x", "中文文本。"]
    corpus = byte_corpus(tmp_path, texts)
    meta = write_memory_map(corpus, tmp_path / "mm")
    assert meta == {"dtype": "uint8", "index_dtype": "uint64", "document_count": len(texts)}
    read_meta, docs = read_memory_map(tmp_path / "mm")
    assert read_meta == meta
    assert [doc.decode("utf-8") for doc in docs] == texts
    assert (tmp_path / "mm.idx").stat().st_size == 16 * len(texts)  # T-Free's sample: 101 -> 1616
    assert (tmp_path / "mm.bin").read_bytes() == Path(f"{corpus}.bin").read_bytes()
    index = np.fromfile(tmp_path / "mm.idx", dtype="<u8").reshape(-1, 2)
    lengths = [len(text.encode()) for text in texts]
    assert index.tolist() == [[sum(lengths[:i]), n] for i, n in enumerate(lengths)]


def test_memory_map_is_deterministic(tmp_path):
    corpus = byte_corpus(tmp_path, random_texts(1, 20, 50, 10))
    write_memory_map(corpus, tmp_path / "a")
    write_memory_map(corpus, tmp_path / "b")
    for suffix in ("bin", "idx", "meta.json"):
        assert (tmp_path / f"a.{suffix}").read_bytes() == (tmp_path / f"b.{suffix}").read_bytes()


# ---------------------------------------------------------------------------------------------
# AlignedMMap


def aligned(tmp_path: Path, texts: list[str], **params) -> tuple[list[bytes], Path, dict]:
    corpus = byte_corpus(tmp_path, texts)
    write_memory_map(corpus, tmp_path / "mm")
    summary = write_aligned_memory_map(tmp_path / "mm", tmp_path / "mm", **params)
    return [text.encode() for text in texts], tmp_path / "mm", summary


def test_aligned_items_within_tolerance(tmp_path):
    texts = random_texts(0, 60, 120, word_bytes=10)  # every word fits in the tolerance
    docs, prefix, summary = aligned(tmp_path, texts, max_bytes=200, tolerance=10)
    totals = check_aligned(docs, prefix, prefix, 200, 10, summary)
    assert all(190 <= total <= 200 for total in totals[:-1])
    assert summary["bytes_dropped"] == 0 and summary["bytes_kept"] == sum(map(len, docs))
    assert summary["short_items"] <= 1
    items, offsets, _ = read_aligned(prefix)
    starts = np.cumsum([0, *map(len, docs)])[:-1]
    docs_of_chunks = np.searchsorted(starts, offsets, side="right")
    spanning = [k for k in range(summary["items"]) if len(set(docs_of_chunks[items == k])) > 1]
    assert spanning, "some items hold chunks of several documents"


def test_aligned_defaults_on_a_few_hundred_kilobytes(tmp_path):
    rng = random.Random(7)
    texts = [random_text(rng, rng.choice([3, 30, 300, 3000]), 24) for _ in range(40)]
    docs, prefix, summary = aligned(tmp_path, texts)
    assert 200_000 < sum(map(len, docs)) < 800_000
    totals = check_aligned(docs, prefix, prefix, 20_000, 100, summary)
    assert len(totals) > 10
    assert all(19_900 <= total <= 20_000 for total in totals[:-1])
    assert summary["bytes_kept"] == sum(map(len, docs))


def test_aligned_short_items_and_dropped_words(tmp_path):
    texts = [
        "hello world this is the first document.",
        "second doc with words here and a last word",
        "x" * 50 + " yy zz ww",  # a word longer than max_bytes: dropped, the document goes on
        "averyveryverylongwordhere" + " qq" * 5,  # 25 bytes: too long for the open item
        "end",
    ]
    docs, prefix, summary = aligned(tmp_path, texts, max_bytes=30, tolerance=5)
    check_aligned(docs, prefix, prefix, 30, 5, summary)
    data = (tmp_path / "mm.bin").read_bytes()
    items, offsets, lengths = read_aligned(prefix)
    chunks = [data[o : o + n].decode() for o, n in zip(offsets, lengths, strict=True)]
    assert list(zip(items.tolist(), chunks, strict=True)) == [
        (0, "hello world this is the first"),
        (1, " document."),  # document ends are kept (the original loses the ".")
        (1, "second doc with"),
        (2, " words here and a last word"),
        (3, " yy zz ww"),  # closed early: the next word does not fit its room
        (4, "averyveryverylongwordhere qq"),
        (5, " qq qq qq qq"),
        (5, "end"),  # the last item is kept, short as it is
    ]
    assert summary == {
        "items": 6,
        "chunks": 8,
        "short_items": 2,
        "bytes_kept": sum(map(len, docs)) - 50,
        "bytes_dropped": 50,
        "words_dropped": 1,
    }


def test_aligned_output_prefix_and_determinism(tmp_path):
    texts = random_texts(3, 30, 80, 10)
    docs, prefix, summary = aligned(tmp_path, texts, max_bytes=150, tolerance=20)
    again = write_aligned_memory_map(prefix, tmp_path / "elsewhere", max_bytes=150, tolerance=20)
    assert again == summary
    for suffix in ("indices.bin", "lengths.bin", "offsets.bin"):
        assert (tmp_path / f"mm.{suffix}").read_bytes() == (
            tmp_path / f"elsewhere.{suffix}"
        ).read_bytes()
    check_aligned(docs, prefix, tmp_path / "elsewhere", 150, 20, summary)
    assert not list(tmp_path.glob(".*.tmp"))


def test_aligned_output_does_not_depend_on_block_sizes(tmp_path, monkeypatch):
    import toklab.datasets.tfree_memmap as tfree

    texts = random_texts(5, 40, 80, 10)
    _, prefix, summary = aligned(tmp_path, texts, max_bytes=120, tolerance=10)
    expected = read_aligned(prefix)
    monkeypatch.setattr(tfree, "BLOCK_DOCUMENTS", 3)
    monkeypatch.setattr(tfree, "BLOCK_CHUNKS", 2)
    small = write_aligned_memory_map(prefix, tmp_path / "small", max_bytes=120, tolerance=10)
    assert small == summary
    for got, want in zip(read_aligned(tmp_path / "small"), expected, strict=True):
        np.testing.assert_array_equal(got, want)


SOME_TEXT = st.text(alphabet=st.sampled_from(list("ab é中🙂.,!?\n")), max_size=60)
NO_SPLITS = st.text(alphabet=st.sampled_from(list("xyzé中🙂\n")), max_size=80)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    texts=st.lists(st.one_of(SOME_TEXT, NO_SPLITS), min_size=1, max_size=8),
    max_bytes=st.integers(4, 40),
    tolerance_share=st.floats(0, 0.99),
)
def test_aligned_loses_only_overlong_words(tmp_path_factory, texts, max_bytes, tolerance_share):
    tolerance = int(tolerance_share * max_bytes)
    tmp_path = tmp_path_factory.mktemp("aligned")
    corpus = byte_corpus(tmp_path, texts)
    write_memory_map(corpus, tmp_path / "mm")
    docs = [text.encode() for text in texts]
    fits = any(b - a <= max_bytes for doc in docs for a, b in word_spans(doc))
    if not fits:
        with pytest.raises(DataError, match="no text to align"):
            write_aligned_memory_map(tmp_path / "mm", tmp_path / "mm", max_bytes, tolerance)
        assert not outputs(tmp_path, "mm.indices") + outputs(tmp_path, ".tmp")
        return
    summary = write_aligned_memory_map(tmp_path / "mm", tmp_path / "mm", max_bytes, tolerance)
    check_aligned(docs, tmp_path / "mm", tmp_path / "mm", max_bytes, tolerance, summary)


# ---------------------------------------------------------------------------------------------
# Bad input: one-line errors, no output left behind


def assert_one_line(err: pytest.ExceptionInfo) -> None:
    assert "\n" not in str(err.value) and str(err.value)


def test_missing_corpus(tmp_path):
    with pytest.raises(DataError, match="not found") as err:
        write_memory_map(tmp_path / "missing", tmp_path / "out")
    assert_one_line(err)
    assert outputs(tmp_path) == []


def test_empty_corpus(tmp_path):
    corpus = byte_corpus(tmp_path, [])
    with pytest.raises(DataError, match="no documents") as err:
        write_memory_map(corpus, tmp_path / "out")
    assert_one_line(err)
    assert outputs(tmp_path) == []


def test_memory_map_refuses_to_overwrite_its_corpus(tmp_path):
    corpus = byte_corpus(tmp_path, ["some text"])
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    with pytest.raises(ConfigError, match="overwrite") as err:
        write_memory_map(corpus, corpus)
    assert_one_line(err)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"max_bytes": 65_536}, "uint16"),
        ({"max_bytes": 0}, "positive"),
        ({"max_bytes": 200, "tolerance": 200}, "smaller than max_bytes"),
        ({"max_bytes": 200, "tolerance": 500}, "smaller than max_bytes"),
        ({"tolerance": -1}, "non-negative"),
        ({"split_chars": ""}, "split_chars"),
        ({"split_chars": " 。"}, "ASCII"),
    ],
)
def test_bad_parameters(tmp_path, params, match):
    corpus = byte_corpus(tmp_path, ["some text. more text"])
    write_memory_map(corpus, tmp_path / "mm")
    with pytest.raises(ConfigError, match=match) as err:
        write_aligned_memory_map(tmp_path / "mm", tmp_path / "out", **params)
    assert_one_line(err)
    assert outputs(tmp_path) == []


def test_largest_max_bytes_is_accepted(tmp_path):
    corpus = byte_corpus(tmp_path, ["word " * 20_000])
    write_memory_map(corpus, tmp_path / "mm")
    summary = write_aligned_memory_map(tmp_path / "mm", tmp_path / "mm", max_bytes=65_535)
    _, _, lengths = read_aligned(tmp_path / "mm")
    assert summary["bytes_kept"] == 100_000 and lengths.max() > 60_000


def write_raw_memory_map(prefix: Path, docs: list[bytes], meta: dict | None = None) -> None:
    """A memory map written by hand from the format description."""
    starts = np.cumsum([0, *map(len, docs)])[:-1]
    prefix.with_name(prefix.name + ".bin").write_bytes(b"".join(docs))
    pairs = np.stack([starts, [len(d) for d in docs]], axis=1).astype("<u8")
    prefix.with_name(prefix.name + ".idx").write_bytes(pairs.tobytes())
    meta = meta or {"dtype": "uint8", "index_dtype": "uint64", "document_count": len(docs)}
    prefix.with_name(prefix.name + ".meta.json").write_text(json.dumps(meta))


@pytest.mark.parametrize(
    ("docs", "meta", "match"),
    [
        ([b"abc"], {"dtype": "uint16", "index_dtype": "uint64", "document_count": 1}, "uint8"),
        ([b"abc"], {"dtype": "uint8", "index_dtype": "float64", "document_count": 1}, "integer"),
        ([b"abc"], {"dtype": "uint8", "index_dtype": "uint64", "document_count": 2}, "need"),
        ([b"abc"], {"dtype": "uint8", "document_count": 1}, "not a T-Free memory map meta"),
        ([], None, "no documents"),
        ([b"ok text", b"caf\xc3 bad"], None, "invalid UTF-8 at byte offset 10"),
        ([b"x" * 50], None, "no text to align"),
    ],
)
def test_bad_memory_maps(tmp_path, docs, meta, match):
    write_raw_memory_map(tmp_path / "mm", docs, meta)
    with pytest.raises(DataError, match=match) as err:
        write_aligned_memory_map(tmp_path / "mm", tmp_path / "out", max_bytes=20, tolerance=2)
    assert_one_line(err)
    assert outputs(tmp_path) == []


def test_document_outside_the_data(tmp_path):
    write_raw_memory_map(tmp_path / "mm", [b"abc def"])
    np.array([[3, 10]], dtype="<u8").tofile(tmp_path / "mm.idx")
    with pytest.raises(DataError, match="outside") as err:
        write_aligned_memory_map(tmp_path / "mm", tmp_path / "out")
    assert_one_line(err)
    assert outputs(tmp_path) == []


def test_missing_memory_map(tmp_path):
    with pytest.raises(DataError, match="not found") as err:
        write_aligned_memory_map(tmp_path / "mm", tmp_path / "out")
    assert_one_line(err)
    assert outputs(tmp_path) == []


BYTE_DOCS = st.lists(
    st.one_of(
        st.binary(max_size=12),
        st.text(max_size=8).map(lambda t: t.encode()),
        st.tuples(st.text(min_size=1, max_size=4), st.integers(0, 16)).map(
            lambda pair: pair[0].encode()[: pair[1]]
        ),
    ),
    min_size=1,
    max_size=5,
)


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(docs=BYTE_DOCS)
def test_utf8_check_agrees_with_python(tmp_path_factory, docs):
    tmp_path = tmp_path_factory.mktemp("utf8")
    write_raw_memory_map(tmp_path / "mm", docs)
    valid = True
    for doc in docs:
        try:
            doc.decode("utf-8")
        except UnicodeDecodeError:
            valid = False
    try:
        write_aligned_memory_map(tmp_path / "mm", tmp_path / "mm", max_bytes=64, tolerance=4)
    except DataError as err:
        assert not valid or "no text to align" in str(err), str(err)
    else:
        assert valid
