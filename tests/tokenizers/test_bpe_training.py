"""The BPE trainer against the CS336 fixtures, a brute-force reference, and bad input."""

from __future__ import annotations

import itertools
import json
import warnings
from collections import Counter

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import regex
from hypothesis import given, settings
from hypothesis import strategies as st

from toklab.data.byte_corpus import write_byte_corpus
from toklab.errors import ConfigError, DataError
from toklab.tokenizers.bpe import train_bpe, train_bpe_from_counts, train_bpe_on_corpus
from toklab.tokenizers.byte_unicode import decode_bytes
from toklab.tokenizers.pretoken_counts import count_file_pretokens, count_text, special_splitter

PAT = regex.compile(r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")


def reference_train(text: str, vocab_size: int, specials: list[str]):
    """Brute force: recount every pair from scratch before each merge (the CS336 definition)."""
    parts = (
        regex.split("|".join(map(regex.escape, sorted(specials, key=len, reverse=True))), text)
        if specials
        else [text]
    )
    words = Counter()
    for part in parts:
        for token in PAT.findall(part):
            words[tuple(bytes([b]) for b in token.encode())] += 1
    merges = []
    while 256 + len(specials) + len(merges) < vocab_size:
        pairs = Counter()
        for word, count in words.items():
            for pair in itertools.pairwise(word):
                pairs[pair] += count
        if not pairs:
            break
        best = max(pairs, key=lambda p: (pairs[p], p))
        merges.append(best)
        merged = Counter()
        for word, count in words.items():
            out, i = [], 0
            while i < len(word):
                if i + 1 < len(word) and (word[i], word[i + 1]) == best:
                    out.append(word[i] + word[i + 1])
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            merged[tuple(out)] += count
        words = merged
    return merges


def test_cs336_reference_merges_and_vocab(shared_data):
    fixtures = shared_data / "cs336"
    vocab, merges = train_bpe(fixtures / "corpus.en", 500, ["<|endoftext|>"])
    reference_merges = [
        tuple(decode_bytes(token) for token in line.rstrip("\n").split(" "))
        for line in (fixtures / "train-bpe-reference-merges.txt")
        .read_text(encoding="utf-8")
        .splitlines()
        if line
    ]
    assert merges == reference_merges
    reference_vocab = json.loads(
        (fixtures / "train-bpe-reference-vocab.json").read_text(encoding="utf-8")
    )
    assert set(vocab) == set(reference_vocab.values())
    expected_values = {
        t.encode() if t == "<|endoftext|>" else decode_bytes(t) for t in reference_vocab
    }
    assert set(vocab.values()) == expected_values
    assert sorted(vocab) == list(range(500))
    assert vocab[256] == b"<|endoftext|>"
    assert all(vocab[i] == bytes([i]) for i in range(256))
    assert all(vocab[257 + i] == a + b for i, (a, b) in enumerate(merges))


def test_specials_never_merged(shared_data):
    vocab, _ = train_bpe(shared_data / "cs336" / "tinystories_sample.txt", 400, ["<|endoftext|>"])
    assert [t for t in vocab.values() if b"<|" in t] == [b"<|endoftext|>"]


texts = st.text(alphabet=st.sampled_from(list("ab aab\n.!é<|x|>")), min_size=1, max_size=200)


@settings(max_examples=150, deadline=None)
@given(texts, st.integers(min_value=257, max_value=300), st.booleans())
def test_matches_brute_force(text, vocab_size, with_special):
    specials = ["<|x|>"] if with_special else []
    vocab_size = max(vocab_size, 256 + len(specials))
    counts = Counter()
    count_text(text, special_splitter(specials), counts)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, merges = train_bpe_from_counts(counts, vocab_size, specials)
    assert merges == reference_train(text, vocab_size, specials)


def test_overlapping_pairs_count_and_merge_like_the_definition():
    counts = Counter({"aaaa": 3, "aaa": 2, "ba": 1})
    _, merges = train_bpe_from_counts(counts, 259, [])
    # (a, a) occurs 3*3 + 2*2 times; then aaaa -> [aa, aa], aaa -> [aa, a]
    assert merges == [(b"a", b"a"), (b"aa", b"aa"), (b"aa", b"a")]


def test_min_frequency_stops_early_with_warning():
    counts = Counter({"abab": 30, "cd": 5})
    with pytest.warns(UserWarning, match="no pair occurs 20 times or more"):
        vocab, merges = train_bpe_from_counts(counts, 300, [], min_frequency=20)
    assert merges == [(b"a", b"b"), (b"ab", b"ab")]
    assert len(vocab) == 258


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.text(alphabet=st.sampled_from(list("ab c\n\n.é🙂<|e|>")), max_size=40), max_size=30)
)
def test_chunked_counting_equals_whole_text(tmp_path_factory, pieces):
    text = "".join(pieces)
    path = tmp_path_factory.mktemp("c") / "t.txt"
    path.write_text(text, encoding="utf-8")
    whole = Counter()
    count_text(text, special_splitter(["<|e|>"]), whole)
    chunked = count_file_pretokens(path, ["<|e|>"], num_workers=1, chunk_bytes=7).as_dict()
    assert chunked == whole


def test_parallel_counting_equals_serial(shared_data, tmp_path):
    path = tmp_path / "big.txt"
    path.write_text((shared_data / "tinyshakespeare" / "input.txt").read_text() * 2)
    serial = count_file_pretokens(path, [], num_workers=1, chunk_bytes=1 << 16).as_dict()
    parallel = count_file_pretokens(path, [], num_workers=2, chunk_bytes=1 << 16).as_dict()
    assert serial == parallel
    whole = Counter()
    count_text(path.read_text(), None, whole)
    assert serial == whole


def test_byte_corpus_training_equals_file_training(shared_data, tmp_path):
    docs = (shared_data / "cs336" / "tinystories_sample.txt").read_text().split("<|endoftext|>")
    (tmp_path / "joined.txt").write_text("<|endoftext|>".join(docs))
    shard = tmp_path / "part-00000.parquet"
    pq.write_table(pa.table({"id": [str(i) for i in range(len(docs))], "text": docs}), shard)
    write_byte_corpus([shard], tmp_path / "corpus")
    from_file = train_bpe(tmp_path / "joined.txt", 350, ["<|endoftext|>"])
    from_corpus = train_bpe_on_corpus(tmp_path / "corpus", 350, ["<|endoftext|>"], num_workers=2)
    assert from_file == from_corpus


def test_bad_input(tmp_path):
    with pytest.raises(ConfigError, match=r"vocab_size 256 is too small: .* at least 257"):
        train_bpe(tmp_path / "x.txt", 256, ["<|endoftext|>"])
    with pytest.raises(DataError, match="input file not found"):
        train_bpe(tmp_path / "missing.txt", 300)
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(DataError, match="no text to train on"):
        train_bpe(tmp_path / "empty.txt", 300)
    (tmp_path / "only.txt").write_text("<|endoftext|><|endoftext|>")
    with pytest.raises(DataError, match="no text to train on"):
        train_bpe(tmp_path / "only.txt", 300, ["<|endoftext|>"])
    (tmp_path / "bad.txt").write_bytes(b"hello \xff world")
    with pytest.raises(DataError, match="invalid UTF-8 at byte offset 6"):
        train_bpe(tmp_path / "bad.txt", 300)


def test_invalid_utf8_in_a_byte_corpus_names_the_bin_and_offset(tmp_path):
    shard = tmp_path / "shard.parquet"
    pq.write_table(pa.table({"id": ["0", "1"], "text": ["first", "second doc"]}), shard)
    write_byte_corpus([shard], tmp_path / "corpus")
    data = bytearray((tmp_path / "corpus.bin").read_bytes())
    data[8] = 0xFF  # in the second document, which starts at byte 5
    (tmp_path / "corpus.bin").write_bytes(bytes(data))
    with pytest.raises(DataError, match=r"corpus.bin: invalid UTF-8 at byte offset 8$"):
        train_bpe_on_corpus(tmp_path / "corpus", 300, num_workers=1)


def test_a_character_split_between_documents_is_invalid_utf8(tmp_path):
    """Each document must be UTF-8 on its own, even where the chunk's bytes decode as a whole."""
    shard = tmp_path / "shard.parquet"
    pq.write_table(pa.table({"id": ["0", "1"], "text": ["caf\u00e9", "x"]}), shard)
    write_byte_corpus([shard], tmp_path / "corpus")
    offsets = np.array([0, 4, 6], dtype="<i8")  # the first document ends inside "é" (2 bytes)
    (tmp_path / "corpus.idx").write_bytes(offsets.tobytes())
    with pytest.raises(DataError, match=r"corpus.bin: invalid UTF-8 at byte offset 3$"):
        train_bpe_on_corpus(tmp_path / "corpus", 300, num_workers=1)


def test_chunk_cuts_are_safe_offsets(tmp_path):
    from toklab.tokenizers.pretoken_counts import file_chunks

    text = ("word.\n  indented\n\n\u00a0\nx<|endoftext|>y\n" * 200).encode()
    path = tmp_path / "t.txt"
    path.write_bytes(text)
    bounds = [a for a, _ in file_chunks(path, ["<|endoftext|>"], chunk_bytes=5)][1:]
    assert bounds
    for cut in bounds:
        assert text[cut:].startswith(b"<|endoftext|>") or (
            text[cut : cut + 1] == b"\n" and 0x21 <= text[cut - 1] <= 0x7E
        )
    assert np.all(np.diff(bounds) > 0)


def test_of_two_bad_chunks_the_first_is_named(tmp_path):
    data = bytearray(b"word.\n" * 600_000)  # 3.6 MB: chunks of about 1 MB on two threads
    data[1_500_000] = 0xFF
    data[2_500_000] = 0xFF
    (tmp_path / "bad.txt").write_bytes(bytes(data))
    with pytest.raises(DataError, match="invalid UTF-8 at byte offset 1500000"):
        count_file_pretokens(tmp_path / "bad.txt", [], num_workers=2, chunk_bytes=1 << 20)
