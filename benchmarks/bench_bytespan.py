#!/usr/bin/env python
"""ByteSpan training speed per constraint, next to toklab's BPE trainer on the same bytes and V.

The corpus is tinyshakespeare (repeated to --megabytes) as a byte corpus; the cue is a smoothed
random walk (timings depend on the bytes and span counts, not on the model that made the cues).

    python benchmarks/bench_bytespan.py --megabytes 4 --vocab 4000
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from toklab.data.byte_corpus import ByteCorpus, write_byte_corpus
from toklab.tokenizers import bytespan as bs
from toklab.tokenizers.bpe import train_bpe_on_corpus

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--megabytes", type=float, default=4.0)
    parser.add_argument("--vocab", type=int, default=4000)
    args = parser.parse_args()

    text = (SHARED / "tinyshakespeare" / "input.txt").read_text(encoding="utf-8")
    docs = text.split("\n\n") * max(1, round(args.megabytes * 1e6 / len(text.encode())))
    with tempfile.TemporaryDirectory() as tmp:
        shard = Path(tmp) / "part-00000.parquet"
        pq.write_table(pa.table({"id": [str(i) for i in range(len(docs))], "text": docs}), shard)
        write_byte_corpus([shard], Path(tmp) / "corpus")
        corpus = ByteCorpus(Path(tmp) / "corpus")
        data, pretok = np.asarray(corpus.bytes), np.asarray(corpus.pretoken_start)
        rng = np.random.default_rng(0)
        cue = np.convolve(rng.normal(size=len(data)), np.ones(3) / 3, mode="same").astype(
            np.float32
        )
        print(f"{corpus.num_bytes / 1e6:.1f} MB, vocab {args.vocab}")
        print(f"  {'trainer':30} {'seconds':>8} {'MB/s':>8}")

        def report(name: str, seconds: float) -> None:
            print(f"  {name:30} {seconds:8.2f} {corpus.num_bytes / 1e6 / seconds:8.2f}")

        start = time.perf_counter()
        train_bpe_on_corpus(Path(tmp) / "corpus", args.vocab, ["<|endoftext|>"])
        report("toklab BPE", time.perf_counter() - start)
        for name, threshold in (
            ("monotonic", None),
            ("combined-p30", float(np.percentile(cue, 30))),
        ):
            start = time.perf_counter()
            starts = bs.monotonic_starts(cue, pretok, data, threshold)
            spans = bs.count_spans(starts, data, pretok)
            bs.frequency_vocabulary(spans, args.vocab, ["<|endoftext|>"])
            report(f"bytespan {name} frequency", time.perf_counter() - start)
            start = time.perf_counter()
            bs.seeded_vocabulary(starts, data, pretok, spans, args.vocab, ["<|endoftext|>"], 0.5)
            report(f"bytespan {name} seeding50", time.perf_counter() - start)
        start = time.perf_counter()
        bs.global_vocabularies(cue, pretok, data, [args.vocab], ["<|endoftext|>"], min_frequency=5)
        report("bytespan global frequency", time.perf_counter() - start)


if __name__ == "__main__":
    main()
