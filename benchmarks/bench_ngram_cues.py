#!/usr/bin/env python
"""Byte n-gram cues: toklab's compiled model against the original's NLTK model, side by side.

ByteSpan's original counts a byte 5-gram model with NLTK (``AbsoluteDiscountingInterpolated``,
``padded_everygram_pipeline``) and computes each byte's four cues by calling
``model.logscore`` for every one of the vocabulary's symbols (the entropy) and three more times
(with a cache per context). toklab counts 64-bit n-gram keys by sorting and builds each byte's
distribution in compiled code (``toklab.ngram_cues``).

On the demo generator's text (two synthetic languages), order 5:

1. **Counting**: bytes of training text per second, toklab on --train-megabytes, NLTK on
   --peer-train-kilobytes (it holds every n-gram in Python dictionaries);
2. **Cues**: bytes per second given a count model, toklab on --predict-megabytes (all CPUs,
   numba's threads), NLTK on --peer-predict-bytes of the same kind of text;
3. the ratios of the throughputs.

    python benchmarks/bench_ngram_cues.py
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from timing import fastest

from toklab.data.byte_corpus import ByteCorpus, write_byte_corpus
from toklab.data.demo import generate_documents
from toklab.ngram_cues import count_ngrams, ngram_cues


def texts_of(megabytes: float, skip: int = 0) -> list[str]:
    """Demo documents (after the first ``skip``) up to ``megabytes`` of UTF-8."""
    texts, size = [], 0
    for index, doc in enumerate(generate_documents(["agglutinative", "fusional"], seed=0)):
        if index < skip:
            continue
        texts.append(doc.text)
        size += len(doc.text.encode())
        if size >= megabytes * 1e6:
            return texts
    return texts


def byte_corpus(texts: list[str], folder: Path) -> ByteCorpus:
    folder.mkdir(parents=True)
    shard = folder / "part-00000.parquet"
    pq.write_table(pa.table({"id": [str(i) for i in range(len(texts))], "text": texts}), shard)
    write_byte_corpus([shard], folder / "bytes")
    return ByteCorpus(folder / "bytes")


def nltk_model(texts: list[str], order: int):
    """The original's training: byte tokens of each document, padded everygrams, fit."""
    from nltk.lm import AbsoluteDiscountingInterpolated
    from nltk.lm.preprocessing import padded_everygram_pipeline

    documents = [[f"{b:02x}" for b in text.encode()] for text in texts]
    train, vocab = padded_everygram_pipeline(order, documents)
    model = AbsoluteDiscountingInterpolated(order=order)
    model.fit(train, vocab)
    return model


def nltk_cues(model, text: str, order: int) -> int:
    """The original's four cues of every byte of ``text`` (its per-context logscore cache)."""
    cache: dict[tuple, dict[str, float]] = {}

    def logscore(token: str, context: tuple) -> float:
        scores = cache.setdefault(context, {})
        if token not in scores:
            scores[token] = model.logscore(token, context)
        return scores[token]

    symbols = ["<s>"] * (order - 1) + [f"{b:02x}" for b in text.encode()]
    done = 0
    for i in range(order - 1, len(symbols)):
        context = tuple(symbols[i - order + 1 : i])
        entropy = 0.0
        for v in model.vocab:
            p = 2 ** logscore(v, context)
            if p > 0:
                entropy -= p * (logscore(v, context))
        logscore(symbols[i], context)
        logscore("20", context)
        logscore("</s>", context)
        done += 1
    return done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--order", type=int, default=5)
    parser.add_argument("--train-megabytes", type=float, default=20.0)
    parser.add_argument("--predict-megabytes", type=float, default=5.0)
    parser.add_argument("--peer-train-kilobytes", type=float, default=500.0)
    parser.add_argument("--peer-predict-bytes", type=int, default=3000)
    args = parser.parse_args()
    print(f"order {args.order}; {os.cpu_count()} CPUs")

    with tempfile.TemporaryDirectory() as tmp:
        train_texts = texts_of(args.train_megabytes)
        train = byte_corpus(train_texts, Path(tmp) / "train")
        predict = byte_corpus(
            texts_of(args.predict_megabytes, skip=len(train_texts)), Path(tmp) / "p"
        )
        count_time, counts = fastest(lambda: count_ngrams(train, args.order), warm_up=True)
        cue_time, _ = fastest(
            lambda: ngram_cues(counts, predict, 0, predict.num_bytes), warm_up=True
        )
        ours_count = train.num_bytes / count_time
        ours_cues = predict.num_bytes / cue_time
        print(
            f"toklab  count {train.num_bytes / 1e6:6.1f} MB in {count_time:6.2f} s "
            f"({ours_count / 1e6:6.2f} MB/s; {len(counts.grams):,} n-grams)"
        )
        print(
            f"toklab  cues  {predict.num_bytes / 1e6:6.1f} MB in {cue_time:6.2f} s "
            f"({ours_cues / 1e6:6.2f} MB/s)"
        )

    peer_texts = texts_of(args.peer_train_kilobytes / 1000)
    peer_bytes = sum(len(t.encode()) for t in peer_texts)
    peer_count_time, model = fastest(lambda: nltk_model(peer_texts, args.order), repeats=1)
    predict_text = " ".join(texts_of(0.05, skip=len(peer_texts)))
    predict_text = predict_text.encode()[: args.peer_predict_bytes].decode(errors="ignore")
    peer_cue_time, done = fastest(lambda: nltk_cues(model, predict_text, args.order), repeats=1)
    peer_count = peer_bytes / peer_count_time
    peer_cues = done / peer_cue_time
    print(
        f"NLTK    count {peer_bytes / 1e6:6.3f} MB in {peer_count_time:6.2f} s "
        f"({peer_count / 1e3:6.1f} kB/s)"
    )
    print(f"NLTK    cues  {done:,} bytes in {peer_cue_time:6.2f} s ({peer_cues:6.1f} B/s)")
    print(
        f"\ntoklab / NLTK throughput: counting {ours_count / peer_count:,.0f}x, "
        f"cues {ours_cues / peer_cues:,.0f}x"
    )


if __name__ == "__main__":
    main()
