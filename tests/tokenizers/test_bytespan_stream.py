"""Streaming ByteSpan: chunked spans and percentiles equal the whole-array ones; training runs."""

from __future__ import annotations

import itertools
from unittest.mock import patch

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.helpers import byte_corpus
from toklab.errors import DataError
from toklab.pretokenization import pretoken_start_flags
from toklab.tokenizers import bytespan as bs
from toklab.tokenizers import bytespan_counts
from toklab.tokenizers.bytespan_counts import (
    MASK_BYTES,
    WordVocabulary,
    count_span_words,
    distinct_words,
)
from toklab.tokenizers.bytespan_stream import (
    block_reader,
    chunk_bounds,
    stream_spans,
    streamed_percentile,
)

texts = st.text(alphabet=st.sampled_from(list("ab  c\n.,é🙂")), min_size=1, max_size=80)


def array_reader(values):
    def read(start, stop):
        return values[start:stop].copy()

    return read


@settings(max_examples=100, deadline=None)
@given(texts, st.data(), st.integers(1, 30), st.booleans(), st.integers(1, 3))
def test_chunked_spans_equal_whole_array_spans(text, draw, chunk_bytes, combined, workers):
    data = np.frombuffer(text.encode(), dtype=np.uint8)
    pretok = pretoken_start_flags(text)
    n = len(data)
    cue = np.asarray(
        draw.draw(st.lists(st.floats(0, 4, width=32), min_size=n, max_size=n)), dtype=np.float32
    )
    threshold = float(np.percentile(cue, 30)) if combined else None
    whole_starts = bs.monotonic_starts(cue, pretok, data, threshold)
    whole = bs.count_spans(whole_starts, data, pretok)
    bounds = chunk_bounds(pretok, chunk_bytes)
    assert bounds[0] == 0 and bounds[-1] == n and all(pretok[b] for b in bounds[1:-1])
    assert all(b - a >= chunk_bytes for a, b in itertools.pairwise(bounds[:-1]))
    streamed = stream_spans(array_reader(cue), bounds, data, pretok, threshold, workers=workers)
    spans = streamed.spans
    assert streamed.unique == len(whole.tokens)
    assert spans.tokens == whole.tokens
    assert spans.counts.tolist() == whole.counts.tolist()
    assert spans.first.tolist() == whole.first.tolist()


def test_span_counter_merges_many_chunks_like_one():
    rng = np.random.default_rng(0)
    text = " ".join(rng.choice(["ab", "abc", "b", "ca", "é"], size=3000))
    data = np.frombuffer(text.encode(), dtype=np.uint8)
    pretok = pretoken_start_flags(text)
    cue = rng.random(len(data)).astype(np.float32)
    whole = bs.count_spans(bs.monotonic_starts(cue, pretok, data), data, pretok)
    streamed = stream_spans(array_reader(cue), chunk_bounds(pretok, 7), data, pretok)
    spans = streamed.spans
    assert streamed.pretokens is None
    assert (spans.tokens, spans.counts.tolist()) == (whole.tokens, whole.counts.tolist())


@settings(max_examples=100, deadline=None)
@given(
    st.lists(texts, min_size=1, max_size=6),
    st.data(),
    st.integers(1, 30),
    st.booleans(),
    st.sampled_from([1, 8]),
)
def test_chunked_language_counts_equal_each_languages_spans(
    docs, draw, chunk_bytes, combined, short_languages
):
    """Short spans counted by slot per language, or (more languages than slots) hashed."""
    data = np.frombuffer("".join(docs).encode(), dtype=np.uint8)
    pretok = np.concatenate([pretoken_start_flags(d) for d in docs])
    offsets = np.concatenate([[0], np.cumsum([len(d.encode()) for d in docs])])
    languages = draw.draw(st.lists(st.sampled_from(["en", "fr", "x"]), min_size=len(docs)))
    languages = languages[: len(docs)]
    n = len(data)
    cue = np.asarray(draw.draw(st.lists(st.integers(0, 5), min_size=n, max_size=n)), np.float32)
    threshold = float(np.percentile(cue, 30)) if combined else None
    starts = bs.monotonic_starts(cue, pretok, data, threshold)
    with patch.object(bytespan_counts, "SHORT_LANGUAGES", short_languages):
        streamed = stream_spans(
            array_reader(cue),
            chunk_bounds(pretok, chunk_bytes),
            data,
            pretok,
            threshold,
            languages=(offsets, languages),
        )
    span_starts = np.flatnonzero(starts)
    language = np.asarray(languages)[np.searchsorted(offsets, span_starts, side="right") - 1]
    for name in sorted(set(languages)):
        mask = np.zeros(n, dtype=bool)
        mask[span_starts[language == name]] = True
        ends = np.append(span_starts[1:], n)[language == name]
        whole = bs._count_ranges(span_starts[language == name], ends, data, pretok)
        if name not in streamed.by_language:
            assert not len(whole)
            continue
        got = streamed.by_language[name]
        assert got.tokens == whole.tokens
        assert got.counts.tolist() == whole.counts.tolist()
        assert got.first.tolist() == whole.first.tolist()
    assert streamed.unique == len(bs.count_spans(starts, data, pretok))


# long words: a pre-token of more than MASK_BYTES bytes keeps its starts as packed bits
long_texts = st.lists(
    st.sampled_from(["ab", "a", "b" * (MASK_BYTES - 1), "a" * (MASK_BYTES + 1), "é" * 40, " "]),
    min_size=1,
    max_size=12,
).map("".join)


@settings(max_examples=100, deadline=None)
@given(
    st.one_of(texts, long_texts), st.data(), st.integers(1, 30), st.booleans(), st.integers(1, 3)
)
def test_chunked_span_words_equal_the_loop(text, draw, chunk_bytes, combined, workers):
    """Words from pre-tokens counted by span starts in the span pass, on 1 to 3 threads.

    The span types, which the seeding variants take from those counts, equal the whole array's.
    """
    data = np.frombuffer(text.encode(), dtype=np.uint8)
    pretok = pretoken_start_flags(text)
    n = len(data)
    cue = np.asarray(draw.draw(st.lists(st.integers(0, 5), min_size=n, max_size=n)), np.float32)
    threshold = float(np.percentile(cue, 30)) if combined else None
    bounds = chunk_bounds(pretok, chunk_bytes)
    streamed = stream_spans(
        array_reader(cue), bounds, data, pretok, threshold, count_pretokens=True, workers=workers
    )
    starts = bs.monotonic_starts(cue, pretok, data, threshold)
    whole = bs.count_spans(starts, data, pretok)
    spans = streamed.spans
    assert streamed.unique == len(whole.tokens)
    assert (spans.tokens, spans.counts.tolist()) == (whole.tokens, whole.counts.tolist())
    assert spans.first.tolist() == whole.first.tolist()
    chosen = draw.draw(st.lists(st.sampled_from(streamed.spans.tokens), unique=True))
    vocab = bs.initial_tokens() + [t for t in chosen if t not in set(bs.initial_tokens())]
    words = count_span_words(streamed.pretokens, WordVocabulary(vocab))
    index = {t: i for i, t in enumerate(vocab)}
    assert words.as_lists() == reference_words(starts, data, pretok, index)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.tuples(st.lists(st.integers(0, 2), max_size=3), st.integers(1, 5)), max_size=30),
    st.sampled_from([lambda w: 0, lambda w: len(w) % 2, hash]),
)
def test_distinct_words_merges_equal_words_only(words, hash_of):
    """Equal unit sequences merge (counts add, the earliest position stays).

    Whatever the hashes: with every hash equal, words are told apart by their units alone.
    """
    units = np.array([u for word, _ in words for u in word], dtype=np.int32)
    offsets = np.cumsum([0] + [len(word) for word, _ in words]).astype(np.int64)
    hashes = np.array([hash_of(tuple(word)) for word, _ in words], dtype=np.int64)
    counts = np.array([count for _, count in words], dtype=np.int64)
    firsts = np.arange(len(words), dtype=np.int64)[::-1].copy()
    hashes = hashes.view(np.uint64)
    order = np.argsort(hashes, kind="stable")
    entry, count, first = distinct_words(units, offsets, hashes, order, counts, firsts)
    expected: dict[tuple, list[int]] = {}
    for (word, times), position in zip(words, firsts.tolist(), strict=True):
        seen = expected.setdefault(tuple(word), [0, position])
        seen[0] += times
        seen[1] = min(seen[1], position)
    got = {
        tuple(units[offsets[e] : offsets[e + 1]].tolist()): [c, f]
        for e, c, f in zip(entry.tolist(), count.tolist(), first.tolist(), strict=True)
    }
    assert len(entry) == len(expected) and got == expected


@given(st.integers(1, 50), st.lists(st.tuples(st.integers(0, 60), st.integers(0, 60))))
def test_block_reader_reads_what_the_reader_does(block, ranges):
    values = np.arange(57, dtype=np.float32)
    calls = []

    def read(start, stop):
        calls.append((start, stop))
        return values[start:stop].copy()

    blocks = block_reader(read, block)
    for start, stop in ranges:
        assert blocks(start, stop).tolist() == values[start:stop].tolist()
    assert all(a % block == 0 and b - a == block for a, b in calls if b > a)


class _IntoReader:
    """A reader that decodes into the caller's buffer, as a predictions group's does."""

    def __init__(self, values):
        self.values = values
        self.calls = []

    def __call__(self, start, stop):
        return self.values[start:stop].copy()

    def into(self, start, stop, out):
        self.calls.append((start, stop))
        part = self.values[start:stop]
        out[: len(part)] = part
        return out[: len(part)]


@given(st.integers(1, 50), st.lists(st.tuples(st.integers(0, 60), st.integers(0, 60))))
def test_block_reader_reuses_two_buffers_and_reads_right(block, ranges):
    values = np.arange(57, dtype=np.float32)
    read = _IntoReader(values)
    blocks = block_reader(read, block)
    for start, stop in ranges:  # reads spanning many blocks evict and reuse buffers mid-read
        assert blocks(start, stop).tolist() == values[start:stop].tolist()
        out = np.full(64, -1, dtype=np.float32)
        assert blocks.into(start, stop, out).tolist() == values[start:stop].tolist()
    buffers = {id(buffer) for _, buffer in blocks.kept.values()} | set(map(id, blocks.spare))
    assert len(buffers) <= 2
    assert all(a % block == 0 and b - a == block for a, b in read.calls)


def test_chunk_bounds_skip_long_pretokens():
    text = "a" * 50 + " b" * 5
    bounds = chunk_bounds(pretoken_start_flags(text), 10)
    assert bounds.tolist() == [0, 50, 60]


finite_float32 = st.floats(-50, 50, width=32)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.one_of(finite_float32, st.sampled_from([0.0, -0.0, 1.5])), min_size=1),
    st.floats(0, 100),
    st.integers(1, 40),
)
def test_streamed_percentile_is_numpys(values, percentile, chunk):
    cue = np.asarray(values, dtype=np.float32)
    bounds = np.asarray([*range(0, len(cue), chunk), len(cue)])
    got = streamed_percentile(array_reader(cue), bounds, percentile)
    assert got == float(np.percentile(cue, percentile))


def test_streamed_percentile_errors():
    with pytest.raises(DataError, match="no cue values"):
        streamed_percentile(array_reader(np.zeros(0, np.float32)), np.array([0]), 30)


def reference_words(is_start, data, pretok, index):
    """The former loop: one unit per known span, bytes otherwise; words are pre-tokens."""
    from collections import Counter

    starts = np.flatnonzero(is_start)
    ends = np.append(starts[1:], len(is_start))
    words: Counter = Counter()
    units: list[int] = []
    raw = data.tobytes()
    for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
        if pretok[a] and units:
            words[tuple(units)] += 1
            units = []
        token = (bool(pretok[a]), raw[a:b])
        if token in index:
            units.append(index[token])
        else:
            units += [index[(bool(pretok[a]) and j == a, raw[j : j + 1])] for j in range(a, b)]
    if units:
        words[tuple(units)] += 1
    return [list(w) for w in words], list(words.values())


@settings(max_examples=100, deadline=None)
@given(texts, st.data())
def test_span_words_equal_the_loop(text, draw):
    data = np.frombuffer(text.encode(), dtype=np.uint8)
    pretok = pretoken_start_flags(text)
    cue = np.asarray(draw.draw(st.lists(st.integers(0, 5), min_size=len(data))), np.float32)
    starts = bs.monotonic_starts(cue[: len(data)], pretok, data)
    spans = bs.count_spans(starts, data, pretok).tokens
    chosen = draw.draw(st.lists(st.sampled_from(spans), unique=True))
    vocab = bs.initial_tokens() + [t for t in chosen if t not in set(bs.initial_tokens())]
    index = {t: i for i, t in enumerate(vocab)}
    assert bs.span_words(starts, data, pretok, index) == reference_words(
        starts, data, pretok, index
    )


# ---------------------------------------------------------------------------------------------
# Training from a byte corpus and a predictions zarr


def write_predictions(path, prefix, seed=0, chunk=5000):
    """A predictions group in the extractor's format, with random cues."""
    import zarr

    from toklab.cues import CUES, FORMAT
    from toklab.data.byte_corpus import ByteCorpus
    from toklab.io import sha256_file

    corpus = ByteCorpus(prefix)
    n = corpus.num_bytes
    rng = np.random.default_rng(seed)
    group = zarr.open_group(str(path), mode="w")
    for cue in CUES:
        array = group.create_array(cue, shape=(n,), chunks=(chunk,), dtype="float32")
        array[:] = rng.gamma(2.0, size=n).astype(np.float32)
    offsets = group.create_array("doc_offsets", shape=corpus.offsets.shape, dtype="int64")
    offsets[:] = corpus.offsets
    group.attrs.update(
        {"format": FORMAT, "complete": True, "corpus_sha256": sha256_file(corpus.paths["bin"])}
    )
    return path


@pytest.fixture(scope="module")
def trained_inputs(tmp_path_factory):
    from toklab.data.demo import DEMO_LANGUAGES, generate_documents

    tmp = tmp_path_factory.mktemp("bytespan")
    docs = [d.text for d in itertools.islice(generate_documents(DEMO_LANGUAGES, 0), 80)]
    prefix = byte_corpus(tmp, docs, "tok")
    return prefix, write_predictions(tmp / "p.zarr", prefix), docs


@pytest.mark.parametrize(
    ("constraint", "variant"),
    [("monotonic", "frequency"), ("combined", "seeding50"), ("global", "frequency")],
)
def test_training_does_not_depend_on_the_chunk_size(trained_inputs, constraint, variant):
    from toklab.tokenizers.bytespan_tokenizer import train_bytespan

    prefix, zarr_path, _ = trained_inputs
    results = [
        train_bytespan(
            prefix,
            zarr_path,
            "surprisal",
            constraint,
            900,
            variant=variant,
            min_frequency=3,
            special_tokens=["<|endoftext|>"],
            chunk_bytes=chunk,
        )
        for chunk in (64 << 20, 7000, 900)  # one chunk; unaligned with zarr's; many
    ]
    assert results[0].wordpiece == results[1].wordpiece == results[2].wordpiece
    assert results[0].trajectory == results[1].trajectory == results[2].trajectory
    assert len(results[0].wordpiece) + 2 == 900  # + <|endoftext|> and <|unk|>


@pytest.mark.parametrize(
    ("constraint", "variant"),
    [("combined", "frequency"), ("monotonic", "seeding50"), ("global", "frequency")],
)
def test_bpe_inference_tokenizers_have_v_tokens_and_round_trip(
    trained_inputs, tmp_path, constraint, variant
):
    from tokenizers import Tokenizer

    from toklab.tokenizers.bytespan_tokenizer import train_bytespan

    prefix, zarr_path, docs = trained_inputs
    tokenizer = train_bytespan(
        prefix,
        zarr_path,
        "entropy",
        constraint,
        900,
        variant=variant,
        min_frequency=3,
        special_tokens=["<|endoftext|>"],
        inference="bpe",
    )
    tokenizer.save(tmp_path)
    assert {p.name for p in tmp_path.iterdir()} >= {"tokenizer.json", "merges.txt", "stats.csv"}
    loaded = Tokenizer.from_file(str(tmp_path / "tokenizer.json"))
    assert loaded.get_vocab_size() == 900
    text = docs[-1] + "<|endoftext|>" + docs[0]
    ids = loaded.encode(text).ids
    assert loaded.decode(ids, skip_special_tokens=False) == text
    assert len(ids) < 0.75 * len(text.encode())  # random cues, but learned tokens are used
    vocab = loaded.get_vocab()
    for token_id in loaded.encode(docs[1]).ids:  # every token of a document is reachable
        token = loaded.id_to_token(token_id)
        text = loaded.decode([token_id])
        if loaded.pre_tokenizer.pre_tokenize_str(text) == [(token, (0, len(text)))]:
            assert loaded.encode(text).ids == [vocab[token]]


def test_training_errors(trained_inputs, tmp_path):
    from toklab.errors import ConfigError
    from toklab.tokenizers.bytespan_tokenizer import train_bytespan

    prefix, zarr_path, _ = trained_inputs
    with pytest.raises(ConfigError, match="applies to the monotonic and combined"):
        train_bytespan(prefix, zarr_path, "surprisal", "global", 900, variant="seeding50")
    with pytest.raises(ConfigError, match="unknown inference"):
        train_bytespan(prefix, zarr_path, "surprisal", "monotonic", 900, inference="unigram")
    with pytest.raises(DataError, match="unknown cue"):
        train_bytespan(prefix, zarr_path, "perplexity", "monotonic", 900)
    other = byte_corpus(tmp_path, ["something else entirely"], "other")
    with pytest.raises(DataError, match="different byte corpus"):
        train_bytespan(other, zarr_path, "surprisal", "monotonic", 900)


def test_cli_bpe_inference(trained_inputs, tmp_path):
    import csv

    from tests.test_scripts import run_script

    prefix, zarr_path, _ = trained_inputs
    out = tmp_path / "bytespan-surprisal-combined-p30-frequency-bpeinf-900"
    common = ["bytespan", "--corpus-prefix", str(prefix), "--predictions", str(zarr_path)]
    result = run_script(
        "train_tokenizer.py",
        *common,
        "--cue",
        "surprisal",
        "--constraint",
        "combined",
        "--vocab-size",
        "900",
        "--inference",
        "bpe",
        "--chunk-bytes",
        "5000",
        "--special-token",
        "<|endoftext|>",
        "--out-dir",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    assert {p.name for p in out.iterdir()} == {
        "tokenizer.json",
        "vocab.json",
        "merges.txt",
        "tokenizer_config.json",
        "special_tokens_map.json",
        "stats.csv",
    }
    (row,) = csv.DictReader((out / "stats.csv").open())
    assert float(row["threshold"]) > 0 and int(row["vocab_size"]) == 900
    bad = run_script(
        "train_tokenizer.py",
        *common,
        "--cue",
        "surprisal",
        "--constraint",
        "monotonic",
        "--vocab-size",
        "900",
        "--inference",
        "unigram",
        "--out-dir",
        str(tmp_path / "bad"),
    )
    assert bad.returncode == 2 and "unigram" in bad.stderr
    assert not (tmp_path / "bad").exists()
