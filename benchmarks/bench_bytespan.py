#!/usr/bin/env python
"""ByteSpan training time and peak memory per constraint and variant, next to toklab's BPE.

The corpus is tinyshakespeare repeated to --megabytes (or, with ``--corpus demo``, toklab's demo
generator: two synthetic languages with many distinct words) as a byte corpus, its documents
alternately labelled with two pseudo-languages (for the balanced variant); the cue is smoothed
random noise (``--cue bigram``: a byte bigram model's surprisal, -log P(byte | previous byte)
with add-one smoothing, fitted on the corpus itself; ``--cue ngram``: the cues of
:mod:`toklab.ngram_cues`, ByteSpan's original alternative to its LM, a byte 5-gram model fitted
on the corpus's first 20 MB), written to a predictions zarr. Timings
depend on the bytes and the spans the cue shapes, not on the model that made it. Noise cuts each
occurrence of a word differently: the most distinct span types and span words, the worst case
for counting and for BPE on spans. A bigram cue cuts a word's occurrences alike, as an LM's
mostly does, but it is too coarse to make enough span types for the frequency variants at large
V (on tinyshakespeare and the demo text it makes 3,000 to 6,000): use it for the seeding rows.
A 5-gram cue is closest to an LM's; on the demo text it makes about 12,000 monotonic span
types, enough for the seeding and global rows at V = 32,000. Every ByteSpan row is the
library's whole path from the files (``train_bytespan``: the zarr read in chunks, spans,
vocabulary, BPE merges where the variant or the inference needs them), without saving.

Each row runs in a fresh subprocess, so its peak memory (``VmHWM``: the most resident memory
the process ever had, memory-mapped corpus pages included) is its own. The subprocess
first trains on a tiny corpus (numba's cached machine code is loaded then), then times the
real run. Targets, as ratios to BPE measured in the same run: peak memory <= 2x; time <= 1.5x
for the seeding variants and <= 1x for the others.

    python benchmarks/bench_bytespan.py --megabytes 4 --vocab 4000
    python benchmarks/bench_bytespan.py --megabytes 200 --vocab 32000 --rows seeding50
    python benchmarks/bench_bytespan.py --corpus demo --cue ngram --megabytes 50 --rows global,seeding
    python benchmarks/bench_bytespan.py --megabytes 20 --vocab 8000 --repeat 3  # noisy host
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
SPECIALS = ["<|endoftext|>"]
NGRAM_TRAIN_BYTES = 20_000_000  # the 5-gram cue's model is fitted on this much of the corpus
MEMORY_TARGET = 2.0
TIME_TARGETS = {"seeding": 1.5, "other": 1.0}


def write_cues(path: Path, corpus, cue: np.ndarray) -> None:
    """A predictions group in the extractor's format, every cue set to ``cue``."""
    import zarr

    from toklab.cues import CUES, FORMAT
    from toklab.io import sha256_file

    group = zarr.open_group(str(path), mode="w")
    for name in CUES:
        # stored as toklab's extractor stores cues: uncompressed (toklab.cues)
        array = group.create_array(
            name, shape=cue.shape, chunks=(1 << 20,), dtype="float32", compressors=None
        )
        array[:] = cue
    offsets = group.create_array("doc_offsets", shape=corpus.offsets.shape, dtype="int64")
    offsets[:] = corpus.offsets
    group.attrs.update(
        {"format": FORMAT, "complete": True, "corpus_sha256": sha256_file(corpus.paths["bin"])}
    )


def documents(kind: str, megabytes: float) -> list[str]:
    """The documents of the benchmark corpus."""
    if kind == "demo":
        from toklab.data.demo import DEMO_LANGUAGES, generate_documents

        docs, total = [], 0
        for document in generate_documents(DEMO_LANGUAGES, 0):
            docs.append(document.text)
            total += len(document.text.encode())
            if total >= megabytes * 1e6:
                return docs
    text = (SHARED / "tinyshakespeare" / "input.txt").read_text(encoding="utf-8")
    return text.split("\n\n") * max(1, round(megabytes * 1e6 / len(text.encode())))


def bigram_surprisal(data: np.ndarray, doc_starts: np.ndarray) -> np.ndarray:
    """-log P(byte | previous byte) per byte, add-one smoothed, the model fitted on ``data``.

    A document's first byte is conditioned on a context of its own (row 256).
    """
    block = 1 << 24
    counts = np.ones(257 * 256, dtype=np.int64)
    contexts = []
    for a in range(0, len(data), block):
        chunk = data[a : a + block].astype(np.int64)
        previous = np.empty_like(chunk)
        previous[0] = data[a - 1] if a else 256
        previous[1:] = chunk[:-1]
        starts = doc_starts[(doc_starts >= a) & (doc_starts < a + len(chunk))] - a
        previous[starts] = 256
        code = previous * 256 + chunk
        counts += np.bincount(code, minlength=len(counts))
        contexts.append(code)
    table = counts.reshape(257, 256)
    surprisal = -np.log(table / table.sum(axis=1, keepdims=True)).astype(np.float32).ravel()
    return np.concatenate([surprisal[code] for code in contexts])


def noise_cue(n: int) -> np.ndarray:
    """Smoothed random noise, one value a byte: every occurrence of a word is cut differently."""
    rng = np.random.default_rng(0)
    return np.convolve(rng.normal(size=n), np.ones(3) / 3, mode="same")


def write_inputs(
    directory: Path, docs: list[str], cue_kind: str = "noise"
) -> tuple[Path, Path, list[str]]:
    """A byte corpus of ``docs``, its cues and its documents' languages, under ``directory``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from toklab.data.byte_corpus import ByteCorpus, write_byte_corpus

    directory.mkdir(parents=True, exist_ok=True)
    prefix = directory / "corpus"
    shard = directory / "part-00000.parquet"
    pq.write_table(pa.table({"id": [str(i) for i in range(len(docs))], "text": docs}), shard)
    write_byte_corpus([shard], prefix)
    corpus = ByteCorpus(prefix)
    if cue_kind == "ngram":
        from toklab.ngram_cues import write_ngram_predictions

        train, size = [], 0
        for doc in docs:
            train.append(doc)
            size += len(doc.encode())
            if size >= NGRAM_TRAIN_BYTES:
                break
        train_shard = directory / "ngram-train.parquet"
        ids = [str(i) for i in range(len(train))]
        pq.write_table(pa.table({"id": ids, "text": train}), train_shard)
        write_byte_corpus([train_shard], directory / "ngram_train")
        write_ngram_predictions(directory / "ngram_train", prefix, directory / "cues.zarr")
    else:
        cue = (
            bigram_surprisal(np.asarray(corpus.bytes), corpus.offsets[:-1])
            if cue_kind == "bigram"
            else noise_cue(corpus.num_bytes)
        )
        write_cues(directory / "cues.zarr", corpus, cue.astype(np.float32))
    languages = ["en", "xx"] * (len(docs) // 2) + ["en"] * (len(docs) % 2)
    (directory / "languages.json").write_text(json.dumps(languages))
    return prefix, directory / "cues.zarr", languages


def train(directory: Path, row: dict, vocab_size: int) -> None:
    """Train what ``row`` names on the inputs under ``directory`` (not saved)."""
    prefix = directory / "corpus"
    if row["trainer"] == "bpe":
        from toklab.tokenizers.bpe import train_bpe_on_corpus

        train_bpe_on_corpus(prefix, vocab_size, SPECIALS)
        return
    from toklab.tokenizers.bytespan_tokenizer import train_bytespan

    train_bytespan(
        prefix,
        directory / "cues.zarr",
        "surprisal",
        row["constraint"],
        vocab_size,
        variant=row["variant"],
        special_tokens=SPECIALS,
        inference=row["inference"],
        languages=json.loads((directory / "languages.json").read_text()),
        **row.get("options", {}),
    )


def child(arguments: str) -> None:
    """Warm up on the tiny corpus, time one row, print seconds and peak memory as JSON."""
    job = json.loads(arguments)
    row = job["row"]
    warm = {**row, "options": {**row.get("options", {}), "min_frequency": 1}}
    if row["trainer"] == "bpe":
        warm.pop("options")
    train(Path(job["tiny"]), warm, job["tiny_vocab"])
    start = time.perf_counter()
    train(Path(job["inputs"]), row, job["vocab"])
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "peak_mb": peak_megabytes()}))


def peak_megabytes() -> float:
    """This process's peak resident memory in MB.

    ``VmHWM`` where Linux has it: ``ru_maxrss`` survives ``exec``, so a subprocess would
    report its parent's peak when that was higher.
    """
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(job: dict, repeat: int = 1) -> dict:
    """Run one row in a fresh subprocess, ``repeat`` times: the least time, the largest peak.

    A row that fails (e.g. too few frequent spans for V) gives ``{"error": last line}``.
    """
    results = []
    for _ in range(repeat):
        command = [sys.executable, __file__, "--child", json.dumps(job)]
        output = subprocess.run(command, capture_output=True, text=True)
        if output.returncode:
            lines = output.stderr.strip().splitlines()
            return {"error": lines[-1] if lines else f"exit status {output.returncode}"}
        results.append(json.loads(output.stdout.strip().splitlines()[-1]))
    return {
        "seconds": min(r["seconds"] for r in results),
        "peak_mb": max(r["peak_mb"] for r in results),
    }


def rows(min_frequency: int) -> list[dict]:
    """Every constraint x variant (x inference where it adds work) the benchmark runs."""
    found = [
        {"constraint": "global", "variant": "frequency", "inference": "wordpiece",
         "options": {"min_frequency": min_frequency}},
        {"constraint": "global", "variant": "frequency", "inference": "wordpiece",
         "options": {"min_frequency": 20}},
        {"constraint": "global", "variant": "frequency", "inference": "bpe",
         "options": {"min_frequency": min_frequency}},
    ]  # fmt: skip
    for constraint in ("monotonic", "combined"):
        for variant in ("frequency", "balanced", "seeding50"):
            found.append({"constraint": constraint, "variant": variant, "inference": "wordpiece"})
        for variant in ("frequency", "balanced", "seeding50"):
            found.append({"constraint": constraint, "variant": variant, "inference": "bpe"})
    for row in found:
        row["trainer"] = "bytespan"
    return found


def name(row: dict) -> str:
    """The row's label."""
    if row["trainer"] == "bpe":
        return "toklab BPE"
    label = f"bytespan {row['constraint']} {row['variant']}"
    if "min_frequency" in row.get("options", {}):
        label += f" (min_freq {row['options']['min_frequency']})"
    return f"{label}, {row['inference']}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--megabytes", type=float, default=4.0)
    parser.add_argument("--vocab", type=int, default=4000)
    parser.add_argument("--min-frequency", type=int, default=5, help="global constraint")
    parser.add_argument("--corpus", choices=("shakespeare", "demo"), default="shakespeare")
    parser.add_argument("--cue", choices=("noise", "bigram", "ngram"), default="noise")
    parser.add_argument(
        "--rows", default="", help="only rows whose label contains this (or, comma-separated, any)"
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs per row (the least time counts): noisy hosts"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return

    with tempfile.TemporaryDirectory() as tmp:
        inputs = Path(tmp) / "inputs"
        tiny = Path(tmp) / "tiny"
        write_inputs(inputs, documents(args.corpus, args.megabytes), args.cue)
        write_inputs(tiny, documents("shakespeare", 0)[:400])
        from toklab.data.byte_corpus import ByteCorpus

        megabytes = ByteCorpus(inputs / "corpus").num_bytes / 1e6
        job = {"inputs": str(inputs), "tiny": str(tiny), "vocab": args.vocab, "tiny_vocab": 1000}
        bpe = measure({**job, "row": {"trainer": "bpe"}}, args.repeat)
        if "error" in bpe:
            raise SystemExit(f"toklab BPE failed: {bpe['error']}")
        print(f"{megabytes:.1f} MB ({args.corpus}, {args.cue} cue), vocab {args.vocab}")
        print(
            f"  {'trainer':50} {'seconds':>8} {'MB/s':>6} {'x BPE':>6} {'target':>6}"
            f" {'peak MB':>8} {'x BPE':>6} {'target':>6}  verdict"
        )
        print(
            f"  {'toklab BPE':50} {bpe['seconds']:8.2f} {megabytes / bpe['seconds']:6.2f}"
            f" {'':6} {'':6} {bpe['peak_mb']:8.0f}",
            flush=True,
        )
        failed = 0
        for row in rows(args.min_frequency):
            if not any(part in name(row) for part in args.rows.split(",")):
                continue
            result = measure({**job, "row": row}, args.repeat)
            if "error" in result:
                failed += 1
                print(f"  {name(row):50} {result['error'][:60]}  FAIL", flush=True)
                continue
            time_ratio = result["seconds"] / bpe["seconds"]
            memory_ratio = result["peak_mb"] / bpe["peak_mb"]
            time_target = TIME_TARGETS["seeding" if "seeding" in row["variant"] else "other"]
            ok = time_ratio <= time_target and memory_ratio <= MEMORY_TARGET
            failed += not ok
            print(
                f"  {name(row):50} {result['seconds']:8.2f} {megabytes / result['seconds']:6.2f}"
                f" {time_ratio:5.2f}x {time_target:5.1f}x {result['peak_mb']:8.0f}"
                f" {memory_ratio:5.2f}x {MEMORY_TARGET:5.1f}x  {'PASS' if ok else 'FAIL'}",
                flush=True,
            )
        print(f"{failed} row(s) missed a target")


if __name__ == "__main__":
    main()
