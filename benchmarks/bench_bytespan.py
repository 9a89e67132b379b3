#!/usr/bin/env python
"""ByteSpan training speed per constraint and variant, next to toklab's BPE on the same bytes/V.

The corpus is tinyshakespeare (repeated to --megabytes) as a byte corpus, its documents
alternately labelled with two pseudo-languages (for the balanced variant); the cue is a smoothed
random walk written to a predictions zarr (timings depend on the bytes and span counts, not on
the model that made the cues). Every ByteSpan row is the library's whole path from the files
(``train_bytespan``: the zarr read in chunks, spans, vocabulary, BPE merges where the variant
or the inference needs them), without saving; the global rows' numba pass is compiled (or
loaded from numba's cache) once before timing.

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
from toklab.tokenizers.bpe import train_bpe_on_corpus
from toklab.tokenizers.bytespan_tokenizer import train_bytespan

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
SPECIALS = ["<|endoftext|>"]


def write_cues(path: Path, corpus: ByteCorpus, cue: np.ndarray) -> None:
    """A predictions group in the extractor's format, every cue set to ``cue``."""
    import zarr

    from toklab.cues import CUES, FORMAT
    from toklab.io import sha256_file

    group = zarr.open_group(str(path), mode="w")
    for name in CUES:
        array = group.create_array(name, shape=cue.shape, chunks=(1 << 20,), dtype="float32")
        array[:] = cue
    offsets = group.create_array("doc_offsets", shape=corpus.offsets.shape, dtype="int64")
    offsets[:] = corpus.offsets
    group.attrs.update(
        {"format": FORMAT, "complete": True, "corpus_sha256": sha256_file(corpus.paths["bin"])}
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--megabytes", type=float, default=4.0)
    parser.add_argument("--vocab", type=int, default=4000)
    parser.add_argument("--min-frequency", type=int, default=5, help="global constraint")
    args = parser.parse_args()

    text = (SHARED / "tinyshakespeare" / "input.txt").read_text(encoding="utf-8")
    docs = text.split("\n\n") * max(1, round(args.megabytes * 1e6 / len(text.encode())))
    languages = ["en", "xx"] * (len(docs) // 2) + ["en"] * (len(docs) % 2)
    with tempfile.TemporaryDirectory() as tmp:
        prefix = Path(tmp) / "corpus"
        shard = Path(tmp) / "part-00000.parquet"
        pq.write_table(pa.table({"id": [str(i) for i in range(len(docs))], "text": docs}), shard)
        write_byte_corpus([shard], prefix)
        corpus = ByteCorpus(prefix)
        rng = np.random.default_rng(0)
        cue = np.convolve(rng.normal(size=corpus.num_bytes), np.ones(3) / 3, mode="same")
        write_cues(Path(tmp) / "cues.zarr", corpus, cue.astype(np.float32))
        megabytes = corpus.num_bytes / 1e6

        start = time.perf_counter()
        train_bpe_on_corpus(prefix, args.vocab, SPECIALS)
        bpe_seconds = time.perf_counter() - start
        print(f"{megabytes:.1f} MB, vocab {args.vocab}, global min_frequency {args.min_frequency}")
        print(f"  {'trainer':44} {'seconds':>8} {'MB/s':>7} {'vs BPE':>7}")

        def report(name: str, seconds: float) -> None:
            print(
                f"  {name:44} {seconds:8.2f} {megabytes / seconds:7.2f} "
                f"{seconds / bpe_seconds:6.2f}x",
                flush=True,
            )

        report("toklab BPE", bpe_seconds)

        def run(constraint: str, variant: str, inference: str, **options) -> float:
            start = time.perf_counter()
            train_bytespan(
                prefix,
                Path(tmp) / "cues.zarr",
                "surprisal",
                constraint,
                args.vocab,
                variant=variant,
                special_tokens=SPECIALS,
                inference=inference,
                languages=languages,
                **options,
            )
            return time.perf_counter() - start

        start = time.perf_counter()
        run("global", "frequency", "wordpiece", min_frequency=1, chunk_bytes=1 << 30)
        print(
            f"  (numba compile or cache load + a first global pass: "
            f"{time.perf_counter() - start:.2f} s)"
        )
        rows = [
            ("global", "frequency", "wordpiece", {"min_frequency": args.min_frequency}),
            ("global", "frequency", "wordpiece", {"min_frequency": 20}),
            ("global", "frequency", "bpe", {"min_frequency": args.min_frequency}),
        ]
        for constraint in ("monotonic", "combined"):
            for variant in ("frequency", "balanced", "seeding50"):
                rows.append((constraint, variant, "wordpiece", {}))
            rows.append((constraint, "frequency", "bpe", {}))
            rows.append((constraint, "seeding50", "bpe", {}))
        for constraint, variant, inference, options in rows:
            name = f"bytespan {constraint} {variant}"
            if "min_frequency" in options:
                name += f" (min_freq {options['min_frequency']})"
            report(f"{name}, {inference}", run(constraint, variant, inference, **options))


if __name__ == "__main__":
    main()
