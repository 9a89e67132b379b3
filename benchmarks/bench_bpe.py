#!/usr/bin/env python
"""BPE training: toklab against Hugging Face ``tokenizers`` on the same file and vocab size.

Each trainer runs in a fresh subprocess, so its peak memory (max RSS of the process and its
workers) is its own. Wall time is measured inside the subprocess around the training call
(imports excluded, pool start-up and file reading included). Cases:

1. ``corpus.en`` (CS336 fixture), vocab 500, ``<|endoftext|>``: target < 0.38 s for toklab.
2. tinyshakespeare repeated to >= 8 MB, vocab 10,000: target toklab/HF wall ratio <= 1.5.
3. generated corpora of 256 MB and 1 GB, vocab 32,000: peak memory must not grow like the
   corpus (a whole-file read would need > 1 GB).

    python benchmarks/bench_bpe.py            # all cases
    python benchmarks/bench_bpe.py --quick    # cases 1 and 2
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
EOT = "<|endoftext|>"


def run_toklab(path: str, vocab_size: int) -> dict:
    from toklab.tokenizers.bpe import train_bpe

    start = time.perf_counter()
    vocab, merges = train_bpe(path, vocab_size, [EOT])
    return {"seconds": time.perf_counter() - start, "vocab": len(vocab), "merges": len(merges)}


def run_hf(path: str, vocab_size: int) -> dict:
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    start = time.perf_counter()
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOT],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        min_frequency=0,
        show_progress=False,
    )
    tokenizer.train([path], trainer)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "vocab": tokenizer.get_vocab_size(), "merges": None}


def child(backend: str, path: str, vocab_size: int) -> None:
    """Run one trainer and print its result as JSON (called in a subprocess)."""
    if backend == "toklab":
        import toklab.tokenizers.bpe
        import toklab.tokenizers.pretoken_counts  # noqa: F401

        result = run_toklab(path, vocab_size)
    else:
        import tokenizers  # noqa: F401

        result = run_hf(path, vocab_size)
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    result["peak_rss_mb"] = own / 1024
    result["peak_worker_rss_mb"] = workers / 1024
    print(json.dumps(result))


def measure(backend: str, path: Path, vocab_size: int) -> dict:
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "true"}
    command = [sys.executable, __file__, "--child", backend, str(path), str(vocab_size)]
    output = subprocess.run(command, capture_output=True, text=True, check=True, env=env)
    return json.loads(output.stdout.strip().splitlines()[-1])


def generated_corpus(path: Path, size_bytes: int, seed: int = 0) -> Path:
    """Zipfian text from a synthetic 300k-word lexicon, in lines, paragraphs and documents."""
    if path.exists() and path.stat().st_size >= size_bytes:
        return path
    rng = np.random.default_rng(seed)
    letters = np.array(list("etaoinshrdlcumwfgypbvkjxqz"))
    letter_p = np.linspace(2.0, 0.2, len(letters))
    letter_p /= letter_p.sum()
    lengths = rng.integers(2, 11, size=300_000)
    lexicon = np.array(
        ["".join(rng.choice(letters, size=n, p=letter_p)) for n in lengths], dtype=object
    )
    ranks = np.arange(1, len(lexicon) + 1)
    word_p = 1.0 / (ranks + 2.7) ** 1.1
    word_p /= word_p.sum()
    punctuation = np.array(["", "", "", "", "", ",", ",", ".", ".", "?", ";", ":"], dtype=object)
    written = 0
    with open(path, "w", encoding="utf-8") as handle:
        while written < size_bytes:
            words = lexicon[rng.choice(len(lexicon), size=1_000_000, p=word_p)]
            words = words + punctuation[rng.integers(0, len(punctuation), size=len(words))]
            numbers = rng.random(len(words)) < 0.02
            words[numbers] = rng.integers(0, 10_000, size=int(numbers.sum())).astype(str)
            lines = [" ".join(words[i : i + 14]) for i in range(0, len(words), 14)]
            breaks = rng.random(len(lines))
            block = "".join(
                line + ("\n" + EOT + "\n" if b < 0.02 else "\n\n" if b < 0.15 else "\n")
                for line, b in zip(lines, breaks, strict=True)
            )
            handle.write(block)
            written += len(block)
    return path


def report(name: str, path: Path, vocab_size: int, target: str) -> dict:
    size_mb = path.stat().st_size / 1e6
    ours = measure("toklab", path, vocab_size)
    theirs = measure("hf", path, vocab_size)
    ratio = ours["seconds"] / theirs["seconds"]
    print(f"\n{name}: {path.name}, {size_mb:.1f} MB, vocab {vocab_size}")
    print(f"  {'':10} {'wall s':>9} {'peak RSS MB':>12} {'workers MB':>11} {'vocab':>7}")
    for label, result in (("toklab", ours), ("tokenizers", theirs)):
        print(
            f"  {label:10} {result['seconds']:9.3f} {result['peak_rss_mb']:12.0f} "
            f"{result['peak_worker_rss_mb']:11.0f} {result['vocab']:7d}"
        )
    print(f"  wall ratio toklab/tokenizers = {ratio:.2f}   ({target})")
    return {"toklab": ours, "tokenizers": theirs, "ratio": ratio, "mb": size_mb}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="skip the generated corpora")
    parser.add_argument(
        "--child", nargs=3, metavar=("BACKEND", "PATH", "VOCAB"), help=argparse.SUPPRESS
    )
    parser.add_argument(
        "--workdir", type=Path, default=Path(tempfile.gettempdir()) / "toklab-bench"
    )
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1], int(args.child[2]))
        return
    if not SHARED.is_dir():
        sys.exit(f"shared data not found at {SHARED}")
    args.workdir.mkdir(parents=True, exist_ok=True)
    print(f"CPUs available: {len(os.sched_getaffinity(0))}")

    result = report(
        "1. CS336 corpus.en",
        SHARED / "cs336" / "corpus.en",
        500,
        "target: toklab < 0.38 s, the CS336 reference implementation's time",
    )
    print(
        f"  toklab {result['toklab']['seconds']:.3f} s vs target 0.38 s: "
        f"{'PASS' if result['toklab']['seconds'] < 0.38 else 'FAIL'}"
    )

    shakespeare = args.workdir / "tinyshakespeare_x8.txt"
    text = (SHARED / "tinyshakespeare" / "input.txt").read_text(encoding="utf-8")
    shakespeare.write_text(text * 8, encoding="utf-8")
    result = report("2. tinyshakespeare x8", shakespeare, 10_000, "target: <= 1.5")
    print(
        f"  ratio {result['ratio']:.2f} vs target 1.5: {'PASS' if result['ratio'] <= 1.5 else 'FAIL'}"
    )

    if args.quick:
        return
    peaks = {}
    for size in (256 * 10**6, 10**9):
        path = generated_corpus(args.workdir / f"generated_{size // 10**6}MB.txt", size)
        result = report(
            f"3. generated {size // 10**6} MB", path, 32_000, "memory must stay bounded"
        )
        peaks[size] = result["toklab"]["peak_rss_mb"] + result["toklab"]["peak_worker_rss_mb"]
    small, large = peaks[256 * 10**6], peaks[10**9]
    print(
        f"\n  toklab peak memory (main + largest worker): {small:.0f} MB at 256 MB, "
        f"{large:.0f} MB at 1 GB; growth x{large / small:.2f} for x3.9 the text "
        f"({'PASS' if large < 1000 else 'FAIL'}: below the 1 GB a whole-file read needs)"
    )


if __name__ == "__main__":
    main()
