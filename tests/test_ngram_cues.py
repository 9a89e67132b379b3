"""Byte n-gram cues against a brute-force count model (dicts of n-gram counts, the formula)."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.data.test_byte_corpus import shards_of
from toklab import ngram_cues
from toklab.cues import CUES, Predictions
from toklab.data.byte_corpus import ByteCorpus, write_byte_corpus
from toklab.errors import DataError
from toklab.ngram_cues import EOS, SYMBOLS, count_ngrams, write_ngram_predictions
from toklab.ngram_cues import ngram_cues as cues_of


def corpus_of(tmp_path, texts, name="corpus") -> ByteCorpus:
    folder = tmp_path / name
    folder.mkdir()
    write_byte_corpus(shards_of(folder, texts), folder / "bytes")
    return ByteCorpus(folder / "bytes")


class BruteForce:
    """The model of the module docstring from Counter objects of symbol tuples."""

    def __init__(self, texts: list[str], order: int, discount: float) -> None:
        self.order, self.discount = order, discount
        self.counts = Counter()  # (context..., symbol) -> count, contexts oldest first
        for text in texts:
            symbols = [EOS] * (order - 1) + list(text.encode()) + [EOS]
            for i in range(order - 1, len(symbols)):
                for k in range(1, order + 1):
                    self.counts[tuple(symbols[i - k + 1 : i + 1])] += 1

    def probability(self, symbol: int, context: tuple) -> float:
        p = 1 / SYMBOLS
        for k in range(1, self.order + 1):
            h = context[len(context) - (k - 1) :] if k > 1 else ()
            following = {g[-1]: c for g, c in self.counts.items() if g[:-1] == h and len(g) == k}
            if not following:
                continue
            total = sum(following.values())
            p = max(following.get(symbol, 0) - self.discount, 0) / total + (
                self.discount * len(following) / total * p
            )
        return p

    def cues(self, text: str) -> np.ndarray:
        data = list(text.encode())
        rows = []
        for i in range(len(data)):
            padded = [EOS] * (self.order - 1) + data[:i]
            context = tuple(padded[len(padded) - (self.order - 1) :]) if self.order > 1 else ()
            dist = [self.probability(w, context) for w in range(SYMBOLS)]
            assert math.isclose(sum(dist), 1.0, rel_tol=1e-9)
            rows.append(
                [
                    -sum(p * math.log(p) for p in dist),
                    -math.log(dist[data[i]]),
                    -math.log(dist[0x20]),
                    -math.log(dist[EOS]),
                ]
            )
        return np.array(rows)


TRAIN = ["the cat sat on the mat", "the hat", "a cat, a hat: that's that", "héllo 🙂"]
PREDICT = ["the cat", "that hat sat", "x", "🙂 héllo"]


@pytest.mark.parametrize("order", [1, 2, 3, 5])
def test_cues_equal_the_brute_force_model(tmp_path, order):
    counts = count_ngrams(corpus_of(tmp_path, TRAIN), order)
    corpus = corpus_of(tmp_path, PREDICT, "predict")
    reference = BruteForce(TRAIN, order, 0.75)
    got = cues_of(counts, corpus, 0, corpus.num_bytes)
    expected = np.concatenate([reference.cues(text) for text in PREDICT])
    for column, cue in enumerate(CUES):
        np.testing.assert_allclose(got[cue], expected[:, column], rtol=1e-5, err_msg=cue)
    # counted symbols: every byte and one EOS per document
    assert counts.targets == sum(len(t.encode()) + 1 for t in TRAIN)


@settings(max_examples=25, deadline=None)
@given(
    texts=st.lists(st.text(alphabet="ab c\n", min_size=1, max_size=12), min_size=1, max_size=4),
    order=st.integers(1, 4),
    discount=st.floats(0.1, 0.9),
)
def test_any_small_corpus_equals_the_brute_force_model(tmp_path_factory, texts, order, discount):
    tmp_path = tmp_path_factory.mktemp("ngram")
    corpus = corpus_of(tmp_path, texts)
    counts = count_ngrams(corpus, order)
    got = cues_of(counts, corpus, 0, corpus.num_bytes, discount)
    reference = BruteForce(texts, order, discount)
    expected = np.concatenate([reference.cues(text) for text in texts])
    for column, cue in enumerate(CUES):
        np.testing.assert_allclose(got[cue], expected[:, column], rtol=1e-5, err_msg=cue)


def test_counts_in_batches_equal_counts_at_once(tmp_path, monkeypatch):
    corpus = corpus_of(tmp_path, TRAIN)
    whole = count_ngrams(corpus, 4)
    monkeypatch.setattr(ngram_cues, "COUNT_BATCH_BYTES", 8)  # about a document per batch
    batched = count_ngrams(corpus, 4)
    for field in ("grams", "counts", "gram_offsets", "contexts", "first", "totals", "types"):
        np.testing.assert_array_equal(getattr(whole, field), getattr(batched, field), field)


def test_predictions_zarr_reads_like_the_byte_lm_one(tmp_path):
    train = corpus_of(tmp_path, TRAIN)
    predict = corpus_of(tmp_path, PREDICT, "predict")
    output = tmp_path / "ngram.zarr"
    write_ngram_predictions(
        train.paths["bin"].with_suffix(""), predict.paths["bin"].with_suffix(""), output,
        order=3, chunk_bytes=7,
    )  # fmt: skip
    predictions = Predictions(output, predict.paths["bin"].with_suffix(""))
    expected = cues_of(count_ngrams(train, 3), predict, 0, predict.num_bytes)
    for cue in CUES:
        np.testing.assert_array_equal(predictions.cue(cue), expected[cue])
    assert predictions.attrs["source"] == "ngram" and predictions.attrs["order"] == 3


@pytest.mark.parametrize("order", [0, 8])
def test_orders_outside_one_to_seven_are_refused(tmp_path, order):
    corpus = corpus_of(tmp_path, TRAIN)
    with pytest.raises(DataError, match=rf"n-gram order {order} is outside 1..7"):
        count_ngrams(corpus, order)
    with pytest.raises(DataError, match=r"outside 1\.\.7"):
        write_ngram_predictions(
            corpus.paths["bin"].with_suffix(""), corpus.paths["bin"].with_suffix(""),
            tmp_path / "out.zarr", order=order,
        )  # fmt: skip
    assert not (tmp_path / "out.zarr").exists()


def test_an_empty_training_corpus_is_refused(tmp_path):
    corpus = corpus_of(tmp_path, [""])
    with pytest.raises(DataError, match="training corpus is empty"):
        count_ngrams(corpus, 3)
