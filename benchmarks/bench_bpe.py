#!/usr/bin/env python
"""BPE training: toklab against rustbpe and Hugging Face ``tokenizers``, same text and vocab.

Each trainer runs in a fresh subprocess, so its peak memory (max RSS of the process and its
workers) is its own. Wall time is measured inside the subprocess around the training call
(imports and numba's cached compilation excluded; reading the file and counting included).
rustbpe (nanochat's trainer; ``pip install -e ".[bench]"``) gets the documents of the file (split at
``<|endoftext|>``, else at blank lines) with the GPT-2 split pattern and one vocabulary entry
fewer (it has no special tokens), so all three make the same number of merges; its ties break
differently, so times are compared, not merges. Cases:

1. ``corpus.en`` (CS336 fixture), vocab 500: target < 0.38 s for toklab.
2. tinyshakespeare repeated to >= 8 MB, vocab 10,000.
3. 50 MB of toklab's demo generator (two morphologically rich languages, many distinct words),
   vocab 32,000: target toklab <= 1.0x rustbpe.
4. generated corpora of 256 MB and 1 GB, vocab 32,000: peak memory must not grow like the
   corpus (a whole-file read would need > 1 GB).

Every case: target toklab <= 1.0x ``tokenizers``.

    python benchmarks/bench_bpe.py            # all cases
    python benchmarks/bench_bpe.py --quick    # cases 1 to 3
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


def documents(path: str, block: int = 1 << 22):
    """The documents of a text file, streamed: split at ``<|endoftext|>``, else at blank lines."""
    with open(path, encoding="utf-8") as handle:
        head = handle.read(block)
        separator = EOT if EOT in head else "\n\n"
        pending = head
        while True:
            pieces = pending.split(separator)
            pending = pieces.pop()
            for piece in pieces:
                yield piece if separator == EOT else piece + separator
            more = handle.read(block)
            if not more:
                break
            pending += more
        if pending:
            yield pending


def run_rustbpe(path: str, vocab_size: int) -> dict:
    import rustbpe

    from toklab.pretokenization import GPT2_PATTERN

    start = time.perf_counter()
    tokenizer = rustbpe.Tokenizer()
    tokenizer.train_from_iterator(documents(path), vocab_size - 1, pattern=GPT2_PATTERN)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "vocab": len(tokenizer.get_mergeable_ranks()) + 1, "merges": None}


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
        import toklab.tokenizers.merge_loop
        import toklab.tokenizers.pretoken_counts  # noqa: F401

        with tempfile.TemporaryDirectory() as tmp:  # load numba's cached machine code
            tiny = Path(tmp) / "tiny.txt"
            tiny.write_text("warm up, warm up" + EOT)
            warm_up = run_toklab(str(tiny), 260)["seconds"]
        result = run_toklab(path, vocab_size)
        result["warm_up"] = warm_up
    elif backend == "rustbpe":
        result = run_rustbpe(path, vocab_size)
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


def demo_corpus(path: Path, size_bytes: int, seed: int = 0) -> Path:
    """Documents of toklab's demo generator (both languages), joined by ``<|endoftext|>``."""
    from toklab.data.demo import DEMO_LANGUAGES, generate_documents

    if path.exists() and path.stat().st_size >= size_bytes:
        return path
    written = 0
    with open(path, "w", encoding="utf-8") as handle:
        for document in generate_documents(DEMO_LANGUAGES, seed):
            text = document.text + EOT
            handle.write(text)
            written += len(text.encode("utf-8"))
            if written >= size_bytes:
                break
    return path


def have_rustbpe() -> bool:
    try:
        import rustbpe  # noqa: F401
    except ImportError:
        return False
    return True


def report(name: str, path: Path, vocab_size: int) -> dict:
    size_mb = path.stat().st_size / 1e6
    backends = ["toklab", "tokenizers"] + (["rustbpe"] if have_rustbpe() else [])
    results = {backend: measure(backend, path, vocab_size) for backend in backends}
    print(f"\n{name}: {path.name}, {size_mb:.1f} MB, vocab {vocab_size}")
    print(f"  {'':10} {'wall s':>9} {'peak RSS MB':>12} {'workers MB':>11} {'vocab':>7}")
    for label, result in results.items():
        print(
            f"  {label:10} {result['seconds']:9.3f} {result['peak_rss_mb']:12.0f} "
            f"{result['peak_worker_rss_mb']:11.0f} {result['vocab']:7d}"
        )
    ours = results["toklab"]["seconds"]
    ratios = {peer: ours / results[peer]["seconds"] for peer in backends[1:]}
    print(
        f"  (toklab's one-off load of its compiled code, not in its time: "
        f"{results['toklab']['warm_up']:.2f} s)"
    )
    for peer, ratio in ratios.items():
        print(f"  wall ratio toklab/{peer} = {ratio:.2f}")
    return {**results, "ratios": ratios, "mb": size_mb}


def verdict(result: dict, peer: str, target: float) -> str:
    """A line saying whether toklab is within ``target`` times ``peer``'s time."""
    if peer not in result["ratios"]:
        return f"  {peer} is not installed (pip install {peer}): not compared"
    ratio = result["ratios"][peer]
    return (
        f"  toklab/{peer} {ratio:.2f} vs target {target}: {'PASS' if ratio <= target else 'FAIL'}"
    )


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

    if not have_rustbpe():
        print("rustbpe is not installed (pip install rustbpe): it is left out")
    result = report("1. CS336 corpus.en", SHARED / "cs336" / "corpus.en", 500)
    seconds = result["toklab"]["seconds"]
    print(f"  toklab {seconds:.3f} s vs target 0.38 s: {'PASS' if seconds < 0.38 else 'FAIL'}")
    print(verdict(result, "tokenizers", 1.0))

    shakespeare = args.workdir / "tinyshakespeare_x8.txt"
    text = (SHARED / "tinyshakespeare" / "input.txt").read_text(encoding="utf-8")
    shakespeare.write_text(text * 8, encoding="utf-8")
    result = report("2. tinyshakespeare x8", shakespeare, 10_000)
    print(verdict(result, "tokenizers", 1.0))

    demo = demo_corpus(args.workdir / "demo_generator_50MB.txt", 50 * 10**6)
    result = report("3. demo generator 50 MB", demo, 32_000)
    print(verdict(result, "rustbpe", 1.0))
    print(verdict(result, "tokenizers", 1.0))

    if args.quick:
        return
    peaks = {}
    for size in (256 * 10**6, 10**9):
        path = generated_corpus(args.workdir / f"generated_{size // 10**6}MB.txt", size)
        result = report(f"4. generated {size // 10**6} MB", path, 32_000)
        print(verdict(result, "tokenizers", 1.0))
        peaks[size] = result["toklab"]["peak_rss_mb"] + result["toklab"]["peak_worker_rss_mb"]
    small, large = peaks[256 * 10**6], peaks[10**9]
    print(
        f"\n  toklab peak memory (main + largest worker): {small:.0f} MB at 256 MB, "
        f"{large:.0f} MB at 1 GB; growth x{large / small:.2f} for x3.9 the text "
        f"({'PASS' if large < 1000 else 'FAIL'}: below the 1 GB a whole-file read needs)"
    )


if __name__ == "__main__":
    main()
