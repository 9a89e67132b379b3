"""T-Free's samples: the aligned export's reader, aligned word arrays, their sampler, and the
fine-tuning examples with has_loss segments.

The sampler is checked against a reference written from the description of the original's
``TextDataset.__getitem__`` (notes B3), on the export's raw bytes and T-Free's word split: it
never reads toklab's word array.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import toklab.datasets.tfree_words as tfree_words
from tests.conftest import byte_corpus
from toklab.datasets.tfree_examples import read_segments, tokenize_word_examples, word_example_paths
from toklab.datasets.tfree_memmap import (
    aligned_memory_map_paths,
    open_aligned_memory_map,
    write_aligned_memory_map,
    write_memory_map,
)
from toklab.datasets.tfree_words import (
    EOT,
    aligned_word_array_paths,
    read_aligned_items,
    read_words,
    tokenize_aligned_words,
)
from toklab.errors import DataError
from toklab.tokenizers.tfree import TrigramHasher, save_settings, split_words
from toklab.training.data import AlignedSampler, WordExampleSampler

TEXTS = [
    "The cat sat on the mat. It was a sunny day, and the cat was happy!",
    "Short one.",
    "naïve café — 日本語 🙃 and more words, again and again, until the item is full.",
    "In 2024, 2apples cost $3.50 (each)! Really? Yes.",
    "line one\nline two\n\n  spaced  out words here",
    "A final document with a few more words to read.",
]


@pytest.fixture
def export(tmp_path):
    """A T-Free export of TEXTS with small items (40 bytes): several chunks per item."""
    corpus = byte_corpus(tmp_path / "corpus", TEXTS)
    prefix = tmp_path / "export" / "train"
    write_memory_map(corpus, prefix)
    write_aligned_memory_map(prefix, prefix, max_bytes=40, tolerance=10)
    return prefix


@pytest.fixture
def settings_path(tmp_path):
    path = tmp_path / "tok" / "tfree.json"
    save_settings(TrigramHasher(1000, 4), path)
    return path


def raw_items(prefix) -> list[list[str]]:
    """Each item's chunk texts, read from the three arrays and the .bin directly."""
    paths = aligned_memory_map_paths(prefix)
    items = np.fromfile(paths["indices.bin"], dtype=np.uint32)
    lengths = np.fromfile(paths["lengths.bin"], dtype=np.uint16)
    offsets = np.fromfile(paths["offsets.bin"], dtype=np.uint64)
    data = np.fromfile(f"{prefix}.bin", dtype=np.uint8)
    out: list[list[str]] = [[] for _ in range(int(items.max()) + 1)]
    for item, length, offset in zip(
        items.tolist(), lengths.tolist(), offsets.tolist(), strict=True
    ):
        out[item].append(data[offset : offset + length].tobytes().decode())
    return out


def reference_sample(items: list[list[str]], order: np.ndarray, index: int, seq_len: int):
    """The original's pretraining sample ``index``: (input words, target words, chunk numbers)."""
    inputs, targets, chunks = [], [], []
    read = 0
    while len(inputs) < seq_len:
        for text in items[order[(index + read) % len(order)]]:
            words = split_words((text + EOT).strip())  # trigramify(strip=True)
            inputs += words[:-1]
            targets += words[1:]
            chunks += [read] * (len(words) - 1)
            read += 1
    return inputs[:seq_len], targets[:seq_len], chunks[:seq_len]


def test_reader_groups_chunks_into_items(export):
    aligned = open_aligned_memory_map(export)
    items = raw_items(export)
    assert aligned.num_items == len(items) > 2
    assert aligned.num_chunks == sum(map(len, items))
    for item, texts in enumerate(items):
        chunks = range(int(aligned.item_chunks[item]), int(aligned.item_chunks[item + 1]))
        assert [aligned.chunk_bytes(c).decode() for c in chunks] == texts


def test_reader_refuses_corrupt_arrays(export, tmp_path):
    paths = aligned_memory_map_paths(export)
    original = {name: path.read_bytes() for name, path in paths.items()}
    items = np.fromfile(paths["indices.bin"], dtype=np.uint32)
    offsets = np.fromfile(paths["offsets.bin"], dtype=np.uint64)
    cases = {
        "indices.bin": [
            (original["indices.bin"][:-4], "hold"),  # one chunk fewer than the others
            (original["indices.bin"][:-1], "not whole"),
            ((items + 1).astype(np.uint32).tobytes(), "count up from 0"),
            (items[::-1].copy().tobytes(), "count up from 0"),
            ((items * 2).astype(np.uint32).tobytes(), "count up from 0"),
        ],
        "offsets.bin": [((offsets + 10_000).astype(np.uint64).tobytes(), "outside")],
    }
    for name, variants in cases.items():
        for data, message in variants:
            paths[name].write_bytes(data)
            with pytest.raises(DataError, match=message) as err:
                open_aligned_memory_map(export)
            assert "\n" not in str(err.value)
            paths[name].write_bytes(original[name])
    paths["lengths.bin"].unlink()
    with pytest.raises(DataError, match=r"lengths\.bin: aligned memory map file not found"):
        open_aligned_memory_map(export)


def test_aligned_word_array(export, settings_path, tmp_path):
    out = tmp_path / "words" / "train.aligned"
    meta = tokenize_aligned_words(settings_path, export, out, batch_chunks=3)
    items = raw_items(export)
    texts = [text for item in items for text in item]
    table = read_words(out)
    ids = np.fromfile(f"{out}.bin", dtype=meta["dtype"])
    offsets = np.fromfile(f"{out}.idx", dtype=np.int64)
    assert meta["num_documents"] == len(texts) and meta["aligned_items"] == len(items)
    assert any(text[:1].isspace() for text in texts)  # chunks cut at a space: stripped
    for chunk, text in enumerate(texts):
        words = [table[i] for i in ids[offsets[chunk] : offsets[chunk + 1]]]
        assert words == split_words((text + EOT).strip()) and words[-1] == EOT
    item_offsets = read_aligned_items(out, len(texts))
    assert np.diff(item_offsets).tolist() == [len(item) for item in items]
    # batch-independent and byte-identical on a rerun
    again = tmp_path / "again" / "train.aligned"
    tokenize_aligned_words(settings_path, export, again, batch_chunks=1000)
    for key, path in aligned_word_array_paths(out).items():
        assert path.read_bytes() == aligned_word_array_paths(again)[key].read_bytes(), key


def test_aligned_word_array_failure_leaves_nothing(export, settings_path, tmp_path, monkeypatch):
    calls = []

    def failing(text):
        calls.append(1)
        if len(calls) > 4:
            raise RuntimeError("injected failure")
        return split_words(text)

    monkeypatch.setattr(tfree_words, "split_words", failing)
    with pytest.raises(RuntimeError, match="injected"):
        tokenize_aligned_words(
            settings_path, export, tmp_path / "out" / "t.aligned", batch_chunks=2
        )
    assert not list((tmp_path / "out").iterdir())


def test_bad_items_index(export, settings_path, tmp_path):
    out = tmp_path / "words" / "train.aligned"
    meta = tokenize_aligned_words(settings_path, export, out)
    path = aligned_word_array_paths(out)["items.idx"]
    for data in (b"", b"\x00" * 7, np.array([0, 2, 1], dtype="<i8").tobytes()):
        path.write_bytes(data)
        with pytest.raises(DataError, match="item index"):
            read_aligned_items(out, meta["num_documents"])
    path.unlink()
    with pytest.raises(DataError, match=r"items\.idx: aligned word array file not found"):
        AlignedSampler(out, 8, 42)


@pytest.mark.parametrize(("seq_len", "seed"), [(1, 42), (5, 42), (16, 0), (64, 7), (300, 42)])
def test_samples_are_the_originals(export, settings_path, tmp_path, seq_len, seed):
    out = tmp_path / "words" / "train.aligned"
    tokenize_aligned_words(settings_path, export, out)
    table = read_words(out)
    items = raw_items(export)
    sampler = AlignedSampler(out, seq_len, seed)
    order = np.arange(len(items))
    np.random.RandomState(seed).shuffle(order)  # the original's TextDataset.set_seed
    assert sampler.order.tolist() == order.tolist()
    assert sampler.num_windows == len(items)
    batch = sampler.batch(3, 2 * len(items))  # wraps around the items
    assert batch.tokens.shape == batch.targets.shape == batch.documents.shape
    assert batch.tokens.shape == (2 * len(items), seq_len) and batch.weights is None
    for row in range(2 * len(items)):
        inputs, targets, chunks = reference_sample(items, order, 3 + row, seq_len)
        assert [table[i] for i in batch.tokens[row]] == inputs
        assert [table[i] for i in batch.targets[row]] == targets
        # chunk numbers within the row: the same boundaries as the reference's
        assert (np.diff(batch.documents[row]) != 0).tolist() == (np.diff(chunks) != 0).tolist()
    assert (batch.inputs == batch.tokens).all() and (batch.next_ids == batch.targets).all()
    window = sampler.window(3)
    assert (window.tokens == batch.tokens[0]).all()
    file_order = sampler.sequential(0, 2)
    for row in range(2):
        inputs, _, _ = reference_sample(items, np.arange(len(items)), row, seq_len)
        assert [table[i] for i in file_order.tokens[row]] == inputs


def test_sampler_needs_words_to_predict(tmp_path, settings_path):
    corpus = byte_corpus(tmp_path / "corpus", ["x"])
    prefix = tmp_path / "export" / "one"
    write_memory_map(corpus, prefix)
    write_aligned_memory_map(prefix, prefix)
    out = tmp_path / "words" / "one.aligned"
    tokenize_aligned_words(settings_path, prefix, out)
    assert AlignedSampler(out, 4, 42).batch(0, 1).tokens.shape == (1, 4)  # "x", EOT: 1 position


# ---------------------------------------------------------------------------------------------
# Fine-tuning examples: has_loss segments

EXAMPLES = [
    [{"type": "text", "content": "Question: what is 2 + 2? ", "has_loss": False},
     {"type": "text", "content": " Answer: four.", "has_loss": True}],
    [{"type": "text", "content": "Say hello.", "has_loss": False},
     {"type": "text", "content": "Hello there, friend!", "has_loss": True},
     {"type": "text", "content": " (and no loss on this)", "has_loss": False}],
    [{"type": "text", "content": "All of it is trained on.", "has_loss": True}],
]  # fmt: skip


def write_examples(path, examples=EXAMPLES) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(json.dumps(e) for e in examples) + "\n\n")


def reference_example(example: list[dict]):
    """The original's fine-tuning encoding: words per stripped segment, a target's own weight."""
    words, weights = [], []
    for segment in example:
        split = split_words(segment["content"].strip())
        words += split
        weights += [1.0 if segment["has_loss"] else 0.0] * len(split)
    return words[:-1], words[1:], weights[1:]


def test_word_examples_weigh_the_has_loss_segments(settings_path, tmp_path):
    source = tmp_path / "ft.jsonl"
    write_examples(source)
    out = tmp_path / "words" / "ft"
    meta = tokenize_word_examples(settings_path, source, out)
    assert meta["num_documents"] == len(EXAMPLES)
    table = read_words(out)
    for seq_len, seed in ((4, 42), (64, 3)):
        sampler = WordExampleSampler(out, seq_len, seed)
        order = np.arange(len(EXAMPLES))
        np.random.RandomState(seed).shuffle(order)
        batch = sampler.batch(0, 2 * len(EXAMPLES))
        assert batch.tokens.shape == batch.targets.shape == batch.weights.shape
        for row in range(2 * len(EXAMPLES)):
            inputs, targets, weights = reference_example(EXAMPLES[order[row % len(EXAMPLES)]])
            n = min(len(inputs), seq_len)
            assert [table[i] for i in batch.tokens[row, :n]] == inputs[:n]
            assert [table[i] for i in batch.targets[row, :n]] == targets[:n]
            assert batch.weights[row].tolist() == weights[:n] + [0.0] * (seq_len - n)
            assert (batch.documents[row, :n] == 0).all() and (batch.documents[row, n:] == 1).all()
    assert sampler.sequential(0, 1).weights[0].tolist()[:6] == reference_example(EXAMPLES[0])[2][:6]


def test_bad_word_examples(settings_path, tmp_path):
    cases = {
        "not json": ("{oops", "line 1: not JSON"),
        "empty list": ("[]", "line 1: not a non-empty JSON list"),
        "bad segment": (json.dumps([{"type": "image", "content": "x", "has_loss": True}]),
                        "line 1: a segment must be"),
        "weight not bool": (json.dumps([{"type": "text", "content": "x", "has_loss": 1}]),
                            "line 1: a segment must be"),
        "no examples": ("\n\n", "no fine-tuning examples"),
    }  # fmt: skip
    for name, (text, message) in cases.items():
        source = tmp_path / f"{name}.jsonl"
        source.write_text(text)
        with pytest.raises(DataError, match=message) as err:
            tokenize_word_examples(settings_path, source, tmp_path / "out" / name)
        assert "\n" not in str(err.value)
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())
    with pytest.raises(DataError, match="fine-tuning examples not found"):
        read_segments(tmp_path / "missing.jsonl")
    # corrupt weights
    source = tmp_path / "ft.jsonl"
    write_examples(source)
    out = tmp_path / "words" / "ft"
    tokenize_word_examples(settings_path, source, out)
    weights = word_example_paths(out)["weights.bin"]
    weights.write_bytes(weights.read_bytes()[:-1])
    with pytest.raises(DataError, match="corrupt loss weights"):
        WordExampleSampler(out, 8, 42)
