#!/usr/bin/env python
"""T-Free throughput, side by side with its peers, on tinyshakespeare.

1. **Words and trigrams**: toklab's word split and trigram ids of every document against the
   encoding of the same documents by GPT-2's BPE in ``tokenizers`` (``encode_batch_fast``,
   ``RAYON_NUM_THREADS`` threads); MB of text per second. Then the word array of the documents
   by ``scripts/tfree.py words`` (split, intern, write, start-up included) on one process and
   on one per CPU, checked to write the same files.
2. **Hash rows** of the corpus's distinct trigrams: toklab's ``TrigramHasher`` (compiled md5,
   vectorized over messages, retries compiled too; rows only for the trigrams asked for; end to
   end on a fresh hasher, then the compiled part alone) against the original's
   ``initialize_hash_weight`` loop (``int(md5(f"{i}_{k}_{j}").hexdigest(), 16) % v`` per slot,
   retrying j until new in the row, sorted) on the same rows: time per row and the speed-up.
   Memory: toklab keeps ``8 m`` bytes per computed row and an index (1 MiB, and 256 bytes per
   block of 64 trigram ids with a row); the original's table holds every one of the 2^24 rows as int64 (``2^24 x m x 8``).
3. **Model parts**: forward + backward of T-Free's sparse embedding (``embedding_bag`` over a
   word's hash ids) and multi-label head (``Linear(h, v)`` + BCE-with-logits) against a dense
   ``Embedding(V, h)`` and softmax head (cross-entropy) at the same hidden size, per position.
4. **Decoding**: dictionary words per second from the last position's logits (the code's score:
   one sparse-dense product per batch, then argmax) against the dictionary size.

    python benchmarks/bench_tfree.py
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from timing import fastest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"


def original_rows(ids: list[int], v: int, m: int) -> np.ndarray:
    """The original's ``initialize_hash_weight`` loop body, on the given trigram ids only."""
    rows = []
    for i in ids:
        row: list[int] = []
        for k in range(m):
            j = 0
            while True:
                h = int(hashlib.md5(f"{i}_{k}_{j}".encode()).hexdigest(), 16) % v
                if h not in row:
                    break
                j += 1
            row.append(h)
        rows.append(sorted(row))
    return np.array(rows, dtype=np.int64)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--v", type=int, default=8000)
    parser.add_argument("--m", type=int, default=10)
    parser.add_argument("--original-rows", type=int, default=5000)
    parser.add_argument("--many-rows", type=int, default=500_000)
    parser.add_argument("--word-array-copies", type=int, default=20, help="corpus copies")
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--dense-vocab", type=int, default=64000)
    parser.add_argument("--positions", type=int, default=2048)
    args = parser.parse_args()
    torch.manual_seed(0)
    threads = os.environ.get("RAYON_NUM_THREADS", str(os.cpu_count()))
    print(f"# bench_tfree: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"torch {torch.__version__}, {torch.get_num_threads()} torch threads, "
          f"RAYON_NUM_THREADS={threads}")  # fmt: skip

    from tokenizers import Tokenizer

    from toklab.datasets.tfree_words import WordPatterns
    from toklab.tokenizers.tfree import TrigramHasher, split_words
    from toklab.tokenizers.tfree_md5 import md5_rows
    from toklab.tokenizers.tfree_trigrams import trigram_ids
    from toklab.tokenizers.tokenizer_files import (
        read_merges_txt,
        read_vocab_json,
        save_tokenizer_files,
    )

    text = (SHARED / "tinyshakespeare" / "input.txt").read_text(encoding="utf-8")
    documents = [d for d in text.split("\n\n") if d.strip()]
    mb = len(text.encode()) / 1e6

    # 1. words and trigrams against GPT-2's BPE ------------------------------------------------
    def tfree_encode():
        words = [w for d in documents for w in split_words(d)]
        return words, trigram_ids(words)

    seconds, (words, _) = fastest(tfree_encode)
    directory = Path(tempfile.mkdtemp())
    save_tokenizer_files(
        directory,
        read_vocab_json(SHARED / "cs336" / "gpt2_vocab.json"),
        read_merges_txt(SHARED / "cs336" / "gpt2_merges.txt"),
        ["<|endoftext|>"],
    )
    bpe = Tokenizer.from_file(str(directory / "tokenizer.json"))
    bpe_seconds, encodings = fastest(lambda: bpe.encode_batch_fast(documents))
    tokens = sum(len(e.ids) for e in encodings)
    print(f"\n## 1. encoding {mb:.2f} MB ({len(documents)} documents)")
    print(f"T-Free words + trigram ids: {mb / seconds:7.2f} MB/s  ({len(words)} words)")
    print(f"GPT-2 BPE (tokenizers):     {mb / bpe_seconds:7.2f} MB/s  ({tokens} tokens)")
    print(f"ratio T-Free / BPE: {bpe_seconds / seconds:.2f}x")
    # the word array of the documents, copied, by scripts/tfree.py words (split, intern,
    # write; process start-up included) on 1 and on all workers; the files are the same
    import pyarrow as pa
    import pyarrow.parquet as pq

    from toklab.data.byte_corpus import write_byte_corpus
    from toklab.tokenizers.tfree import save_settings

    work = Path(tempfile.mkdtemp())
    copies = documents * args.word_array_copies
    pq.write_table(pa.table({"text": copies}), work / "corpus.parquet")
    write_byte_corpus([work / "corpus.parquet"], work / "corpus")
    save_settings(TrigramHasher(args.v, args.m), work / "tfree.json")
    corpus_mb = sum(len(d.encode()) for d in copies) / 1e6
    rates, files = {}, {}
    for workers in sorted({1, os.cpu_count() or 1}):
        command = [sys.executable, str(REPO / "scripts" / "tfree.py"), "words", "--settings",
                   str(work / "tfree.json"), "--corpus-prefix", str(work / "corpus"),
                   "--output-prefix", str(work / f"w{workers}"), "--workers", str(workers)]  # fmt: skip
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        rates[workers] = corpus_mb / (time.perf_counter() - start)
        files[workers] = [p.read_bytes() for p in sorted(work.glob(f"w{workers}.*"))]
        print(f"word array of {corpus_mb:.1f} MB, {workers} worker(s): {rates[workers]:6.2f} MB/s")
    if len(rates) > 1:
        assert files[1] == files[max(files)], "the word arrays differ"
        print(f"ratio {max(rates)} workers / 1: {rates[max(rates)] / rates[1]:.2f}x (same files)")

    # 2. hash rows --------------------------------------------------------------------------
    distinct = np.unique(trigram_ids(list(dict.fromkeys(words)))[0])
    print(f"\n## 2. hash rows of the corpus's {len(distinct)} distinct trigrams "
          f"(v = {args.v}, m = {args.m})")  # fmt: skip
    TrigramHasher(args.v, args.m).rows(distinct[:8])  # compile once, outside the timing

    def toklab_rows():
        hasher = TrigramHasher(args.v, args.m)
        return hasher, hasher.rows(distinct)

    seconds, (hasher, rows) = fastest(toklab_rows, 10)  # about a millisecond a run
    sample = np.random.default_rng(0).choice(distinct, args.original_rows, replace=False)
    original_seconds, original = fastest(lambda: original_rows(sample.tolist(), args.v, args.m))
    index = np.searchsorted(distinct, sample)
    assert (rows[index] == original).all(), "toklab's rows differ from the original's"
    per_row, per_row_original = seconds / len(distinct), original_seconds / len(sample)
    print(f"toklab:   {per_row * 1e6:8.2f} us/row, {len(distinct)} rows in {seconds:.2f} s")
    print(f"original: {per_row_original * 1e6:8.2f} us/row ({len(sample)} sampled rows, equal; "
          "fastest of 3 runs; toklab's of 10)")  # fmt: skip
    print(f"speed-up per row: {per_row_original / per_row:.1f}x")
    full = (1 << 24) * per_row_original
    print(f"the original builds all 2^24 rows: {full / 60:.0f} min at that rate, against "
          f"{seconds:.2f} s for this corpus's rows ({full / seconds:.0f}x)")  # fmt: skip
    # a corpus of many languages has far more distinct trigrams: the per-row cost at scale
    many = np.unique(np.random.default_rng(1).integers(0, 1 << 24, args.many_rows))
    many_seconds, _ = fastest(lambda: TrigramHasher(args.v, args.m).rows(many), 2)
    print(f"toklab on {len(many)} random trigram ids: {many_seconds / len(many) * 1e6:.2f} us/row "
          f"({per_row_original / (many_seconds / len(many)):.1f}x the original per row)")  # fmt: skip
    # the compiled rows alone (md5 of every slot, sorted, retries of colliding rows), without
    # the unique ids, the fresh hasher's index and the gather of the result
    kernel_seconds, _ = fastest(lambda: md5_rows(many, args.m, args.v), 3)
    print(f"of which the compiled rows: {kernel_seconds / len(many) * 1e6:.2f} us/row "
          f"({per_row_original / (kernel_seconds / len(many)):.1f}x)")  # fmt: skip
    held = hasher._rows.nbytes + hasher._blocks.nbytes + hasher._block_of.nbytes
    print(f"memory: toklab {held / 2**20:.1f} MiB for the corpus's rows, "
          f"original {(1 << 24) * args.m * 8 / 2**30:.2f} GiB")  # fmt: skip

    # 3. forward + backward of the model parts ----------------------------------------------
    hasher = TrigramHasher(args.v, args.m)
    table = list(dict.fromkeys(words))
    patterns = WordPatterns.from_words(table, hasher)
    index_of = {w: i for i, w in enumerate(table)}
    stream = np.array([index_of[w] for w in words[: args.positions + 1]], dtype=np.int64)
    h = args.hidden
    flat, offsets = patterns.inputs(stream[None, :-1])
    positions, ids = patterns.targets(stream[None, 1:])
    flat_t, offsets_t = torch.from_numpy(flat), torch.from_numpy(offsets)
    target = torch.zeros(args.positions, args.v)
    target[torch.from_numpy(positions), torch.from_numpy(ids)] = 1.0
    sparse_embedding = torch.nn.Parameter(torch.randn(args.v, h) * 0.02)
    sparse_head = torch.nn.Linear(h, args.v, bias=False)
    pos_weight = torch.full((args.v,), 300.0)

    def tfree_step():
        x = torch.nn.functional.embedding_bag(flat_t, sparse_embedding, offsets_t, mode="sum")
        loss = torch.nn.functional.binary_cross_entropy_with_logits(
            sparse_head(x), target, pos_weight=pos_weight
        )
        loss.backward()

    dense_embedding = torch.nn.Embedding(args.dense_vocab, h)
    dense_head = torch.nn.Linear(h, args.dense_vocab, bias=False)
    inputs = torch.randint(0, args.dense_vocab, (args.positions,))
    labels = torch.randint(0, args.dense_vocab, (args.positions,))

    def dense_step():
        loss = torch.nn.functional.cross_entropy(dense_head(dense_embedding(inputs)), labels)
        loss.backward()

    tfree_step(), dense_step()  # warm up
    tfree_seconds, _ = fastest(tfree_step, 5)
    dense_seconds, _ = fastest(dense_step, 5)
    print(f"\n## 3. forward + backward, {args.positions} positions, hidden {h}")
    print(f"T-Free v = {args.v}, m = {args.m} ({len(flat) / args.positions:.1f} ids per word): "
          f"{tfree_seconds * 1e3:7.1f} ms, {2 * args.v * h / 1e6:.1f}M parameters")  # fmt: skip
    print(f"dense V = {args.dense_vocab}: {dense_seconds * 1e3:7.1f} ms, "
          f"{2 * args.dense_vocab * h / 1e6:.1f}M parameters")  # fmt: skip
    print(f"ratio dense / T-Free: {dense_seconds / tfree_seconds:.2f}x")

    # 4. decoding against the dictionary size -----------------------------------------------
    from collections import Counter

    from toklab.tokenizers.tfree_dictionary import WordDictionary

    counts = Counter(words)
    logits = torch.randn(64, args.v)
    print("\n## 4. greedy decoding, a batch of 64 positions")
    for size in (1000, 5000, len(counts)):
        dictionary = WordDictionary.from_counts(counts, hasher, top_n=size)
        dictionary.decode(logits)  # patterns to the device once
        seconds, _ = fastest(lambda d=dictionary: d.decode(logits), 5)
        print(f"dictionary of {len(dictionary):6d} words: {64 / seconds:9.0f} words/s")


if __name__ == "__main__":
    main()
